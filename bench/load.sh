#!/usr/bin/env bash
# Load benchmark of keyward's licence gateway against the obvious Node.js peer.
#
#   bash bench/load.sh
#
# Loopback only (127.0.0.1), bounded (every wrk run has a fixed duration and a
# `timeout`, a watchdog ends the whole script after WATCHDOG seconds) and
# self-cleaning (a trap stops every server it started and removes its temp
# dirs). It builds nothing: it expects target/release/keyward
# (`cargo build --release -p keyward`). It installs `wrk` (Debian) and the
# Node peer's locked dependencies (`npm ci`) when they are missing.
#
# What it measures, in one run (saturation = wrk -t$THREADS -c$CONNS -d$DURATION):
#   keyward  GET /healthz                       (the HTTP floor)
#   keyward  POST /ri/clearkey/licenseManager.do (token verify + ClearKey licence)
#   node     GET /healthz, licence               (one Node process)
#   node×N   GET /healthz, licence               (node:cluster, one worker per core)
#   keyward  licence at about half its saturation RPS (paced wrk, see below)
#   keyward  licence with metrics off (KEYWARD_METRICS_ENABLED=false, a second
#            server over a copy of the store), in the order on, off, off, on,
#            so that drift during the run weighs on both sides alike; the
#            ratio of the summed RPS is the metrics overhead (goal >= 0.95)
# with RPS, p50/p99 latency and the server's memory (VmRSS sampled during the
# run, VmHWM afterwards; summed over processes for the cluster).
#
# Half load: Debian has no wrk2, so wrk's delay() hook paces each connection
# (PACE_MS after every response); N connections then offer about
# N*1000/(PACE_MS+latency) requests/s. It is closed-loop, so a stall longer
# than PACE_MS would be under-reported (coordinated omission); the achieved
# RPS is printed so the reader can see what was actually offered.
#
# Knobs (env): DURATION=10 CONNS=64 THREADS=2 WARMUP=2 TOKENS_N=200 PACE_MS=10
#   IDLE_WAIT=60 (seconds to wait for a busy CPU to settle before measuring;
#   the report warns if it did not)
#   PIN=1   pins every server to core 0 and wrk to core 1 (per-core view;
#           the cluster then shares one core and is not meaningful).
#   NICE=-15 runs servers and wrk at that nice level when root (0 = off), so a
#           concurrent build barely competes; the "other CPU" figure shows
#           what other processes still took.
#   KEYWARD_BIN=path  another keyward binary.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
KW=${KEYWARD_BIN:-$ROOT/target/release/keyward}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-2}
TOKENS_N=${TOKENS_N:-200}
PACE_MS=${PACE_MS:-10}
PIN=${PIN:-0}
NICE=${NICE:--15}
IDLE_WAIT=${IDLE_WAIT:-60}
WATCHDOG=${WATCHDOG:-360}

log() { printf '%s\n' "$*" >&2; }
die() { log "load.sh: $*"; exit 1; }

# ---------------------------------------------------------------- prerequisites
if [[ ! -x $KW ]]; then
  die "no keyward binary at $KW — build it first: cargo build --release -p keyward"
fi
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
ensure_wrk
command -v node >/dev/null || die "node is required for the Node peer (apt-get install nodejs npm)"
command -v curl >/dev/null || die "curl is required"
if [[ ! -d $BENCH/node-peer/node_modules/express ]]; then
  log "installing the Node peer's dependencies (npm ci)…"
  (cd "$BENCH/node-peer" && npm ci --no-audit --no-fund --silent) || die "npm ci failed in bench/node-peer"
fi

setup_priority servers

# ---------------------------------------------------------------- lifecycle
start_lifecycle keyward-bench load.sh

# ---------------------------------------------------------------- context
machine_context
NODE_V=$(node --version)
EXPRESS_V=$(node -p "require('$BENCH/node-peer/node_modules/express/package.json').version")
wait_for_idle

echo "# keyward licence gateway — load benchmark"
echo
echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "- machine: $(nproc) cores, $CPU_MODEL, $MEM_TOTAL RAM, $(uname -sr)"
echo "- software: $KW_V (release build); node $NODE_V + express $EXPRESS_V; $WRK_V"
echo "- load: wrk -t$THREADS -c$CONNS -d${DURATION}s after a ${WARMUP}s warm-up, keep-alive, loopback 127.0.0.1;" \
     "licence requests rotate over $TOKENS_N pre-minted tokens (distinct user ids)"
echo "- CPU: the load generator and the server share this machine's $(nproc) cores — $PIN_NOTE; $PRIO_NOTE"
echo "- logging: keyward with KEYWARD_LOG=warn (no per-request log lines); Node with NODE_ENV=production and no request logger"
if (( BUSY > 10 )); then
  echo "- WARNING: the CPU was ${BUSY} % busy before the run; other processes compete with the measurement:"
  ps -eo pcpu=,comm= --sort=-pcpu | head -3 | sed 's/^/  - /'
fi
echo

# ---------------------------------------------------------------- setup
SITE_ID=TEST
rand32() { python3 -c 'import secrets,string; a=string.ascii_letters+string.digits; print("".join(secrets.choice(a) for _ in range(32)))'; }
SITE_KEY=$(rand32)
ACCESS_KEY=$(rand32)
CID=c1
KID_HEX=abba271e8bcf552bbd2e86a434a9a5d9
KEY_HEX=69eaa802a6763af979e8d1940fb88392
REQ_BODY='{"kids":["q7onHovPVSu9LoakNKml2Q"],"type":"temporary"}'
EXPECTED='{"keys":[{"kty":"oct","kid":"q7onHovPVSu9LoakNKml2Q","k":"aeqoAqZ2Ovl56NGUD7iDkg"}],"type":"temporary"}'
LICENCE_PATH=/ri/clearkey/licenseManager.do

log "preparing keyward's store and the Node peer's key file in $WORK…"
for d in kw kw-off; do   # kw-off: the metrics-off server's store (one server per store)
  mkdir -p "$WORK/$d"
  "$KW" site add --data-dir "$WORK/$d" --site-id "$SITE_ID" --site-key "$SITE_KEY" --access-key "$ACCESS_KEY" >/dev/null
  "$KW" key add --data-dir "$WORK/$d" --site-id "$SITE_ID" --cid "$CID" --kid "$KID_HEX" --key "$KEY_HEX" >/dev/null
done
cat >"$WORK/keys.json" <<EOF
{"sites":[{"site_id":"$SITE_ID","site_key":"$SITE_KEY","access_key":"$ACCESS_KEY",
  "keys":[{"cid":"$CID","kid":"$KID_HEX","key":"$KEY_HEX"}]}]}
EOF

log "minting $TOKENS_N tokens…"
mint() { # user access_key
  echo '{"policy_version":2}' | "$KW" token issue --site-id "$SITE_ID" --site-key "$SITE_KEY" \
    --access-key "$2" --drm-type ClearKey --user-id "$1" --cid "$CID" --policy -
}
: >"$WORK/tokens.txt"
for i in $(seq 1 "$TOKENS_N"); do
  mint "bench-user-$i" "$ACCESS_KEY" >>"$WORK/tokens.txt"
done
[[ $(grep -c . "$WORK/tokens.txt") == "$TOKENS_N" ]] || die "token minting produced $(grep -c . "$WORK/tokens.txt") of $TOKENS_N tokens"
FIRST_TOKEN=$(head -1 "$WORK/tokens.txt")
BAD_TOKEN=$(mint bench-bad "$(rand32)")   # right site, wrong access key: hash mismatch

# ---------------------------------------------------------------- servers
P_KW=$(free_port); P_KW_OFF=$(free_port); P_N1=$(free_port); P_NC=$(free_port)
log "starting keyward on :$P_KW (metrics on) and :$P_KW_OFF (metrics off), node on :$P_N1, node cluster on :$P_NC…"
KW_PID=$(KEYWARD_LOG=warn start_server "$WORK/keyward.log" "$KW" serve --listen "127.0.0.1:$P_KW" --data-dir "$WORK/kw")
KW_OFF_PID=$(KEYWARD_LOG=warn KEYWARD_METRICS_ENABLED=false start_server "$WORK/keyward-off.log" \
  "$KW" serve --listen "127.0.0.1:$P_KW_OFF" --data-dir "$WORK/kw-off")
N1_PID=$(NODE_ENV=production PORT=$P_N1 KEYS_FILE=$WORK/keys.json \
  start_server "$WORK/node1.log" node "$BENCH/node-peer/server.js")
NC_PID=$(NODE_ENV=production PORT=$P_NC KEYS_FILE=$WORK/keys.json WORKERS=$(nproc) \
  start_server "$WORK/nodec.log" node "$BENCH/node-peer/cluster.js")
# start_server runs in a subshell ($(…)), so record the groups here too.
SERVER_PGIDS+=("$KW_PID" "$KW_OFF_PID" "$N1_PID" "$NC_PID")

wait_ready "http://127.0.0.1:$P_KW/healthz" keyward "$WORK/keyward.log"
wait_ready "http://127.0.0.1:$P_KW_OFF/healthz" "keyward (metrics off)" "$WORK/keyward-off.log"
wait_ready "http://127.0.0.1:$P_N1/healthz" "node (single)" "$WORK/node1.log"
wait_ready "http://127.0.0.1:$P_NC/healthz" "node (cluster)" "$WORK/nodec.log"
sleep 0.5   # let every cluster worker come up

licence() { # port token -> "status body"
  curl -sS --max-time 5 -X POST -H "pallycon-customdata-v2: $2" -H 'Content-Type: application/json' \
    --data "$REQ_BODY" -w '\n%{http_code}' "http://127.0.0.1:$1$LICENCE_PATH"
}
for t in "keyward:$P_KW" "keyward-metrics-off:$P_KW_OFF" "node:$P_N1" "node-cluster:$P_NC"; do
  name=${t%%:*}; port=${t##*:}
  out=$(licence "$port" "$FIRST_TOKEN"); status=${out##*$'\n'}; body=${out%$'\n'*}
  [[ $status == 200 && $body == "$EXPECTED" ]] \
    || die "$name: licence answer differs from the expected bytes: HTTP $status $body"
  out=$(licence "$port" "$BAD_TOKEN"); body=${out%$'\n'*}
  [[ $body == *errorCode* && $body != *'"keys"'* ]] || die "$name: a token with a wrong hash was not refused: $body"
done
METRICS_TEXT=$(curl -fsS --max-time 5 "http://127.0.0.1:$P_KW/metrics") || die "keyward (metrics on): no /metrics"
grep -q '^keyward_licences_total{' <<<"$METRICS_TEXT" || die "keyward (metrics on): /metrics has no keyward_licences_total"
[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$P_KW_OFF/metrics") == 404 ]] \
  || die "keyward (metrics off) serves /metrics"
echo "Correctness check before the load: all three gateways (and keyward with metrics off) return the"
echo "byte-identical success body \`$EXPECTED\` and refuse a token whose hash was made with another access key."
echo

# ---------------------------------------------------------------- measuring
declare -A RPS P50 P99 NON2XX SOCKERR RSS_LOAD HWM SRV_CORES GEN_CORES OTHER_CORES
CLK_TCK=$(getconf CLK_TCK)
# utime+stime ticks of every process in a server's session
# busy ticks of the whole machine (all but idle and iowait)
ORDER=()

# run_wrk key url script conns [pace_ms] — sets RPS/P50/P99… for key
run_wrk() {
  local key=$1 url=$2 script=$3 conns=$4 pace=${5:-} pg=$6
  local out=$WORK/wrk-$key.txt sampler_out=$WORK/rss-$key.txt
  local threads=$THREADS
  (( conns < threads )) && threads=$conns
  if [[ -z $pace && $WARMUP -gt 0 ]]; then
    TOKENS=$WORK/tokens.txt timeout $((WARMUP + 10)) "${GEN_PIN[@]}" \
      wrk -t"$threads" -c"$conns" -d"${WARMUP}s" -s "$script" "$url" >/dev/null 2>&1 || true
  fi
  # sample the server's resident memory while the load runs
  ( max=0; while :; do v=$(mem_kb "$pg" VmRSS); (( v > max )) && max=$v; echo "$max" >"$sampler_out"; sleep 0.5; done ) &
  local sampler=$!
  # CPU accounting: the server's ticks (its session), wrk's (bash `time`),
  # and the machine's busy ticks; the rest was used by other processes.
  local srv0 busy0 srv1 busy1 wrk_cpu
  srv0=$(cpu_ticks "$pg"); busy0=$(busy_ticks)
  local TIMEFORMAT='%3U %3S'
  { time TOKENS=$WORK/tokens.txt PACE_MS=$pace timeout $((DURATION + 15)) "${GEN_PIN[@]}" \
      wrk -t"$threads" -c"$conns" -d"${DURATION}s" --timeout 5s -s "$script" "$url" >"$out" 2>&1 ; } 2>"$out.time" \
    || { kill "$sampler" 2>/dev/null; cat "$out" >&2; die "wrk failed for $key"; }
  srv1=$(cpu_ticks "$pg"); busy1=$(busy_ticks)
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
  wrk_cpu=$(awk '{ print $1 + $2 }' "$out.time")
  SRV_CORES[$key]=$(awk -v a="$srv0" -v b="$srv1" -v t="$CLK_TCK" -v d="$DURATION" 'BEGIN { printf "%.2f", (b - a) / t / d }')
  GEN_CORES[$key]=$(awk -v w="$wrk_cpu" -v d="$DURATION" 'BEGIN { printf "%.2f", w / d }')
  OTHER_CORES[$key]=$(awk -v a="$busy0" -v b="$busy1" -v t="$CLK_TCK" -v d="$DURATION" \
    -v s="${SRV_CORES[$key]}" -v g="${GEN_CORES[$key]}" 'BEGIN { o = (b - a) / t / d - s - g; if (o < 0) o = 0; printf "%.2f", o }')
  local line
  line=$(grep '^RESULT' "$out") || { cat "$out" >&2; die "no RESULT line from wrk for $key"; }
  eval "$(sed 's/^RESULT //; s/\([a-z0-9_]*\)=/local r_\1=/g' <<<"$line")"
  RPS[$key]=$(awk -v n="$r_requests" -v d="$r_duration_us" 'BEGIN { printf "%.0f", n / (d / 1e6) }')
  P50[$key]=$(awk -v u="$r_p50_us" 'BEGIN { printf "%.2f", u / 1000 }')
  P99[$key]=$(awk -v u="$r_p99_us" 'BEGIN { printf "%.2f", u / 1000 }')
  NON2XX[$key]=$r_non2xx
  SOCKERR[$key]=$r_errors
  RSS_LOAD[$key]=$(cat "$sampler_out" 2>/dev/null || echo 0)
  HWM[$key]=$(mem_kb "$pg" VmHWM)
  ORDER+=("$key")
  log "  $key: ${RPS[$key]} req/s, p50 ${P50[$key]} ms, p99 ${P99[$key]} ms, non-2xx ${NON2XX[$key]}, errors ${SOCKERR[$key]}, CPU server ${SRV_CORES[$key]} wrk ${GEN_CORES[$key]} other ${OTHER_CORES[$key]}"
}

KW_RSS_START=$(mem_kb "$KW_PID" VmRSS)
log "measuring (about $(( (DURATION + WARMUP) * 9 + DURATION + 10 )) s)…"
run_wrk kw_health   "http://127.0.0.1:$P_KW/healthz"          "$BENCH/healthz.lua" "$CONNS" "" "$KW_PID"
run_wrk kw_licence  "http://127.0.0.1:$P_KW$LICENCE_PATH"     "$BENCH/licence.lua" "$CONNS" "" "$KW_PID"
KW_RSS_AFTER_SAT=$(mem_kb "$KW_PID" VmRSS)
# Metrics overhead: on (above), off, off, on.
run_wrk kw_off      "http://127.0.0.1:$P_KW_OFF$LICENCE_PATH" "$BENCH/licence.lua" "$CONNS" "" "$KW_OFF_PID"
run_wrk kw_off2     "http://127.0.0.1:$P_KW_OFF$LICENCE_PATH" "$BENCH/licence.lua" "$CONNS" "" "$KW_OFF_PID"
run_wrk kw_licence2 "http://127.0.0.1:$P_KW$LICENCE_PATH"     "$BENCH/licence.lua" "$CONNS" "" "$KW_PID"
run_wrk n1_health   "http://127.0.0.1:$P_N1/healthz"          "$BENCH/healthz.lua" "$CONNS" "" "$N1_PID"
run_wrk n1_licence  "http://127.0.0.1:$P_N1$LICENCE_PATH"     "$BENCH/licence.lua" "$CONNS" "" "$N1_PID"
run_wrk nc_health   "http://127.0.0.1:$P_NC/healthz"          "$BENCH/healthz.lua" "$CONNS" "" "$NC_PID"
run_wrk nc_licence  "http://127.0.0.1:$P_NC$LICENCE_PATH"     "$BENCH/licence.lua" "$CONNS" "" "$NC_PID"

# Half load: N paced connections offer about N*1000/(PACE_MS+latency) req/s.
# A 3 s probe measures what N actually offers; N is then scaled to the target.
HALF_TARGET=$(( ${RPS[kw_licence]} / 2 ))
HALF_CONNS=$(awk -v t="$HALF_TARGET" -v p="$PACE_MS" 'BEGIN { c = int(t * (p + 0.3) / 1000 + 0.5); if (c < 2) c = 2; print c }')
probe=$(TOKENS=$WORK/tokens.txt PACE_MS=$PACE_MS timeout 15 "${GEN_PIN[@]}" \
  wrk -t"$THREADS" -c"$HALF_CONNS" -d3s -s "$BENCH/licence.lua" "http://127.0.0.1:$P_KW$LICENCE_PATH" 2>&1 | grep '^RESULT' || true)
if [[ $probe =~ requests=([0-9]+)\ duration_us=([0-9]+) ]]; then
  HALF_CONNS=$(awk -v c="$HALF_CONNS" -v t="$HALF_TARGET" -v n="${BASH_REMATCH[1]}" -v d="${BASH_REMATCH[2]}" \
    'BEGIN { r = n / (d / 1e6); if (r > 0) c = int(c * t / r + 0.5); if (c < 2) c = 2; print c }')
fi
run_wrk kw_half     "http://127.0.0.1:$P_KW$LICENCE_PATH"     "$BENCH/licence.lua" "$HALF_CONNS" "$PACE_MS" "$KW_PID"
KW_RSS_END=$(mem_kb "$KW_PID" VmRSS)

# the servers must still be alive and answering correctly after the load
for t in "keyward:$P_KW" "keyward-metrics-off:$P_KW_OFF" "node:$P_N1" "node-cluster:$P_NC"; do
  name=${t%%:*}; port=${t##*:}
  out=$(licence "$port" "$(sed -n 7p "$WORK/tokens.txt")"); body=${out%$'\n'*}
  [[ $body == "$EXPECTED" ]] || echo "- WARNING: $name answered wrongly after the load: $out"
done
KW_LOG_LINES=$(grep -c . "$WORK/keyward.log" || true)
# What the metrics-on server counted (every granted licence of every run above).
KW_COUNTED=$(curl -fsS --max-time 5 "http://127.0.0.1:$P_KW/metrics" \
  | awk '/^keyward_licences_total\{/ && /outcome="granted"/ { n += $NF } END { printf "%.0f", n }')

# ---------------------------------------------------------------- report
label() {
  case $1 in
    kw_health) echo "keyward \`GET /healthz\` (floor)";;
    kw_licence) echo "keyward ClearKey licence";;
    n1_health) echo "Node, 1 process, \`GET /healthz\`";;
    n1_licence) echo "Node, 1 process, ClearKey licence";;
    nc_health) echo "Node cluster ($(nproc) workers), \`GET /healthz\`";;
    nc_licence) echo "Node cluster ($(nproc) workers), ClearKey licence";;
    kw_half) echo "keyward ClearKey licence at ~½ load ($HALF_CONNS conns, paced ~${PACE_MS} ms)";;
    kw_off) echo "keyward ClearKey licence, metrics off (1st)";;
    kw_off2) echo "keyward ClearKey licence, metrics off (2nd)";;
    kw_licence2) echo "keyward ClearKey licence, metrics on (2nd)";;
  esac
}
echo "| target | req/s | p50 ms | p99 ms | non-2xx | socket errors | RSS under load, MB | peak RSS (VmHWM), MB | server CPU, cores | wrk CPU, cores | req/s per server core |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for k in "${ORDER[@]}"; do
  per_core=$(awk -v r="${RPS[$k]}" -v c="${SRV_CORES[$k]}" 'BEGIN { if (c > 0) printf "%.0f", r / c; else print "–" }')
  echo "| $(label "$k") | ${RPS[$k]} | ${P50[$k]} | ${P99[$k]} | ${NON2XX[$k]} | ${SOCKERR[$k]} | $(mb "${RSS_LOAD[$k]}") | $(mb "${HWM[$k]}") | ${SRV_CORES[$k]} | ${GEN_CORES[$k]} | $per_core |"
done
echo
echo "RSS and CPU for the Node cluster are summed over the primary and its workers. CPU is time used during the"
echo "measured ${DURATION} s divided by ${DURATION} s (2.00 = both cores)."
other_list=""
for k in "${ORDER[@]}"; do other_list+="${other_list:+, }$k ${OTHER_CORES[$k]}"; done
echo "CPU used meanwhile by other processes on the machine, in cores: $other_list."
if [[ $NICE != 0 ]]; then
  echo "(At nice $NICE they mostly get what the benchmark leaves idle, e.g. beside a one-core Node process.)"
else
  for k in "${ORDER[@]}"; do
    if awk -v o="${OTHER_CORES[$k]}" 'BEGIN { exit !(o > 0.15) }'; then
      echo "WARNING: during \`$k\` other processes used ${OTHER_CORES[$k]} cores; that row is not a clean measurement."
    fi
  done
fi
echo

pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", 100 * a / b }'; }
times() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

r_floor=$(pct "${RPS[kw_licence]}" "${RPS[kw_health]}")
r_n1=$(times "${RPS[kw_licence]}" "${RPS[n1_licence]}")
r_nc=$(times "${RPS[kw_licence]}" "${RPS[nc_licence]}")
half_pct=$(pct "${RPS[kw_half]}" "${RPS[kw_licence]}")
m_on=$(( ${RPS[kw_licence]} + ${RPS[kw_licence2]} ))
m_off=$(( ${RPS[kw_off]} + ${RPS[kw_off2]} ))
r_metrics=$(ratio "$m_on" "$m_off")
# server CPU per licence, microseconds, over the two runs of each side
us_per() { awk -v c1="${SRV_CORES[$1]}" -v c2="${SRV_CORES[$2]}" -v r1="${RPS[$1]}" -v r2="${RPS[$2]}" \
  'BEGIN { printf "%.1f", (c1 + c2) * 1e6 / (r1 + r2) }'; }
cpu_on=$(us_per kw_licence kw_licence2)
cpu_off=$(us_per kw_off kw_off2)
kw_hwm_mb=$(mb "${HWM[kw_half]}")

echo "| ratio / figure | value | goal | |"
echo "|---|---:|---|---|"
echo "| keyward licence RPS / keyward healthz RPS | $r_floor % | ≥ 50 % | $(verdict "$r_floor >= 50") |"
echo "| keyward licence RPS / Node single-process licence RPS | ${r_n1}× | several × | $(verdict "$r_n1 >= 3") |"
echo "| keyward licence RPS / Node cluster licence RPS | ${r_nc}× | several × | $(verdict "$r_nc >= 3") |"
echo "| keyward licence p99 at ${RPS[kw_half]} req/s (${half_pct} % of its max) | ${P99[kw_half]} ms | < 5 ms | $(verdict "${P99[kw_half]} < 5") |"
echo "| keyward peak RSS (VmHWM over the whole run) | $kw_hwm_mb MB | < 100 MB | $(verdict "$kw_hwm_mb < 100") |"
echo "| keyward licence RPS, metrics on / metrics off (runs on, off, off, on: $m_on / $m_off) | ${r_metrics} | ≥ 0.95 | $(verdict "$r_metrics >= 0.95") |"
echo "| keyward server CPU per licence, metrics on / off | $cpu_on / $cpu_off µs | | |"
echo
echo "keyward (metrics on) counted $KW_COUNTED granted licences in its /metrics over the whole run."
echo
echo "keyward VmRSS: $(mb "$KW_RSS_START") MB after start, $(mb "$KW_RSS_AFTER_SAT") MB after the saturation runs," \
     "$(mb "$KW_RSS_END") MB after the half-load run; $KW_LOG_LINES line(s) on its stderr at KEYWARD_LOG=warn."
total_non2xx=0
for k in "${ORDER[@]}"; do total_non2xx=$((total_non2xx + ${NON2XX[$k]} + ${SOCKERR[$k]})); done
if (( total_non2xx > 0 )); then
  echo
  echo "WARNING: $total_non2xx non-2xx answers or socket errors in total (see the table)."
fi
if (( KW_LOG_LINES > 0 )); then
  echo
  echo "keyward's stderr (first lines):"
  echo '```'
  head -5 "$WORK/keyward.log"
  echo '```'
fi
