'use strict';
// The obvious Node.js ClearKey licence gateway for PallyCon-format licence
// tokens (token v2), written the way a user would write it instead of
// running keyward: Express + node:crypto, keys in an in-memory Map loaded at
// start. It is keyward's peer in bench/load.sh, so it is kept honest: no
// deliberate slowness, no tricks (no caching of verified tokens, no
// hand-rolled HTTP). Single process here; cluster.js runs it on every core.
//
// Env: PORT (required), HOST (default 127.0.0.1), KEYS_FILE (JSON:
// {"sites":[{"site_id","site_key","access_key",
//            "keys":[{"cid","kid":"<32 hex>","key":"<32 hex>"}]}]}).

const crypto = require('node:crypto');
const fs = require('node:fs');
const express = require('express');

const TOKEN_WINDOW_MS = 600 * 1000;
const POLICY_IV = Buffer.from('0123456789abcdef', 'ascii');
const TIMESTAMP_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

// site_id -> { siteKey: Buffer(32), accessKey: string }
const sites = new Map();
// `${site_id}/${cid}/${kidHex}` -> key Buffer(16)
const contentKeys = new Map();

function loadKeys(file) {
  const cfg = JSON.parse(fs.readFileSync(file, 'utf8'));
  for (const s of cfg.sites) {
    const siteKey = Buffer.from(s.site_key, 'ascii');
    if (siteKey.length !== 32) throw new Error(`site ${s.site_id}: site key must be 32 bytes`);
    sites.set(s.site_id, { siteKey, accessKey: s.access_key });
    for (const k of s.keys) {
      contentKeys.set(`${s.site_id}/${k.cid}/${k.kid.toLowerCase()}`, Buffer.from(k.key, 'hex'));
    }
  }
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

  if (drm_type.toLowerCase() !== 'clearkey') {
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

const app = express();
// EME sends the ClearKey message as JSON; players do not all set a content type.
app.use(express.json({ type: () => true, limit: '64kb' }));

app.get('/healthz', (req, res) => {
  res.type('text/plain').send('ok');
});

app.post('/ri/clearkey/licenseManager.do', (req, res) => {
  const ent = verifyToken(req.get('pallycon-customdata-v2'));

  const { kids, type = 'temporary' } = req.body || {};
  if (!Array.isArray(kids) || kids.length === 0 || !kids.every((k) => typeof k === 'string')) {
    throw new LicenseError(400, '7013', 'Invalid ClearKey request');
  }
  if (type !== 'temporary' && type !== 'persistent-license') {
    throw new LicenseError(400, '7013', 'Invalid ClearKey session type');
  }
  if (type === 'persistent-license' && !(ent.policy.playback_policy && ent.policy.playback_policy.persistent)) {
    throw new LicenseError(403, '7010', 'persistent-license requested, but the policy is not persistent');
  }

  const keys = kids.map((kid) => {
    const kidBytes = Buffer.from(kid, 'base64url');
    const key = kidBytes.length === 16 && contentKeys.get(`${ent.siteId}/${ent.cid}/${kidBytes.toString('hex')}`);
    if (!key) throw new LicenseError(404, '7001', `No key with KID ${kid} for content '${ent.cid}'`);
    return { kty: 'oct', kid: kidBytes.toString('base64url'), k: key.toString('base64url') };
  });
  res.json({ keys, type });
});

// Errors in the PallyCon dialect.
// eslint-disable-next-line no-unused-vars
app.use((err, req, res, next) => {
  if (err instanceof LicenseError) {
    res.status(err.status).json({ errorCode: err.code, message: err.message });
  } else if (err.type === 'entity.parse.failed' || err.type === 'entity.too.large') {
    res.status(err.status).json({ errorCode: '7013', message: 'Invalid request body' });
  } else {
    console.error(err);
    res.status(500).json({ errorCode: '9999', message: 'Internal error' });
  }
});

loadKeys(process.env.KEYS_FILE || 'keys.json');
const port = Number(process.env.PORT);
const host = process.env.HOST || '127.0.0.1';
app.listen(port, host, () => {
  console.error(`node-peer ${process.pid} listening on ${host}:${port}`);
});
