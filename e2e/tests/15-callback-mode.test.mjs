// Callback mode in the browser: shaka-player sends callback auth data (made by
// `keyward customdata make`) instead of a license token; keyward asks the site's callback
// page (`keyward callback serve-example`, a real process on loopback) and issues the
// ClearKey licence it allows. A user the page does not allow gets PallyCon's 8002.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import {
  browserFor, runShaka, shakaState, sleep, startPageServer, waitForPlaybackOrError, withDiagnostics,
} from '../lib/harness.mjs';
import { freePort, freshDataDir, keyward, startKeyward } from '../lib/keyward.mjs';
import { CLIP, KEYWARD_BIN } from '../lib/paths.mjs';

const SITE = { id: 'CBCK', key: 'kwE2eCallbackSiteKey0123456789AB', access: 'kwE2eCallbackAccessKey0123456789' };

async function startCallbackPage(ctx, allow) {
  const port = await freePort();
  const child = spawn(KEYWARD_BIN, [
    'callback', 'serve-example', '--listen', `127.0.0.1:${port}`, '--site-key', SITE.key, '--allow', allow,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  ctx.cleanup(() => child.kill('SIGTERM'));
  const url = `http://127.0.0.1:${port}/callback`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await fetch(url, { method: 'POST', body: '' });
      return url;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`callback page did not start: ${e}`);
      await sleep(100);
    }
  }
}

async function setup(ctx) {
  const cbUrl = await startCallbackPage(ctx, 'alice');
  const dataDir = freshDataDir();
  keyward(['site', 'add', '--data-dir', dataDir, '--site-id', SITE.id, '--site-key', SITE.key,
    '--access-key', SITE.access, '--callback-url', cbUrl]);
  keyward(['key', 'add', '--data-dir', dataDir, '--site-id', SITE.id, '--cid', CLIP.cid,
    '--kid', CLIP.kid, '--key', CLIP.key]);
  const kw = await startKeyward({ dataDir });
  kw.label = 'keyward serve (callback mode)';
  ctx.servers.push(kw);
  ctx.cleanup(() => kw.stop());
  const pages = await startPageServer();
  ctx.cleanup(() => pages.close());
  return { kw, pages };
}

const authData = (user) => keyward(['customdata', 'make', '--site-id', SITE.id, '--site-key', SITE.key,
  '--user-id', user, '--cid', CLIP.cid, '--drm-type', 'ClearKey']);

test('callback mode: shaka-player plays with auth data the callback page allows', { timeout: 120_000 }, () =>
  withDiagnostics('callback allow', async (ctx) => {
    const { kw, pages } = await setup(ctx);
    const { page } = await browserFor(ctx);
    await runShaka(page, pages.origin, {
      manifestUrl: `${pages.origin}/media/manifest.mpd`,
      licenseUrl: `${kw.origin}/ri/clearkey/licenseManager.do`,
      token: authData('alice'),
    });
    const s = await waitForPlaybackOrError(page, 3, 40_000);
    assert.deepEqual(s.errors, [], 'no player error');
    assert.ok(s.currentTime > 3, `currentTime ${s.currentTime} > 3`);
    assert.deepEqual(s.keyStatuses, { [CLIP.kid]: 'usable' });
  }),
);

test('callback mode: a user the callback page refuses gets 8002 with its code', { timeout: 120_000 }, () =>
  withDiagnostics('callback deny', async (ctx) => {
    const { kw, pages } = await setup(ctx);
    const { page } = await browserFor(ctx);
    await runShaka(page, pages.origin, {
      manifestUrl: `${pages.origin}/media/manifest.mpd`,
      licenseUrl: `${kw.origin}/ri/clearkey/licenseManager.do`,
      token: authData('mallory'),
    });
    await page.waitForFunction(
      () => window.__result.licenseResponses.length > 0 && window.__result.errors.length > 0,
      null, { timeout: 30_000, polling: 100 },
    );
    await sleep(1000);
    const s = await shakaState(page);
    assert.ok(s.currentTime < 1, 'playback must not start');
    const body = JSON.parse(s.licenseResponses[0].body);
    assert.equal(body.errorCode, '8002');
    assert.deepEqual(JSON.parse(body.message), { ERROR: '1001', MESSAGE: 'user mallory may not play' });
  }),
);
