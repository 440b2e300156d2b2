// The committed demo clip itself: Chromium + shaka-player decrypt and play it with the key
// given locally (drm.clearKeys, no license server), and a wrong key makes decoding fail.
// Needs no keyward binary: if this fails, the fixture or the browser is at fault.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLIP } from '../lib/paths.mjs';
import { browserFor, runShaka, startPageServer, waitForPlaybackOrError, withDiagnostics } from '../lib/harness.mjs';

test('demo clip plays in Chromium with its ClearKey given locally', { timeout: 90_000 }, () =>
  withDiagnostics('fixture plays', async (ctx) => {
    const pages = await startPageServer();
    ctx.cleanup(() => pages.close());
    const { page } = await browserFor(ctx);
    await runShaka(page, pages.origin, {
      manifestUrl: `${pages.origin}/media/manifest.mpd`,
      clearKeys: { [CLIP.kid]: CLIP.key },
    });
    const s = await waitForPlaybackOrError(page, 3);
    assert.deepEqual(s.errors, []);
    assert.ok(s.currentTime > 3, `currentTime ${s.currentTime}`);
    assert.deepEqual(s.keyStatuses, { [CLIP.kid]: 'usable' });
  }),
);

test('demo clip does not play with a wrong key', { timeout: 90_000 }, () =>
  withDiagnostics('fixture wrong key', async (ctx) => {
    const pages = await startPageServer();
    ctx.cleanup(() => pages.close());
    const { page } = await browserFor(ctx);
    const wrong = CLIP.key.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    await runShaka(page, pages.origin, {
      manifestUrl: `${pages.origin}/media/manifest.mpd`,
      clearKeys: { [CLIP.kid]: wrong },
    });
    const s = await waitForPlaybackOrError(page, 3);
    assert.ok(s.currentTime < 1, `currentTime ${s.currentTime}`);
    // 3016 = VIDEO_ERROR (the decoder failed on garbage).
    assert.deepEqual(s.errors.map((e) => e.code), [3016]);
  }),
);
