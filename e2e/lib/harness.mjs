// Shared steps of the browser tests: a static server for the test pages, shaka-player and
// the clip; Chromium; diagnostics printed when a test fails.
import { join } from 'node:path';
import { launchBrowser } from './browser.mjs';
import { MEDIA_DIR, PAGES_DIR, SHAKA_DIST_DIR } from './paths.mjs';
import { startStaticServer } from './static-server.mjs';

/** Static origin serving /shaka-harness.js, /shaka.html, /shaka/* and /media/*. */
export function startPageServer(extraRoutes = {}) {
  return startStaticServer({
    routes: { '/shaka/': SHAKA_DIST_DIR, '/media/': MEDIA_DIR, '/': PAGES_DIR, ...extraRoutes },
  });
}

/**
 * Runs `body(ctx)` with cleanups registered in ctx.cleanup(fn); on failure prints the page
 * log, the window.__result / __keywardDemo state and each server's output tail.
 */
export async function withDiagnostics(name, body) {
  const ctx = { browser: null, servers: [], cleanups: [], notes: [] };
  ctx.cleanup = (fn) => ctx.cleanups.push(fn);
  try {
    return await body(ctx);
  } catch (err) {
    const lines = [`\n===== diagnostics for "${name}" =====`, `error: ${err && err.stack || err}`];
    for (const n of ctx.notes) lines.push(n);
    if (ctx.browser) {
      try {
        const state = await ctx.browser.page.evaluate(() => ({
          result: window.__result,
          demo: window.__keywardDemo,
          currentTime: document.querySelector('video') && document.querySelector('video').currentTime,
        }));
        lines.push('--- page state ---', JSON.stringify(state, null, 2).slice(0, 6000));
      } catch (e) {
        lines.push(`--- page state unavailable: ${e.message}`);
      }
      lines.push('--- page console (last 80) ---', ...ctx.browser.log.slice(-80));
    }
    for (const s of ctx.servers) {
      lines.push(`--- ${s.label} output (tail) ---`, s.tail());
    }
    console.error(lines.join('\n'));
    throw err;
  } finally {
    for (const fn of ctx.cleanups.reverse()) {
      try {
        await fn();
      } catch (e) {
        console.error(`cleanup failed: ${e.message}`);
      }
    }
  }
}

/** Launches Chromium into ctx (closed at cleanup). */
export async function browserFor(ctx) {
  const b = await launchBrowser();
  ctx.browser = b;
  ctx.cleanup(() => b.close());
  return b;
}

/** Loads the shaka test page from `pageOrigin` and runs window.runShaka(opts). */
export async function runShaka(page, pageOrigin, opts) {
  await page.goto(`${pageOrigin}/shaka.html`);
  // Not awaited inside the page: with a refused license, player.load() may never settle.
  await page.evaluate((o) => {
    window.runShaka(o).catch((e) => window.__result.errors.push({ code: -1, message: String(e) }));
  }, opts);
}

/** Waits until the video is past `seconds` or shaka reported an error; returns the state. */
export async function waitForPlaybackOrError(page, seconds = 3, timeout = 30_000) {
  await page.waitForFunction(
    (s) => document.getElementById('video').currentTime > s || window.__result.errors.length > 0,
    seconds,
    { timeout, polling: 100 },
  );
  return shakaState(page);
}

export function shakaState(page) {
  return page.evaluate(() => ({
    ...window.__result,
    currentTime: document.getElementById('video').currentTime,
    keyStatuses: window.__player ? window.__player.getKeyStatuses() : {},
  }));
}

export const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
export { join };
