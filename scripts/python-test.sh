#!/usr/bin/env bash
# keyward's Python package (crates/python): builds the abi3 wheel with maturin,
# installs it into a private virtualenv, builds the keyward CLI for the
# round-trip tests, and runs the pytest suite. Idempotent; reads nothing
# outside the repository. Exit status is pytest's (non-zero on any failure).
#
#   bash scripts/python-test.sh [pytest args...]
#
# Environment: CARGO_TARGET_DIR (default: <repo>/target; the venv and the
# wheel go under it too), PYTHON (default: python3), KEYWARD_BIN (use this CLI
# binary instead of building one).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="$TARGET/python-venv"
WHEELS="$TARGET/python-wheels"
PYTHON="${PYTHON:-python3}"

step() { printf '\n==> %s\n' "$*"; }

step "virtualenv at $VENV"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade \
  "maturin>=1.5,<2" "pytest>=7" "pycryptodome>=3.10"

step "keyward CLI (round-trip tests)"
if [ -n "${KEYWARD_BIN:-}" ]; then
  echo "using KEYWARD_BIN=$KEYWARD_BIN"
else
  cargo build --release --locked -p keyward
  export KEYWARD_BIN="$TARGET/release/keyward"
fi

step "wheel (maturin build --release, abi3 for CPython >= 3.8)"
rm -rf "$WHEELS"
"$VENV/bin/maturin" build --release --locked --manifest-path crates/python/Cargo.toml \
  --interpreter "$VENV/bin/python" --out "$WHEELS"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$WHEELS"/keyward-*.whl

step "pytest (crates/python/tests)"
cd "$ROOT/crates/python"
"$VENV/bin/python" -m pytest -p no:cacheprovider -q tests "$@"
