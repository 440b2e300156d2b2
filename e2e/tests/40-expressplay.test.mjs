// ExpressPlay-compatible flow: a customer created with `keyward customer add`, a backend
// call to GET /hms/ck/token gives a licence URL carrying the sealed token, and shaka-player
// in Chromium plays the clip with its licence from that URL (the token is in the URL; no
// header is sent). Refusals come back in the ExpressPlay dialect.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  browserFor, runShaka, startPageServer, waitForPlaybackOrError, withDiagnostics,
} from '../lib/harness.mjs';
import { freshDataDir, keyward, startKeyward } from '../lib/keyward.mjs';
import { CLIP } from '../lib/paths.mjs';

const b64url = (hex) => Buffer.from(hex, 'hex').toString('base64url');

async function keywardWithCustomer(ctx) {
  const dataDir = freshDataDir();
  const created = JSON.parse(keyward(['customer', 'add', '--data-dir', dataDir, '--customer-id', 'e2e-co']));
  assert.equal(created.customer_id, 'e2e-co');
  assert.equal(typeof created.test_authenticator, 'string');
  const kw = await startKeyward({ dataDir });
  kw.label = 'keyward serve';
  ctx.servers.push(kw);
  ctx.cleanup(() => kw.stop());
  return { kw, auth: created.test_authenticator };
}

test('shaka-player plays the clip with the licence URL from /hms/ck/token', { timeout: 120_000 }, () =>
  withDiagnostics('expressplay ck', async (ctx) => {
    const { kw, auth } = await keywardWithCustomer(ctx);
    const pages = await startPageServer();
    ctx.cleanup(() => pages.close());

    // The customer's backend: a plain HTTP GET with the authenticator and the key.
    const q = new URLSearchParams({
      customerAuthenticator: auth,
      kid: CLIP.kid,
      contentKey: CLIP.key,
      securityLevel: '1',
      hdcpOutputControl: '0',
      expirationTime: '+600',
      cookie: 'e2e-session-1',
    });
    const r = await fetch(`${kw.origin}/hms/ck/token?${q}`);
    const url = (await r.text()).trim();
    assert.equal(r.status, 200, url);
    assert.match(r.headers.get('content-type') || '', /^text\/uri-list/);
    assert.ok(url.startsWith(`${kw.origin}/hms/ck/rights/?ExpressPlayToken=`), url);
    ctx.notes.push(`licence URL: ${url}`);

    const { page } = await browserFor(ctx);
    await runShaka(page, pages.origin, {
      manifestUrl: `${pages.origin}/media/manifest.mpd`,
      licenseUrl: url,
    });
    const s = await waitForPlaybackOrError(page, 3, 40_000);
    assert.deepEqual(s.errors, [], 'no player error');
    assert.ok(s.currentTime > 3, `currentTime ${s.currentTime} > 3`);
    assert.deepEqual(s.keyStatuses, { [CLIP.kid]: 'usable' });
    assert.equal(s.licenseRequests.length, 1);
    const lic = JSON.parse(s.licenseResponses[0].body);
    assert.deepEqual(lic.keys, [{ kty: 'oct', kid: b64url(CLIP.kid), k: b64url(CLIP.key) }]);
    // The cookie is logged with the redemption.
    assert.match(kw.tail(200), /expressplay redemption.*e2e-session-1|e2e-session-1.*expressplay redemption/);
  }),
);

test('refusals: wrong authenticator -2018 (json), tampered token -4010 (html)', { timeout: 60_000 }, () =>
  withDiagnostics('expressplay refusals', async (ctx) => {
    const { kw, auth } = await keywardWithCustomer(ctx);
    const base = { kid: CLIP.kid, contentKey: CLIP.key, securityLevel: '1', hdcpOutputControl: '0' };
    const bad = await fetch(`${kw.origin}/hms/ck/token?${new URLSearchParams({ ...base, customerAuthenticator: 'nope', errorFormat: 'json' })}`);
    assert.equal(bad.status, 401);
    assert.equal((await bad.json()).errorCode, -2018);

    const ok = await fetch(`${kw.origin}/hms/ck/token?${new URLSearchParams({ ...base, customerAuthenticator: auth })}`);
    const url = (await ok.text()).trim();
    const tampered = url.slice(0, -3) + (url.endsWith('AAA') ? 'BBB' : 'AAA');
    const lic = await fetch(tampered, {
      method: 'POST',
      headers: { Origin: 'http://127.0.0.1:1' },
      body: JSON.stringify({ kids: [b64url(CLIP.kid)], type: 'temporary' }),
    });
    assert.equal(lic.status, 401);
    assert.match(lic.headers.get('content-type') || '', /^text\/html/);
    assert.ok(lic.headers.get('access-control-allow-origin'), 'CORS on the rights path');
    assert.match(await lic.text(), /-4010/);
  }),
);
