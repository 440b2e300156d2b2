# Shared by bench/load.sh and bench/load-tokens.sh: sourced, not run.
#
# The caller defines log, die and the knobs KW, PIN, NICE, WATCHDOG and
# IDLE_WAIT first, then calls, in this order:
#   ensure_wrk                      install wrk (Debian) when missing
#   setup_priority WHO              SRV_PIN / GEN_PIN command prefixes and
#                                   PIN_NOTE / PRIO_NOTE ("WHO and wrk …")
#   start_lifecycle PREFIX NAME     WORK (a temp dir /tmp/PREFIX.XXXXXX), a
#                                   trap that stops every server started with
#                                   start_server and removes WORK, and a
#                                   watchdog that stops NAME after WATCHDOG s
#   machine_context                 CPU_MODEL, MEM_TOTAL, WRK_V, KW_V
#   wait_for_idle                   BUSY (CPU % busy), after waiting up to
#                                   IDLE_WAIT s for other work to settle
# and uses free_port, start_server, wait_ready, group_pids, mem_kb, mb.

ensure_wrk() {
  command -v wrk >/dev/null && return 0
  log "installing wrk (Debian package)…"
  if [[ $(id -u) == 0 ]]; then
    apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
  else
    sudo apt-get install -y -qq wrk >/dev/null
  fi
}

setup_priority() {
  local who=$1
  if [[ $PIN == 1 ]]; then
    SRV_PIN=(taskset -c 0)
    GEN_PIN=(taskset -c 1)
    PIN_NOTE="$who pinned to core 0, wrk pinned to core 1 (taskset)"
  else
    SRV_PIN=()
    GEN_PIN=()
    PIN_NOTE="no pinning: $who and wrk share both cores"
  fi
  # Raised priority for the servers and wrk alike, so that a build or test
  # running beside the benchmark (a shared dev box) takes little from it.
  # The kernel groups processes per session (sched autogroup), so the nice
  # value is set on the session's autogroup too; every server and every wrk
  # run gets a session of its own (setsid).
  if [[ $NICE != 0 && $(id -u) == 0 ]]; then
    PRIO_WRAP='echo "$0" >/proc/$$/autogroup 2>/dev/null || true; exec nice -n "$0" "$@"'
    SRV_PIN=(bash -c "$PRIO_WRAP" "$NICE" "${SRV_PIN[@]}")
    GEN_PIN=(setsid -w bash -c "$PRIO_WRAP" "$NICE" "${GEN_PIN[@]}")
    PRIO_NOTE="$who and wrk run at nice $NICE (other processes at 0 get little CPU while it runs)"
  else
    NICE=0
    PRIO_NOTE="$who and wrk at normal priority"
  fi
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pg in "${SERVER_PGIDS[@]}"; do
    kill -TERM -- "-$pg" 2>/dev/null || kill -TERM "$pg" 2>/dev/null || true
  done
  sleep 0.3
  for pg in "${SERVER_PGIDS[@]}"; do
    kill -KILL -- "-$pg" 2>/dev/null || true
  done
  [[ -n $WATCHDOG_PID ]] && { kill -- "-$WATCHDOG_PID" 2>/dev/null || kill "$WATCHDOG_PID" 2>/dev/null || true; }
  wait 2>/dev/null || true
  rm -rf "$WORK"
  exit "$rc"
}

start_lifecycle() {
  local prefix=$1 name=$2
  WORK=$(mktemp -d "/tmp/$prefix.XXXXXX")
  SERVER_PGIDS=()
  WATCHDOG_PID=
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  setsid bash -c "sleep $WATCHDOG; echo '$name: watchdog: still running after ${WATCHDOG}s, stopping' >&2; kill -TERM $$" &
  WATCHDOG_PID=$!
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Starts a server in its own process group (so the trap can stop it and all
# its children); prints its pid.
start_server() {
  local logfile=$1; shift
  setsid "${SRV_PIN[@]}" "$@" >"$logfile" 2>&1 &
  local pid=$!
  SERVER_PGIDS+=("$pid")
  echo "$pid"
}

wait_ready() {
  local url=$1 name=$2 logfile=$3
  for _ in $(seq 1 150); do
    if curl -fs -o /dev/null --max-time 1 "$url" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "---- $name log:"; tail -20 "$logfile" >&2 || true
  die "$name did not answer $url within 15 s"
}

# pids of a server's session (setsid: a cluster primary and its workers)
group_pids() { ps -o pid= --sid "$1" | tr -d ' '; }

# sum of a /proc/<pid>/status field (kB) over a process group
mem_kb() {
  local pg=$1 field=$2 total=0 v
  for p in $(group_pids "$pg"); do
    v=$(awk -v f="$field:" '$1==f {print $2}' "/proc/$p/status" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k/1024 }'; }

machine_context() {
  CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
  MEM_TOTAL=$(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
  WRK_V=$( (wrk --version 2>&1 || true) | head -1 | awk '{print $1, $2}')
  KW_V=$("$KW" --version 2>/dev/null || echo keyward)
}

# CPU already busy (other builds, tests) makes every figure low: measure 1 s.
cpu_busy_pct() {
  local a b
  read -r -a a < <(head -1 /proc/stat); sleep 1; read -r -a b < <(head -1 /proc/stat)
  local idle=$(( b[4] + b[5] - a[4] - a[5] )) total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
  echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}

# Gives a concurrent build a little time to finish (bounded by IDLE_WAIT).
wait_for_idle() {
  local waited=0
  BUSY=$(cpu_busy_pct)
  while (( BUSY > 10 && waited < IDLE_WAIT )); do
    (( waited == 0 )) && log "the CPU is ${BUSY} % busy; waiting up to ${IDLE_WAIT}s for it to settle…"
    sleep 4; waited=$((waited + 5)); BUSY=$(cpu_busy_pct)
  done
}

# CPU clock ticks used so far by every process of a session (user + system).
cpu_ticks() {
  local total=0 p v
  for p in $(group_pids "$1"); do
    v=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
# Busy clock ticks of the whole machine so far (everything but idle and iowait).
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
# "meets" or "MISSES" for an awk condition, e.g. `verdict "$R >= 0.5"`.
verdict() { if awk "BEGIN { exit !($1) }"; then echo "meets"; else echo "MISSES"; fi; }
# a / b with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
