#!/usr/bin/env bash
# A ~2-second run of the benchmarks, so CI proves they still build and run. The real
# figures come from `cargo bench --bench journal` (see docs/durability.md).
set -euo pipefail
cd "$(dirname "$0")/.."
KLAXON_SKIP_WEB=1 KLAXON_BENCH_SMOKE=1 cargo bench --locked --bench journal
