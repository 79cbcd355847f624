#!/usr/bin/env bash
# Runs every Klaxon test: formatting, lints, Rust unit + integration tests, the web UI's
# component tests, the browser end-to-end test, and a smoke run of the benchmarks.
# Installs what is missing (Node packages; Chromium via apt when run as root).
# One release build serves the tests, the e2e test and the benchmark smoke.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$*" "$(( $(date +%s) - start ))"; }

step "toolchain"
cargo --version
node --version
npm --version

step "chromium for the e2e test"
if [ -z "${CHROMIUM_PATH:-}" ]; then
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends chromium >/dev/null
    else
      echo "chromium is missing: install Debian's chromium package (or set CHROMIUM_PATH)" >&2
      exit 1
    fi
  fi
  CHROMIUM_PATH=$(command -v chromium)
  export CHROMIUM_PATH
fi
echo "$CHROMIUM_PATH"

step "web dependencies"
(cd web && npm ci --no-audit --no-fund)

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
KLAXON_SKIP_WEB=1 cargo clippy --all-targets --locked -- -D warnings

step "web build, component tests"
(cd web && npm run build && npm test)

step "cargo test --release (unit, integration, property tests)"
KLAXON_SKIP_WEB=1 cargo test --release --locked  # web/dist was built just above

step "browser end-to-end test"
(cd web && KLAXON_BIN="$PWD/../target/release/klaxon" npm run e2e)

if [ -x scripts/bench-smoke.sh ]; then
  step "benchmark smoke"
  scripts/bench-smoke.sh
fi

step "all tests passed"
