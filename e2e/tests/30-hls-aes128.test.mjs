// d. HLS AES-128: ffmpeg packages a stream whose key URI points at keyward's key endpoint;
// ffmpeg as a client decodes it bit-exactly only when it sends the token header.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { withDiagnostics } from '../lib/harness.mjs';
import {
  TEST_SITE, addKey, addTestSite, freePort, freshDataDir, issueToken, startKeyward,
} from '../lib/keyward.mjs';
import { startStaticServer } from '../lib/static-server.mjs';

const CID = 'hls-clip';

// Asynchronous on purpose: the media server runs in this process, so a blocking spawnSync
// would deadlock against it.
function ffmpeg(args, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', ['-hide_banner', '-nostdin', ...args], { cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

/** The MD5 column of `-f framemd5` output (timestamps differ between MP4 and TS). */
function frameHashes(out) {
  return out.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(',').pop().trim());
}

test('d. HLS AES-128 key from keyward: ffmpeg decodes bit-exact with the token, fails without', { timeout: 120_000 }, () =>
  withDiagnostics('d. HLS AES-128', async (ctx) => {
    const work = mkdtempSync(join(tmpdir(), 'keyward-e2e-hls-'));
    ctx.cleanup(() => rmSync(work, { recursive: true, force: true }));
    const port = await freePort();
    const keyUrl = `http://127.0.0.1:${port}/v1/hls-key/${TEST_SITE.siteId}/${CID}`;
    const key = randomBytes(16);
    const kid = randomBytes(16).toString('hex');

    // Clear source and its reference frame hashes.
    let r = await ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=25', '-t', '4', '-c:v', 'libx264',
      '-profile:v', 'baseline', '-g', '25', '-pix_fmt', 'yuv420p', 'clear.mp4'], work);
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    r = await ffmpeg(['-i', 'clear.mp4', '-map', '0:v', '-f', 'framemd5', '-'], work);
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    const reference = frameHashes(r.stdout);
    assert.equal(reference.length, 100);

    // AES-128 HLS pointing at keyward.
    writeFileSync(join(work, 'hls.key'), key);
    writeFileSync(join(work, 'keyinfo'), `${keyUrl}\n${join(work, 'hls.key')}\n${randomBytes(16).toString('hex')}\n`);
    const hls = join(work, 'hls');
    mkdirSync(hls);
    r = await ffmpeg(['-i', 'clear.mp4', '-c', 'copy', '-f', 'hls', '-hls_time', '1', '-hls_playlist_type', 'vod',
      '-hls_key_info_file', 'keyinfo', '-hls_segment_filename', join(hls, 'seg%d.ts'), join(hls, 'index.m3u8')], work);
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    rmSync(join(work, 'hls.key'));
    ctx.notes.push(`segments: ${readdirSync(hls).join(' ')}`);

    // keyward holds the key under cid hls-clip.
    const dataDir = freshDataDir();
    addTestSite(dataDir);
    addKey(dataDir, { cid: CID, kid, key: key.toString('hex') });
    const kw = await startKeyward({ dataDir, port });
    kw.label = 'keyward serve';
    ctx.servers.push(kw);
    ctx.cleanup(() => kw.stop());
    const media = await startStaticServer({ routes: { '/': hls } });
    ctx.cleanup(() => media.close());
    const token = issueToken({ cid: CID });

    // The key endpoint itself: 16 raw bytes with the header or the query parameter.
    const viaHeader = await fetch(keyUrl, { headers: { 'pallycon-customdata-v2': token } });
    assert.equal(viaHeader.status, 200);
    assert.equal(viaHeader.headers.get('content-type'), 'application/octet-stream');
    assert.deepEqual(Buffer.from(await viaHeader.arrayBuffer()), key);
    const viaQuery = await fetch(`${keyUrl}?pallycon-customdata-v2=${encodeURIComponent(token)}`);
    assert.equal(viaQuery.status, 200);
    assert.deepEqual(Buffer.from(await viaQuery.arrayBuffer()), key);
    const noToken = await fetch(keyUrl);
    assert.notEqual(noToken.status, 200);
    assert.notEqual((await noToken.arrayBuffer()).byteLength, 16);

    // ffmpeg with the token header: frames identical to the clear source.
    const playlist = `${media.origin}/index.m3u8`;
    r = await ffmpeg(['-headers', `pallycon-customdata-v2: ${token}\r\n`, '-i', playlist, '-map', '0:v', '-f', 'framemd5', '-'], work);
    assert.equal(r.status, 0, `ffmpeg with token failed:\n${r.stderr.slice(-3000)}`);
    assert.deepEqual(frameHashes(r.stdout), reference);
    assert.ok(media.requests.some((l) => l.endsWith('/seg0.ts')));

    // Without the header ffmpeg cannot get the key and fails.
    r = await ffmpeg(['-i', playlist, '-map', '0:v', '-f', 'framemd5', '-'], work);
    ctx.notes.push(`ffmpeg without token: exit ${r.status}\n${r.stderr.slice(-1500)}`);
    assert.notEqual(r.status, 0, 'ffmpeg without the token must fail');
    assert.notDeepEqual(frameHashes(r.stdout), reference);
  }),
);
