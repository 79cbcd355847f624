#!/usr/bin/env bash
# Throughput and server CPU per operation of one klaxon-bench HTTP workload.
#
#   scripts/bench-cpu.sh WORKLOAD [SERVER_ARGS]      e.g. scripts/bench-cpu.sh enqueue
#
# Runs `klaxon-bench WORKLOAD --duration 12` (SERVER_ARGS default "--data-dir {dir}",
# a durable server) and reads the server's utime + stime from /proc over 5 s in the
# middle of the run. CPU time excludes steal, so on a shared VM "µs per op" compares two
# builds where ops/s alone cannot. Env: BIN (dir of klaxon-bench, default
# target/release), SERVER (the klaxon binary to start, default next to klaxon-bench;
# its file name must be `klaxon`).
set -euo pipefail
workload=${1:-enqueue}
durable='--data-dir {dir}'
args=${2:-$durable}
bin=${BIN:-target/release}
out=$(mktemp)
"$bin/klaxon-bench" "$workload" --duration 12 --server-args "$args" \
    ${SERVER:+--server-bin "$SERVER"} >"$out" 2>&1 &
driver=$!
sleep 5
server=$(pgrep -n -x klaxon)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
s1=$(ticks "$server"); d1=$(ticks "$driver")
sleep 5
s2=$(ticks "$server"); d2=$(ticks "$driver")
wait "$driver"
hz=$(getconf CLK_TCK)
awk -v w="$workload" -v s=$((s2 - s1)) -v d=$((d2 - d1)) -v hz="$hz" '
    $1 == w {
        printf "%s ops/s=%s p99=%s ms server=%.0f%% driver=%.0f%% server_us_per_op=%.1f\n",
            w, $4, $6, s * 100 / hz / 5, d * 100 / hz / 5, s * 1e6 / hz / 5 / $4
    }' "$out"
rm -f "$out"
