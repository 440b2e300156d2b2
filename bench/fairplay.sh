#!/usr/bin/env bash
# Load benchmark of keyward's FairPlay licence endpoint (the native KSM).
#
#   bash bench/fairplay.sh
#
# Loopback only (127.0.0.1), bounded (every wrk run has a fixed duration and a
# `timeout`; a watchdog ends the whole script after WATCHDOG seconds) and
# self-cleaning (a trap stops every server it started and removes its temp
# dir). It builds nothing: it expects target/release/keyward
# (`cargo build --release -p keyward`), or KEYWARD_BIN.
#
# Setup (with the CLI, before the server starts: the CLI writes the store):
# a site, the FPS development credential of Apple's SDK test vectors
# (testdata/fixtures/fairplay-ksm/Development Credentials, ASk from
# testdata/fairplay-derived/sdk_test_ask.txt), a content key for cid "one"
# (the asset id of the SDK SPC FPS/spc2.bin, which every FairPlay request
# sends), and PallyCon tokens minted at start (600 s window; reusable).
#
# What it measures, in one run (saturation = wrk -t$THREADS -c$CONNS -d$DURATION):
#   GET /healthz                                   (the HTTP floor)
#   POST /ri/clearkey/licenseManager.do            (ClearKey licence, as bench/load.sh)
#   POST /v1/license/fairplay, raw SPC, DASk provider sdk-test   (saturation, then ~½ load)
#   the same with the `command` provider (examples/fairplay-dask/sdk-test-dask.sh,
#   keyward restarted)                                           (saturation, then ~½ load)
# with RPS, p50/p99 latency, server CPU per request and bad answers (any status
# other than 200, or a 200 without a CKC, counted by fairplay.lua's response
# hook; the run is reported as failed if there is any).
#
# Half load: paced wrk (see bench/load.sh): N connections each waiting a random
# mean PACE_MS after every response; N is scaled by a 3 s probe so that they
# offer about half the saturation RPS. Closed loop: a stall longer than
# PACE_MS would be under-reported; the achieved RPS is printed.
#
# Knobs (env): DURATION=10 CONNS=64 THREADS=2 WARMUP=2 TOKENS_N=50 PACE_MS=10
#   IDLE_WAIT=60 PIN=0 NICE=-15 WATCHDOG=300 KEYWARD_BIN=path
#   DASK_PROCESSES=2 (co-processes of the command provider)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
KW=${KEYWARD_BIN:-$ROOT/target/release/keyward}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-2}
TOKENS_N=${TOKENS_N:-50}
PACE_MS=${PACE_MS:-10}
PIN=${PIN:-0}
NICE=${NICE:--15}
IDLE_WAIT=${IDLE_WAIT:-60}
WATCHDOG=${WATCHDOG:-300}
DASK_PROCESSES=${DASK_PROCESSES:-2}

FIX=$ROOT/testdata/fixtures/fairplay-ksm
CERT=$FIX/"Development Credentials/dev_certificate.der"
KEY_PEM=$FIX/"Development Credentials/dev_private_key.pem"
ASK_FILE=$ROOT/testdata/fairplay-derived/sdk_test_ask.txt
SPC_FILE=$FIX/FPS/spc2.bin
DASK_COMMAND=$ROOT/examples/fairplay-dask/sdk-test-dask.sh

log() { printf '%s\n' "$*" >&2; }
die() { log "fairplay.sh: $*"; exit 1; }

# ---------------------------------------------------------------- prerequisites
[[ -x $KW ]] || die "no keyward binary at $KW — build it first: cargo build --release -p keyward"
for f in "$CERT" "$KEY_PEM" "$ASK_FILE" "$SPC_FILE" "$DASK_COMMAND"; do
  [[ -f $f ]] || die "missing $f"
done
[[ $DASK_COMMAND != *[[:space:]]* ]] || die "the co-process path must not contain spaces (KEYWARD_FAIRPLAY_DASK_COMMAND is split on whitespace): $DASK_COMMAND"
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
ensure_wrk
command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"

setup_priority keyward

# ---------------------------------------------------------------- lifecycle
start_lifecycle keyward-fairplay fairplay.sh

# ---------------------------------------------------------------- context
machine_context
wait_for_idle

echo "# keyward FairPlay licence endpoint — load benchmark"
echo
echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "- machine: $(nproc) cores, $CPU_MODEL, $MEM_TOTAL RAM, $(uname -sr)"
echo "- software: $KW_V (release build, $KW); $WRK_V"
echo "- load: wrk -t$THREADS -c$CONNS -d${DURATION}s after a ${WARMUP}s warm-up, keep-alive, loopback 127.0.0.1;" \
     "requests rotate over $TOKENS_N tokens per DRM; every FairPlay request is the SDK SPC FPS/spc2.bin ($(stat -c %s "$SPC_FILE") bytes, raw body)"
echo "- CPU: wrk and keyward share this machine's $(nproc) cores — $PIN_NOTE; $PRIO_NOTE"
echo "- logging: KEYWARD_LOG=warn (no per-request log lines)"
if (( BUSY > 10 )); then
  echo "- WARNING: the CPU was ${BUSY} % busy before the run; other processes compete with the measurement:"
  ps -eo pcpu=,comm= --sort=-pcpu | head -3 | sed 's/^/  - /'
fi
echo

# ---------------------------------------------------------------- setup
SITE_ID=FPSB
rand32() { python3 -c 'import secrets,string; a=string.ascii_letters+string.digits; print("".join(secrets.choice(a) for _ in range(32)))'; }
SITE_KEY=$(rand32)
ACCESS_KEY=$(rand32)
CID=one
KID_HEX=abba271e8bcf552bbd2e86a434a9a5d9
KEY_HEX=69eaa802a6763af979e8d1940fb88392
CK_BODY='{"kids":["q7onHovPVSu9LoakNKml2Q"],"type":"temporary"}'
CK_EXPECTED='{"keys":[{"kty":"oct","kid":"q7onHovPVSu9LoakNKml2Q","k":"aeqoAqZ2Ovl56NGUD7iDkg"}],"type":"temporary"}'
CK_PATH=/ri/clearkey/licenseManager.do
FP_PATH=/v1/license/fairplay
DATA=$WORK/kw
export KEYWARD_KEK
KEYWARD_KEK=${KEYWARD_KEK:-$(python3 -c 'import secrets; print(secrets.token_hex(32))')}

log "preparing keyward's store in $DATA…"
mkdir -p "$DATA"
"$KW" site add --data-dir "$DATA" --site-id "$SITE_ID" --site-key "$SITE_KEY" --access-key "$ACCESS_KEY" >/dev/null
"$KW" site fairplay add --data-dir "$DATA" --site-id "$SITE_ID" --cert "$CERT" --key "$KEY_PEM" \
  --ask-file "$ASK_FILE" --label bench >/dev/null
"$KW" key add --data-dir "$DATA" --site-id "$SITE_ID" --cid "$CID" --kid "$KID_HEX" --key "$KEY_HEX" >/dev/null

log "minting $TOKENS_N ClearKey and $TOKENS_N FairPlay tokens…"
mint() { # drm user
  echo '{"policy_version":2}' | "$KW" token issue --site-id "$SITE_ID" --site-key "$SITE_KEY" \
    --access-key "$ACCESS_KEY" --drm-type "$1" --user-id "$2" --cid "$CID" --policy -
}
: >"$WORK/ck-tokens.txt"; : >"$WORK/fp-tokens.txt"
for i in $(seq 1 "$TOKENS_N"); do
  mint ClearKey "bench-ck-$i" >>"$WORK/ck-tokens.txt"
  mint FairPlay "bench-fp-$i" >>"$WORK/fp-tokens.txt"
done
for f in ck fp; do
  n=$(grep -c . "$WORK/$f-tokens.txt" || true)
  [[ $n == "$TOKENS_N" ]] || die "token minting produced $n of $TOKENS_N $f tokens"
done
FP_TOKEN=$(head -1 "$WORK/fp-tokens.txt")
CK_TOKEN=$(head -1 "$WORK/ck-tokens.txt")

# ---------------------------------------------------------------- server
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
KW_PID=

# start_keyward PROVIDER — (re)starts keyward with that DASk provider
start_keyward() {
  local provider=$1
  if [[ -n $KW_PID ]]; then
    kill -TERM -- "-$KW_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$KW_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$KW_PID" 2>/dev/null || true
  fi
  local env=(KEYWARD_LOG=warn KEYWARD_FAIRPLAY_DASK="$provider")
  if [[ $provider == command ]]; then
    env+=(KEYWARD_FAIRPLAY_DASK_COMMAND="$DASK_COMMAND" KEYWARD_FAIRPLAY_DASK_PROCESSES="$DASK_PROCESSES")
  fi
  log "starting keyward on :$PORT with the $provider DASk provider…"
  # (start_server is a function: the variables are exported in the subshell.)
  KW_PID=$(export "${env[@]}"; start_server "$WORK/keyward-$provider.log" \
    "$KW" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA")
  # start_server ran in a subshell ($(…)): record the group here too.
  SERVER_PGIDS+=("$KW_PID")
  wait_ready "$BASE/healthz" keyward "$WORK/keyward-$provider.log"
}

# check_fairplay LABEL — one licence by curl: 200 and a well-formed CKC
check_fairplay() {
  local status
  status=$(curl -sS --max-time 5 -X POST -H "Authorization: Bearer $FP_TOKEN" \
    -H 'Content-Type: application/octet-stream' --data-binary "@$SPC_FILE" \
    -o "$WORK/ckc.bin" -w '%{http_code}' "$BASE$FP_PATH") || die "$1: curl failed"
  [[ $status == 200 ]] || die "$1: FairPlay licence answered HTTP $status: $(head -c 300 "$WORK/ckc.bin")"
  python3 - "$WORK/ckc.bin" <<'EOF' || die "$1: the answer is not a version-1 CKC"
import struct, sys
b = open(sys.argv[1], "rb").read()
assert len(b) > 28, "shorter than a CKC header"
version, = struct.unpack(">I", b[0:4])
length, = struct.unpack(">I", b[24:28])
assert version == 1 and length == len(b) - 28 and length % 16 == 0, (version, length, len(b))
EOF
  CKC_LEN=$(stat -c %s "$WORK/ckc.bin")
}

start_keyward sdk-test
out=$(curl -sS --max-time 5 -X POST -H "pallycon-customdata-v2: $CK_TOKEN" -H 'Content-Type: application/json' \
  --data "$CK_BODY" -w '\n%{http_code}' "$BASE$CK_PATH")
[[ ${out##*$'\n'} == 200 && ${out%$'\n'*} == "$CK_EXPECTED" ]] || die "ClearKey licence answer differs from the expected bytes: $out"
check_fairplay sdk-test

# ---------------------------------------------------------------- measuring
declare -A RPS P50 P99 NON2XX SOCKERR BAD SHORT SRV_CORES GEN_CORES OTHER_CORES LABEL
CLK_TCK=$(getconf CLK_TCK)
ORDER=()

# run_wrk KEY LABEL PATH SCRIPT TOKENS CONNS DURATION [PACE_MS] — records the figures for KEY
run_wrk() {
  local key=$1 label=$2 path=$3 script=$4 tokens=$5 conns=$6 dur=$7 pace=${8:-}
  local out=$WORK/wrk-$key.txt threads=$THREADS
  (( conns < threads )) && threads=$conns
  if [[ -z $pace && $WARMUP -gt 0 ]]; then
    TOKENS=$tokens SPC_FILE=$SPC_FILE LICENCE_PATH=$path timeout $((WARMUP + 10)) "${GEN_PIN[@]}" \
      wrk -t"$threads" -c"$conns" -d"${WARMUP}s" -s "$script" "$BASE$path" >/dev/null 2>&1 || true
  fi
  local srv0 busy0 srv1 busy1 wrk_cpu
  srv0=$(cpu_ticks "$KW_PID"); busy0=$(busy_ticks)
  local TIMEFORMAT='%3U %3S'
  { time TOKENS=$tokens SPC_FILE=$SPC_FILE LICENCE_PATH=$path PACE_MS=$pace timeout $((dur + 15)) "${GEN_PIN[@]}" \
      wrk -t"$threads" -c"$conns" -d"${dur}s" --timeout 5s -s "$script" "$BASE$path" >"$out" 2>&1 ; } 2>"$out.time" \
    || { cat "$out" >&2; die "wrk failed for $key"; }
  srv1=$(cpu_ticks "$KW_PID"); busy1=$(busy_ticks)
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
  GEN_CORES[$key]=$(awk -v w="$wrk_cpu" -v s="$secs" 'BEGIN { printf "%.2f", w / s }')
  OTHER_CORES[$key]=$(awk -v a="$busy0" -v b="$busy1" -v t="$CLK_TCK" -v s="$secs" \
    -v c="${SRV_CORES[$key]}" -v g="${GEN_CORES[$key]}" 'BEGIN { o = (b - a) / t / s - c - g; if (o < 0) o = 0; printf "%.2f", o }')
  LABEL[$key]=$label
  ORDER+=("$key")
  log "  $key: ${RPS[$key]} req/s, p50 ${P50[$key]} ms, p99 ${P99[$key]} ms, non-2xx ${NON2XX[$key]}, bad ${BAD[$key]}, short ${SHORT[$key]}, errors ${SOCKERR[$key]}, CPU server ${SRV_CORES[$key]} wrk ${GEN_CORES[$key]} other ${OTHER_CORES[$key]}"
}

# half_load KEY LABEL SAT_KEY — paced FairPlay run at about half of SAT_KEY's RPS
half_load() {
  local key=$1 label=$2 sat=$3 target conns probe
  target=$(( ${RPS[$sat]} / 2 ))
  conns=$(awk -v t="$target" -v p="$PACE_MS" 'BEGIN { c = int(t * (p + 0.5) / 1000 + 0.5); if (c < 2) c = 2; print c }')
  probe=$(TOKENS=$WORK/fp-tokens.txt SPC_FILE=$SPC_FILE LICENCE_PATH=$FP_PATH PACE_MS=$PACE_MS timeout 15 "${GEN_PIN[@]}" \
    wrk -t"$THREADS" -c"$conns" -d3s -s "$BENCH/fairplay.lua" "$BASE$FP_PATH" 2>&1 | grep '^RESULT' || true)
  if [[ $probe =~ requests=([0-9]+)\ duration_us=([0-9]+) ]]; then
    conns=$(awk -v c="$conns" -v t="$target" -v n="${BASH_REMATCH[1]}" -v d="${BASH_REMATCH[2]}" \
      'BEGIN { r = n / (d / 1e6); if (r > 0) c = int(c * t / r + 0.5); if (c < 2) c = 2; print c }')
  fi
  run_wrk "$key" "$label ($conns conns, paced ~${PACE_MS} ms)" "$FP_PATH" "$BENCH/fairplay.lua" \
    "$WORK/fp-tokens.txt" "$conns" "$DURATION" "$PACE_MS"
}

log "measuring (about $(( (DURATION + WARMUP) * 6 + 2 * 3 + 10 )) s)…"
run_wrk health "\`GET /healthz\` (floor)" /healthz "$BENCH/healthz.lua" "$WORK/ck-tokens.txt" "$CONNS" "$DURATION"
run_wrk clearkey "ClearKey licence (\`$CK_PATH\`)" "$CK_PATH" "$BENCH/licence.lua" "$WORK/ck-tokens.txt" "$CONNS" "$DURATION"
run_wrk fp_sdk "FairPlay licence, DASk sdk-test" "$FP_PATH" "$BENCH/fairplay.lua" "$WORK/fp-tokens.txt" "$CONNS" "$DURATION"
half_load fp_sdk_half "FairPlay licence, DASk sdk-test, ~½ load" fp_sdk
check_fairplay "sdk-test after the load"

start_keyward command
check_fairplay command
COPROCS=$(( $(group_pids "$KW_PID" | wc -l) - 1 ))
run_wrk fp_cmd "FairPlay licence, DASk co-process ($DASK_PROCESSES × sdk-test-dask.sh)" "$FP_PATH" "$BENCH/fairplay.lua" "$WORK/fp-tokens.txt" "$CONNS" "$DURATION"
half_load fp_cmd_half "FairPlay licence, DASk co-process, ~½ load" fp_cmd
check_fairplay "command after the load"
# keyward's stderr without colours and without the expected start-up warnings
# (the sdk-test provider; the generated ExpressPlay token key)
sed 's/\x1b\[[0-9;]*m//g' "$WORK"/keyward-*.log \
  | grep -v -e 'sdk-test: the fixed DASk' -e 'no KEYWARD_TOKEN_KEY given' >"$WORK/stderr.txt" || true
KW_LOG_LINES=$(grep -c . "$WORK/stderr.txt" || true)

# ---------------------------------------------------------------- report
echo "Checked by curl before and after the load, for both providers: HTTP 200 and a version-1 CKC"
echo "($CKC_LEN bytes) for the SPC; the ClearKey licence is byte-identical to the expected JWK set."
echo "The command provider ran with $COPROCS process(es) in keyward's session besides keyward itself."
echo
echo "| target | req/s | p50 ms | p99 ms | not 200 / short | wrk non-2xx | socket errors | server CPU, cores | server CPU µs / req | wrk CPU, cores | other CPU, cores |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for k in "${ORDER[@]}"; do
  us=$(awk -v r="${RPS[$k]}" -v c="${SRV_CORES[$k]}" 'BEGIN { if (r > 0) printf "%.1f", c * 1e6 / r; else print "–" }')
  bad="–"; [[ $k == fp_* ]] && bad="${BAD[$k]} / ${SHORT[$k]}"
  echo "| ${LABEL[$k]} | ${RPS[$k]} | ${P50[$k]} | ${P99[$k]} | $bad | ${NON2XX[$k]} | ${SOCKERR[$k]} | ${SRV_CORES[$k]} | $us | ${GEN_CORES[$k]} | ${OTHER_CORES[$k]} |"
done
echo
echo "CPU is time used during the measured run divided by its length (2.00 = both cores); server CPU includes"
echo "the co-processes (keyward's session). \"not 200 / short\": answers fairplay.lua's response hook counted"
echo "as not HTTP 200, or 200 with a body under a CKC header."
echo

pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", 100 * a / b }'; }
echo "| ratio / figure | value | goal | |"
echo "|---|---:|---|---|"
echo "| FairPlay (sdk-test) RPS / \`/healthz\` RPS | $(ratio "${RPS[fp_sdk]}" "${RPS[health]}") | | |"
echo "| FairPlay (sdk-test) RPS / ClearKey licence RPS | $(ratio "${RPS[fp_sdk]}" "${RPS[clearkey]}") | | |"
echo "| FairPlay co-process RPS / sdk-test RPS | $(ratio "${RPS[fp_cmd]}" "${RPS[fp_sdk]}") | | |"
echo "| FairPlay (sdk-test) p99 at ${RPS[fp_sdk_half]} req/s ($(pct "${RPS[fp_sdk_half]}" "${RPS[fp_sdk]}") % of its max) | ${P99[fp_sdk_half]} ms | < 5 ms | $(verdict "${P99[fp_sdk_half]} < 5") |"
echo "| FairPlay (co-process) p99 at ${RPS[fp_cmd_half]} req/s ($(pct "${RPS[fp_cmd_half]}" "${RPS[fp_cmd]}") % of its max) | ${P99[fp_cmd_half]} ms | < 5 ms | $(verdict "${P99[fp_cmd_half]} < 5") |"
echo
[[ $NICE != 0 ]] && echo "(keyward and wrk at nice $NICE: other processes mostly got what the benchmark left idle.)"
for k in "${ORDER[@]}"; do
  # at raised priority other work mostly fills idle time, but still shares caches and wake-ups
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
