// c. `keyward serve --demo` serves the demo page, which plays by itself.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { browserFor, withDiagnostics } from '../lib/harness.mjs';
import { decodeToken, startKeyward } from '../lib/keyward.mjs';
import { CLIP } from '../lib/paths.mjs';

const b64url = (hex) => Buffer.from(hex, 'hex').toString('base64url');

test('c. the /demo/ page of `keyward serve --demo` plays by itself', { timeout: 120_000 }, () =>
  withDiagnostics('c. demo page', async (ctx) => {
    const kw = await startKeyward({ demo: true });
    kw.label = 'keyward serve --demo';
    ctx.servers.push(kw);
    ctx.cleanup(() => kw.stop());

    const t = await fetch(`${kw.origin}/demo/token`);
    assert.equal(t.status, 200);
    const info = await t.json();
    assert.equal(info.site_id, 'DEMO');
    assert.equal(info.cid, 'keyward-demo');
    assert.equal(info.drm_type, 'ClearKey');
    assert.equal(typeof info.notice, 'string');
    assert.equal(decodeToken(info.token).cid, 'keyward-demo');

    const clip = await fetch(`${kw.origin}/demo/media/clip.json`);
    assert.equal(clip.status, 200);
    assert.deepEqual(await clip.json(), CLIP);

    const { page } = await browserFor(ctx);
    await page.goto(`${kw.origin}/demo/`);
    await page.waitForFunction(
      () => window.__keywardDemo && (window.__keywardDemo.state === 'error' ||
        (window.__keywardDemo.state === 'playing' && document.getElementById('video').currentTime > 3)),
      null,
      { timeout: 60_000, polling: 100 },
    );
    const s = await page.evaluate(() => ({ ...window.__keywardDemo, currentTime: document.getElementById('video').currentTime }));
    assert.equal(s.error, null);
    assert.equal(s.state, 'playing');
    assert.ok(s.currentTime > 3, `currentTime ${s.currentTime}`);
    assert.deepEqual(s.licenseRequest, { kids: [b64url(CLIP.kid)], type: 'temporary' });
    assert.deepEqual(s.licenseResponse.keys, [{ kty: 'oct', kid: b64url(CLIP.kid), k: b64url(CLIP.key) }]);
    assert.deepEqual(s.keyStatuses, { [CLIP.kid]: 'usable' });
  }),
);
