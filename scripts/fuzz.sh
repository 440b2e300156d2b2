#!/usr/bin/env bash
# Bounded fuzzing of every cargo-fuzz target (fuzz/fuzz_targets/*.rs), each
# for FUZZ_SECONDS (default 15) starting from its committed seed corpus
# (fuzz/seeds/<target>/). Exits non-zero when any target crashes (panic,
# timeout, out of memory), printing the target and the reproducer's path.
#
# Needs the nightly toolchain (`cargo +nightly`); installs cargo-fuzz when it
# is missing. Without nightly it says so and exits 0: the seeds still run on
# stable in `cargo test` (crates/server/tests/fuzz_seeds.rs).
#
#   FUZZ_SECONDS=20 bash scripts/fuzz.sh                 # every target, 20 s each
#   FUZZ_TARGETS="token_policy server_licence" bash scripts/fuzz.sh
#
# Findings already reported and not yet fixed (fuzz/regressions/) fail the
# run like new ones; KEYWARD_FUZZ_ALLOW_KNOWN=1 tolerates exactly those (see
# known_finding in fuzz/src/entry.rs).
#
# New inputs found go to a temporary directory that is deleted afterwards;
# nothing is written into the repository except fuzz/target (the build) and,
# on a crash, fuzz/artifacts/<target>/ (both ignored by git).
#
# Built without a sanitizer (`-s none`): every keyward crate forbids unsafe
# code, so AddressSanitizer would mostly cost speed. Debug assertions and
# overflow checks stay on (cargo-fuzz's default).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

FUZZ_SECONDS="${FUZZ_SECONDS:-15}"
NICE=(nice -n 19)

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: skipped (no nightly toolchain: cargo +nightly does not run)"
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  "${NICE[@]}" cargo install --locked cargo-fuzz
fi

if [[ -n "${FUZZ_TARGETS:-}" ]]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  targets=()
  for f in fuzz/fuzz_targets/*.rs; do
    targets+=("$(basename "$f" .rs)")
  done
fi

# The fuzz crate has no committed lock file (fuzz/.gitignore): start from the
# workspace's, so the targets build against the versions the tests use.
[[ -f fuzz/Cargo.lock ]] || cp Cargo.lock fuzz/Cargo.lock

echo "fuzz: building ${#targets[@]} targets (nightly, release + debug assertions)"
"${NICE[@]}" cargo +nightly fuzz build -s none

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${targets[@]}"; do
  if [[ ! -d "fuzz/seeds/$t" ]]; then
    echo "fuzz: $t has no seed folder fuzz/seeds/$t" >&2
    failed+=("$t")
    continue
  fi
  mkdir -p "$work/$t" "fuzz/artifacts/$t"
  log="$work/$t.log"
  set +e
  "${NICE[@]}" cargo +nightly fuzz run -s none "$t" "$work/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  if [[ $rc -ne 0 ]]; then
    failed+=("$t")
    echo "fuzz: CRASH in $t (exit $rc)" >&2
    grep -A1 -E 'panicked at|^==[0-9]+== ERROR|SUMMARY|Test unit written to|ALARM|out-of-memory|timeout' "$log" >&2 || true
    artifact="$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)"
    if [[ -n "$artifact" ]]; then
      echo "fuzz: reproducer: $artifact" >&2
      echo "fuzz: replay with: cargo +nightly fuzz run -s none $t $artifact" >&2
    else
      tail -n 30 "$log" >&2
    fi
  else
    echo "fuzz: ok $t: ${execs:-?} execs in ${FUZZ_SECONDS} s"
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${FUZZ_SECONDS} s without a crash"
