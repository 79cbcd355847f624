#!/usr/bin/env bash
# Klaxon on PostgreSQL, measured (BENCHMARKS.md, "Several processes on PostgreSQL"):
#   1. `trigger` (64 clients in all, durable) on the embedded SQLite store, on PostgreSQL
#      with one process, and on PostgreSQL with two processes (32 clients each), one run;
#   2. fail-over: SIGKILL of the engine holder → the first escalation fired by the new one,
#      over 10 trials (median, max);
#   3. cross-process publication: a mutation on process A → its event at a subscriber on
#      process B (p50, p99);
#   4. cold reads: KLAXON_BENCH_COLD_INCIDENTS (default 100,000) retired incidents in
#      klaxon_cold_incidents, then `incidents(first: 50)` deep in them and `incident(id)`
#      of retired ones over HTTP (p50, p99), and the start-up time on that database.
# Starts a throwaway PostgreSQL cluster (Debian's postgresql package; as root, initdb runs
# as the `postgres` user) with its default fsync on, in a temporary directory, on a free
# port, and removes it afterwards. Needs the release build (`cargo build --release --bins`).
# Usage: scripts/bench-postgres.sh [SECONDS per trigger run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
bin=target/release
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pgbin/initdb" ] || { echo "PostgreSQL is missing: install Debian's postgresql package" >&2; exit 1; }
[ -x "$bin/klaxon" ] && [ -x "$bin/klaxon-bench" ] || { echo "build first: cargo build --release --bins" >&2; exit 1; }

work=$(mktemp -d /tmp/klaxon-pgbench.XXXXXX)
as_pg=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$work"
  as_pg=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"${as_pg[@]}" "$pgbin/initdb" -D "$work/data" -U postgres --auth=trust >/dev/null
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/data" -l "$work/pg.log" -w \
  -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
psql() { command psql -h 127.0.0.1 -p "$port" -U postgres -qAt "$@"; }
url() { echo "postgres://postgres@127.0.0.1:$port/$1"; }
token=bench-postgres-admin-token-0123456789abcdef
export KLAXON_ADMIN_TOKEN=$token

# Starts `klaxon serve` on database $1; sets server_pid and server_url.
start_server() {
  local log="$work/server.$1.$RANDOM.log"
  RUST_LOG=warn "$bin/klaxon" serve --listen 127.0.0.1:0 --database-url "$(url "$1")" >"$log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 1 100); do
    server_url=$(sed -n 's/^klaxon listening on //p' "$log" | head -1)
    [ -n "$server_url" ] && return
    sleep 0.1
  done
  echo "klaxon did not start: $(cat "$log")" >&2
  exit 1
}

field() { python3 -c "import json,sys; w=json.load(open(sys.argv[1]))['workloads'][0]; print(eval(sys.argv[2]))" "$@"; }

echo "== trigger, 64 clients, ${seconds} s each"
"$bin/klaxon-bench" trigger --duration "$seconds" --server-args "--data-dir {dir}" --json "$work/sqlite.json" >/dev/null
printf '%-28s %10s %8s %8s\n' store events/s p50_ms p99_ms
printf '%-28s %10.0f %8.2f %8.2f\n' "SQLite (--data-dir)" \
  "$(field "$work/sqlite.json" "w['throughput']")" "$(field "$work/sqlite.json" "w['latency']['p50_ms']")" "$(field "$work/sqlite.json" "w['latency']['p99_ms']")"

psql -c "CREATE DATABASE one" >/dev/null
start_server one; pid1=$server_pid; url1=$server_url
"$bin/klaxon-bench" trigger --duration "$seconds" --url "$url1" --token "$token" --json "$work/pg1.json" >/dev/null
printf '%-28s %10.0f %8.2f %8.2f\n' "PostgreSQL, 1 process" \
  "$(field "$work/pg1.json" "w['throughput']")" "$(field "$work/pg1.json" "w['latency']['p50_ms']")" "$(field "$work/pg1.json" "w['latency']['p99_ms']")"
kill -9 "$pid1"

psql -c "CREATE DATABASE two" >/dev/null
start_server two; pid_a=$server_pid; url_a=$server_url
start_server two; pid_b=$server_pid; url_b=$server_url
"$bin/klaxon-bench" trigger --duration "$seconds" --clients 32 --url "$url_a" --token "$token" --json "$work/pg2a.json" >/dev/null &
bench_a=$!
"$bin/klaxon-bench" trigger --duration "$seconds" --clients 32 --url "$url_b" --token "$token" --json "$work/pg2b.json" >/dev/null
wait "$bench_a"
python3 - "$work/pg2a.json" "$work/pg2b.json" <<'EOF'
import json, sys
a, b = (json.load(open(p))["workloads"][0] for p in sys.argv[1:3])
print("%-28s %10.0f %8.2f %8.2f   (%.0f + %.0f; p50/p99 the worse of the two)" % (
    "PostgreSQL, 2 processes", a["throughput"] + b["throughput"],
    max(a["latency"]["p50_ms"], b["latency"]["p50_ms"]),
    max(a["latency"]["p99_ms"], b["latency"]["p99_ms"]), a["throughput"], b["throughput"]))
EOF
kill -9 "$pid_a" "$pid_b"

echo
echo "== fail-over, cross-process publication, cold reads"
# The test harness starts a cluster of its own (fsync off there: these two are latencies
# of the processes, not of the disk).
KLAXON_SKIP_WEB=1 cargo test --release --locked --test postgres -- --ignored --nocapture --test-threads 1 measure_ 2>&1 \
  | grep -oE '(failover|publication|cold): .*' || true
