#!/usr/bin/env bash
# Load benchmark of keyward's token APIs: Studio-DRM-style (`POST /v2/token`,
# single-use tokens at licence time) and ExpressPlay-style (`/hms/ck/token`,
# `/hms/ck/rights/`), against the /healthz floor and the PallyCon licence, all
# in one run against one `keyward serve` (KEYWARD_LOG=warn).
#
#   bash bench/load-tokens.sh
#
# Same conventions as bench/load.sh: loopback only (127.0.0.1), bounded (every
# wrk run has a fixed duration and a `timeout`; a watchdog ends the script
# after WATCHDOG seconds), self-cleaning (a trap stops the server it started
# and removes its temp dir). It builds nothing: it expects
# target/release/keyward (`cargo build --release -p keyward`); it installs
# `wrk` (Debian) when missing.
#
# What it measures (saturation = wrk -t$THREADS -c$CONNS -d$DURATION after a
# $WARMUP s warm-up):
#   GET  /healthz                                  the HTTP floor
#   POST /v2/token          (x-api-key, JSON body)  Studio token minting
#   GET  /hms/ck/token?customerAuthenticator=…      ExpressPlay token minting
#   POST /hms/ck/rights/?ExpressPlayToken=…         ExpressPlay redemption
#                                                   (rotating over $EP_POOL tokens)
#   POST /v1/license/clearkey (pallycon-customdata-v2)  PallyCon licence, as in
#                                                   bench/licence.lua, run
#                                                   before AND after the Studio
#                                                   licence (drift bracket)
#   POST /v1/license/clearkey (x-vudrm-token)       Studio licence: every request
#                                                   a different pre-minted,
#                                                   single-use token, so each one
#                                                   goes through the replay store
# with RPS, p50/p99, non-2xx, server CPU and memory.
#
# The Studio pools: after the PallyCon licence run, PROBE_S seconds of
# /v2/token (answers captured by bench/mint.lua) fill a probe pool; the
# Studio licence warm-up runs on it and measures its rate; then
# POOL_FACTOR × DURATION × that rate tokens are minted for the timed run.
# The client's TTL is 600 s, so none expires during the run. If a wrk thread
# still ran out of tokens it would start over and those requests would be
# refused as reused; the report counts them ("reused") and the non-2xx, and
# checks that GET /v2/stats recorded every 2xx as "ok".
#
# Knobs (env): DURATION=10 CONNS=64 THREADS=2 WARMUP=2 EP_POOL=200 PC_POOL=200
#   POOL_FACTOR=1.5 PROBE_S=2 POOL_MAX=800000 IDLE_WAIT=30 NICE=-15 PIN=0 WATCHDOG=300
#   KEYWARD_BIN=path
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
KW=${KEYWARD_BIN:-$ROOT/target/release/keyward}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-2}
EP_POOL=${EP_POOL:-200}
PC_POOL=${PC_POOL:-200}
POOL_FACTOR=${POOL_FACTOR:-1.5}
PROBE_S=${PROBE_S:-2}
POOL_MAX=${POOL_MAX:-800000}
PIN=${PIN:-0}
NICE=${NICE:--15}
IDLE_WAIT=${IDLE_WAIT:-30}
WATCHDOG=${WATCHDOG:-300}

log() { printf '%s\n' "$*" >&2; }
die() { log "load-tokens.sh: $*"; exit 1; }

# ---------------------------------------------------------------- prerequisites
[[ -x $KW ]] || die "no keyward binary at $KW — build it first: cargo build --release -p keyward"
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
ensure_wrk
for c in curl python3; do command -v $c >/dev/null || die "$c is required"; done

setup_priority server

# ---------------------------------------------------------------- lifecycle
start_lifecycle keyward-bench-tokens load-tokens.sh

json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# ---------------------------------------------------------------- context
machine_context
FS=$(df -T "$WORK" | awk 'NR==2 {print $2}')
wait_for_idle

echo "# keyward token APIs — load benchmark"
echo
echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "- machine: $(nproc) cores, $CPU_MODEL, $MEM_TOTAL RAM, $(uname -sr); data dir on $FS"
echo "- software: $KW_V (release build); $WRK_V"
echo "- load: wrk -t$THREADS -c$CONNS -d${DURATION}s after a ${WARMUP}s warm-up, keep-alive, loopback 127.0.0.1; one keyward serve, KEYWARD_LOG=warn"
echo "- CPU: wrk and the server share this machine's $(nproc) cores — $PIN_NOTE; $PRIO_NOTE"
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
LIC_PATH=/v1/license/clearkey
CLIENT=bench
STUDIO_BODY="{\"clientName\":\"$CLIENT\",\"policy\":{\"content_id\":\"$CID\"}}"
STUDIO_TTL=600

log "preparing keyward's store in $WORK…"
DATA=$WORK/kw
mkdir -p "$DATA"
"$KW" site add --data-dir "$DATA" --site-id "$SITE_ID" --site-key "$SITE_KEY" --access-key "$ACCESS_KEY" >/dev/null
"$KW" key add --data-dir "$DATA" --site-id "$SITE_ID" --cid "$CID" --kid "$KID_HEX" --key "$KEY_HEX" >/dev/null
API_KEY=$("$KW" client add --data-dir "$DATA" --name "$CLIENT" --site-id "$SITE_ID" \
  --ttl "$STUDIO_TTL" --max-uses 1 2>/dev/null | json_field api_key)
[[ $API_KEY == kwk_* ]] || die "keyward client add printed no API key"
EP_AUTH=$("$KW" customer add --data-dir "$DATA" --customer-id bench --site-id "$SITE_ID" 2>/dev/null \
  | json_field test_authenticator)
[[ -n $EP_AUTH ]] || die "keyward customer add printed no authenticator"

# Callback mode (issue 4): a second site whose licences are decided by the
# example callback page (`keyward callback serve-example`, a real process on
# loopback). Auth data carries no timestamp, so a small pool serves the run.
CB_SITE=CBCK
CB_PORT=$(free_port)
"$KW" site add --data-dir "$DATA" --site-id "$CB_SITE" --site-key "$SITE_KEY" --access-key "$ACCESS_KEY" \
  --callback-url "http://127.0.0.1:$CB_PORT/callback" >/dev/null
"$KW" key add --data-dir "$DATA" --site-id "$CB_SITE" --cid "$CID" --kid "$KID_HEX" --key "$KEY_HEX" >/dev/null
: >"$WORK/authdata.txt"
CB_ALLOW=()
for i in $(seq 1 50); do
  CB_ALLOW+=(--allow "cb-user-$i")
  "$KW" customdata make --site-id "$CB_SITE" --site-key "$SITE_KEY" --user-id "cb-user-$i" --cid "$CID" \
    --drm-type ClearKey >>"$WORK/authdata.txt"
done

log "minting $PC_POOL PallyCon tokens…"
: >"$WORK/pallycon.txt"
for i in $(seq 1 "$PC_POOL"); do
  echo '{"policy_version":2}' | "$KW" token issue --site-id "$SITE_ID" --site-key "$SITE_KEY" \
    --access-key "$ACCESS_KEY" --drm-type ClearKey --user-id "bench-user-$i" --cid "$CID" --policy - >>"$WORK/pallycon.txt"
done
[[ $(grep -c . "$WORK/pallycon.txt") == "$PC_POOL" ]] || die "PallyCon token minting fell short"

# ---------------------------------------------------------------- server
P=$(free_port)
BASE=http://127.0.0.1:$P
log "starting keyward on :$P…"
KW_PID=$(KEYWARD_LOG=warn start_server "$WORK/keyward.log" "$KW" serve --listen "127.0.0.1:$P" --data-dir "$DATA")
SERVER_PGIDS+=("$KW_PID")
wait_ready "$BASE/healthz" keyward "$WORK/keyward.log"
CB_PID=$(KEYWARD_LOG=warn start_server "$WORK/callback.log" "$KW" callback serve-example \
  --listen "127.0.0.1:$CB_PORT" --site-key "$SITE_KEY" "${CB_ALLOW[@]}")
SERVER_PGIDS+=("$CB_PID")
for _ in $(seq 1 100); do
  curl -s -o /dev/null -X POST "http://127.0.0.1:$CB_PORT/callback" && break
  sleep 0.1
done
# the first start writes one WARN (generated ExpressPlay sealing key); count lines after it
LOG_LINES_START=$(grep -c . "$WORK/keyward.log" || true)

EP_QUERY="customerAuthenticator=$EP_AUTH&kid=$KID_HEX&contentKey=$KEY_HEX&securityLevel=1&hdcpOutputControl=0"
post_lic() { # url [header] -> "body\nstatus"
  local url=$1; shift
  curl -sS --max-time 5 -X POST "$@" -H 'Content-Type: application/json' --data "$REQ_BODY" -w '\n%{http_code}' "$url"
}
studio_mint() {
  curl -sS --max-time 5 -X POST -H "x-api-key: $1" -H 'Content-Type: application/json' \
    --data "$STUDIO_BODY" -w '\n%{http_code}' "$BASE/v2/token"
}
ep_mint() { curl -sS --max-time 5 -w '\n%{http_code}' "$BASE/hms/ck/token?$EP_QUERY"; }
expect() { # what out status body-pattern
  local what=$1 out=$2 want_status=$3 want_body=$4
  local status=${out##*$'\n'} body=${out%$'\n'*}
  local match=0
  if [[ $want_body == *'*'* ]]; then [[ $body == $want_body ]] && match=1
  else [[ $body == "$want_body" ]] && match=1; fi   # exact bytes (the JWK set has [ ])
  [[ $status == "$want_status" ]] && (( match )) || { echo "- WARNING: $what: HTTP $status $body"; return 1; }
}
check_all() { # phase
  local ok=1 out tok url
  expect "$1: healthz" "$(curl -sS --max-time 5 -w '\n%{http_code}' "$BASE/healthz")" 200 '*' || ok=0
  expect "$1: PallyCon licence" "$(post_lic "$BASE$LIC_PATH" -H "pallycon-customdata-v2: $(sed -n 7p "$WORK/pallycon.txt")")" 200 "$EXPECTED" || ok=0
  out=$(studio_mint "$API_KEY"); tok=${out%$'\n'*}
  expect "$1: Studio mint" "$out" 200 "$CLIENT|*|v2|*|*" || ok=0
  expect "$1: Studio licence" "$(post_lic "$BASE$LIC_PATH" -H "x-vudrm-token: $tok")" 200 "$EXPECTED" || ok=0
  expect "$1: Studio licence, same token again" "$(post_lic "$BASE$LIC_PATH" -H "x-vudrm-token: $tok")" 403 '*studio_token_used*' || ok=0
  expect "$1: Studio mint, wrong API key" "$(studio_mint "kwk_$(rand32)")" 401 '*studio_api_key_invalid*' || ok=0
  out=$(ep_mint); url=${out%$'\n'*}
  expect "$1: ExpressPlay mint" "$out" 200 "$BASE/hms/ck/rights/?ExpressPlayToken=*" || ok=0
  expect "$1: ExpressPlay redemption" "$(post_lic "$url")" 200 "$EXPECTED" || ok=0
  expect "$1: ExpressPlay redemption, same token again (stateless)" "$(post_lic "$url")" 200 "$EXPECTED" || ok=0
  expect "$1: ExpressPlay redemption, tampered token" "$(post_lic "${url%?????}AAAAA")" 401 '*-4010*' || ok=0
  (( ok ))
}
check_all "before the load" || die "keyward answered wrongly before the load (see above)"
echo "Correctness check before the load: healthz; the PallyCon licence, the Studio licence (fresh token) and the"
echo "ExpressPlay redemption all return the byte-identical body \`$EXPECTED\`;"
echo "a Studio token's second use is refused (403 studio_token_used), a wrong x-api-key gets 401, an ExpressPlay"
echo "token redeems twice (stateless) and a tampered one is refused (-4010)."
echo

log "minting $EP_POOL ExpressPlay tokens…"
for _ in $(seq 1 "$EP_POOL"); do
  out=$(ep_mint); [[ ${out##*$'\n'} == 200 ]] || die "ExpressPlay mint failed: $out"
  u=${out%$'\n'*}; echo "${u#"$BASE"}"
done >"$WORK/ep.txt"

# ---------------------------------------------------------------- measuring
declare -A RPS P50 P99 NON2XX SOCKERR REUSED RSS_LOAD HWM SRV_CORES GEN_CORES OTHER_CORES
CLK_TCK=$(getconf CLK_TCK)
ORDER=()

# run_wrk key url script — the environment of wrk comes from the arrays
# RUN_ENV (measurement) and WARM_ENV (warm-up; defaults to RUN_ENV).
RUN_ENV=(); WARM_ENV=()
run_wrk() {
  local key=$1 url=$2 script=$3 pg=$KW_PID conns=$CONNS
  local out=$WORK/wrk-$key.txt sampler_out=$WORK/rss-$key.txt threads=$THREADS
  (( conns < threads )) && threads=$conns
  local -a warm_env=("${WARM_ENV[@]}")
  (( ${#warm_env[@]} )) || warm_env=("${RUN_ENV[@]}")
  rm -f "$out.warm"
  if (( WARMUP > 0 )) && [[ -z ${SKIP_WARMUP:-} ]]; then
    timeout $((WARMUP + 15)) "${GEN_PIN[@]}" env THREADS="$threads" "${warm_env[@]}" \
      wrk -t"$threads" -c"$conns" -d"${WARMUP}s" -s "$script" "$url" >"$out.warm" 2>&1 || true
  fi
  WARM_2XX[$key]=0
  if [[ -f $out.warm ]] && [[ $(cat "$out.warm") =~ requests=([0-9]+)\ .*non2xx=([0-9]+) ]]; then
    WARM_2XX[$key]=$(( BASH_REMATCH[1] - BASH_REMATCH[2] ))
  fi
  ( max=0; while :; do v=$(mem_kb "$pg" VmRSS); (( v > max )) && max=$v; echo "$max" >"$sampler_out"; sleep 0.5; done ) &
  local sampler=$!
  local srv0 busy0 srv1 busy1 wrk_cpu
  srv0=$(cpu_ticks "$pg"); busy0=$(busy_ticks)
  local TIMEFORMAT='%3U %3S'
  { time timeout $((DURATION + 20)) "${GEN_PIN[@]}" env THREADS="$threads" "${RUN_ENV[@]}" \
      wrk -t"$threads" -c"$conns" -d"${DURATION}s" --timeout 5s -s "$script" "$url" >"$out" 2>&1 ; } 2>"$out.time" \
    || { kill "$sampler" 2>/dev/null; cat "$out" >&2; die "wrk failed for $key"; }
  srv1=$(cpu_ticks "$pg"); busy1=$(busy_ticks)
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
  wrk_cpu=$(awk '{ print $1 + $2 }' "$out.time")
  SRV_CORES[$key]=$(awk -v a="$srv0" -v b="$srv1" -v t="$CLK_TCK" -v d="$DURATION" 'BEGIN { printf "%.2f", (b - a) / t / d }')
  GEN_CORES[$key]=$(awk -v w="$wrk_cpu" -v d="$DURATION" 'BEGIN { printf "%.2f", w / d }')
  OTHER_CORES[$key]=$(awk -v a="$busy0" -v b="$busy1" -v t="$CLK_TCK" -v d="$DURATION" \
    -v s="${SRV_CORES[$key]}" -v g="${GEN_CORES[$key]}" 'BEGIN { o = (b - a) / t / d - s - g; if (o < 0) o = 0; printf "%.2f", o }')
  local line r_reused=0
  line=$(grep '^RESULT' "$out") || { cat "$out" >&2; die "no RESULT line from wrk for $key"; }
  eval "$(sed 's/^RESULT //; s/\([a-z0-9_]*\)=/local r_\1=/g' <<<"$line")"
  RPS[$key]=$(awk -v n="$r_requests" -v d="$r_duration_us" 'BEGIN { printf "%.0f", n / (d / 1e6) }')
  REQS[$key]=$r_requests
  P50[$key]=$(awk -v u="$r_p50_us" 'BEGIN { printf "%.2f", u / 1000 }')
  P99[$key]=$(awk -v u="$r_p99_us" 'BEGIN { printf "%.2f", u / 1000 }')
  NON2XX[$key]=$r_non2xx
  SOCKERR[$key]=$r_errors
  REUSED[$key]=$r_reused
  RSS_LOAD[$key]=$(cat "$sampler_out" 2>/dev/null || echo 0)
  HWM[$key]=$(mem_kb "$pg" VmHWM)
  DIR_KB[$key]=$(db_kb)
  ORDER+=("$key")
  log "  $key: ${RPS[$key]} req/s, p50 ${P50[$key]} ms, p99 ${P99[$key]} ms, non-2xx ${NON2XX[$key]}, errors ${SOCKERR[$key]}, reused ${REUSED[$key]}, CPU server ${SRV_CORES[$key]} wrk ${GEN_CORES[$key]} other ${OTHER_CORES[$key]}, RSS $(mb "${RSS_LOAD[$key]}") MB"
}
declare -A REQS WARM_2XX DIR_KB

db_kb() { du -sk "$DATA" | awk '{print $1}'; }
studio_ok() { # licences counted "ok" for the client today (GET /v2/stats)
  local d; d=$(date -u +%F)
  curl -sS --max-time 5 -H "x-api-key: $API_KEY" "$BASE/v2/stats?from=$d&to=$d" \
    | python3 -c 'import json,sys; print(sum(c["count"] for c in json.load(sys.stdin)["counts"] if c["result"]=="ok"))'
}

T0=$(date +%s)
RSS_START=$(mem_kb "$KW_PID" VmRSS)
DB_START=$(db_kb)
log "measuring (about $(( (DURATION + WARMUP) * 7 + 30 )) s)…"
RUN_ENV=(); WARM_ENV=()
run_wrk health      "$BASE/healthz"            "$BENCH/healthz.lua"
RUN_ENV=(METHOD=POST "BODY=$STUDIO_BODY" "HEADERS=x-api-key: $API_KEY
Content-Type: application/json")
run_wrk st_token    "$BASE/v2/token"           "$BENCH/mint.lua"
RUN_ENV=(METHOD=GET)
run_wrk ep_token    "$BASE/hms/ck/token?$EP_QUERY" "$BENCH/mint.lua"
RUN_ENV=("POOL=$WORK/ep.txt" "BODY=$REQ_BODY")
run_wrk ep_rights   "$BASE/hms/ck/rights/"     "$BENCH/pool.lua"
RUN_ENV=("TOKENS=$WORK/pallycon.txt" "LICENCE_PATH=$LIC_PATH")
run_wrk pc_licence  "$BASE$LIC_PATH"           "$BENCH/licence.lua"
RUN_ENV=("TOKENS=$WORK/authdata.txt" "LICENCE_PATH=$LIC_PATH")
run_wrk cb_licence  "$BASE$LIC_PATH"           "$BENCH/licence.lua"

# ---- the Studio pool: minted through /v2/token, answers captured.
# A short probe pool first: the warm-up of the Studio licence runs on it and
# measures its rate; the pool of the timed run is then sized from that rate
# (POOL_FACTOR × DURATION × rate), so no token is needed twice.
capture() { # file seconds — appends the tokens minted in that time
  rm -f "$WORK"/cap.*
  timeout $(($2 + 15)) "${GEN_PIN[@]}" env METHOD=POST "BODY=$STUDIO_BODY" "HEADERS=x-api-key: $API_KEY
Content-Type: application/json" "CAPTURE=$WORK/cap" \
    wrk -t"$THREADS" -c"$CONNS" -d"$2s" -s "$BENCH/mint.lua" "$BASE/v2/token" >"$WORK/capture.txt" 2>&1 \
    || die "capture run failed: $(cat "$WORK/capture.txt")"
  cat "$WORK"/cap.* >>"$1"
}
OK_BEFORE=$(studio_ok)
log "minting a probe pool of Studio tokens (${PROBE_S}s of POST /v2/token)…"
: >"$WORK/studio-warm.txt"
capture "$WORK/studio-warm.txt" "$PROBE_S"
WARM_POOL=$(grep -c . "$WORK/studio-warm.txt" || true)
log "warm-up and probe: Studio licence for ${WARMUP}s on $WARM_POOL tokens…"
timeout $((WARMUP + 15)) "${GEN_PIN[@]}" env THREADS="$THREADS" "POOL=$WORK/studio-warm.txt" HEADER=x-vudrm-token ONCE=1 "BODY=$REQ_BODY" \
  wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -s "$BENCH/pool.lua" "$BASE$LIC_PATH" >"$WORK/probe.txt" 2>&1 \
  || die "probe run failed: $(cat "$WORK/probe.txt")"
[[ $(cat "$WORK/probe.txt") =~ requests=([0-9]+)\ duration_us=([0-9]+).*non2xx=([0-9]+).*reused=([0-9]+) ]] \
  || die "no RESULT from the probe: $(cat "$WORK/probe.txt")"
PROBE_2XX=$(( BASH_REMATCH[1] - BASH_REMATCH[3] ))
PROBE_RPS=$(awk -v n="${BASH_REMATCH[1]}" -v d="${BASH_REMATCH[2]}" 'BEGIN { printf "%.0f", n / (d / 1e6) }')
# a probe that ran out of tokens only gives a lower bound: then size for the PallyCon rate
(( BASH_REMATCH[4] > 0 )) && PROBE_RPS=${RPS[pc_licence]}
NEED=$(awk -v f="$POOL_FACTOR" -v r="$PROBE_RPS" -v d="$DURATION" -v m="$POOL_MAX" \
  'BEGIN { n = int(f * r * d + 0.999); if (n < 1000) n = 1000; if (n > m) n = m; print n }')
log "minting $NEED single-use Studio tokens for the timed run (probe: $PROBE_RPS req/s; TTL ${STUDIO_TTL} s)…"
CAP_START=$(date +%s.%N)
: >"$WORK/studio-run.txt"
for attempt in 1 2 3; do
  have=$(grep -c . "$WORK/studio-run.txt" || true)
  (( have >= NEED )) && break
  secs=$(awk -v n="$((NEED - have))" -v r="${RPS[st_token]}" 'BEGIN { s = int(1.15 * n / r) + 1; if (s < 1) s = 1; if (s > 40) s = 40; print s }')
  capture "$WORK/studio-run.txt" "$secs"
done
CAP_SECS=$(awk -v a="$CAP_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
RUN_POOL=$(grep -c . "$WORK/studio-run.txt" || true)
DISTINCT=$(cat "$WORK/studio-warm.txt" "$WORK/studio-run.txt" | sort -u | wc -l)
(( RUN_POOL >= NEED )) || log "WARNING: only $RUN_POOL of $NEED Studio tokens minted"
(( DISTINCT == RUN_POOL + WARM_POOL )) || log "WARNING: $((RUN_POOL + WARM_POOL - DISTINCT)) duplicate Studio tokens in the pools"

# GET /v2/stats counts the Studio licences answered "ok" (written off the
# request path); the warm-up's and the timed run's 2xx must all show up there.
RUN_ENV=("POOL=$WORK/studio-run.txt" HEADER=x-vudrm-token ONCE=1 "BODY=$REQ_BODY")
SKIP_WARMUP=1 run_wrk st_licence  "$BASE$LIC_PATH"           "$BENCH/pool.lua"
OK_EXPECT=$(( ${REQS[st_licence]} - ${NON2XX[st_licence]} + PROBE_2XX ))
OK_AFTER=$(studio_ok); OK_LAG_S=0
while (( OK_AFTER - OK_BEFORE < OK_EXPECT && OK_LAG_S < 10 )); do sleep 1; OK_LAG_S=$((OK_LAG_S + 1)); OK_AFTER=$(studio_ok); done
WARM_ENV=()
RUN_ENV=("TOKENS=$WORK/pallycon.txt" "LICENCE_PATH=$LIC_PATH")
run_wrk pc_licence2 "$BASE$LIC_PATH"           "$BENCH/licence.lua"

sleep 2
RSS_END=$(mem_kb "$KW_PID" VmRSS)
DB_END=$(db_kb)
DB_FILES=$(cd "$DATA" && for f in keyward.db keyward.db-wal; do [[ -f $f ]] && printf '%s %s MB, ' "$f" "$(mb "$(( $(stat -c %s "$f") / 1024 ))")"; done)
check_all "after the load" && AFTER_OK=1 || AFTER_OK=0
LOG_LINES=$(( $(grep -c . "$WORK/keyward.log" || true) - LOG_LINES_START ))
T1=$(date +%s)

# ---------------------------------------------------------------- report
label() {
  case $1 in
    health) echo "\`GET /healthz\` (floor)";;
    st_token) echo "Studio \`POST /v2/token\` (mint)";;
    ep_token) echo "ExpressPlay \`GET /hms/ck/token\` (mint)";;
    ep_rights) echo "ExpressPlay \`POST /hms/ck/rights/\` (ClearKey redemption, $EP_POOL tokens rotating)";;
    pc_licence) echo "PallyCon ClearKey licence \`POST $LIC_PATH\` (before)";;
    cb_licence) echo "Callback-mode ClearKey licence \`POST $LIC_PATH\` (auth data; the example callback page decides)";;
    st_licence) echo "Studio ClearKey licence \`POST $LIC_PATH\` (single-use, every token new)";;
    pc_licence2) echo "PallyCon ClearKey licence \`POST $LIC_PATH\` (after)";;
  esac
}
echo "| target | req/s | p50 ms | p99 ms | non-2xx | socket errors | RSS under load, MB | data dir after, MB | server CPU, cores | wrk CPU, cores | req/s per server core |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for k in "${ORDER[@]}"; do
  per_core=$(awk -v r="${RPS[$k]}" -v c="${SRV_CORES[$k]}" 'BEGIN { if (c > 0) printf "%.0f", r / c; else print "–" }')
  echo "| $(label "$k") | ${RPS[$k]} | ${P50[$k]} | ${P99[$k]} | ${NON2XX[$k]} | ${SOCKERR[$k]} | $(mb "${RSS_LOAD[$k]}") | $(mb "${DIR_KB[$k]}") | ${SRV_CORES[$k]} | ${GEN_CORES[$k]} | $per_core |"
done
echo
other_list=""
for k in "${ORDER[@]}"; do other_list+="${other_list:+, }$k ${OTHER_CORES[$k]}"; done
echo "CPU is time used during the measured ${DURATION} s divided by ${DURATION} s (2.00 = both cores). CPU used meanwhile by"
echo "other processes, in cores: $other_list."
echo

pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", 100 * a / b }'; }
PC_MEAN=$(awk -v a="${RPS[pc_licence]}" -v b="${RPS[pc_licence2]}" 'BEGIN { printf "%.0f", (a + b) / 2 }')
r_st=$(pct "${RPS[st_licence]}" "$PC_MEAN")
echo "| ratio | value |"
echo "|---|---:|"
for k in st_token ep_token ep_rights pc_licence st_licence pc_licence2; do
  echo "| $(label "$k") / healthz | $(pct "${RPS[$k]}" "${RPS[health]}") % |"
done
echo "| **Studio licence RPS / PallyCon licence RPS** (mean of before and after: $PC_MEAN) | **$r_st %** (goal ≥ 80 %: $(verdict "$r_st >= 80")) |"
echo "| Callback-mode licence: added p50 / p99 vs PallyCon token mode (before) | $(awk -v a="${P50[cb_licence]}" -v b="${P50[pc_licence]}" 'BEGIN { printf "%+.2f", a - b }') ms / $(awk -v a="${P99[cb_licence]}" -v b="${P99[pc_licence]}" 'BEGIN { printf "%+.2f", a - b }') ms |"
echo "| Callback-mode licence RPS / PallyCon licence RPS (before) | $(pct "${RPS[cb_licence]}" "${RPS[pc_licence]}") % |"
echo "| Studio licence RPS / PallyCon licence RPS, before / after separately | $(pct "${RPS[st_licence]}" "${RPS[pc_licence]}") % / $(pct "${RPS[st_licence]}" "${RPS[pc_licence2]}") % |"
echo "| ExpressPlay redemption RPS / PallyCon licence RPS (mean) | $(pct "${RPS[ep_rights]}" "$PC_MEAN") % |"
echo
echo "Studio pools: $WARM_POOL tokens minted in ${PROBE_S} s for the warm-up (${WARMUP} s, which measured $PROBE_RPS req/s), then"
echo "$RUN_POOL for the timed run in ${CAP_SECS} s (needed $NEED = $POOL_FACTOR × ${DURATION} s × the warm-up rate); all $DISTINCT distinct."
echo "The timed run sent ${REQS[st_licence]} requests ($(pct "${REQS[st_licence]}" "$RUN_POOL") % of its pool); requests that had to reuse a token: ${REUSED[st_licence]};"
echo "non-2xx in the Studio licence run: ${NON2XX[st_licence]}."
echo "GET /v2/stats: $((OK_AFTER - OK_BEFORE)) licences recorded \"ok\" during the warm-up and timed run vs $OK_EXPECT 2xx answers wrk counted"
echo "(counted ${OK_LAG_S} s after the run ended)."
echo
echo "keyward VmRSS: $(mb "$RSS_START") MB after start, $(mb "$RSS_END") MB after the load (peak VmHWM $(mb "$(mem_kb "$KW_PID" VmHWM)") MB);"
echo "data dir $(mb "$DB_START") MB → $(mb "$DB_END") MB (${DB_FILES%, }); $LOG_LINES line(s) on its stderr at KEYWARD_LOG=warn"
echo "beyond the start-up warning; correctness after the load: $( ((AFTER_OK)) && echo "all checks pass" || echo "FAILED (see above)" ); measuring took $((T1 - T0)) s."
total_bad=0
for k in "${ORDER[@]}"; do total_bad=$((total_bad + ${NON2XX[$k]} + ${SOCKERR[$k]})); done
if (( total_bad > 0 )); then
  echo
  echo "WARNING: $total_bad non-2xx answers or socket errors in total (see the table)."
fi
if (( LOG_LINES > 0 )); then
  echo
  echo "keyward's stderr (first lines after start-up):"
  echo '```'
  tail -n +"$((LOG_LINES_START + 1))" "$WORK/keyward.log" | head -5
  echo '```'
fi
