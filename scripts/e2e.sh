#!/usr/bin/env bash
# Browser / player end-to-end tests against a built keyward binary.
#   KEYWARD_BIN  path of the binary (default: target/release/keyward in this checkout)
# Extra arguments go to `node --test` (e.g. a single file: tests/10-clearkey-license.test.mjs).
# Exits with the test runner's exit code.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/install-test-deps.sh"

export KEYWARD_BIN="${KEYWARD_BIN:-$ROOT/target/release/keyward}"
if [[ ! -x "$KEYWARD_BIN" ]]; then
  echo "e2e: warning: $KEYWARD_BIN does not exist; tests that need the server will fail" >&2
fi

cd "$ROOT/e2e"
if (($#)); then
  args=("$@")
else
  args=(tests/)
fi
set +e
node --test --test-concurrency=1 "${args[@]}"
status=$?
set -e
exit "$status"
