#!/usr/bin/env bash
# Builds the demo clip served by `keyward serve --demo` (and used by the e2e tests) into
# crates/server/assets/demo/media/. The output is committed as a fixture; re-running this
# script is a no-op while the output is complete. `--force` rebuilds it (the bytes will
# differ: shaka-packager picks fresh random IVs, so only rebuild on purpose).
#
# What it makes: a 5 s clip (ffmpeg testsrc + 1 kHz sine), H.264 constrained baseline
# 320x240 @ 25 fps (BT.709 tagged) + AAC-LC mono, packaged by shaka-packager as DASH with
# segment templates (2 s segments), CENC (AES-CTR) with `--clear_lead 0`, and PSSH boxes for
# the W3C common system (what ClearKey uses) plus Widevine and PlayReady, and a static MPD
# (`--generate_static_live_mpd`). Beside the media, clip.json lists kid/key, codecs, init
# and segment files so a small MSE player can append segments without parsing the MPD.
#
# Tool versions used for the committed fixture:
#   ffmpeg 5.1.9-0+deb12u1 (Debian bookworm, libx264 / native aac)
#   shaka-packager v3.4.2-c819dea-release (npm shaka-packager@3.4.2, static binary
#     node_modules/shaka-packager/bin/packager-linux-x64, called directly: the npm
#     wrapper always exits 0)
#
# Needs: ffmpeg (apt), node + npm (to install e2e/node_modules via `npm ci` if missing).
set -euo pipefail

# Fixed demo content key. Not a secret: the demo page hands it out through a license.
CID="keyward-demo"
KID="c43887bff2e4c71293d0fbe18d8066b0"
KEY="cbf8da08a71be88224a8ee26d4c93678"
DURATION=5
SEGMENT_DURATION=2

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/crates/server/assets/demo/media"
PACKAGER="$ROOT/e2e/node_modules/shaka-packager/bin/packager-linux-x64"

force=0
[[ "${1:-}" == "--force" ]] && force=1

# Idempotence: the output is complete if clip.json names our KID and every file it lists
# exists.
output_complete() {
  [[ -f "$OUT/clip.json" && -f "$OUT/manifest.mpd" ]] || return 1
  node -e '
    const fs = require("fs"), path = require("path");
    const dir = process.argv[1], kid = process.argv[2];
    const c = JSON.parse(fs.readFileSync(path.join(dir, "clip.json"), "utf8"));
    if (c.kid !== kid) process.exit(1);
    for (const t of [c.video, c.audio])
      for (const f of [t.init, ...t.segments])
        if (!fs.existsSync(path.join(dir, f))) process.exit(1);
  ' "$OUT" "$KID"
}

if [[ $force -eq 0 ]] && output_complete; then
  echo "make-demo-clip: $OUT is complete (kid $KID); nothing to do (use --force to rebuild)"
  exit 0
fi

command -v ffmpeg >/dev/null || { echo "make-demo-clip: ffmpeg missing (apt-get install ffmpeg)" >&2; exit 1; }
if [[ ! -x "$PACKAGER" ]]; then
  echo "make-demo-clip: installing e2e/node_modules (npm ci) for shaka-packager"
  (cd "$ROOT/e2e" && npm ci --no-audit --no-fund)
fi
"$PACKAGER" --version

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc=size=320x240:rate=25" \
  -f lavfi -i "sine=frequency=1000:sample_rate=48000" \
  -t "$DURATION" \
  -c:v libx264 -profile:v baseline -level 3.0 -preset medium -crf 28 -g 25 -keyint_min 25 \
  -sc_threshold 0 -pix_fmt yuv420p \
  -color_primaries bt709 -color_trc bt709 -colorspace bt709 \
  -c:a aac -b:a 64k -ac 1 \
  -shortest clear.mp4

mkdir -p pkg
(cd pkg && "$PACKAGER" \
  "in=../clear.mp4,stream=video,init_segment=v/init.mp4,segment_template=v/\$Number\$.m4s" \
  "in=../clear.mp4,stream=audio,init_segment=a/init.mp4,segment_template=a/\$Number\$.m4s" \
  --enable_raw_key_encryption \
  --keys "label=:key_id=$KID:key=$KEY" \
  --protection_systems CommonSystem,Widevine,PlayReady \
  --protection_scheme cenc \
  --clear_lead 0 \
  --segment_duration "$SEGMENT_DURATION" \
  --generate_static_live_mpd \
  --mpd_output manifest.mpd)

# clip.json from the MPD (codecs) and the files on disk (segments, numeric order).
node - "$WORK/pkg" "$CID" "$KID" "$KEY" "$DURATION" <<'JS'
const fs = require("fs"), path = require("path");
const [dir, cid, kid, key, duration] = process.argv.slice(2);
const mpd = fs.readFileSync(path.join(dir, "manifest.mpd"), "utf8");
const reps = [...mpd.matchAll(/<Representation\b[^>]*>/g)].map((m) => m[0]);
function attr(tag, name) {
  const m = tag.match(new RegExp(`\\b${name}="([^"]*)"`));
  return m ? m[1] : undefined;
}
function track(sub, kind) {
  const rep = reps.find((r) => (attr(r, "mimeType") || "").startsWith(kind + "/"));
  if (!rep) throw new Error(`no ${kind} Representation in MPD`);
  const codecs = attr(rep, "codecs");
  if (!codecs) throw new Error(`no codecs for ${kind} in MPD`);
  const segments = fs.readdirSync(path.join(dir, sub))
    .filter((f) => /^\d+\.m4s$/.test(f))
    .sort((a, b) => parseInt(a) - parseInt(b))
    .map((f) => `${sub}/${f}`);
  if (segments.length === 0) throw new Error(`no segments for ${kind}`);
  return { mime: `${kind}/mp4`, codecs, init: `${sub}/init.mp4`, segments };
}
const clip = {
  cid, kid, key,
  duration: Number(duration),
  manifest: "manifest.mpd",
  encryption: "cenc",
  video: track("v", "video"),
  audio: track("a", "audio"),
};
fs.writeFileSync(path.join(dir, "clip.json"), JSON.stringify(clip, null, 2) + "\n");
JS

rm -rf "$OUT"
mkdir -p "$(dirname "$OUT")"
cp -r "$WORK/pkg" "$OUT"
echo "make-demo-clip: wrote $OUT"
(cd "$OUT" && find . -type f | sort && du -sb . )
