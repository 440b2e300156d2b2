// The demo page (crates/server/assets/demo/) against a small fake of keyward's two demo
// endpoints, so the page's own logic is checked without the server: it plays with a good
// license, and shows the refusal code with a refused one. Needs no keyward binary.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { browserFor, withDiagnostics } from '../lib/harness.mjs';
import { CLIP, DEMO_ASSETS_DIR } from '../lib/paths.mjs';
import { startStaticServer } from '../lib/static-server.mjs';

const b64url = (hex) => Buffer.from(hex, 'hex').toString('base64url');

function fakeServer({ refuseWith } = {}) {
  const seen = { licenseHeaders: [], licenseBodies: [] };
  const token = Buffer.from(JSON.stringify({
    drm_type: 'ClearKey', site_id: 'DEMO', user_id: 'demo-user', cid: CLIP.cid,
    policy: 'ZmFrZS1lbmNyeXB0ZWQtcG9saWN5', timestamp: '2021-11-11T07:28:41Z',
    hash: 'ZmFrZS1oYXNo', key_rotation: false, response_format: 'original',
  })).toString('base64');
  const handlers = {
    '/demo/token': (req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ token, site_id: 'DEMO', cid: CLIP.cid, drm_type: 'ClearKey', notice: 'fake server' }));
    },
    '/ri/clearkey/licenseManager.do': (req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        seen.licenseHeaders.push(req.headers);
        seen.licenseBodies.push(Buffer.concat(chunks).toString('utf8'));
        res.writeHead(200, { 'Content-Type': 'application/json', 'x-request-id': 'fake-1' });
        if (refuseWith || req.headers['pallycon-customdata-v2'] !== token) {
          res.end(JSON.stringify({ errorCode: refuseWith || '7010', message: 'fake refusal' }));
        } else {
          res.end(JSON.stringify({ keys: [{ kty: 'oct', kid: b64url(CLIP.kid), k: b64url(CLIP.key) }], type: 'temporary' }));
        }
      });
    },
  };
  return { seen, token, handlers };
}

test('demo page plays against a fake of the two endpoints', { timeout: 90_000 }, () =>
  withDiagnostics('demo page (fake server)', async (ctx) => {
    const fake = fakeServer();
    const srv = await startStaticServer({ routes: { '/demo/': DEMO_ASSETS_DIR }, handlers: fake.handlers });
    ctx.cleanup(() => srv.close());
    const { page } = await browserFor(ctx);
    await page.goto(`${srv.origin}/demo/`);
    await page.waitForFunction(
      () => window.__keywardDemo.state !== 'loading' && (window.__keywardDemo.state === 'error' || document.getElementById('video').currentTime > 3),
      null, { timeout: 40_000, polling: 100 });
    const s = await page.evaluate(() => ({ ...window.__keywardDemo, currentTime: document.getElementById('video').currentTime }));
    assert.equal(s.error, null);
    assert.equal(s.state, 'playing');
    assert.ok(s.currentTime > 3, `currentTime ${s.currentTime}`);
    assert.deepEqual(s.licenseRequest, { kids: [b64url(CLIP.kid)], type: 'temporary' });
    assert.deepEqual(s.licenseResponse.keys, [{ kty: 'oct', kid: b64url(CLIP.kid), k: b64url(CLIP.key) }]);
    assert.deepEqual(s.keyStatuses, { [CLIP.kid]: 'usable' });
    assert.equal(fake.seen.licenseBodies.length, 1, 'one license request for audio + video');
    assert.equal(fake.seen.licenseHeaders[0]['pallycon-customdata-v2'], fake.token);
    assert.equal(fake.seen.licenseHeaders[0]['content-type'], undefined);
    assert.equal(s.tokenJson.cid, CLIP.cid);
    // The page explains the refusal codes and shows the token and both JSON documents.
    const text = await page.locator('body').innerText();
    assert.match(text, /encrypted with the site key/);
    assert.match(text, /"k": "/);
    await page.screenshot({ path: process.env.DEMO_SCREENSHOT || '/tmp/keyward-demo-fake.png', fullPage: true });
  }),
);

test('demo page shows a refusal and does not play', { timeout: 90_000 }, () =>
  withDiagnostics('demo page refusal (fake server)', async (ctx) => {
    const fake = fakeServer({ refuseWith: '7019' });
    const srv = await startStaticServer({ routes: { '/demo/': DEMO_ASSETS_DIR }, handlers: fake.handlers });
    ctx.cleanup(() => srv.close());
    const { page } = await browserFor(ctx);
    await page.goto(`${srv.origin}/demo/`);
    await page.waitForFunction(() => window.__keywardDemo.state !== 'loading', null, { timeout: 40_000, polling: 100 });
    const s = await page.evaluate(() => ({ ...window.__keywardDemo, currentTime: document.getElementById('video').currentTime }));
    assert.equal(s.state, 'error');
    assert.equal(s.licenseResponse.errorCode, '7019');
    assert.match(s.error, /error 7019/);
    assert.ok(s.currentTime < 0.5, `currentTime ${s.currentTime}`);
    assert.equal(await page.locator('#error').isVisible(), true);
  }),
);
