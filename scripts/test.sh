#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need
# (Debian chromium + ffmpeg, pinned npm packages, a Python virtualenv with
# maturin and pytest), checks formatting and lints, runs every Rust test, builds
# the release binary, runs the Python package's tests, and runs the browser and
# player end-to-end tests against it. CI runs exactly this (.ci/run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# A full run builds every test binary once: incremental state would only take disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

step() { printf '\n==> %s\n' "$*"; }

step "installing test dependencies (idempotent)"
bash scripts/install-test-deps.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (workspace, all targets, -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (workspace)"
# The real-Prometheus test (crates/cli/tests/metrics_prometheus.rs), the PostgreSQL
# store's tests (crates/store/tests/postgres.rs) and the Redis tests
# (crates/cluster/tests/redis.rs, the multi-node tests) fail instead of skipping
# when their binaries are missing.
KEYWARD_REQUIRE_PROMETHEUS=1 KEYWARD_REQUIRE_POSTGRES=1 KEYWARD_REQUIRE_REDIS=1 \
  cargo test --workspace --locked

step "OpenAPI document matches the committed copy"
cargo run --quiet --locked -p keyward -- openapi > target/openapi.json
if ! diff -u docs/openapi.json target/openapi.json; then
  echo "docs/openapi.json is stale: run 'cargo run -p keyward -- openapi > docs/openapi.json' and commit" >&2
  exit 1
fi

step "CPIX answers validate against the CPIX XML schema (lxml in a virtualenv)"
bash scripts/cpix-xsd.sh

# CI runs on a machine with a bounded disk: the debug build (every test binary)
# is not needed after this point, and the release, wheel and fuzz builds follow.
if [[ -n "${CI:-}" ]]; then
  step "freeing the debug build's disk space (CI)"
  cargo clean --profile dev
fi

step "release build"
cargo build --release --locked -p keyward

step "Python token SDK (crates/python: abi3 wheel + pytest)"
KEYWARD_BIN="$ROOT/target/release/keyward" bash scripts/python-test.sh

step "fuzzing every decoder briefly (nightly + cargo-fuzz; skipped without nightly)"
FUZZ_SECONDS="${FUZZ_SECONDS:-10}" bash scripts/fuzz.sh

step "browser and player end-to-end tests"
KEYWARD_BIN="$ROOT/target/release/keyward" bash scripts/e2e.sh
