// shaka-player in Chromium gets ClearKey licenses from a real `keyward serve` through the
// PallyCon-compatible path, cross-origin (the page is on another port), with tokens minted
// by `keyward token issue`. Refusals must carry PallyCon's coded errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  browserFor, runShaka, shakaState, sleep, startPageServer, waitForPlaybackOrError, withDiagnostics,
} from '../lib/harness.mjs';
import {
  addKey, addTestSite, decodeToken, freshDataDir, issueToken, startKeyward, tamperToken,
} from '../lib/keyward.mjs';
import { CLIP } from '../lib/paths.mjs';

const b64url = (hex) => Buffer.from(hex, 'hex').toString('base64url');
const LICENSE_PATH = '/ri/clearkey/licenseManager.do';

/** keyward serve with site TEST and the clip's key stored under its cid. */
async function provisionedKeyward(ctx) {
  const dataDir = freshDataDir();
  addTestSite(dataDir);
  addKey(dataDir, { cid: CLIP.cid, kid: CLIP.kid, key: CLIP.key });
  const kw = await startKeyward({ dataDir });
  kw.label = 'keyward serve';
  ctx.servers.push(kw);
  ctx.cleanup(() => kw.stop());
  return kw;
}

async function pageServer(ctx) {
  const pages = await startPageServer();
  ctx.cleanup(() => pages.close());
  return pages;
}

test('a. shaka-player plays the clip with a token from `keyward token issue`', { timeout: 120_000 }, () =>
  withDiagnostics('a. license + playback', async (ctx) => {
    const kw = await provisionedKeyward(ctx);
    const pages = await pageServer(ctx);
    const token = issueToken({ cid: CLIP.cid });
    const decoded = decodeToken(token);
    ctx.notes.push(`token JSON: ${JSON.stringify(decoded)}`);
    assert.equal(decoded.cid, CLIP.cid);
    assert.equal(decoded.site_id, 'TEST');
    assert.equal(decoded.drm_type, 'ClearKey');

    const { page } = await browserFor(ctx);
    await runShaka(page, pages.origin, {
      manifestUrl: `${pages.origin}/media/manifest.mpd`,
      licenseUrl: `${kw.origin}${LICENSE_PATH}`,
      token,
    });
    const s = await waitForPlaybackOrError(page, 3, 40_000);
    assert.deepEqual(s.errors, [], 'no player error');
    assert.ok(s.currentTime > 3, `currentTime ${s.currentTime} > 3`);
    assert.deepEqual(s.keyStatuses, { [CLIP.kid]: 'usable' });

    // The exchange itself: the CDM message in, a JWK set with the clip's key out.
    assert.equal(s.licenseRequests.length, 1);
    assert.deepEqual(JSON.parse(s.licenseRequests[0].body), { kids: [b64url(CLIP.kid)], type: 'temporary' });
    assert.equal(s.licenseResponses.length, 1);
    assert.equal(s.licenseResponses[0].status, 200);
    const lic = JSON.parse(s.licenseResponses[0].body);
    assert.deepEqual(lic.keys, [{ kty: 'oct', kid: b64url(CLIP.kid), k: b64url(CLIP.key) }]);
  }),
);

/** Runs shaka with `token` (or none) and returns the refusal the license server sent. */
async function refusedPlayback(ctx, token) {
  const kw = await provisionedKeyward(ctx);
  const pages = await pageServer(ctx);
  const { page } = await browserFor(ctx);
  await runShaka(page, pages.origin, {
    manifestUrl: `${pages.origin}/media/manifest.mpd`,
    licenseUrl: `${kw.origin}${LICENSE_PATH}`,
    token,
  });
  await page.waitForFunction(
    () => window.__result.licenseResponses.length > 0 && window.__result.errors.length > 0,
    null,
    { timeout: 30_000, polling: 100 },
  );
  await sleep(1500); // give playback a chance to (wrongly) start
  const s = await shakaState(page);
  assert.ok(s.currentTime < 1, `playback must not start (currentTime ${s.currentTime})`);
  assert.deepEqual(s.keyStatuses, {}, 'no usable key');
  // 6008 = LICENSE_RESPONSE_REJECTED: the CDM refused the error JSON as a license.
  assert.deepEqual(s.errors.map((e) => e.code), [6008]);
  assert.equal(s.licenseResponses.length, 1);
  const r = s.licenseResponses[0];
  assert.equal(r.status, 200, 'PallyCon-compatible path answers refusals with HTTP 200');
  const body = JSON.parse(r.body);
  assert.equal(typeof body.message, 'string');
  return body;
}

test('b1. missing token is refused with 7010', { timeout: 120_000 }, () =>
  withDiagnostics('b1. missing token', async (ctx) => {
    const body = await refusedPlayback(ctx, undefined);
    assert.equal(body.errorCode, '7010');
  }),
);

test('b2. expired token is refused with 7011', { timeout: 120_000 }, () =>
  withDiagnostics('b2. expired token', async (ctx) => {
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const token = issueToken({ cid: CLIP.cid, timestamp: twoHoursAgo });
    ctx.notes.push(`token JSON: ${JSON.stringify(decodeToken(token))}`);
    assert.equal(decodeToken(token).timestamp, twoHoursAgo);
    const body = await refusedPlayback(ctx, token);
    assert.equal(body.errorCode, '7011');
  }),
);

test('b3. tampered token (one character of the hash) is refused with 7019', { timeout: 120_000 }, () =>
  withDiagnostics('b3. tampered token', async (ctx) => {
    const good = issueToken({ cid: CLIP.cid });
    const bad = tamperToken(good);
    assert.notEqual(decodeToken(bad).hash, decodeToken(good).hash);
    ctx.notes.push(`tampered token JSON: ${JSON.stringify(decodeToken(bad))}`);
    const body = await refusedPlayback(ctx, bad);
    assert.equal(body.errorCode, '7019');
  }),
);

test('native path: problem+json refusal and CORS preflight', { timeout: 60_000 }, () =>
  withDiagnostics('native path + CORS', async (ctx) => {
    const kw = await provisionedKeyward(ctx);
    const challenge = JSON.stringify({ kids: [b64url(CLIP.kid)], type: 'temporary' });

    const pre = await fetch(`${kw.origin}${LICENSE_PATH}`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'http://127.0.0.1:1',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'pallycon-customdata-v2',
      },
    });
    assert.ok(pre.status === 200 || pre.status === 204, `preflight status ${pre.status}`);
    assert.ok(pre.headers.get('access-control-allow-origin'), 'Access-Control-Allow-Origin');
    assert.match(pre.headers.get('access-control-allow-headers') || '', /pallycon-customdata-v2|\*/i);

    const ok = await fetch(`${kw.origin}/v1/license/clearkey`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${issueToken({ cid: CLIP.cid })}`, Origin: 'http://127.0.0.1:1' },
      body: challenge,
    });
    const okText = await ok.text();
    assert.equal(ok.status, 200, okText);
    assert.deepEqual(JSON.parse(okText).keys, [{ kty: 'oct', kid: b64url(CLIP.kid), k: b64url(CLIP.key) }]);
    assert.match(ok.headers.get('access-control-expose-headers') || '', /x-request-id/i);

    const bad = await fetch(`${kw.origin}/v1/license/clearkey`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${tamperToken(issueToken({ cid: CLIP.cid }))}` },
      body: challenge,
    });
    const badText = await bad.text();
    assert.ok(bad.status === 401 || bad.status === 403, `status ${bad.status}: ${badText}`);
    assert.match(bad.headers.get('content-type') || '', /^application\/problem\+json/);
    const problem = JSON.parse(badText);
    assert.equal(typeof problem.code, 'string', `problem has a code: ${badText}`);
    assert.ok(!('keys' in problem));
  }),
);
