#!/usr/bin/env bash
# Load benchmark of the scale-out mode (keyward serve on PostgreSQL + Redis)
# against the embedded single-node path, in one run:
#
#   bash bench/cluster.sh
#
# Loopback only, bounded (fixed wrk durations, a watchdog), self-cleaning (a
# trap stops every server it started — PostgreSQL, Redis, keyward — and
# removes its temp dir). It builds nothing: it expects target/release/keyward.
# It starts its own PostgreSQL (Debian's, /usr/lib/postgresql/*/bin, run as
# the postgres user, default durability settings) and redis-server
# (appendonly yes, appendfsync everysec, noeviction) on free ports.
#
# What it measures (saturation = wrk -t$THREADS -c$CONNS -d$DURATION; half
# load = the same connections paced to about half the node's saturation rate):
#   1. Studio licence (single-use token: the replay decision) on the embedded
#      node (SQLite, in-process decisions) vs a cluster node (the decision is
#      one Redis script per licence); saturation and half-load p99, in the
#      order embedded, cluster, cluster, embedded. Goal: cluster ≥ 0.5 of the
#      embedded throughput, p99 < 10 ms at half load.
#   2. PallyCon ClearKey licence with a cold cache (KEYWARD_CACHE_TTL_MS=1:
#      every request reads its site and keys from PostgreSQL), over
#      $COLD_TOKENS contents, with $KEYS_SMALL keys in the table, then with
#      $KEYS_LARGE (filler rows added in SQL, then ANALYZE). Goal: p99 grows
#      < 1.5×.
#   3. PallyCon licence (warm caches) on one cluster node vs two (two wrk
#      processes, one per node, half the connections each); the cores are
#      shared, so the figure to watch is req/s per core of server CPU.
#
# Knobs (env): DURATION=10 CONNS=64 THREADS=2 WARMUP=2 MINT_S=12
#   KEYS_SMALL=10000 KEYS_LARGE=1000000 COLD_TOKENS=2000 NICE=-15 PIN=0
#   IDLE_WAIT=30 WATCHDOG=1200 KEYWARD_BIN=path
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
KW=${KEYWARD_BIN:-$ROOT/target/release/keyward}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-2}
MINT_S=${MINT_S:-12}
KEYS_SMALL=${KEYS_SMALL:-10000}
KEYS_LARGE=${KEYS_LARGE:-1000000}
COLD_TOKENS=${COLD_TOKENS:-2000}
PIN=${PIN:-0}
NICE=${NICE:--15}
IDLE_WAIT=${IDLE_WAIT:-30}
WATCHDOG=${WATCHDOG:-1200}

log() { printf '%s\n' "$*" >&2; }
die() { log "cluster.sh: $*"; exit 1; }

[[ -x $KW ]] || die "no keyward binary at $KW — build it first: cargo build --release -p keyward"
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
ensure_wrk
for c in curl python3 redis-server runuser; do command -v $c >/dev/null || die "$c is required"; done
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x $PGBIN/postgres ]] || die "PostgreSQL is required (apt-get install postgresql)"
[[ $(id -u) == 0 ]] || die "run as root (PostgreSQL is started as the postgres user)"

setup_priority servers
start_lifecycle keyward-bench-cluster cluster.sh
chmod 755 "$WORK"
machine_context
wait_for_idle
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- backends
PGPORT=$(free_port)
mkdir -p "$WORK/pg" && chown postgres "$WORK/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/pg/data" --auth=trust -U keyward >/dev/null
PG_PID=$(start_server "$WORK/pg.log" runuser -u postgres -- "$PGBIN/postgres" -D "$WORK/pg/data" \
  -p "$PGPORT" -k "$WORK/pg" -c listen_addresses=127.0.0.1 -c max_connections=200)
SERVER_PGIDS+=("$PG_PID")
for _ in $(seq 1 100); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" && break; sleep 0.1; done
"$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U keyward keyward
PSQL=("$PGBIN/psql" -q -h 127.0.0.1 -p "$PGPORT" -U keyward -d keyward -v ON_ERROR_STOP=1)
DB=postgres://keyward@127.0.0.1:$PGPORT/keyward
RPORT=$(free_port)
R_PID=$(start_server "$WORK/redis.log" redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$WORK" \
  --save "" --appendonly yes --appendfsync everysec --maxmemory-policy noeviction)
SERVER_PGIDS+=("$R_PID")
REDIS=redis://127.0.0.1:$RPORT
for _ in $(seq 1 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

# ---------------------------------------------------------------- stores
SITE=TEST
rand32() { python3 -c 'import secrets,string; a=string.ascii_letters+string.digits; print("".join(secrets.choice(a) for _ in range(32)))'; }
SK=$(rand32); AK=$(rand32)
KID=abba271e8bcf552bbd2e86a434a9a5d9
KEY=69eaa802a6763af979e8d1940fb88392
KEK=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
ADMIN=bench-admin-token-0123456789
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
provision() { # env… (KEYWARD_DATABASE_URL for the cluster)
  env "$@" "$KW" site add --data-dir "$WORK/kw" --site-id $SITE --site-key "$SK" --access-key "$AK" >/dev/null
  env "$@" "$KW" key add --data-dir "$WORK/kw" --site-id $SITE --cid c1 --kid $KID --key $KEY >/dev/null
  env "$@" "$KW" client add --data-dir "$WORK/kw" --name bench --site-id $SITE --ttl 600 --max-uses 1 \
    2>/dev/null | json_field api_key
}
log "provisioning the embedded store and PostgreSQL…"
API_E=$(provision KEYWARD_KEK="$KEK")
API_C=$(provision KEYWARD_KEK="$KEK" KEYWARD_DATABASE_URL="$DB")

# node log port data-dir env… → pid (a keyward serve in its own session)
node() {
  local logf=$1 port=$2 dir=$3; shift 3
  start_server "$logf" env KEYWARD_LOG=warn KEYWARD_KEK="$KEK" KEYWARD_ADMIN_TOKEN=$ADMIN \
    KEYWARD_SERVER_CLIENT_REQUEST_SHARE_PERCENT=100 "$@" \
    "$KW" serve --listen "127.0.0.1:$port" --data-dir "$dir"
}
PE=$(free_port); PC=$(free_port); PC2=$(free_port); PCOLD=$(free_port)
E_PID=$(node "$WORK/e.log" "$PE" "$WORK/kw")
SERVER_PGIDS+=("$E_PID")
C_PID=$(node "$WORK/c.log" "$PC" "$WORK/data-c" KEYWARD_DATABASE_URL="$DB" KEYWARD_REDIS_URL="$REDIS")
SERVER_PGIDS+=("$C_PID")
wait_ready "http://127.0.0.1:$PE/healthz" embedded "$WORK/e.log"
wait_ready "http://127.0.0.1:$PC/readyz" cluster "$WORK/c.log"

# ---------------------------------------------------------------- helpers
R_RPS=0; R_P50=0; R_P99=0; R_NON2XX=0; R_ERR=0; R_REUSED=0; R_CPU=0
# wrk_run url script pgids… -- env…   (sets R_*; R_CPU = server cores used)
wrk_run() {
  local url=$1 script=$2; shift 2
  local -a pgs=() envs=()
  while (( $# )) && [[ $1 != -- ]]; do pgs+=("$1"); shift; done
  [[ ${1:-} == -- ]] && shift
  envs=("$@")
  local out=$WORK/wrk.out t0=0 t1=0 p
  if (( WARMUP > 0 )) && [[ -z ${NO_WARMUP:-} ]]; then
    timeout $((WARMUP + 15)) "${GEN_PIN[@]}" env THREADS="$THREADS" "${envs[@]}" \
      wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -s "$script" "$url" >/dev/null 2>&1 || true
  fi
  for p in "${pgs[@]}"; do t0=$((t0 + $(cpu_ticks "$p"))); done
  timeout $((DURATION + 20)) "${GEN_PIN[@]}" env THREADS="$THREADS" "${envs[@]}" \
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 5s -s "$script" "$url" >"$out" 2>&1 \
    || { cat "$out" >&2; die "wrk failed on $url"; }
  for p in "${pgs[@]}"; do t1=$((t1 + $(cpu_ticks "$p"))); done
  parse_result "$out"
  R_CPU=$(awk -v a="$t0" -v b="$t1" -v t="$CLK_TCK" -v d="$DURATION" 'BEGIN { printf "%.2f", (b - a) / t / d }')
}
parse_result() {
  local line
  line=$(grep '^RESULT' "$1") || { cat "$1" >&2; die "no RESULT line"; }
  local requests duration_us p50_us p99_us non2xx errors reused=0
  eval "$(sed 's/^RESULT //' <<<"$line")"
  R_RPS=$(awk -v n="$requests" -v d="$duration_us" 'BEGIN { printf "%.0f", n / (d / 1e6) }')
  R_P50=$(awk -v u="$p50_us" 'BEGIN { printf "%.2f", u / 1000 }')
  R_P99=$(awk -v u="$p99_us" 'BEGIN { printf "%.2f", u / 1000 }')
  R_NON2XX=$non2xx; R_ERR=$errors; R_REUSED=$reused
}
pace_for() { # saturation rps → PACE_MS for about half of it over $CONNS connections
  awk -v r="$1" -v c="$CONNS" 'BEGIN { p = int(c * 1000 / (r / 2)); if (p < 1) p = 1; print p }'
}
mint_pool() { # port api_key file seconds
  rm -f "$WORK"/cap.*
  timeout $(($4 + 15)) "${GEN_PIN[@]}" env METHOD=POST \
    "BODY={\"clientName\":\"bench\",\"policy\":{\"content_id\":\"c1\"}}" "HEADERS=x-api-key: $2
Content-Type: application/json" "CAPTURE=$WORK/cap" \
    wrk -t"$THREADS" -c"$CONNS" -d"$4s" -s "$BENCH/mint.lua" "http://127.0.0.1:$1/v2/token" >/dev/null 2>&1 \
    || die "minting Studio tokens failed"
  cat "$WORK"/cap.* >"$3"
}
row() { local IFS='|'; local a=("$@"); printf '| %s |\n' "$(sed 's/|/ | /g' <<<"${a[*]}")"; }

echo "# keyward scale-out (PostgreSQL + Redis) — load benchmark"
echo
echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "- machine: $(nproc) cores, $CPU_MODEL, $MEM_TOTAL RAM, $(uname -sr)"
echo "- software: $KW_V (release); $WRK_V; PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') (default settings, fsync on); $(redis-server --version | awk '{print $1, $3}') (appendonly, appendfsync everysec)"
echo "- load: wrk -t$THREADS -c$CONNS -d${DURATION}s after a ${WARMUP}s warm-up, loopback; half load = the same connections paced to about half the node's saturation rate"
echo "- CPU: PostgreSQL, Redis, keyward and wrk share the $(nproc) cores — $PIN_NOTE; $PRIO_NOTE"
(( BUSY > 10 )) && echo "- WARNING: the CPU was ${BUSY} % busy before the run"
echo

# ---------------------------------------------------------------- 1. Studio licence
log "1. Studio licence: minting pools (${MINT_S}s each)…"
mint_pool "$PE" "$API_E" "$WORK/studio-e.txt" "$MINT_S"
mint_pool "$PC" "$API_C" "$WORK/studio-c.txt" "$MINT_S"
split_pool() { # file → file.a file.b (two halves: saturation and half load)
  local n; n=$(grep -c . "$1"); head -n $((n / 2)) "$1" >"$1.a"; tail -n +$((n / 2 + 1)) "$1" >"$1.b"
}
split_pool "$WORK/studio-e.txt"; split_pool "$WORK/studio-c.txt"
declare -A S_RPS S_P99 S_NON S_REUSED S_CPU H_RPS H_P99 H_NON
studio() { # name port pool pg [pace]
  local name=$1 port=$2 pool=$3 pg=$4 pace=${5:-}
  local -a env=("POOL=$pool" HEADER=x-vudrm-token ONCE=1)
  [[ -n $pace ]] && env+=("PACE_MS=$pace")
  NO_WARMUP=1 wrk_run "http://127.0.0.1:$port/v1/license/clearkey" "$BENCH/pool.lua" "$pg" -- "${env[@]}"
  log "  studio $name ${pace:+paced $pace ms }: $R_RPS req/s p99 $R_P99 ms non2xx $R_NON2XX reused $R_REUSED cpu $R_CPU"
}
studio embedded "$PE" "$WORK/studio-e.txt.a" "$E_PID"
S_RPS[e]=$R_RPS; S_P99[e]=$R_P99; S_NON[e]=$R_NON2XX; S_REUSED[e]=$R_REUSED; S_CPU[e]=$R_CPU
studio cluster "$PC" "$WORK/studio-c.txt.a" "$C_PID"
S_RPS[c]=$R_RPS; S_P99[c]=$R_P99; S_NON[c]=$R_NON2XX; S_REUSED[c]=$R_REUSED; S_CPU[c]=$R_CPU
studio cluster "$PC" "$WORK/studio-c.txt.b" "$C_PID" "$(pace_for "${S_RPS[c]}")"
H_RPS[c]=$R_RPS; H_P99[c]=$R_P99; H_NON[c]=$R_NON2XX
studio embedded "$PE" "$WORK/studio-e.txt.b" "$E_PID" "$(pace_for "${S_RPS[e]}")"
H_RPS[e]=$R_RPS; H_P99[e]=$R_P99; H_NON[e]=$R_NON2XX
SR=$(ratio "${S_RPS[c]}" "${S_RPS[e]}")
echo "## 1. Studio licence (single-use token per request)"
echo
row "node" "saturation req/s" "p99 ms" "server cores" "half load: req/s offered" "p99 ms" "non-2xx / reused"
row "---" "---" "---" "---" "---" "---" "---"
row "embedded (SQLite, decisions in process)" "${S_RPS[e]}" "${S_P99[e]}" "${S_CPU[e]}" "${H_RPS[e]}" "${H_P99[e]}" "${S_NON[e]}+${H_NON[e]} / ${S_REUSED[e]}"
row "cluster node (PostgreSQL + Redis)" "${S_RPS[c]}" "${S_P99[c]}" "${S_CPU[c]}" "${H_RPS[c]}" "${H_P99[c]}" "${S_NON[c]}+${H_NON[c]} / ${S_REUSED[c]}"
echo
echo "- cluster / embedded throughput: **$SR** (goal ≥ 0.5: $(verdict "$SR >= 0.5")); cluster p99 at half load **${H_P99[c]} ms** (goal < 10 ms: $(verdict "${H_P99[c]} < 10"))"
echo "- the server-cores column counts keyward only; the cluster node's Redis and PostgreSQL (audit rows) share the same cores"
echo

# ---------------------------------------------------------------- 2. cold cache, 10k vs 1M keys
log "2. cold cache: adding $KEYS_SMALL keys…"
python3 - "$PC" "$ADMIN" "$KEYS_SMALL" >"$WORK/kids.txt" <<'EOF'
import base64, http.client, json, os, sys
port, admin, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", int(port))
for i in range(n):
    kid = os.urandom(16); key = os.urandom(16)
    body = json.dumps({"cid": f"k-{i}", "kid": kid.hex(), "key": key.hex()})
    c.request("POST", "/v1/admin/sites/TEST/keys", body, {"authorization": f"Bearer {admin}", "content-type": "application/json"})
    r = c.getresponse(); r.read()
    if r.status not in (200, 201):
        sys.exit(f"key {i}: HTTP {r.status}")
    print(f"k-{i} {base64.urlsafe_b64encode(kid).rstrip(b'=').decode()}")
EOF
log "   minting $COLD_TOKENS PallyCon tokens over as many contents…"
python3 - "$COLD_TOKENS" "$KEYS_SMALL" "$WORK/kids.txt" >"$WORK/cold-pick.txt" <<'EOF'
import random, sys
n, total = int(sys.argv[1]), int(sys.argv[2])
lines = open(sys.argv[3]).read().split("\n")
random.seed(7)
for line in random.sample([l for l in lines if l], min(n, total)):
    print(line)
EOF
: >"$WORK/cold.txt"
while read -r cid kid; do
  t=$(echo '{"policy_version":2}' | "$KW" token issue --site-id $SITE --site-key "$SK" --access-key "$AK" \
    --drm-type ClearKey --user-id "u-$cid" --cid "$cid" --policy -)
  echo "$t $kid" >>"$WORK/cold.txt"
done <"$WORK/cold-pick.txt"
COLD_PID=$(node "$WORK/cold.log" "$PCOLD" "$WORK/data-cold" KEYWARD_DATABASE_URL="$DB" KEYWARD_REDIS_URL="$REDIS" KEYWARD_CACHE_TTL_MS=1)
SERVER_PGIDS+=("$COLD_PID")
wait_ready "http://127.0.0.1:$PCOLD/readyz" cold "$WORK/cold.log"
declare -A K_RPS K_P99 K_HP99 K_NON
cold() { # label
  wrk_run "http://127.0.0.1:$PCOLD/v1/license/clearkey" "$BENCH/cold.lua" "$COLD_PID" -- "POOL=$WORK/cold.txt"
  K_RPS[$1]=$R_RPS; K_P99[$1]=$R_P99; K_NON[$1]=$R_NON2XX
  NO_WARMUP=1 wrk_run "http://127.0.0.1:$PCOLD/v1/license/clearkey" "$BENCH/cold.lua" "$COLD_PID" -- "POOL=$WORK/cold.txt" "PACE_MS=$(pace_for "${K_RPS[$1]}")"
  K_HP99[$1]=$R_P99; K_NON[$1]=$((K_NON[$1] + R_NON2XX))
  log "  cold $1: ${K_RPS[$1]} req/s p99 ${K_P99[$1]} ms, half-load p99 ${K_HP99[$1]} ms, non2xx ${K_NON[$1]}"
}
"${PSQL[@]}" -c "ANALYZE content_keys"
cold small
log "   adding filler keys up to $KEYS_LARGE rows…"
FILL=$((KEYS_LARGE - KEYS_SMALL - 1))
"${PSQL[@]}" <<EOF
INSERT INTO content_keys (site_id, kid, cid, track_type, key_wrapped, iv, label, created_at, period, pinned)
SELECT r.site_id, decode(md5('filler-' || g), 'hex'), 'filler-' || g, r.track_type, r.key_wrapped,
       NULL, NULL, r.created_at, NULL, false
FROM generate_series(1, $FILL) g, (SELECT * FROM content_keys LIMIT 1) r;
ANALYZE content_keys;
EOF
ROWS=$("${PSQL[@]}" -tA -c "SELECT count(*) FROM content_keys")
cold large
GROW=$(ratio "${K_HP99[large]}" "${K_HP99[small]}")
GROW_SAT=$(ratio "${K_P99[large]}" "${K_P99[small]}")
echo "## 2. PallyCon ClearKey licence, cold cache (every request reads PostgreSQL), $COLD_TOKENS contents"
echo
row "keys in the table" "saturation req/s" "p99 ms" "half load p99 ms" "non-2xx"
row "---" "---" "---" "---" "---"
row "$((KEYS_SMALL + 1))" "${K_RPS[small]}" "${K_P99[small]}" "${K_HP99[small]}" "${K_NON[small]}"
row "$ROWS" "${K_RPS[large]}" "${K_P99[large]}" "${K_HP99[large]}" "${K_NON[large]}"
echo
echo "- p99 growth at half load: **$GROW×** (goal < 1.5×: $(verdict "$GROW < 1.5")); at saturation $GROW_SAT×"
echo

# ---------------------------------------------------------------- 3. one node vs two
log "3. one node vs two…"
C2_PID=$(node "$WORK/c2.log" "$PC2" "$WORK/data-c2" KEYWARD_DATABASE_URL="$DB" KEYWARD_REDIS_URL="$REDIS")
SERVER_PGIDS+=("$C2_PID")
wait_ready "http://127.0.0.1:$PC2/readyz" cluster2 "$WORK/c2.log"
: >"$WORK/pallycon.txt"
for i in $(seq 1 200); do
  echo '{"policy_version":2}' | "$KW" token issue --site-id $SITE --site-key "$SK" --access-key "$AK" \
    --drm-type ClearKey --user-id "bench-user-$i" --cid c1 --policy - >>"$WORK/pallycon.txt"
done
wrk_run "http://127.0.0.1:$PC/v1/license/clearkey" "$BENCH/licence.lua" "$C_PID" -- "TOKENS=$WORK/pallycon.txt" LICENCE_PATH=/v1/license/clearkey
ONE_RPS=$R_RPS; ONE_P99=$R_P99; ONE_CPU=$R_CPU
# two wrk processes at once, half the connections each
two() {
  local half=$((CONNS / 2)) t0 t1 p
  t0=$(( $(cpu_ticks "$C_PID") + $(cpu_ticks "$C2_PID") ))
  local -a gens=()
  for port in "$PC" "$PC2"; do
    timeout $((DURATION + 20)) "${GEN_PIN[@]}" env THREADS=1 "TOKENS=$WORK/pallycon.txt" LICENCE_PATH=/v1/license/clearkey \
      wrk -t1 -c"$half" -d"${DURATION}s" --timeout 5s -s "$BENCH/licence.lua" "http://127.0.0.1:$port/v1/license/clearkey" \
      >"$WORK/two-$port.out" 2>&1 &
    gens+=($!)
  done
  wait "${gens[@]}" || true
  t1=$(( $(cpu_ticks "$C_PID") + $(cpu_ticks "$C2_PID") ))
  parse_result "$WORK/two-$PC.out"; local a=$R_RPS a99=$R_P99
  parse_result "$WORK/two-$PC2.out"; local b=$R_RPS b99=$R_P99
  TWO_RPS=$((a + b)); TWO_P99=$(awk -v x="$a99" -v y="$b99" 'BEGIN { print (x > y ? x : y) }')
  TWO_CPU=$(awk -v a="$t0" -v b="$t1" -v t="$CLK_TCK" -v d="$DURATION" 'BEGIN { printf "%.2f", (b - a) / t / d }')
}
two
PER_CORE_ONE=$(awk -v r="$ONE_RPS" -v c="$ONE_CPU" 'BEGIN { printf "%.0f", r / c }')
PER_CORE_TWO=$(awk -v r="$TWO_RPS" -v c="$TWO_CPU" 'BEGIN { printf "%.0f", r / c }')
echo "## 3. PallyCon licence (warm caches): one cluster node vs two"
echo
row "nodes" "req/s" "p99 ms" "keyward cores" "req/s per keyward core"
row "---" "---" "---" "---" "---"
row "1" "$ONE_RPS" "$ONE_P99" "$ONE_CPU" "$PER_CORE_ONE"
row "2 (two wrk, $((CONNS / 2)) connections each)" "$TWO_RPS" "$TWO_P99" "$TWO_CPU" "$PER_CORE_TWO"
echo
echo "- two nodes / one: $(ratio "$TWO_RPS" "$ONE_RPS")× the requests on the same 2 cores; per keyward core $(ratio "$PER_CORE_TWO" "$PER_CORE_ONE")× (≈ 1 means nothing serialises on a shared lock)"
