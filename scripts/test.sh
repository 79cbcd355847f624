#!/usr/bin/env bash
# Runs every Klaxon test: formatting, lints, Rust unit + integration tests, the web UI's
# component tests, the browser end-to-end test, and a smoke run of the benchmarks.
# Installs what is missing (Node packages; Chromium via apt when run as root).
# One release build serves the tests, the e2e test and the benchmark smoke.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$*" "$(( $(date +%s) - start ))"; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT

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

step "promtool for the metrics test"
if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  else
    echo "promtool is missing: the metrics test skips its promtool check (install Debian's prometheus package)" >&2
  fi
fi
command -v promtool || true

step "Alertmanager for the end-to-end ingestion test"
if [ ! -x /usr/bin/prometheus-alertmanager ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null
  else
    echo "prometheus-alertmanager is missing: tests/api/alertmanager.rs fails without it (install Debian's prometheus-alertmanager, or set KLAXON_SKIP_ALERTMANAGER=1)" >&2
  fi
fi
ls /usr/bin/prometheus-alertmanager || true

step "an SMTP server (aiosmtpd) for the email page tests"
if ! /usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3-aiosmtpd >/dev/null
  else
    echo "python3-aiosmtpd is missing: tests/api/notify.rs fails without it (install Debian's python3-aiosmtpd, or set KLAXON_SKIP_SMTP=1)" >&2
  fi
fi
/usr/bin/python3 -c 'import aiosmtpd; print("aiosmtpd", aiosmtpd.__version__)' || true

step "PostgreSQL for the more-than-one-machine tests"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  else
    echo "PostgreSQL is missing: tests/postgres fails without it (install Debian's postgresql, or set KLAXON_SKIP_POSTGRES=1)" >&2
  fi
fi
ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null || true

step "web dependencies"
(cd web && npm ci --no-audit --no-fund)

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
KLAXON_SKIP_WEB=1 cargo clippy --all-targets --locked -- -D warnings

step "web build, component tests"
(cd web && npm run build && npm test) 2>&1 | tee -a "$log"

step "cargo test --release (unit, integration, property tests)"
# web/dist was built just above; doc tests are skipped (the crate has none).
KLAXON_SKIP_WEB=1 cargo test --release --locked --lib --bins --tests 2>&1 | tee -a "$log"

step "browser end-to-end test"
(cd web && KLAXON_BIN="$PWD/../target/release/klaxon" npm run e2e) 2>&1 | tee -a "$log"

if [ -x scripts/bench-smoke.sh ]; then
  step "benchmark smoke"
  scripts/bench-smoke.sh
fi

step "summary"
# cargo: "test result: ok. N passed; M failed"; vitest: "Tests  N passed"; e2e: "e2e: N passed, M failed".
plain=$(sed 's/\x1b\[[0-9;]*m//g' "$log")
passed=$(printf '%s\n' "$plain" | sed -nE 's/^test result: [a-z]+\. ([0-9]+) passed.*/\1/p; s/^ *Tests +([0-9]+) passed.*/\1/p; s/^e2e: ([0-9]+) passed.*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
failed=$(printf '%s\n' "$plain" | sed -nE 's/^test result: [a-z]+\. [0-9]+ passed; ([0-9]+) failed.*/\1/p; s/^e2e: [0-9]+ passed, ([0-9]+) failed.*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
echo "klaxon: ${passed} passed, ${failed} failed"
