#!/usr/bin/env bash
# Installs what the browser / player end-to-end tests (e2e/) need on a fresh Debian
# bookworm machine: Debian's chromium and ffmpeg, and the pinned npm packages of e2e/
# (playwright-core, shaka-player, hls.js, shaka-packager; see e2e/package-lock.json);
# Debian's prometheus, which scrapes keyward in crates/cli/tests/metrics_prometheus.rs
# (the test runs its own on a free port; the system service is not started); and
# Debian's postgresql and redis-server, whose binaries the PostgreSQL store's and the
# cluster's tests run (their own servers on free ports with temporary data; the
# system services are not started), and openssl (a test CA for Redis over TLS).
# Idempotent and non-interactive; run as root (or with sudo available).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUDO=""
if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi

# ---- Debian packages -------------------------------------------------------------------
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
# the docs' walkthroughs (crates/cli/tests/walkthroughs.rs) and the benches use curl
command -v curl >/dev/null 2>&1 || missing+=(curl)
# the PostgreSQL store's tests (crates/store/tests/postgres.rs) run their own server
# (initdb + pg_ctl on a free port; Debian keeps them in /usr/lib/postgresql/*/bin)
if ! command -v initdb >/dev/null 2>&1 && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  missing+=(postgresql)
fi
# the cluster's tests (crates/cluster/tests/redis.rs) run their own redis-server
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)

apt_install() {
  $SUDO apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

if ((${#missing[@]})); then
  echo "install-test-deps: installing ${missing[*]} (apt)"
  # Debian's prometheus would start its system service (port 9090, /var/lib/prometheus)
  # where services start: forbid service starts for this install (policy-rc.d), unless
  # the machine already has a policy.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# install-test-deps.sh: no service starts during this install\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    trap '$SUDO rm -f "$policy"' EXIT
  fi
  $SUDO apt-get update -q
  if ! apt_install "${missing[@]}"; then
    # A first install can die half way ("cannot access archive ..."); this recovers.
    echo "install-test-deps: apt-get install failed; recovering and retrying" >&2
    $SUDO dpkg --configure -a || true
    $SUDO apt-get install -f -y -q || true
    apt_install "${missing[@]}"
  fi
else
  echo "install-test-deps: chromium, ffmpeg, prometheus, curl, postgresql, redis-server and openssl present"
fi
chromium --version 2>/dev/null | head -n1 || true
ffmpeg -version | head -n1
prometheus --version 2>&1 | head -n1

# ---- Node ------------------------------------------------------------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-test-deps: node >= 20 and npm are required (not installed)" >&2
  exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if ((node_major < 20)); then
  echo "install-test-deps: node >= 20 required for node --test, found $(node --version)" >&2
  exit 1
fi

# ---- npm packages (skip when node_modules was installed from this exact lock) ---------------
cd "$ROOT/e2e"
stamp="node_modules/.keyward-lock.sha256"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x node_modules/shaka-packager/bin/packager-linux-x64 ]]; then
  echo "install-test-deps: e2e/node_modules matches package-lock.json"
else
  echo "install-test-deps: npm ci in e2e/"
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi
