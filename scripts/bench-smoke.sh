#!/usr/bin/env bash
# Benchmark smoke for CI: builds the load driver and the benches in the release profile
# that is already built, runs every driver workload for ~2 s at small sizes, each domain
# micro-benchmark once, and a ~2-second version of the journal bench. Fails only if
# something breaks, never on speed. Figures: BENCHMARKS.md (load driver, domain) and
# docs/durability.md (journal).
set -euo pipefail
cd "$(dirname "$0")/.."
export KLAXON_SKIP_WEB="${KLAXON_SKIP_WEB:-1}"  # the UI is not under test here

# `cargo test --release` built the binaries with dev-dependency features unified in; a
# plain `cargo build --release` would resolve features without them and recompile half the
# tree. `--no-run` with the same target selection reuses (or refreshes) those binaries.
cargo test --release --locked --lib --bins --tests --no-run
target/release/klaxon-bench --smoke --json target/bench-smoke.json
# `cargo bench` builds with the bench profile, which inherits release: the same artifacts.
cargo bench --locked --bench domain -- --test
cargo bench --locked --bench oncall -- --test
KLAXON_BENCH_SMOKE=1 cargo bench --locked --bench journal
KLAXON_BENCH_SMOKE=1 cargo bench --locked --bench incident_heap
