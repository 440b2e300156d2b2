// Runs the keyward binary: CLI provisioning (sites, keys, tokens) and `keyward serve` on a
// free loopback port with a fresh temp data dir.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEYWARD_BIN } from './paths.mjs';

// Test site credentials: 32-character strings whose UTF-8 bytes are the keys.
export const TEST_SITE = {
  siteId: 'TEST',
  siteKey: 'kwE2eSiteKey0123456789abcdefABCD',
  accessKey: 'kwE2eAccessKey456789abcdefGHIJKL',
};

export function requireBinary() {
  if (!existsSync(KEYWARD_BIN)) {
    throw new Error(
      `keyward binary not found at ${KEYWARD_BIN}: build it (cargo build --release -p keyward) ` +
        'or point KEYWARD_BIN at it',
    );
  }
}

/** Runs `keyward <args>`; returns trimmed stdout; throws with stderr on a non-zero exit. */
export function keyward(args, { input } = {}) {
  requireBinary();
  const r = spawnSync(KEYWARD_BIN, args, { input, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(
      `keyward ${args.join(' ')} exited ${r.status}\n--- stderr ---\n${r.stderr}\n--- stdout ---\n${r.stdout}`,
    );
  }
  return r.stdout.trim();
}

export function freshDataDir() {
  return mkdtempSync(join(tmpdir(), 'keyward-e2e-data-'));
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort() {
  const srv = createServer();
  await new Promise((ok, fail) => {
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', ok);
  });
  const { port } = srv.address();
  await new Promise((ok) => srv.close(ok));
  return port;
}

/** `keyward site add` for TEST_SITE into dataDir. */
export function addTestSite(dataDir) {
  keyward([
    'site', 'add', '--data-dir', dataDir, '--site-id', TEST_SITE.siteId,
    '--site-key', TEST_SITE.siteKey, '--access-key', TEST_SITE.accessKey,
  ]);
}

/** `keyward key add` for TEST_SITE. */
export function addKey(dataDir, { cid, kid, key }) {
  keyward([
    'key', 'add', '--data-dir', dataDir, '--site-id', TEST_SITE.siteId,
    '--cid', cid, '--kid', kid, '--key', key, '--track-type', 'ALL',
  ]);
}

/** `keyward token issue` for TEST_SITE, policy given on stdin. */
export function issueToken({ cid, userId = 'e2e-user', drmType = 'ClearKey', policy = { policy_version: 2 }, timestamp }) {
  const args = [
    'token', 'issue', '--site-id', TEST_SITE.siteId, '--site-key', TEST_SITE.siteKey,
    '--access-key', TEST_SITE.accessKey, '--drm-type', drmType, '--user-id', userId,
    '--cid', cid, '--policy', '-',
  ];
  if (timestamp) args.push('--timestamp', timestamp);
  const token = keyward(args, { input: JSON.stringify(policy) });
  if (!token || /\s/.test(token)) throw new Error(`token issue printed an unexpected token: ${JSON.stringify(token)}`);
  return token;
}

/** The JSON inside a PallyCon v2 token (standard base64 of UTF-8 JSON). */
export function decodeToken(token) {
  return JSON.parse(Buffer.from(token, 'base64').toString('utf8'));
}

export function encodeToken(obj) {
  return Buffer.from(JSON.stringify(obj), 'utf8').toString('base64');
}

/** Same token with one character of its `hash` changed (still valid base64). */
export function tamperToken(token) {
  const t = decodeToken(token);
  if (typeof t.hash !== 'string' || t.hash.length < 2) throw new Error(`token has no hash: ${JSON.stringify(t)}`);
  const c = t.hash[0];
  t.hash = (c === 'A' ? 'B' : 'A') + t.hash.slice(1);
  return encodeToken(t);
}

/** `keyward serve` on a free port; resolves once GET /readyz answers 200. */
export async function startKeyward({ dataDir = freshDataDir(), port, demo = false, env = {} } = {}) {
  requireBinary();
  port ??= await freePort();
  const args = ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir];
  if (demo) args.push('--demo');
  const child = spawn(KEYWARD_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...env } });
  let output = '';
  const keep = (chunk) => {
    output += chunk.toString();
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  child.on('exit', (code, signal) => (exited = { code, signal }));
  const origin = `http://127.0.0.1:${port}`;
  const server = {
    port,
    origin,
    dataDir,
    child,
    /** The last lines the server wrote (stderr + stdout), for diagnostics. */
    tail(lines = 60) {
      return output.split('\n').slice(-lines).join('\n');
    },
    async stop({ keepDataDir = false } = {}) {
      if (!exited) {
        child.kill('SIGTERM');
        const done = await Promise.race([
          new Promise((ok) => child.once('exit', () => ok(true))),
          new Promise((ok) => setTimeout(() => ok(false), 5000)),
        ]);
        if (!done && !exited) child.kill('SIGKILL');
      }
      if (!keepDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) {
      throw new Error(`keyward serve exited early (${JSON.stringify(exited)})\n--- output ---\n${server.tail()}`);
    }
    try {
      const r = await fetch(`${origin}/readyz`, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) return server;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`keyward serve not ready within 30 s\n--- output ---\n${server.tail()}`);
    }
    await new Promise((ok) => setTimeout(ok, 100));
  }
}
