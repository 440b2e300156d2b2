'use strict';
// The obvious Node.js Widevine licence broker for PallyCon-format licence
// tokens (token v2), written the way a user would write it instead of
// running keyward: node:http + node:crypto only, keys in an in-memory Map
// loaded at start. It is keyward's peer in bench/brokers.sh and does the same
// work per licence as keyward's `widevine-cloud` upstream kind:
//   - verifies the token in `pallycon-customdata-v2` (the code of
//     bench/node-peer/server.js: SHA-256 hash, timestamp window, AES-256-CBC
//     policy), DRM type Widevine;
//   - builds the licence proxy message {payload, provider, content_id,
//     content_key_specs (key_id + key of every key of the content),
//     policy_overrides} as JSON;
//   - signs it: AES-256-CBC(signing key, IV, SHA-1(msg)), PKCS#7;
//   - POSTs the envelope {request, signature, signer} to the upstream over a
//     keep-alive agent, and answers the base64-decoded `license` bytes.
// Kept honest: no caching of verified tokens or of upstream answers. One
// difference, in Node's favour: it does not parse the Widevine challenge
// (keyward decodes the SignedMessage and its PSSH to match the KIDs).
// Single process here; cluster.js runs it on every core.
//
// Env: PORT (required), HOST (default 127.0.0.1), KEYS_FILE (JSON:
// {"sites":[{"site_id","site_key","access_key",
//            "keys":[{"cid","kid":"<32 hex>","key":"<32 hex>","track_type"?}]}],
//  "upstream":{"url","provider","signing_key":"<64 hex>","signing_iv":"<32 hex>"}}).

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');

const TOKEN_WINDOW_MS = 600 * 1000;
const POLICY_IV = Buffer.from('0123456789abcdef', 'ascii');
const TIMESTAMP_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const MAX_BODY = 64 * 1024;

// site_id -> { siteKey: Buffer(32), accessKey: string }
const sites = new Map();
// `${site_id}/${cid}` -> [{ kid: Buffer(16), key: Buffer(16), trackType }]
const contentKeys = new Map();
let upstream;

function loadKeys(file) {
  const cfg = JSON.parse(fs.readFileSync(file, 'utf8'));
  for (const s of cfg.sites) {
    const siteKey = Buffer.from(s.site_key, 'ascii');
    if (siteKey.length !== 32) throw new Error(`site ${s.site_id}: site key must be 32 bytes`);
    sites.set(s.site_id, { siteKey, accessKey: s.access_key });
    for (const k of s.keys) {
      const id = `${s.site_id}/${k.cid}`;
      if (!contentKeys.has(id)) contentKeys.set(id, []);
      contentKeys.get(id).push({
        kid: Buffer.from(k.kid, 'hex'),
        key: Buffer.from(k.key, 'hex'),
        trackType: k.track_type || 'SD',
      });
    }
  }
  const u = cfg.upstream;
  const url = new URL(u.url);
  upstream = {
    host: url.hostname,
    port: Number(url.port) || 80,
    path: url.pathname + url.search,
    provider: u.provider,
    key: Buffer.from(u.signing_key, 'hex'),
    iv: Buffer.from(u.signing_iv, 'hex'),
    agent: new http.Agent({ keepAlive: true, maxSockets: 256 }),
  };
  if (upstream.key.length !== 32 || upstream.iv.length !== 16) throw new Error('bad signing key or IV');
}

class LicenseError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Token = base64(JSON); hash = base64(SHA-256(access_key + drm_type + site_id
// + user_id + cid + policy + timestamp)); policy = base64(AES-256-CBC(policy JSON)).
// (Copied from bench/node-peer/server.js; only the DRM type differs.)
function verifyToken(header) {
  if (!header) throw new LicenseError(400, '7009', 'Missing pallycon-customdata-v2');
  let token;
  try {
    token = JSON.parse(Buffer.from(header, 'base64').toString('utf8'));
  } catch {
    throw new LicenseError(400, '7009', 'Failed to parse token');
  }
  if (token === null || typeof token !== 'object') throw new LicenseError(400, '7009', 'Failed to parse token');
  const { drm_type, site_id, user_id, cid, policy, timestamp, hash } = token;
  for (const v of [drm_type, site_id, user_id, cid, policy, timestamp, hash]) {
    if (typeof v !== 'string') throw new LicenseError(400, '7013', 'Invalid JSON data in token');
  }

  const site = sites.get(site_id);
  if (!site) throw new LicenseError(403, '1003', 'Unknown site');

  const expected = crypto
    .createHash('sha256')
    .update(site.accessKey + drm_type + site_id + user_id + cid + policy + timestamp)
    .digest();
  const given = Buffer.from(hash, 'base64');
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
    throw new LicenseError(403, '7019', 'The hash values do not match');
  }

  const issued = TIMESTAMP_RE.test(timestamp) ? Date.parse(timestamp) : NaN;
  if (Number.isNaN(issued)) throw new LicenseError(400, '7013', 'Invalid timestamp');
  if (Date.now() > issued + TOKEN_WINDOW_MS) throw new LicenseError(403, '7011', 'Token is expired');

  if (drm_type.toLowerCase() !== 'widevine') {
    throw new LicenseError(403, '7018', 'Invalid DRM type in token');
  }

  let pol;
  try {
    const decipher = crypto.createDecipheriv('aes-256-cbc', site.siteKey, POLICY_IV);
    const plain = Buffer.concat([decipher.update(policy, 'base64'), decipher.final()]);
    pol = JSON.parse(plain.toString('utf8'));
  } catch {
    throw new LicenseError(403, '7016', 'Invalid token: policy cannot be decrypted');
  }
  if (pol === null || typeof pol !== 'object') throw new LicenseError(403, '7016', 'Invalid token: policy');
  return { siteId: site_id, cid, policy: pol };
}

// The licence proxy message for a challenge and an entitlement.
function message(challenge, ent) {
  const keys = contentKeys.get(`${ent.siteId}/${ent.cid}`);
  if (!keys) throw new LicenseError(404, '7001', `No keys for content '${ent.cid}'`);
  const pp = ent.policy.playback_policy || {};
  const overrides = { can_play: true, can_persist: !!pp.persistent, can_renew: false };
  if (typeof pp.license_duration === 'number' && pp.license_duration > 0) {
    overrides.license_duration_seconds = pp.license_duration;
  }
  return JSON.stringify({
    content_id: Buffer.from(ent.cid, 'utf8').toString('base64'),
    content_key_specs: keys.map((k) => ({
      track_type: k.trackType,
      key_id: k.kid.toString('base64'),
      key: k.key.toString('base64'),
    })),
    payload: challenge.toString('base64'),
    policy_overrides: overrides,
    provider: upstream.provider,
  });
}

// AES-256-CBC(key, iv, SHA-1(msg)), PKCS#7 (node's default padding).
function sign(msg) {
  const hash = crypto.createHash('sha1').update(msg).digest();
  const c = crypto.createCipheriv('aes-256-cbc', upstream.key, upstream.iv);
  return Buffer.concat([c.update(hash), c.final()]).toString('base64');
}

function forward(msg) {
  const body = JSON.stringify({
    request: Buffer.from(msg, 'utf8').toString('base64'),
    signature: sign(msg),
    signer: upstream.provider,
  });
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: upstream.host,
        port: upstream.port,
        path: upstream.path,
        method: 'POST',
        agent: upstream.agent,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
        timeout: 3000,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) {
            reject(new LicenseError(502, '7103', `Upstream answered HTTP ${res.statusCode}`));
            return;
          }
          let a;
          try {
            a = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            reject(new LicenseError(502, '7111', 'Upstream answer is not JSON'));
            return;
          }
          if (a.status !== 'OK' || typeof a.license !== 'string') {
            reject(new LicenseError(502, '7103', `Upstream status ${a.status}`));
            return;
          }
          resolve(Buffer.from(a.license, 'base64'));
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new LicenseError(504, '7103', 'Upstream timed out')));
    req.on('error', (e) => reject(e instanceof LicenseError ? e : new LicenseError(502, '7103', e.message)));
    req.end(body);
  });
}

function sendError(res, err) {
  if (!(err instanceof LicenseError)) {
    console.error(err);
    err = new LicenseError(500, '9999', 'Internal error');
  }
  const body = JSON.stringify({ errorCode: err.code, message: err.message });
  res.writeHead(err.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

async function licence(req, res, challenge) {
  const ent = verifyToken(req.headers['pallycon-customdata-v2']);
  if (challenge.length === 0) throw new LicenseError(400, '7013', 'Empty challenge');
  const lic = await forward(message(challenge, ent));
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': lic.length });
  res.end(lic);
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok');
    return;
  }
  if (req.method !== 'POST' || req.url !== '/ri/licenseManager.do') {
    sendError(res, new LicenseError(404, '9999', 'Not found'));
    return;
  }
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > MAX_BODY) {
      sendError(res, new LicenseError(413, '7013', 'Invalid request body'));
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    if (size > MAX_BODY) return;
    licence(req, res, Buffer.concat(chunks)).catch((e) => sendError(res, e));
  });
});
server.keepAliveTimeout = 65 * 1000;

loadKeys(process.env.KEYS_FILE || 'keys.json');
const port = Number(process.env.PORT);
const host = process.env.HOST || '127.0.0.1';
server.listen(port, host, () => {
  console.error(`node-broker ${process.pid} listening on ${host}:${port}`);
});
