// Studio-DRM-style tokens in the browser: a client made with `keyward client add`, the
// "backend" (this test) mints with POST /v2/token and its API key, shaka-player in Chromium
// plays the clip with the token in x-vudrm-token on the native ClearKey path, and the same
// token sent again is refused (single use, studio_token_used).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  browserFor, runShaka, shakaState, sleep, startPageServer, waitForPlaybackOrError, withDiagnostics,
} from '../lib/harness.mjs';
import { TEST_SITE, addKey, addTestSite, freshDataDir, keyward, startKeyward } from '../lib/keyward.mjs';
import { CLIP } from '../lib/paths.mjs';

const LICENSE_PATH = '/v1/license/clearkey';

async function provisioned(ctx) {
  const dataDir = freshDataDir();
  addTestSite(dataDir);
  addKey(dataDir, { cid: CLIP.cid, kid: CLIP.kid, key: CLIP.key });
  const client = JSON.parse(
    keyward(['client', 'add', '--data-dir', dataDir, '--name', 'e2e-backend', '--site-id', TEST_SITE.siteId]),
  );
  assert.match(client.api_key, /^kwk_/);
  const kw = await startKeyward({ dataDir });
  kw.label = 'keyward serve';
  ctx.servers.push(kw);
  ctx.cleanup(() => kw.stop());
  const pages = await startPageServer();
  ctx.cleanup(() => pages.close());
  return { kw, pages, apiKey: client.api_key };
}

/** The customer's backend: POST /v2/token with the API key. */
async function mint(kw, apiKey, policy) {
  const r = await fetch(`${kw.origin}/v2/token`, {
    method: 'POST',
    headers: { 'x-api-key': apiKey, 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ clientName: 'e2e-backend', policy }),
  });
  assert.equal(r.status, 200, await r.clone().text());
  const { token } = await r.json();
  assert.equal(token.split('|').length, 5);
  return token;
}

test('shaka plays with a Studio token in x-vudrm-token; the same token again is refused', { timeout: 180_000 }, () =>
  withDiagnostics('studio token playback + replay', async (ctx) => {
    const { kw, pages, apiKey } = await provisioned(ctx);
    const token = await mint(kw, apiKey, { content_id: CLIP.cid, client_data: { plan: 'e2e' } });
    ctx.notes.push(`token: ${token}`);

    const { page } = await browserFor(ctx);
    await runShaka(page, pages.origin, {
      manifestUrl: `${pages.origin}/media/manifest.mpd`,
      licenseUrl: `${kw.origin}${LICENSE_PATH}`,
      token,
      tokenHeader: 'x-vudrm-token',
    });
    const s = await waitForPlaybackOrError(page, 3, 40_000);
    assert.deepEqual(s.errors, [], 'no player error');
    assert.ok(s.currentTime > 3, `currentTime ${s.currentTime} > 3`);
    assert.deepEqual(s.keyStatuses, { [CLIP.kid]: 'usable' });
    assert.equal(s.licenseRequests.length, 1);
    assert.equal(s.licenseRequests[0].headers['x-vudrm-token'], token);

    // A second player replays the same token: refused, nothing plays.
    const second = await browserFor(ctx);
    await runShaka(second.page, pages.origin, {
      manifestUrl: `${pages.origin}/media/manifest.mpd`,
      licenseUrl: `${kw.origin}${LICENSE_PATH}`,
      token,
      tokenHeader: 'x-vudrm-token',
    });
    await second.page.waitForFunction(() => window.__result.errors.length > 0, null, { timeout: 30_000, polling: 100 });
    await sleep(1500);
    const s2 = await shakaState(second.page);
    assert.ok(s2.currentTime < 1, `replayed token must not play (currentTime ${s2.currentTime})`);
    assert.deepEqual(s2.keyStatuses, {}, 'no usable key');
    assert.ok(
      s2.errors.some((e) => String(e.data).includes('studio_token_used')),
      `player error carries studio_token_used: ${JSON.stringify(s2.errors)}`,
    );

    // And straight from the backend's point of view.
    const r = await fetch(`${kw.origin}${LICENSE_PATH}`, {
      method: 'POST',
      headers: { 'x-vudrm-token': token },
      body: JSON.stringify({ kids: [Buffer.from(CLIP.kid, 'hex').toString('base64url')], type: 'temporary' }),
    });
    assert.equal(r.status, 403);
    assert.equal((await r.json()).code, 'studio_token_used');

    // The issued licence is in the statistics, filterable by client_data.
    const st = await fetch(`${kw.origin}/v2/stats?client_data_key=plan&client_data_value=e2e`, {
      headers: { 'x-api-key': apiKey },
    });
    assert.equal(st.status, 200);
    assert.equal((await st.json()).issued, 1);
  }),
);
