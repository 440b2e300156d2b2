#!/usr/bin/env bash
# Load benchmark of keyward as a Widevine licence broker (the `widevine-cloud`
# upstream kind) against a mock of Google's licence proxy on loopback, with a
# Node.js broker doing the same work as the peer.
#
#   bash bench/brokers.sh
#
# Loopback only (127.0.0.1), bounded (every wrk run has a fixed duration and a
# `timeout`; a watchdog ends the whole script after WATCHDOG seconds) and
# self-cleaning (a trap stops every server it started and removes its temp
# dir). It builds nothing: it expects target/release/keyward
# (`cargo build --release -p keyward`) and target/release/examples/mock_widevine
# (`cargo build --release -p keyward-server --example mock_widevine`), or
# KEYWARD_BIN / MOCK_BIN. The Node broker (bench/node-broker/) has no
# dependencies.
#
# Setup (with the CLI, before `serve`): a site, a content key for cid "one"
# (KID abba271e…), a Widevine upstream of kind widevine-cloud pointing at the
# mock (provider "bench", signing key and IV from files), and PallyCon tokens
# minted at start (600 s window; reusable). The challenge is a real-shaped
# Widevine SignedMessage (a LicenseRequest whose PSSH data names the KID; as
# crates/server/tests/common/mod.rs `widevine_license_request`).
#
# The mock verifies every envelope's signature and answers a fixed 600-byte
# licence; every brokered answer is checked to be those 600 bytes (by curl
# once, byte for byte, and by length in brokers.lua's response hook).
#
# What it measures, in one run (saturation = wrk -t$THREADS -c$CONNS -d$DURATION):
#   mock direct: the envelope keyward sends, POSTed to the mock     (floor)
#   keyward: ClearKey licence (/ri/clearkey/licenseManager.do)      (comparison)
#   keyward: Widevine licence brokered to the mock (/ri/licenseManager.do)
#   node broker, one process; node broker, node:cluster × nproc
#   ~½ load (the same offered rate, half of keyward's brokered max):
#   keyward brokered, the Node broker (1 process), then mock direct ->
#   added p99 = keyward p99 − mock p99 (and Node's, for comparison)
# with RPS, p50/p99, CPU per request of the server under test and of the mock;
# and, as context for the ratios, the ceiling a broker that cost no CPU would
# reach here (the mock and wrk share the cores: nproc ÷ their CPU per brokered
# request) and keyward's CPU per brokered licence ÷ per ClearKey licence.
#
# Knobs (env): DURATION=10 CONNS=64 THREADS=2 WARMUP=2 TOKENS_N=50 PACE_MS=10
#   IDLE_WAIT=60 PIN=0 NICE=-15 WATCHDOG=420 KEYWARD_BIN=path MOCK_BIN=path
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
KW=${KEYWARD_BIN:-$ROOT/target/release/keyward}
MOCK=${MOCK_BIN:-$ROOT/target/release/examples/mock_widevine}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-2}
TOKENS_N=${TOKENS_N:-50}
PACE_MS=${PACE_MS:-10}
PIN=${PIN:-0}
NICE=${NICE:--15}
IDLE_WAIT=${IDLE_WAIT:-60}
WATCHDOG=${WATCHDOG:-420}

log() { printf '%s\n' "$*" >&2; }
die() { log "brokers.sh: $*"; exit 1; }

# ---------------------------------------------------------------- prerequisites
[[ -x $KW ]] || die "no keyward binary at $KW — build it first: cargo build --release -p keyward"
[[ -x $MOCK ]] || die "no mock at $MOCK — build it first: cargo build --release -p keyward-server --example mock_widevine"
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
ensure_wrk
command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"
command -v node >/dev/null || die "node is required for the Node broker (apt-get install nodejs)"

setup_priority "the servers"

# ---------------------------------------------------------------- lifecycle
start_lifecycle keyward-brokers brokers.sh

# ---------------------------------------------------------------- context
machine_context
NODE_V=$(node --version)
wait_for_idle

# ---------------------------------------------------------------- setup
SITE_ID=BRKB
rand32() { python3 -c 'import secrets,string; a=string.ascii_letters+string.digits; print("".join(secrets.choice(a) for _ in range(32)))'; }
SITE_KEY=$(rand32)
ACCESS_KEY=$(rand32)
CID=one
KID_HEX=abba271e8bcf552bbd2e86a434a9a5d9
KEY_HEX=69eaa802a6763af979e8d1940fb88392
PROVIDER=bench
SIGN_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
SIGN_IV=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
CK_BODY='{"kids":["q7onHovPVSu9LoakNKml2Q"],"type":"temporary"}'
CK_EXPECTED='{"keys":[{"kty":"oct","kid":"q7onHovPVSu9LoakNKml2Q","k":"aeqoAqZ2Ovl56NGUD7iDkg"}],"type":"temporary"}'
CK_PATH=/ri/clearkey/licenseManager.do
WV_PATH=/ri/licenseManager.do
MOCK_PATH=/cenc/getlicense/$PROVIDER
DATA=$WORK/kw
export KEYWARD_KEK
KEYWARD_KEK=${KEYWARD_KEK:-$(python3 -c 'import secrets; print(secrets.token_hex(32))')}

P_MOCK=$(free_port); P_KW=$(free_port); P_N1=$(free_port); P_NC=$(free_port)
MOCK_BASE=http://127.0.0.1:$P_MOCK

log "preparing keyward's store in $DATA…"
mkdir -p "$DATA"
printf '%s' "$SIGN_KEY" >"$WORK/wv-key.hex"
printf '%s' "$SIGN_IV" >"$WORK/wv-iv.hex"
"$KW" site add --data-dir "$DATA" --site-id "$SITE_ID" --site-key "$SITE_KEY" --access-key "$ACCESS_KEY" >/dev/null
"$KW" key add --data-dir "$DATA" --site-id "$SITE_ID" --cid "$CID" --kid "$KID_HEX" --key "$KEY_HEX" >/dev/null
"$KW" upstream add --data-dir "$DATA" --site-id "$SITE_ID" --drm widevine --kind widevine-cloud --name mock \
  --url "$MOCK_BASE$MOCK_PATH" --setting "provider=$PROVIDER" --max-concurrent 256 \
  --secret-header-file "signing_key=$WORK/wv-key.hex" --secret-header-file "signing_iv=$WORK/wv-iv.hex" >/dev/null

cat >"$WORK/keys.json" <<JSON
{"sites":[{"site_id":"$SITE_ID","site_key":"$SITE_KEY","access_key":"$ACCESS_KEY",
  "keys":[{"cid":"$CID","kid":"$KID_HEX","key":"$KEY_HEX","track_type":"SD"}]}],
 "upstream":{"url":"$MOCK_BASE$MOCK_PATH","provider":"$PROVIDER","signing_key":"$SIGN_KEY","signing_iv":"$SIGN_IV"}}
JSON

# The challenge: SignedMessage{type LICENSE_REQUEST, msg LicenseRequest{client_id,
# content_id{widevine_pssh_data{pssh_data[WidevinePsshData{key_id}], STREAMING}}, NEW}, signature}
python3 - "$KID_HEX" "$WORK/challenge.bin" <<'PY'
import sys
def varint(v):
    out = b""
    while True:
        b = v & 0x7F; v >>= 7
        if v == 0: return out + bytes([b])
        out += bytes([b | 0x80])
def vf(f, v): return varint(f << 3) + varint(v)
def bf(f, b): return varint((f << 3) | 2) + varint(len(b)) + b
pssh = bf(2, bytes.fromhex(sys.argv[1]))
wpd = bf(1, pssh) + vf(2, 1)
ci = bf(1, wpd)
lr = bf(1, b"\x08\x01\x12\x05token") + bf(2, ci) + vf(3, 1)
signed = vf(1, 1) + bf(2, lr) + bf(3, b"\xaa" * 32)
open(sys.argv[2], "wb").write(signed)
PY
# The mock's licence (600 bytes; as examples/mock_widevine.rs builds it)
python3 -c '
import sys
f = b"MOCK-WIDEVINE-LICENCE/"; l = bytearray(b"\x08\x02\x12")
while len(l) < 600: l.append(f[len(l) % len(f)])
open(sys.argv[1], "wb").write(l)' "$WORK/licence.bin"
LIC_LEN=$(stat -c %s "$WORK/licence.bin")

log "minting $TOKENS_N ClearKey and $TOKENS_N Widevine tokens…"
mint() { # drm user
  echo '{"policy_version":2}' | "$KW" token issue --site-id "$SITE_ID" --site-key "$SITE_KEY" \
    --access-key "$ACCESS_KEY" --drm-type "$1" --user-id "$2" --cid "$CID" --policy -
}
: >"$WORK/ck-tokens.txt"; : >"$WORK/wv-tokens.txt"
for i in $(seq 1 "$TOKENS_N"); do
  mint ClearKey "bench-ck-$i" >>"$WORK/ck-tokens.txt"
  mint Widevine "bench-wv-$i" >>"$WORK/wv-tokens.txt"
done
for f in ck wv; do
  n=$(grep -c . "$WORK/$f-tokens.txt" || true)
  [[ $n == "$TOKENS_N" ]] || die "token minting produced $n of $TOKENS_N $f tokens"
done
CK_TOKEN=$(head -1 "$WORK/ck-tokens.txt")
WV_TOKEN=$(head -1 "$WORK/wv-tokens.txt")

# ---------------------------------------------------------------- servers
log "starting the mock on :$P_MOCK, keyward on :$P_KW, node on :$P_N1, node cluster on :$P_NC…"
MOCK_PID=$(MOCK_WIDEVINE_DUMP=$WORK/msg.json start_server "$WORK/mock.log" "$MOCK" "127.0.0.1:$P_MOCK" "$SIGN_KEY" "$SIGN_IV")
KW_PID=$(KEYWARD_LOG=warn start_server "$WORK/keyward.log" "$KW" serve --listen "127.0.0.1:$P_KW" --data-dir "$DATA")
N1_PID=$(NODE_ENV=production PORT=$P_N1 KEYS_FILE=$WORK/keys.json \
  start_server "$WORK/node1.log" node "$BENCH/node-broker/server.js")
NC_PID=$(NODE_ENV=production PORT=$P_NC KEYS_FILE=$WORK/keys.json WORKERS=$(nproc) \
  start_server "$WORK/nodec.log" node "$BENCH/node-broker/cluster.js")
# start_server ran in subshells ($(…)): record the groups here too.
SERVER_PGIDS+=("$MOCK_PID" "$KW_PID" "$N1_PID" "$NC_PID")
wait_ready "$MOCK_BASE/healthz" mock "$WORK/mock.log"
wait_ready "http://127.0.0.1:$P_KW/healthz" keyward "$WORK/keyward.log"
wait_ready "http://127.0.0.1:$P_N1/healthz" "node (single)" "$WORK/node1.log"
wait_ready "http://127.0.0.1:$P_NC/healthz" "node (cluster)" "$WORK/nodec.log"

# ---------------------------------------------------------------- checks
# check_wv LABEL PORT — one brokered licence by curl: 200 and the mock's bytes
check_wv() {
  local status
  status=$(curl -sS --max-time 5 -X POST -H "pallycon-customdata-v2: $WV_TOKEN" \
    -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/challenge.bin" \
    -o "$WORK/answer.bin" -w '%{http_code}' "http://127.0.0.1:$2$WV_PATH") || die "$1: curl failed"
  [[ $status == 200 ]] || die "$1: Widevine licence answered HTTP $status: $(head -c 300 "$WORK/answer.bin")"
  cmp -s "$WORK/answer.bin" "$WORK/licence.bin" || die "$1: the answer is not the mock's licence"
}
check_wv keyward "$P_KW"
[[ -s $WORK/msg.json ]] || die "the mock recorded no message from keyward"
cp "$WORK/msg.json" "$WORK/msg-keyward.json"
check_wv "node (single)" "$P_N1"
check_wv "node (cluster)" "$P_NC"
out=$(curl -sS --max-time 5 -X POST -H "pallycon-customdata-v2: $CK_TOKEN" -H 'Content-Type: application/json' \
  --data "$CK_BODY" -w '\n%{http_code}' "http://127.0.0.1:$P_KW$CK_PATH")
[[ ${out##*$'\n'} == 200 && ${out%$'\n'*} == "$CK_EXPECTED" ]] || die "ClearKey licence answer differs from the expected bytes: $out"
# The mock-direct body: keyward's own message, signed as keyward signs it.
node -e '
const c = require("node:crypto"), fs = require("node:fs");
const [msgFile, key, iv, provider, out] = process.argv.slice(1);
const msg = fs.readFileSync(msgFile);
const h = c.createHash("sha1").update(msg).digest();
const e = c.createCipheriv("aes-256-cbc", Buffer.from(key, "hex"), Buffer.from(iv, "hex"));
const sig = Buffer.concat([e.update(h), e.final()]).toString("base64");
fs.writeFileSync(out, JSON.stringify({ request: msg.toString("base64"), signature: sig, signer: provider }));
' "$WORK/msg-keyward.json" "$SIGN_KEY" "$SIGN_IV" "$PROVIDER" "$WORK/envelope.json"
MOCK_ANSWER_LEN=$(curl -sS --max-time 5 -X POST -H 'Content-Type: application/json' --data-binary "@$WORK/envelope.json" \
  -o "$WORK/mock-answer.json" -w '%{size_download}' "$MOCK_BASE$MOCK_PATH")
grep -q '"status":"OK"' "$WORK/mock-answer.json" || die "the mock refused the envelope: $(head -c 200 "$WORK/mock-answer.json")"

# ---------------------------------------------------------------- measuring
declare -A RPS P50 P99 NON2XX SOCKERR BAD SHORT SRV_CORES MOCK_CORES GEN_CORES OTHER_CORES LABEL
CLK_TCK=$(getconf CLK_TCK)
ORDER=()

# wrk_cmd TOKENS BODY CTYPE EXPECT PATH PACE CMD…: runs CMD with the environment of brokers.lua
wrk_cmd() {
  local tokens=$1 body=$2 ctype=$3 expect=$4 path=$5 pace=$6; shift 6
  TOKENS=$tokens BODY_FILE=$body CONTENT_TYPE=$ctype EXPECT_LEN=$expect LICENCE_PATH=$path PACE_MS=$pace \
    "$@"
}

# run_wrk KEY LABEL SRV_PID URL SCRIPT TOKENS BODY CTYPE EXPECT CONNS DURATION [PACE_MS]
run_wrk() {
  local key=$1 label=$2 srv=$3 url=$4 script=$5 tokens=$6 body=$7 ctype=$8 expect=$9 conns=${10} dur=${11} pace=${12:-}
  local out=$WORK/wrk-$key.txt threads=$THREADS path
  path=/${url#http://*/}
  (( conns < threads )) && threads=$conns
  if [[ -z $pace && $WARMUP -gt 0 ]]; then
    wrk_cmd "$tokens" "$body" "$ctype" "$expect" "$path" "" timeout $((WARMUP + 10)) "${GEN_PIN[@]}" \
      wrk -t"$threads" -c"$conns" -d"${WARMUP}s" -s "$script" "$url" >/dev/null 2>&1 || true
  fi
  local srv0 mock0 busy0 srv1 mock1 busy1 wrk_cpu
  srv0=$(cpu_ticks "$srv"); mock0=$(cpu_ticks "$MOCK_PID"); busy0=$(busy_ticks)
  local TIMEFORMAT='%3U %3S'
  { time wrk_cmd "$tokens" "$body" "$ctype" "$expect" "$path" "$pace" timeout $((dur + 15)) "${GEN_PIN[@]}" \
      wrk -t"$threads" -c"$conns" -d"${dur}s" --timeout 5s -s "$script" "$url" >"$out" 2>&1 ; } 2>"$out.time" \
    || { cat "$out" >&2; die "wrk failed for $key"; }
  srv1=$(cpu_ticks "$srv"); mock1=$(cpu_ticks "$MOCK_PID"); busy1=$(busy_ticks)
  wrk_cpu=$(awk '{ print $1 + $2 }' "$out.time")
  local line
  line=$(grep '^RESULT' "$out") || { cat "$out" >&2; die "no RESULT line from wrk for $key"; }
  local r_requests=0 r_duration_us=1 r_p50_us=0 r_p99_us=0 r_non2xx=0 r_errors=0 r_bad=0 r_short=0 kv
  for kv in ${line#RESULT }; do
    case ${kv%%=*} in
      requests|duration_us|p50_us|p99_us|non2xx|errors|bad|short) printf -v "r_${kv%%=*}" '%s' "${kv#*=}";;
    esac
  done
  local secs
  secs=$(awk -v d="$r_duration_us" 'BEGIN { print d / 1e6 }')
  RPS[$key]=$(awk -v n="$r_requests" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
  P50[$key]=$(awk -v u="$r_p50_us" 'BEGIN { printf "%.2f", u / 1000 }')
  P99[$key]=$(awk -v u="$r_p99_us" 'BEGIN { printf "%.2f", u / 1000 }')
  NON2XX[$key]=$r_non2xx; SOCKERR[$key]=$r_errors; BAD[$key]=$r_bad; SHORT[$key]=$r_short
  SRV_CORES[$key]=$(awk -v a="$srv0" -v b="$srv1" -v t="$CLK_TCK" -v s="$secs" 'BEGIN { printf "%.2f", (b - a) / t / s }')
  if [[ $srv == "$MOCK_PID" ]]; then
    MOCK_CORES[$key]=0.00
  else
    MOCK_CORES[$key]=$(awk -v a="$mock0" -v b="$mock1" -v t="$CLK_TCK" -v s="$secs" 'BEGIN { printf "%.2f", (b - a) / t / s }')
  fi
  GEN_CORES[$key]=$(awk -v w="$wrk_cpu" -v s="$secs" 'BEGIN { printf "%.2f", w / s }')
  OTHER_CORES[$key]=$(awk -v a="$busy0" -v b="$busy1" -v t="$CLK_TCK" -v s="$secs" \
    -v c="${SRV_CORES[$key]}" -v m="${MOCK_CORES[$key]}" -v g="${GEN_CORES[$key]}" \
    'BEGIN { o = (b - a) / t / s - c - m - g; if (o < 0) o = 0; printf "%.2f", o }')
  LABEL[$key]=$label
  ORDER+=("$key")
  log "  $key: ${RPS[$key]} req/s, p50 ${P50[$key]} ms, p99 ${P99[$key]} ms, non-2xx ${NON2XX[$key]}, bad ${BAD[$key]}, short ${SHORT[$key]}, errors ${SOCKERR[$key]}, CPU server ${SRV_CORES[$key]} mock ${MOCK_CORES[$key]} wrk ${GEN_CORES[$key]} other ${OTHER_CORES[$key]}"
}

# pace_conns TARGET_RPS URL TOKENS BODY CTYPE EXPECT — connections that, paced, offer about TARGET
pace_conns() {
  local target=$1 url=$2 tokens=$3 body=$4 ctype=$5 expect=$6 conns probe path
  path=/${url#http://*/}
  conns=$(awk -v t="$target" -v p="$PACE_MS" 'BEGIN { c = int(t * (p + 0.5) / 1000 + 0.5); if (c < 2) c = 2; print c }')
  probe=$(wrk_cmd "$tokens" "$body" "$ctype" "$expect" "$path" "$PACE_MS" timeout 15 "${GEN_PIN[@]}" \
    wrk -t"$THREADS" -c"$conns" -d3s -s "$BENCH/brokers.lua" "$url" 2>&1 | grep '^RESULT' || true)
  if [[ $probe =~ requests=([0-9]+)\ duration_us=([0-9]+) ]]; then
    conns=$(awk -v c="$conns" -v t="$target" -v n="${BASH_REMATCH[1]}" -v d="${BASH_REMATCH[2]}" \
      'BEGIN { r = n / (d / 1e6); if (r > 0) c = int(c * t / r + 0.5); if (c < 2) c = 2; print c }')
  fi
  echo "$conns"
}

KW_WV=http://127.0.0.1:$P_KW$WV_PATH
MOCK_URL=$MOCK_BASE$MOCK_PATH
LUA=$BENCH/brokers.lua
OS=application/octet-stream
log "measuring (about $(( (DURATION + WARMUP) * 8 + 2 * 3 + 10 )) s)…"
run_wrk mock "mock direct (keyward's envelope, floor)" "$MOCK_PID" "$MOCK_URL" "$LUA" "" "$WORK/envelope.json" \
  application/json "$MOCK_ANSWER_LEN" "$CONNS" "$DURATION"
run_wrk clearkey "keyward: ClearKey licence (\`$CK_PATH\`)" "$KW_PID" "http://127.0.0.1:$P_KW$CK_PATH" "$BENCH/licence.lua" \
  "$WORK/ck-tokens.txt" /dev/null "" "" "$CONNS" "$DURATION"
run_wrk kw "keyward: Widevine licence brokered to the mock" "$KW_PID" "$KW_WV" "$LUA" "$WORK/wv-tokens.txt" \
  "$WORK/challenge.bin" "$OS" "$LIC_LEN" "$CONNS" "$DURATION"
run_wrk node1 "Node broker, 1 process" "$N1_PID" "http://127.0.0.1:$P_N1$WV_PATH" "$LUA" "$WORK/wv-tokens.txt" \
  "$WORK/challenge.bin" "$OS" "$LIC_LEN" "$CONNS" "$DURATION"
run_wrk nodec "Node broker, node:cluster × $(nproc)" "$NC_PID" "http://127.0.0.1:$P_NC$WV_PATH" "$LUA" "$WORK/wv-tokens.txt" \
  "$WORK/challenge.bin" "$OS" "$LIC_LEN" "$CONNS" "$DURATION"
HALF=$(( RPS[kw] / 2 ))
c=$(pace_conns "$HALF" "$KW_WV" "$WORK/wv-tokens.txt" "$WORK/challenge.bin" "$OS" "$LIC_LEN")
run_wrk kw_half "keyward brokered, ~½ load ($c conns, paced ~${PACE_MS} ms)" "$KW_PID" "$KW_WV" "$LUA" "$WORK/wv-tokens.txt" \
  "$WORK/challenge.bin" "$OS" "$LIC_LEN" "$c" "$DURATION" "$PACE_MS"
run_wrk node1_half "Node broker (1 process), the same offered rate ($c conns, paced ~${PACE_MS} ms)" "$N1_PID" \
  "http://127.0.0.1:$P_N1$WV_PATH" "$LUA" "$WORK/wv-tokens.txt" "$WORK/challenge.bin" "$OS" "$LIC_LEN" "$c" "$DURATION" "$PACE_MS"
c=$(pace_conns "$HALF" "$MOCK_URL" "" "$WORK/envelope.json" application/json "$MOCK_ANSWER_LEN")
run_wrk mock_half "mock direct, same rate ($c conns, paced ~${PACE_MS} ms)" "$MOCK_PID" "$MOCK_URL" "$LUA" "" \
  "$WORK/envelope.json" application/json "$MOCK_ANSWER_LEN" "$c" "$DURATION" "$PACE_MS"
check_wv "keyward after the load" "$P_KW"
check_wv "node (single) after the load" "$P_N1"
sed 's/\x1b\[[0-9;]*m//g' "$WORK/keyward.log" | grep -v -e 'no KEYWARD_TOKEN_KEY given' >"$WORK/stderr.txt" || true
KW_LOG_LINES=$(grep -c . "$WORK/stderr.txt" || true)

# ---------------------------------------------------------------- report
echo "# keyward as a Widevine licence broker (widevine-cloud) — load benchmark"
echo
echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "- machine: $(nproc) cores, $CPU_MODEL, $MEM_TOTAL RAM, $(uname -sr)"
echo "- software: $KW_V (release build, $KW); mock: $MOCK (release); node $NODE_V (bench/node-broker, node:http + node:crypto, no deps); $WRK_V"
echo "- load: wrk -t$THREADS -c$CONNS -d${DURATION}s after a ${WARMUP}s warm-up, keep-alive, loopback 127.0.0.1;" \
     "requests rotate over $TOKENS_N tokens per DRM; the Widevine challenge is $(stat -c %s "$WORK/challenge.bin") bytes, the envelope to the mock $(stat -c %s "$WORK/envelope.json") bytes, the licence $LIC_LEN bytes"
echo "- CPU: wrk, the mock, keyward and both Node brokers share this machine's $(nproc) cores (idle servers use ~nothing) — $PIN_NOTE; $PRIO_NOTE"
echo "- the mock verifies every signature (SHA-1 + 2 AES blocks) and answers a fixed licence; keyward with KEYWARD_LOG=warn; Node with NODE_ENV=production, no request logger"
if (( BUSY > 10 )); then
  echo "- WARNING: the CPU was ${BUSY} % busy before the run; other processes compete with the measurement:"
  ps -eo pcpu=,comm= --sort=-pcpu | head -3 | sed 's/^/  - /'
fi
echo
echo "Checked by curl before and after the load: keyward and both Node brokers answer HTTP 200 with the"
echo "mock's $LIC_LEN licence bytes, byte for byte; under load brokers.lua counted every answer that was not"
echo "200 (\"bad\") or not $LIC_LEN bytes long (\"short\"). The ClearKey licence is byte-identical to the expected JWK set."
echo
echo "| target | req/s | p50 ms | p99 ms | bad / short | wrk non-2xx | socket errors | server CPU, cores | server µs / req | mock CPU, cores | mock µs / req | wrk CPU, cores | other CPU, cores |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
per_req() { awk -v r="$1" -v c="$2" 'BEGIN { if (r > 0) printf "%.1f", c * 1e6 / r; else print "–" }'; }
for k in "${ORDER[@]}"; do
  echo "| ${LABEL[$k]} | ${RPS[$k]} | ${P50[$k]} | ${P99[$k]} | ${BAD[$k]} / ${SHORT[$k]} | ${NON2XX[$k]} | ${SOCKERR[$k]} | ${SRV_CORES[$k]} | $(per_req "${RPS[$k]}" "${SRV_CORES[$k]}") | ${MOCK_CORES[$k]} | $(per_req "${RPS[$k]}" "${MOCK_CORES[$k]}") | ${GEN_CORES[$k]} | ${OTHER_CORES[$k]} |"
done
echo
echo "CPU is time used during the measured run divided by its length (2.00 = both cores); \"server\" is the"
echo "process (group) under test — for the mock-direct rows the mock itself. ClearKey never reaches the mock."
echo

ADDED=$(awk -v a="${P99[kw_half]}" -v b="${P99[mock_half]}" 'BEGIN { printf "%.2f", a - b }')
R_CK=$(ratio "${RPS[kw]}" "${RPS[clearkey]}")
R_N1=$(ratio "${RPS[kw]}" "${RPS[node1]}")
R_NC=$(ratio "${RPS[kw]}" "${RPS[nodec]}")
echo "| ratio / figure | value | goal | |"
echo "|---|---:|---|---|"
echo "| added p99 at ~½ load: keyward p99 − mock p99 (${RPS[kw_half]} vs ${RPS[mock_half]} req/s) | $ADDED ms | < 1 ms | $(verdict "$ADDED < 1") |"
echo "| the same for the Node broker (1 process) at the same offered rate: Node p99 − mock p99 (${RPS[node1_half]} req/s) | $(awk -v a="${P99[node1_half]}" -v b="${P99[mock_half]}" 'BEGIN { printf "%.2f", a - b }') ms | | |"
echo "| brokered Widevine RPS / ClearKey licence RPS | $R_CK | ≥ 0.5 | $(verdict "$R_CK >= 0.5") |"
echo "| keyward brokered RPS / Node broker (1 process) RPS | $R_N1 | ≥ 4 | $(verdict "$R_N1 >= 4") |"
echo "| keyward brokered RPS / Node broker (cluster × $(nproc)) RPS | $R_NC | ≥ 4 | $(verdict "$R_NC >= 4") |"
echo "| keyward brokered RPS / mock direct RPS | $(ratio "${RPS[kw]}" "${RPS[mock]}") | | |"
# What the shared machine leaves any broker: the mock and wrk CPU each brokered
# request cost in this run, with the broker itself costing nothing.
CEIL=$(awk -v n="$(nproc)" -v r="${RPS[kw]}" -v m="${MOCK_CORES[kw]}" -v g="${GEN_CORES[kw]}" \
  'BEGIN { c = m + g; if (c > 0) printf "%.0f", n * r / c; else print 0 }')
KW_US=$(per_req "${RPS[kw]}" "${SRV_CORES[kw]}"); CK_US=$(per_req "${RPS[clearkey]}" "${SRV_CORES[clearkey]}")
echo "| ceiling of a broker that costs no CPU here: $(nproc) cores ÷ (mock + wrk CPU per brokered request) = $CEIL req/s, ÷ ClearKey RPS | $(ratio "$CEIL" "${RPS[clearkey]}") | | |"
echo "| keyward CPU per brokered licence ÷ per ClearKey licence ($KW_US ÷ $CK_US µs) | $(ratio "$KW_US" "$CK_US") | | |"
echo
[[ $NICE != 0 ]] && echo "(servers and wrk at nice $NICE: other processes mostly got what the benchmark left idle.)"
for k in "${ORDER[@]}"; do
  limit=0.15; [[ $NICE != 0 ]] && limit=0.3
  if awk -v o="${OTHER_CORES[$k]}" -v l="$limit" 'BEGIN { exit !(o > l) }'; then
    echo "WARNING: during \`$k\` other processes used ${OTHER_CORES[$k]} cores; that row is not a clean measurement."
  fi
done
total_bad=0
for k in "${ORDER[@]}"; do
  total_bad=$((total_bad + ${BAD[$k]:-0} + ${SHORT[$k]:-0} + ${NON2XX[$k]} + ${SOCKERR[$k]}))
done
if (( total_bad > 0 )); then
  echo
  echo "FAILED: $total_bad bad answers, non-2xx answers or socket errors in total (see the table)."
fi
if (( KW_LOG_LINES > 0 )); then
  echo
  echo "keyward's stderr (first lines, besides the expected start-up warnings):"
  echo '```'
  head -5 "$WORK/stderr.txt"
  echo '```'
fi
(( total_bad == 0 ))
