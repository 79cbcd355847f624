#!/usr/bin/env bash
# Benchmark smoke for CI: builds the load driver and the criterion benches in the release
# profile that is already built, runs every workload for ~2 s at small sizes and each
# micro-benchmark once. Fails only if something breaks, never on speed.
# Figures: see BENCHMARKS.md (same driver, full sizes).
set -euo pipefail
cd "$(dirname "$0")/.."
export KLAXON_SKIP_WEB="${KLAXON_SKIP_WEB:-1}"  # the UI is not under test here

cargo build --release --locked --bins
target/release/klaxon-bench --smoke --json target/bench-smoke.json
# `cargo bench` builds with the bench profile, which inherits release: the same artifacts.
cargo bench --locked --bench domain -- --test
