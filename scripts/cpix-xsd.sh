#!/usr/bin/env bash
# Every kind of CPIX document keyward writes, validated against the CPIX XML schema
# (testdata/cpix-xsd: the schema files Unified Streaming's MIT `cpix` package ships,
# with the two CPIX 2.3 changes applied in memory by validate.py):
#   the library's answers (clear / encrypted, SPEKE v1 / v2, live),
#   the server's answers (SPEKE v2 clear and encrypted, PallyCon KMS, native CPIX with
#   Clear Key signalling), and `keyward key export --cpix` documents.
# lxml comes from PyPI into a virtualenv under target/ (created once, reused).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${CPIX_XSD_VENV:-$ROOT/target/cpix-xsd-venv}"
if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c 'import lxml' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check lxml
fi
SAMPLES="$(mktemp -d /tmp/keyward-cpix-samples.XXXXXX)"
trap 'rm -rf "$SAMPLES"' EXIT
export KEYWARD_CPIX_SAMPLES="$SAMPLES"
cargo test --quiet --locked -p keyward-drm --test cpix_speke write_samples >/dev/null
cargo test --quiet --locked -p keyward-server --test cpix >/dev/null
cargo test --quiet --locked -p keyward --test cpix_export >/dev/null
n=$(find "$SAMPLES" -name '*.xml' | wc -l)
if (( n < 10 )); then
  echo "cpix-xsd: expected at least 10 documents, the tests wrote $n" >&2
  exit 1
fi
"$VENV/bin/python" testdata/cpix-xsd/validate.py "$SAMPLES"/*.xml
echo "cpix-xsd: $n documents valid"
