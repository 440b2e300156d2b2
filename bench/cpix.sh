#!/usr/bin/env bash
# Load benchmark of keyward's CPIX key server for packagers (`POST /v1/packager/cpix`).
#
#   bash bench/cpix.sh
#
# Loopback only (127.0.0.1), bounded (every wrk run has a fixed duration and a
# `timeout`; a watchdog ends the whole script after WATCHDOG seconds) and
# self-cleaning (a trap stops the server it started and removes its temp dir).
# It builds nothing: it expects target/release/keyward
# (`cargo build --release -p keyward`), or KEYWARD_BIN.
#
# Setup (with the CLI, before the server starts: the CLI writes the store, in
# the temp dir through KEYWARD_DATA_DIR): a site BNCH (generated keys) and an
# api-key packager credential, sent as `X-Api-Key: NAME.SECRET`.
#
# The request (generated here): a CPIX 2.3 document, contentId bench-live, 20
# ContentKeys with explicit distinct kids (cbcs) = 5 track types (SD, HD, UHD1,
# UHD2, AUDIO) × 4 key periods (ContentKeyPeriodList, index 0..3; one usage rule
# per key with intendedTrackType and a KeyPeriodFilter), and 4 DRMSystem entries
# per key (80 in all): Widevine (PSSH, ContentProtectionData, HLSSignalingData
# media), PlayReady (PSSH, ContentProtectionData), FairPlay (URIExtXKey,
# HLSSignalingData media), W3C common (PSSH). The encrypted variant is the same
# document with a DeliveryDataList holding one recipient certificate
# (testdata/fixtures/cpix-dashif/Cert1.cer, RSA 4096): keyward wraps one document
# key + MAC key with RSA-OAEP, then AES-256-CBC + HMAC-SHA512 per content key.
# The first request makes and stores the 20 keys; every measured request is the
# steady state (keys found, signalling built, document written). Both answers
# are checked by python before and after the load (20 ContentKeys, 80
# DRMSystems; clear: 20 PlainValues, the same keys every time; encrypted: no
# PlainValue, 20 EncryptedValue + ValueMAC, exactly one DocumentKey).
#
# What it measures, in one run (saturation = wrk -t$THREADS -c$CONNS -d$DURATION):
#   GET /healthz                          (the HTTP floor)
#   CPIX clear       saturation, then ~½ load
#   CPIX encrypted   saturation, then ~½ load
# with RPS, p50/p99 latency, server CPU per request and bad answers (any status
# other than 200, or a 200 whose body does not end with `</cpix:CPIX>`, counted
# by cpix.lua's response hook; the run is reported as failed if there is any).
#
# Half load: paced wrk (see bench/load.sh): N connections each waiting a random
# mean PACE_MS after every response; N is scaled by a 3 s probe so that they
# offer about half the saturation RPS. Closed loop: a stall longer than
# PACE_MS would be under-reported; the achieved RPS is printed.
#
# Knobs (env): DURATION=10 CONNS=64 THREADS=2 WARMUP=2 PACE_MS=10
#   IDLE_WAIT=60 PIN=0 NICE=-15 WATCHDOG=300 KEYWARD_BIN=path
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
KW=${KEYWARD_BIN:-$ROOT/target/release/keyward}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-2}
PACE_MS=${PACE_MS:-10}
PIN=${PIN:-0}
NICE=${NICE:--15}
IDLE_WAIT=${IDLE_WAIT:-60}
WATCHDOG=${WATCHDOG:-300}

CERT=$ROOT/testdata/fixtures/cpix-dashif/Cert1.cer
CPIX_PATH=/v1/packager/cpix

log() { printf '%s\n' "$*" >&2; }
die() { log "cpix.sh: $*"; exit 1; }

# ---------------------------------------------------------------- prerequisites
[[ -x $KW ]] || die "no keyward binary at $KW — build it first: cargo build --release -p keyward"
[[ -f $CERT ]] || die "missing $CERT"
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
ensure_wrk
command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"

setup_priority keyward

# ---------------------------------------------------------------- lifecycle
start_lifecycle keyward-cpix cpix.sh

# ---------------------------------------------------------------- context
machine_context
wait_for_idle

# ---------------------------------------------------------------- setup
SITE_ID=BNCH
PKG_NAME=bench-cpix
CID=bench-live
export KEYWARD_DATA_DIR=$WORK/kw
export NO_COLOR=1

log "preparing keyward's store in $KEYWARD_DATA_DIR…"
mkdir -p "$KEYWARD_DATA_DIR"
"$KW" site add --site-id "$SITE_ID" --generate >/dev/null
API_KEY=$("$KW" packager add --site-id "$SITE_ID" --name "$PKG_NAME" --kind api-key \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["api_key"])')
[[ $API_KEY == "$PKG_NAME".* ]] || die "unexpected api key from \`keyward packager add\`"

# The two requests: $WORK/clear.xml and $WORK/enc.xml
python3 - "$CID" "$CERT" "$WORK/clear.xml" "$WORK/enc.xml" <<'EOF'
import base64, sys, uuid
cid, cert, out_clear, out_enc = sys.argv[1:]
WV, PR, FP, CO = ("edef8ba9-79d6-4ace-a3c8-27dcd51d21ed", "9a04f079-9840-4286-ab92-e65be0885f95",
                  "94ce86fb-07ff-4f43-adb8-93d2fa968ca2", "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b")
TRACKS = ["SD", "HD", "UHD1", "UHD2", "AUDIO"]
keys = []  # (kid, track, period)
for period in range(4):
    for track in TRACKS:
        keys.append((str(uuid.uuid4()), track, period))
assert len({k for k, _, _ in keys}) == 20

def doc(delivery):
    x = ['<?xml version="1.0" encoding="UTF-8"?>\n',
         f'<cpix:CPIX contentId="{cid}" version="2.3" xmlns:cpix="urn:dashif:org:cpix" '
         'xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" '
         'xmlns:enc="http://www.w3.org/2001/04/xmlenc#">\n']
    if delivery:
        der = base64.b64encode(open(cert, "rb").read()).decode()
        x.append('  <cpix:DeliveryDataList><cpix:DeliveryData><cpix:DeliveryKey><ds:X509Data>'
                 f'<ds:X509Certificate>{der}</ds:X509Certificate>'
                 '</ds:X509Data></cpix:DeliveryKey></cpix:DeliveryData></cpix:DeliveryDataList>\n')
    x.append('  <cpix:ContentKeyList>\n')
    for kid, _, _ in keys:
        x.append(f'    <cpix:ContentKey kid="{kid}" commonEncryptionScheme="cbcs"/>\n')
    x.append('  </cpix:ContentKeyList>\n  <cpix:DRMSystemList>\n')
    for kid, _, _ in keys:
        x.append(f'    <cpix:DRMSystem kid="{kid}" systemId="{WV}"><cpix:PSSH/><cpix:ContentProtectionData/>'
                 '<cpix:HLSSignalingData playlist="media"/></cpix:DRMSystem>\n')
        x.append(f'    <cpix:DRMSystem kid="{kid}" systemId="{PR}"><cpix:PSSH/><cpix:ContentProtectionData/>'
                 '</cpix:DRMSystem>\n')
        x.append(f'    <cpix:DRMSystem kid="{kid}" systemId="{FP}"><cpix:URIExtXKey/>'
                 '<cpix:HLSSignalingData playlist="media"/></cpix:DRMSystem>\n')
        x.append(f'    <cpix:DRMSystem kid="{kid}" systemId="{CO}"><cpix:PSSH/></cpix:DRMSystem>\n')
    x.append('  </cpix:DRMSystemList>\n  <cpix:ContentKeyPeriodList>\n')
    for p in range(4):
        x.append(f'    <cpix:ContentKeyPeriod id="p{p}" index="{p}"/>\n')
    x.append('  </cpix:ContentKeyPeriodList>\n  <cpix:ContentKeyUsageRuleList>\n')
    for kid, track, period in keys:
        flt = '<cpix:AudioFilter/>' if track == "AUDIO" else '<cpix:VideoFilter/>'
        x.append(f'    <cpix:ContentKeyUsageRule kid="{kid}" intendedTrackType="{track}">'
                 f'<cpix:KeyPeriodFilter periodId="p{period}"/>{flt}</cpix:ContentKeyUsageRule>\n')
    x.append('  </cpix:ContentKeyUsageRuleList>\n</cpix:CPIX>\n')
    return "".join(x)

open(out_clear, "w").write(doc(False))
open(out_enc, "w").write(doc(True))
EOF

# ---------------------------------------------------------------- server
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
log "starting keyward on :$PORT…"
KW_PID=$(export KEYWARD_LOG=warn; start_server "$WORK/keyward.log" "$KW" serve --listen "127.0.0.1:$PORT")
# start_server ran in a subshell ($(…)): record the group here too.
SERVER_PGIDS+=("$KW_PID")
wait_ready "$BASE/healthz" keyward "$WORK/keyward.log"

# check_cpix LABEL clear|enc — one request by curl: HTTP 200 and a complete answer
check_cpix() {
  local label=$1 kind=$2 status
  status=$(curl -sS --max-time 10 -X POST -H "X-Api-Key: $API_KEY" -H 'Content-Type: application/xml' \
    --data-binary "@$WORK/$kind.xml" -o "$WORK/answer-$kind.xml" -w '%{http_code}' "$BASE$CPIX_PATH") \
    || die "$label: curl failed"
  [[ $status == 200 ]] || die "$label: CPIX answered HTTP $status: $(head -c 400 "$WORK/answer-$kind.xml")"
  python3 - "$kind" "$WORK/answer-$kind.xml" "$WORK/keys-clear.txt" <<'EOF' || die "$label: the $kind answer is not as expected"
import os, sys
import xml.etree.ElementTree as ET
kind, path, keys_file = sys.argv[1:]
C = "{urn:dashif:org:cpix}"
P = "{urn:ietf:params:xml:ns:keyprov:pskc}"
raw = open(path, "rb").read()
assert raw.rstrip().endswith(b"</cpix:CPIX>"), "the answer does not end with </cpix:CPIX>"
root = ET.fromstring(raw)
assert root.tag == C + "CPIX" and root.get("contentId") == "bench-live", (root.tag, root.attrib)
cks = root.findall(f"{C}ContentKeyList/{C}ContentKey")
drms = root.findall(f"{C}DRMSystemList/{C}DRMSystem")
assert len(cks) == 20, f"{len(cks)} ContentKey elements, not 20"
assert len(drms) == 80, f"{len(drms)} DRMSystem elements, not 80"
for d in drms:
    assert len(list(d)) > 0, f"an empty DRMSystem for {d.get('systemId')}"
plain = root.findall(f".//{P}PlainValue")
doc_keys = root.findall(f".//{C}DocumentKey")
if kind == "clear":
    assert all(ck.find(f"{C}Data/{P}Secret/{P}PlainValue") is not None for ck in cks), "a ContentKey without PlainValue"
    assert len(plain) == 20 and not doc_keys, (len(plain), len(doc_keys))
    got = "\n".join(ck.get("kid") + " " + ck.find(f"{C}Data/{P}Secret/{P}PlainValue").text for ck in cks)
    if os.path.exists(keys_file):
        assert open(keys_file).read() == got, "the keys differ from the first answer's"
    else:
        open(keys_file, "w").write(got)
else:
    assert not plain, f"{len(plain)} PlainValue elements in an encrypted answer"
    assert len(doc_keys) == 1, f"{len(doc_keys)} DocumentKey elements, not 1"
    for ck in cks:
        s = ck.find(f"{C}Data/{P}Secret")
        assert s.find(f"{P}EncryptedValue") is not None and s.find(f"{P}ValueMAC") is not None, "a key not encrypted"
EOF
  if [[ $kind == clear ]]; then CLEAR_LEN=$(stat -c %s "$WORK/answer-clear.xml"); else ENC_LEN=$(stat -c %s "$WORK/answer-enc.xml"); fi
}

log "first requests (make and store the 20 keys), checked by python…"
check_cpix "first clear request" clear
check_cpix "first encrypted request" enc
check_cpix "second clear request" clear
REQ_LEN=$(stat -c %s "$WORK/clear.xml")
ENC_REQ_LEN=$(stat -c %s "$WORK/enc.xml")

# ---------------------------------------------------------------- report header
echo "# keyward CPIX key server (\`POST $CPIX_PATH\`) — load benchmark"
echo
echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "- machine: $(nproc) cores, $CPU_MODEL, $MEM_TOTAL RAM, $(uname -sr)"
echo "- software: $KW_V (release build, $KW); $WRK_V"
echo "- command: \`DURATION=$DURATION CONNS=$CONNS THREADS=$THREADS PACE_MS=$PACE_MS bash bench/cpix.sh\`"
echo "- load: wrk -t$THREADS -c$CONNS -d${DURATION}s after a ${WARMUP}s warm-up, keep-alive, loopback 127.0.0.1;" \
     "every CPIX request is one CPIX 2.3 document: 20 keys (SD, HD, UHD1, UHD2, AUDIO × 4 key periods, cbcs)," \
     "4 DRM systems each (Widevine, PlayReady, FairPlay, W3C common: 80 DRMSystem) — $REQ_LEN bytes" \
     "(answer $CLEAR_LEN bytes); encrypted: the same + one RSA-4096 recipient (Cert1.cer) — $ENC_REQ_LEN bytes (answer $ENC_LEN bytes);" \
     "keys already made (steady state)"
echo "- CPU: wrk and keyward share this machine's $(nproc) cores — $PIN_NOTE; $PRIO_NOTE"
echo "- logging: KEYWARD_LOG=warn (no per-request log lines)"
if (( BUSY > 10 )); then
  echo "- WARNING: the CPU was ${BUSY} % busy before the run; other processes compete with the measurement:"
  ps -eo pcpu=,comm= --sort=-pcpu | head -3 | sed 's/^/  - /'
else
  echo "- CPU busy before the run: ${BUSY} %"
fi
echo

# ---------------------------------------------------------------- measuring
declare -A RPS P50 P99 NON2XX SOCKERR BAD SHORT SRV_CORES GEN_CORES OTHER_CORES LABEL
CLK_TCK=$(getconf CLK_TCK)
ORDER=()

# run_wrk KEY LABEL PATH SCRIPT REQ_FILE CONNS DURATION [PACE_MS] — records the figures for KEY
run_wrk() {
  local key=$1 label=$2 path=$3 script=$4 reqf=$5 conns=$6 dur=$7 pace=${8:-}
  local out=$WORK/wrk-$key.txt threads=$THREADS
  (( conns < threads )) && threads=$conns
  if [[ -z $pace && $WARMUP -gt 0 ]]; then
    REQ_FILE=$reqf API_KEY=$API_KEY CPIX_PATH=$path timeout $((WARMUP + 10)) "${GEN_PIN[@]}" \
      wrk -t"$threads" -c"$conns" -d"${WARMUP}s" -s "$script" "$BASE$path" >/dev/null 2>&1 || true
  fi
  local srv0 busy0 srv1 busy1 wrk_cpu
  srv0=$(cpu_ticks "$KW_PID"); busy0=$(busy_ticks)
  local TIMEFORMAT='%3U %3S'
  { time REQ_FILE=$reqf API_KEY=$API_KEY CPIX_PATH=$path PACE_MS=$pace timeout $((dur + 15)) "${GEN_PIN[@]}" \
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

# half_load KEY LABEL SAT_KEY REQ_FILE — paced CPIX run at about half of SAT_KEY's RPS
half_load() {
  local key=$1 label=$2 sat=$3 reqf=$4 target conns probe
  target=$(( ${RPS[$sat]} / 2 ))
  conns=$(awk -v t="$target" -v p="$PACE_MS" 'BEGIN { c = int(t * (p + 0.5) / 1000 + 0.5); if (c < 2) c = 2; print c }')
  probe=$(REQ_FILE=$reqf API_KEY=$API_KEY CPIX_PATH=$CPIX_PATH PACE_MS=$PACE_MS timeout 15 "${GEN_PIN[@]}" \
    wrk -t"$THREADS" -c"$conns" -d3s -s "$BENCH/cpix.lua" "$BASE$CPIX_PATH" 2>&1 | grep '^RESULT' || true)
  if [[ $probe =~ requests=([0-9]+)\ duration_us=([0-9]+) ]]; then
    conns=$(awk -v c="$conns" -v t="$target" -v n="${BASH_REMATCH[1]}" -v d="${BASH_REMATCH[2]}" \
      'BEGIN { r = n / (d / 1e6); if (r > 0) c = int(c * t / r + 0.5); if (c < 2) c = 2; print c }')
  fi
  run_wrk "$key" "$label ($conns conns, paced ~${PACE_MS} ms)" "$CPIX_PATH" "$BENCH/cpix.lua" \
    "$reqf" "$conns" "$DURATION" "$PACE_MS"
}

log "measuring (about $(( (DURATION + WARMUP) * 5 + 2 * 3 + 10 )) s)…"
run_wrk health "\`GET /healthz\` (floor)" /healthz "$BENCH/healthz.lua" "$WORK/clear.xml" "$CONNS" "$DURATION"
run_wrk clear "CPIX, 20 keys × 4 DRM, clear" "$CPIX_PATH" "$BENCH/cpix.lua" "$WORK/clear.xml" "$CONNS" "$DURATION"
half_load clear_half "CPIX clear, ~½ load" clear "$WORK/clear.xml"
check_cpix "clear after the load" clear
run_wrk enc "CPIX, 20 keys × 4 DRM, encrypted (1 recipient)" "$CPIX_PATH" "$BENCH/cpix.lua" "$WORK/enc.xml" "$CONNS" "$DURATION"
half_load enc_half "CPIX encrypted, ~½ load" enc "$WORK/enc.xml"
check_cpix "encrypted after the load" enc

# keyward's stderr without colours and without the expected start-up warnings
# (the generated ExpressPlay token key)
sed 's/\x1b\[[0-9;]*m//g' "$WORK/keyward.log" \
  | grep -v -e 'no KEYWARD_TOKEN_KEY given' >"$WORK/stderr.txt" || true
KW_LOG_LINES=$(grep -c . "$WORK/stderr.txt" || true)
KEYS_STORED=$("$KW" key list --site-id "$SITE_ID" --cid "$CID" 2>/dev/null | grep -c . || true)

# ---------------------------------------------------------------- report
echo "Checked by curl + python before and after the load: HTTP 200; clear: 20 ContentKey with PlainValue"
echo "(the same kids and keys every time) and 80 DRMSystem; encrypted: no PlainValue, one DocumentKey, 20"
echo "EncryptedValue + ValueMAC, 80 DRMSystem. Keys stored for \`$CID\` after the run: $KEYS_STORED."
echo
echo "| target | req/s | p50 ms | p99 ms | not 200 / incomplete | wrk non-2xx | socket errors | server CPU, cores | server CPU µs / req | wrk CPU, cores | other CPU, cores |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for k in "${ORDER[@]}"; do
  us=$(awk -v r="${RPS[$k]}" -v c="${SRV_CORES[$k]}" 'BEGIN { if (r > 0) printf "%.1f", c * 1e6 / r; else print "–" }')
  bad="–"; [[ $k != health ]] && bad="${BAD[$k]} / ${SHORT[$k]}"
  echo "| ${LABEL[$k]} | ${RPS[$k]} | ${P50[$k]} | ${P99[$k]} | $bad | ${NON2XX[$k]} | ${SOCKERR[$k]} | ${SRV_CORES[$k]} | $us | ${GEN_CORES[$k]} | ${OTHER_CORES[$k]} |"
done
echo
echo "CPU is time used during the measured run divided by its length ($(nproc).00 = all cores). \"not 200 /"
echo "incomplete\": answers cpix.lua's response hook counted as not HTTP 200, or 200 without \`</cpix:CPIX>\`."
echo

pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", 100 * a / b }'; }
echo "| ratio / figure | value | goal | verdict |"
echo "|---|---:|---|---|"
echo "| CPIX clear RPS / \`/healthz\` RPS | $(ratio "${RPS[clear]}" "${RPS[health]}") | | |"
echo "| CPIX encrypted RPS / \`/healthz\` RPS | $(ratio "${RPS[enc]}" "${RPS[health]}") | | |"
echo "| CPIX encrypted RPS / clear RPS | $(ratio "${RPS[enc]}" "${RPS[clear]}") | | |"
echo "| CPIX clear p99 at ${RPS[clear_half]} req/s ($(pct "${RPS[clear_half]}" "${RPS[clear]}") % of its max) | ${P99[clear_half]} ms | < 2 ms | $(verdict "${P99[clear_half]} < 2") |"
echo "| CPIX encrypted p99 at ${RPS[enc_half]} req/s ($(pct "${RPS[enc_half]}" "${RPS[enc]}") % of its max) | ${P99[enc_half]} ms | < 5 ms | $(verdict "${P99[enc_half]} < 5") |"
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
