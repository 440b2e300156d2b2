// Where things are, relative to this checkout. KEYWARD_BIN overrides the server binary.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const E2E_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = resolve(E2E_DIR, '..');
export const PAGES_DIR = join(E2E_DIR, 'pages');
export const DEMO_ASSETS_DIR = join(REPO_ROOT, 'crates/server/assets/demo');
export const MEDIA_DIR = join(DEMO_ASSETS_DIR, 'media');
export const SHAKA_DIST_DIR = join(E2E_DIR, 'node_modules/shaka-player/dist');
export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

const bin = process.env.KEYWARD_BIN || 'target/release/keyward';
export const KEYWARD_BIN = isAbsolute(bin) ? bin : resolve(REPO_ROOT, bin);

/** The demo clip's description written by scripts/make-demo-clip.sh. */
export const CLIP = JSON.parse(readFileSync(join(MEDIA_DIR, 'clip.json'), 'utf8'));
