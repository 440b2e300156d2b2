#!/usr/bin/env bash
# The licence pipeline's cost, before and after a change, in one run:
#
#   BEFORE_BIN=/path/to/old/keyward bash bench/pipeline.sh
#
# For each binary (BEFORE_BIN, and AFTER_BIN = target/release/keyward) and each
# log level (the default, info, with its one line per licence; and warn), it
# starts `keyward serve` on a free loopback port with stderr to a file (as a
# service manager would capture it), then measures with wrk, keep-alive:
#   GET  /healthz                        (the HTTP floor)
#   POST /ri/clearkey/licenseManager.do  (token verify + gatekeeper + ClearKey licence)
# and reports licence req/s over healthz req/s. The four configurations are
# interleaved ROUNDS times so that a drift of the machine hits all of them
# alike; the table gives the median ratio per configuration.
#
# Loopback only, bounded (fixed wrk durations, a watchdog), self-cleaning.
# Knobs (env): DURATION=8 CONNS=64 THREADS=2 WARMUP=2 ROUNDS=3 TOKENS_N=200
#   PIN=0 NICE=-15 IDLE_WAIT=60 WATCHDOG=900
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
KW=${AFTER_BIN:-$ROOT/target/release/keyward}
BEFORE=${BEFORE_BIN:-}
DURATION=${DURATION:-8}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-3}
TOKENS_N=${TOKENS_N:-200}
PIN=${PIN:-0}
NICE=${NICE:--15}
IDLE_WAIT=${IDLE_WAIT:-60}
WATCHDOG=${WATCHDOG:-900}

log() { printf '%s\n' "$*" >&2; }
die() { log "pipeline.sh: $*"; exit 1; }

[[ -x $KW ]] || die "no keyward binary at $KW — build it first: cargo build --release -p keyward"
[[ -z $BEFORE || -x $BEFORE ]] || die "BEFORE_BIN=$BEFORE is not executable"
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
ensure_wrk
setup_priority "keyward"
start_lifecycle keyward-pipeline pipeline.sh
machine_context
wait_for_idle

BINS=(after)
[[ -n $BEFORE ]] && BINS=(before after)
bin_of() { if [[ $1 == before ]]; then echo "$BEFORE"; else echo "$KW"; fi; }

echo "## Licence pipeline: licence req/s over /healthz req/s, by log level ($(date -u +%Y-%m-%dT%H:%MZ))"
echo
echo "- machine: $CPU_MODEL, $(nproc) cores, $MEM_TOTAL; $WRK_V"
echo "- after: $("$KW" --version 2>/dev/null || echo "$KW")${BEFORE:+; before: $("$BEFORE" --version 2>/dev/null || echo "$BEFORE") ($BEFORE)}"
echo "- load: wrk -t$THREADS -c$CONNS -d${DURATION}s after ${WARMUP}s warm-up, $ROUNDS interleaved rounds; $PIN_NOTE; $PRIO_NOTE"
echo "- keyward's stderr goes to a file; info = the default level (one line per licence), warn = none"
(( BUSY > 10 )) && echo "- WARNING: the CPU was ${BUSY} % busy before the run"
echo

SITE_ID=TEST
rand32() { python3 -c 'import secrets,string; a=string.ascii_letters+string.digits; print("".join(secrets.choice(a) for _ in range(32)))'; }
SITE_KEY=$(rand32)
ACCESS_KEY=$(rand32)
CID=c1
REQ_BODY='{"kids":["q7onHovPVSu9LoakNKml2Q"],"type":"temporary"}'
EXPECTED='{"keys":[{"kty":"oct","kid":"q7onHovPVSu9LoakNKml2Q","k":"aeqoAqZ2Ovl56NGUD7iDkg"}],"type":"temporary"}'
: >"$WORK/tokens.txt"
for i in $(seq 1 "$TOKENS_N"); do
  echo '{"policy_version":2}' | "$KW" token issue --site-id "$SITE_ID" --site-key "$SITE_KEY" \
    --access-key "$ACCESS_KEY" --drm-type ClearKey --user-id "bench-user-$i" --cid "$CID" --policy - >>"$WORK/tokens.txt"
done

# One data directory per binary (each writes its own store format).
for b in "${BINS[@]}"; do
  bin=$(bin_of "$b")
  mkdir -p "$WORK/$b"
  "$bin" site add --data-dir "$WORK/$b" --site-id "$SITE_ID" --site-key "$SITE_KEY" --access-key "$ACCESS_KEY" >/dev/null
  "$bin" key add --data-dir "$WORK/$b" --site-id "$SITE_ID" --cid "$CID" \
    --kid abba271e8bcf552bbd2e86a434a9a5d9 --key 69eaa802a6763af979e8d1940fb88392 >/dev/null
done

# wrk_rps url script -> req/s (and checks the run had no errors)
wrk_rps() {
  local out=$WORK/wrk.txt
  TOKENS=$WORK/tokens.txt timeout $((WARMUP + 15)) "${GEN_PIN[@]}" \
    wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -s "$2" "$1" >/dev/null 2>&1 || true
  TOKENS=$WORK/tokens.txt timeout $((DURATION + 15)) "${GEN_PIN[@]}" \
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 5s -s "$2" "$1" >"$out" 2>&1 || die "wrk failed: $(cat "$out")"
  local line
  line=$(grep '^RESULT' "$out") || die "no RESULT from wrk: $(cat "$out")"
  [[ $line =~ requests=([0-9]+)\ duration_us=([0-9]+).*non2xx=([0-9]+) ]] || die "unreadable RESULT: $line"
  (( BASH_REMATCH[3] == 0 )) || die "non-2xx answers under load: $line"
  awk -v n="${BASH_REMATCH[1]}" -v d="${BASH_REMATCH[2]}" 'BEGIN { printf "%.0f", n / (d / 1e6) }'
}

declare -A RATIOS HEALTH LIC
for round in $(seq 1 "$ROUNDS"); do
  for level in info warn; do
    for b in "${BINS[@]}"; do
      bin=$(bin_of "$b")
      port=$(free_port)
      pid=$(KEYWARD_LOG=$level start_server "$WORK/$b-$level.log" "$bin" serve \
        --listen "127.0.0.1:$port" --data-dir "$WORK/$b")
      SERVER_PGIDS+=("$pid")
      wait_ready "http://127.0.0.1:$port/healthz" "keyward ($b)" "$WORK/$b-$level.log"
      got=$(curl -sS --max-time 5 -X POST -H "pallycon-customdata-v2: $(head -1 "$WORK/tokens.txt")" \
        --data "$REQ_BODY" "http://127.0.0.1:$port/ri/clearkey/licenseManager.do")
      [[ $got == "$EXPECTED" ]] || die "$b: unexpected licence answer: $got"
      h=$(wrk_rps "http://127.0.0.1:$port/healthz" "$BENCH/healthz.lua")
      l=$(wrk_rps "http://127.0.0.1:$port/ri/clearkey/licenseManager.do" "$BENCH/licence.lua")
      r=$(awk -v l="$l" -v h="$h" 'BEGIN { printf "%.3f", l / h }')
      key="$b-$level"
      RATIOS[$key]+="$r "; HEALTH[$key]+="$h "; LIC[$key]+="$l "
      log "round $round $key: healthz $h req/s, licence $l req/s, ratio $r ($(wc -l <"$WORK/$b-$level.log") log lines)"
      kill -TERM -- "-$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
  done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo "| binary | log level | /healthz req/s (median) | licence req/s (median) | licence / healthz (median of rounds) | ratios per round |"
echo "|---|---|---:|---:|---:|---|"
for level in info warn; do
  for b in "${BINS[@]}"; do
    key="$b-$level"
    echo "| $b | $level | $(median <<<"${HEALTH[$key]}") | $(median <<<"${LIC[$key]}") | **$(median <<<"${RATIOS[$key]}")** | ${RATIOS[$key]% } |"
  done
done
