// e. Key server: shaka-packager (npm, the real binary) packages a clip with keys it fetches
// from keyward — (a) through the Widevine key API with Widevine + common PSSH, (b) through
// PlayReady's AcquirePackagingData with PlayReady + common PSSH — so no key is ever copied by
// hand. Then headless Chromium + shaka-player plays each output with a ClearKey licence from
// keyward, and ffmpeg decrypts it with the key read back through the admin export: every
// decoded frame equals the clear source's.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { browserFor, runShaka, withDiagnostics, waitForPlaybackOrError } from '../lib/harness.mjs';
import {
  TEST_SITE, addTestSite, freshDataDir, issueToken, keyward, startKeyward,
} from '../lib/keyward.mjs';
import { E2E_DIR, PAGES_DIR, SHAKA_DIST_DIR } from '../lib/paths.mjs';
import { startStaticServer } from '../lib/static-server.mjs';

const PACKAGER = join(E2E_DIR, 'node_modules/shaka-packager/bin/packager-linux-x64');
const ADMIN_TOKEN = 'e2e-admin-token-0123456789abcdef';
// Widevine's public test signer (shaka-packager's documentation).
const SIGNER = 'widevine_test';
const AES_KEY = '1ae8ccd0e7985cc0b6203a55855a1034afc252980e970ca90e5202689f947ab9';
const AES_IV = 'd58ce954203b7c9a9a9d467f59839249';
const LICENSE_PATH = '/ri/clearkey/licenseManager.do';

// Asynchronous: the media server runs in this process.
function run(cmd, args, { cwd, timeout = 120_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

async function must(cmd, args, opts) {
  const r = await run(cmd, args, opts);
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}\n--- stderr ---\n${r.stderr.slice(-4000)}`);
  }
  return r;
}

/** The MD5 column of `-f framemd5` (the sixth; side data may follow it). */
function frameHashes(out) {
  return out.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(',')[5].trim());
}

/** A 4 s 320x240 H.264 + AAC clip (the command protocols.md §5.4 verified). */
async function makeClip(dir) {
  await must('ffmpeg', [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25',
    '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000',
    '-t', '4', '-c:v', 'libx264', '-profile:v', 'baseline', '-g', '25', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '64k', '-shortest', 'in.mp4',
  ], { cwd: dir });
  return join(dir, 'in.mp4');
}

function streams(out) {
  return [
    `in=in.mp4,stream=video,init_segment=${out}/v/init.mp4,segment_template=${out}/v/$Number$.m4s`,
    `in=in.mp4,stream=audio,init_segment=${out}/a/init.mp4,segment_template=${out}/a/$Number$.m4s`,
  ];
}

const COMMON = ['--clear_lead', '0', '--segment_duration', '2', '--generate_static_live_mpd'];

async function keywardWithPackagers(ctx) {
  const dataDir = freshDataDir();
  addTestSite(dataDir);
  keyward([
    'packager', 'add', '--data-dir', dataDir, '--site-id', TEST_SITE.siteId, '--name', SIGNER,
    '--kind', 'widevine', '--aes-key', AES_KEY, '--aes-iv', AES_IV,
  ]);
  const made = JSON.parse(keyward([
    'packager', 'add', '--data-dir', dataDir, '--site-id', TEST_SITE.siteId, '--name', 'encoder-1',
    '--kind', 'api-key',
  ]));
  assert.match(made.api_key, /^encoder-1\.[A-Za-z0-9_-]{43}$/);
  const kw = await startKeyward({ dataDir, env: { KEYWARD_ADMIN_TOKEN: ADMIN_TOKEN } });
  kw.label = 'keyward serve';
  ctx.servers.push(kw);
  ctx.cleanup(() => kw.stop());
  return { kw, apiKey: made.api_key };
}

async function adminKeys(kw, cid) {
  const r = await fetch(`${kw.origin}/v1/admin/sites/${TEST_SITE.siteId}/keys?cid=${encodeURIComponent(cid)}`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  assert.equal(r.status, 200);
  return r.json();
}

async function exportKey(kw, kid) {
  const r = await fetch(`${kw.origin}/v1/admin/sites/${TEST_SITE.siteId}/keys/${kid}?export=true`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  assert.equal(r.status, 200, await r.clone().text());
  const v = await r.json();
  assert.match(v.key, /^[0-9a-f]{32}$/);
  return v.key;
}

/** The default_KID of each AdaptationSet of an MPD, lowercase hex. */
function mpdKids(mpd) {
  return [...mpd.matchAll(/cenc:default_KID="([0-9a-fA-F-]+)"/g)].map((m) => m[1].replace(/-/g, '').toLowerCase());
}

/** Plays `dir/manifest.mpd` with a keyward ClearKey licence; asserts > 3 s and no error. */
async function playsWithKeyward(ctx, kw, dir, cid) {
  const media = await startStaticServer({ routes: { '/shaka/': SHAKA_DIST_DIR, '/media/': dir, '/': PAGES_DIR } });
  ctx.cleanup(() => media.close());
  const token = issueToken({ cid });
  const { page } = await browserFor(ctx);
  await runShaka(page, media.origin, {
    manifestUrl: `${media.origin}/media/manifest.mpd`,
    licenseUrl: `${kw.origin}${LICENSE_PATH}`,
    token,
  });
  const s = await waitForPlaybackOrError(page, 3, 60_000);
  assert.deepEqual(s.errors, [], 'no player error');
  assert.ok(s.currentTime > 3, `currentTime ${s.currentTime} > 3`);
  assert.ok(s.licenseResponses.length >= 1);
  assert.ok(s.licenseResponses.every((r) => r.status === 200));
  return s;
}

/**
 * ffmpeg decrypts init+segments of `track` with `key`; the MD5s must equal the source's:
 * decoded video frames, and (AAC decoding adds priming frames) audio packets as stored.
 */
async function decryptsBitExact(work, outDir, track, key, map) {
  const how = map === '0:a' ? ['-c', 'copy'] : [];
  const segs = ['init.mp4', '1.m4s', '2.m4s'].map((f) => join(outDir, track, f)).filter(existsSync);
  assert.ok(segs.length >= 2, `segments of ${track}`);
  const joined = join(work, `${track}-enc.mp4`);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(joined, Buffer.concat(segs.map((f) => readFileSync(f))));
  const dec = await must('ffmpeg', ['-hide_banner', '-nostdin', '-decryption_key', key, '-i', joined, '-map', map, ...how, '-f', 'framemd5', '-'], { cwd: work });
  const src = await must('ffmpeg', ['-hide_banner', '-nostdin', '-i', join(work, 'in.mp4'), '-map', map, ...how, '-f', 'framemd5', '-'], { cwd: work });
  const d = frameHashes(dec.stdout);
  const c = frameHashes(src.stdout);
  assert.ok(d.length >= 50, `decoded ${d.length} frames`);
  assert.deepEqual(d, c.slice(0, d.length), 'decrypted frames equal the clear source');
  // And without the key, the frames are not the source's.
  const wrong = await run('ffmpeg', ['-hide_banner', '-nostdin', '-decryption_key', '00'.repeat(16), '-i', joined, '-map', map, ...how, '-f', 'framemd5', '-'], { cwd: work });
  assert.notDeepEqual(frameHashes(wrong.stdout), d, 'a wrong key does not give the source');
}

test('e1. Widevine key API: shaka-packager fetches keys from keyward, shaka-player plays them with a keyward ClearKey licence', { timeout: 240_000 }, () =>
  withDiagnostics('e1. widevine key api', async (ctx) => {
    const work = mkdtempSync(join(tmpdir(), 'keyward-e2e-pkg-'));
    ctx.cleanup(() => rmSync(work, { recursive: true, force: true }));
    const { kw } = await keywardWithPackagers(ctx);
    await makeClip(work);
    const cid = 'pkg-wv-clip';
    const out = join(work, 'wv');
    const r = await must(PACKAGER, [
      ...streams('wv'),
      '--enable_widevine_encryption',
      '--key_server_url', `${kw.origin}/cenc/getcontentkey/${SIGNER}`,
      '--content_id', Buffer.from(cid).toString('hex'),
      '--signer', SIGNER, '--aes_signing_key', AES_KEY, '--aes_signing_iv', AES_IV,
      '--protection_systems', 'Widevine,CommonSystem', '--protection_scheme', 'cenc',
      ...COMMON, '--mpd_output', 'wv/manifest.mpd',
    ], { cwd: work });
    ctx.notes.push(`packager: ${r.stderr.split('\n').slice(-2).join(' | ')}`);
    const mpd = readFileSync(join(out, 'manifest.mpd'), 'utf8');
    assert.ok(mpd.includes('urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed'), 'Widevine signalling');
    assert.ok(mpd.includes('urn:uuid:1077efec-c0b2-4d02-ace3-3c1e52e2fb4b'), 'common PSSH');

    // keyward made one key per track type the packager asked for; the MPD uses the SD
    // key for the 320x240 video and the AUDIO key for the audio.
    const keys = await adminKeys(kw, cid);
    assert.deepEqual(keys.map((k) => k.track_type).sort(), ['AUDIO', 'HD', 'SD', 'UHD1', 'UHD2']);
    const byType = Object.fromEntries(keys.map((k) => [k.track_type, k.kid]));
    assert.deepEqual(mpdKids(mpd).sort(), [byType.AUDIO, byType.SD].sort());

    await playsWithKeyward(ctx, kw, out, cid);
    await decryptsBitExact(work, out, 'v', await exportKey(kw, byType.SD), '0:v');
    await decryptsBitExact(work, out, 'a', await exportKey(kw, byType.AUDIO), '0:a');
  }),
);

test('e2. PlayReady packaging API: shaka-packager fetches the key and PlayReady header from keyward, shaka-player plays it with a keyward ClearKey licence', { timeout: 240_000 }, () =>
  withDiagnostics('e2. playready packaging', async (ctx) => {
    const work = mkdtempSync(join(tmpdir(), 'keyward-e2e-pkg-'));
    ctx.cleanup(() => rmSync(work, { recursive: true, force: true }));
    const { kw, apiKey } = await keywardWithPackagers(ctx);
    await makeClip(work);
    const cid = 'pkg-pr-clip';
    const out = join(work, 'pr');
    await must(PACKAGER, [
      ...streams('pr'),
      '--enable_playready_encryption',
      '--playready_server_url', `${kw.origin}/v1/packager/playready?api_key=${encodeURIComponent(apiKey)}`,
      '--program_identifier', cid,
      '--protection_systems', 'PlayReady,CommonSystem',
      ...COMMON, '--mpd_output', 'pr/manifest.mpd',
    ], { cwd: work });
    const mpd = readFileSync(join(out, 'manifest.mpd'), 'utf8');
    assert.ok(mpd.includes('urn:uuid:9a04f079-9840-4286-ab92-e65be0885f95'), 'PlayReady signalling');
    const pro = mpd.match(/<mspr:pro>([^<]+)<\/mspr:pro>/);
    assert.ok(pro, 'mspr:pro in the MPD');
    const header = Buffer.from(pro[1], 'base64').subarray(10).toString('utf16le');
    assert.match(header, /<LA_URL>http:\/\/127\.0\.0\.1:\d+\/ri\/licenseManager\.do<\/LA_URL>/);

    const keys = await adminKeys(kw, cid);
    assert.equal(keys.length, 1);
    assert.equal(keys[0].track_type, 'ALL');
    assert.deepEqual([...new Set(mpdKids(mpd))], [keys[0].kid]);

    await playsWithKeyward(ctx, kw, out, cid);
    const key = await exportKey(kw, keys[0].kid);
    await decryptsBitExact(work, out, 'v', key, '0:v');
  }),
);

test('e4. key rotation: shaka-packager asks keyward for a key per crypto period, shaka-player plays across periods with keyward ClearKey licences', { timeout: 240_000 }, () =>
  withDiagnostics('e4. key rotation', async (ctx) => {
    const work = mkdtempSync(join(tmpdir(), 'keyward-e2e-pkg-'));
    ctx.cleanup(() => rmSync(work, { recursive: true, force: true }));
    const { kw } = await keywardWithPackagers(ctx);
    await makeClip(work);
    const cid = 'pkg-rotated-clip';
    const out = join(work, 'rot');
    await must(PACKAGER, [
      ...streams('rot'),
      '--enable_widevine_encryption',
      '--key_server_url', `${kw.origin}/cenc/getcontentkey/${SIGNER}`,
      '--content_id', Buffer.from(cid).toString('hex'),
      '--signer', SIGNER, '--aes_signing_key', AES_KEY, '--aes_signing_iv', AES_IV,
      '--protection_systems', 'Widevine,CommonSystem', '--protection_scheme', 'cenc',
      '--crypto_period_duration', '2',
      ...COMMON, '--mpd_output', 'rot/manifest.mpd',
    ], { cwd: work });
    const keys = await adminKeys(kw, cid);
    const periods = new Set(keys.filter((k) => k.period !== undefined).map((k) => k.period));
    assert.ok(periods.size >= 2, `keys for ${periods.size} crypto periods`);
    const s = await playsWithKeyward(ctx, kw, out, cid);
    // Licences were asked for period keys: every kid requested is one keyward made.
    const asked = new Set(s.licenseRequests.flatMap((r) => JSON.parse(r.body).kids)
      .map((k) => Buffer.from(k, 'base64url').toString('hex')));
    const made = new Set(keys.map((k) => k.kid));
    assert.ok([...asked].every((k) => made.has(k)), 'only keyward kids requested');
    assert.ok([...asked].some((k) => keys.find((x) => x.kid === k && x.period !== undefined)), 'a period key was licensed');
  }),
);

test('e3. a wrong packager credential stops the packaging run with an HTTP 401 and no key is made', { timeout: 120_000 }, () =>
  withDiagnostics('e3. wrong credential', async (ctx) => {
    const work = mkdtempSync(join(tmpdir(), 'keyward-e2e-pkg-'));
    ctx.cleanup(() => rmSync(work, { recursive: true, force: true }));
    const { kw } = await keywardWithPackagers(ctx);
    await makeClip(work);
    const r = await run(PACKAGER, [
      ...streams('x'),
      '--enable_playready_encryption',
      '--playready_server_url', `${kw.origin}/v1/packager/playready?api_key=encoder-1.wrong`,
      '--program_identifier', 'never-keyed', ...COMMON, '--mpd_output', 'x/manifest.mpd',
    ], { cwd: work });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /response code: 401/);
    assert.deepEqual(await adminKeys(kw, 'never-keyed'), []);
    const w = await run(PACKAGER, [
      ...streams('y'),
      '--enable_widevine_encryption',
      '--key_server_url', `${kw.origin}/cenc/getcontentkey/${SIGNER}`,
      '--content_id', Buffer.from('never-keyed').toString('hex'),
      '--signer', SIGNER, '--aes_signing_key', '00'.repeat(32), '--aes_signing_iv', AES_IV,
      ...COMMON, '--mpd_output', 'y/manifest.mpd',
    ], { cwd: work });
    assert.notEqual(w.status, 0);
    // shaka-packager logs keyward's answer as it came: the protocol status is inside.
    const answer = w.stderr.match(/"response":"([A-Za-z0-9+/=]+)"/);
    assert.ok(answer, w.stderr);
    assert.deepEqual(JSON.parse(Buffer.from(answer[1], 'base64').toString()), {
      status: 'SIGNATURE_FAILED', status_message: 'unknown signer or wrong signature',
    });
    assert.deepEqual(await adminKeys(kw, 'never-keyed'), []);
  }),
);
