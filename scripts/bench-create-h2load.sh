#!/usr/bin/env bash
# CreateTask driven from outside the process: the release task-service on a
# fresh database, h2load (a C client, `apt-get install nghttp2-client`)
# sending CreateTask over 4 connections × 8 streams, then pgbench running
# CreateTask's statement one transaction per task with 32 clients, back to
# back. Prints both rates, their ratio, and the CPU task-service itself used
# per CreateTask (from /proc, the load generator excluded). With PERF=file,
# also records task-service's profile there (`perf report -i file`), and
# with --paced the open loop's in file.paced.
# With --paced (issue 13, target 2), then an open loop from outside: h2load
# sending at a fixed rate (`--rps`, half of pgbench's closed-loop rate or the
# rate given) and pgbench's own open loop (`-R`) at that rate, each latency's
# p50/p99/max and where the slow ones fell, as `task-bench --paced` prints.
#
#   cargo build --release -p task-service --bins
#   scripts/bench-create-h2load.sh [seconds] [--paced [rate]]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
paced=${2:-}
paced_rate=${3:-}
[ -z "$paced" ] || [ "$paced" = --paced ] || { echo "usage: $0 [seconds] [--paced [rate]]" >&2; exit 2; }
bin=${CARGO_TARGET_DIR:-target}/release/task-service
base=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
db=tg_h2load
secret=h2load-bench-secret-0123456789abcdef
export PGOPTIONS="-c client_min_messages=warning"
psql "$base/postgres" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)"

TASK_DATABASE_URL="$base/$db" TASK_DATABASE_MAX_CONNECTIONS=32 \
  TASK_GRPC_ADDR=127.0.0.1:15151 TASK_HTTP_ADDR=127.0.0.1:15152 \
  AMQP_EXCHANGE=bench.h2load AMQP_QUEUE=bench.h2load.notifier \
  JWT_SECRET=$secret TASK_USER_RATE=1000000 TASK_USER_BURST=1000000 \
  TASK_MAX_TASKS_PER_OWNER=100000000 RUST_LOG=warn "$bin" &
pid=$!
# On the way out: the service, its database, its exchange and queues (with
# the events it published).
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; psql "$base/postgres" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)"; "$(dirname "$bin")/task-bench" --database h2load --delete-topology' EXIT
for _ in $(seq 100); do
  curl -fs http://127.0.0.1:15152/readyz >/dev/null 2>&1 && break
  sleep 0.1
done
token=$(JWT_SECRET=$secret "$bin" token --sub bench)

# CreateTaskRequest{task: Task{title: "Bench task"}} in a gRPC frame.
payload=$(mktemp)
printf '\x00\x00\x00\x00\x0e\x0a\x0c\x1a\x0aBench task' >"$payload"

cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
ticks=$(getconf CLK_TCK)
if [ -n "${PERF:-}" ]; then
  perf record -q -F 499 -g -p "$pid" -o "$PERF" -- sleep "$seconds" 2>/dev/null &
  perf_pid=$!
fi
before=$(cpu)
out=$(h2load -D "$seconds" -c 4 -m 8 -t 1 -d "$payload" \
  -H 'content-type: application/grpc' -H 'te: trailers' \
  -H "authorization: Bearer $token" \
  http://127.0.0.1:15151/todogenie.v1.TaskService/CreateTask)
after=$(cpu)
[ -n "${PERF:-}" ] && wait "$perf_pid"
done_count=$(echo "$out" | awk '/^requests:/ {print $8}')
rate=$(echo "$out" | awk '/^finished in/ {gsub(",", "", $4); print $4}')
echo "$out" | grep -E "^(finished|requests|status codes)"
grpc_ok=$(psql "$base/$db" -qAtc "SELECT count(*) FROM tasks")
echo "tasks written: $grpc_ok (h2load counted $done_count successful requests)"
awk -v c=$((after - before)) -v t="$ticks" -v n="$grpc_ok" \
  'BEGIN { printf "task-service CPU per CreateTask: %.0f µs\n", c / t / n * 1e6 }'
# pgbench on the same database, task-service still running (its relay
# publishes pgbench's events as it did CreateTask's).
pg=$("$(dirname "$bin")/task-bench" --pgbench-only --database $db --clients 32 --seconds "$seconds" |
  sed -n 's/.*tps=//p')
echo "pgbench, CreateTask's statement, 32 clients: $pg tps"
awk -v a="$rate" -v b="$pg" 'BEGIN { printf "CreateTask via h2load: %.0f/s; ours / pgbench = %.2f\n", a, a / b }'

[ -n "$paced" ] || { rm -f "$payload"; exit 0; }

# The open loop: 4 connections sending rate/4 a second each whatever the
# answers, with 256 streams to spare so that a slow answer never holds back
# a request that is due (h2load counts from when it sends). Both loops run a
# second longer and drop that first second, as task-bench --paced does.
rate=${paced_rate:-$(awk -v p="$pg" 'BEGIN { printf "%.0f", p / 2 }')}
log=$(mktemp)
if [ -n "${PERF:-}" ]; then
  perf record -q -F 499 -g -p "$pid" -o "$PERF.paced" -- sleep "$((seconds + 1))" 2>/dev/null &
  perf_pid=$!
fi
before=$(cpu)
written_before=$(psql "$base/$db" -qAtc "SELECT count(*) FROM tasks")
h2load -D "$((seconds + 1))" -c 4 -m 64 -t 1 --rps "$(awk -v r="$rate" 'BEGIN { printf "%.0f", r / 4 }')" \
  --log-file "$log" -d "$payload" \
  -H 'content-type: application/grpc' -H 'te: trailers' \
  -H "authorization: Bearer $token" \
  http://127.0.0.1:15151/todogenie.v1.TaskService/CreateTask | grep -E "^(finished|requests)"
after=$(cpu)
[ -n "${PERF:-}" ] && wait "$perf_pid"
written=$(($(psql "$base/$db" -qAtc "SELECT count(*) FROM tasks") - written_before))
echo "tasks written by the open loop: $written ($(wc -l <"$log") requests logged)"
awk -v c=$((after - before)) -v t="$ticks" -v n="$written" -v r="$rate" \
  'BEGIN { printf "task-service CPU per CreateTask at %s/s: %.0f µs\n", r, c / t / n * 1e6 }'
"$(dirname "$bin")/task-bench" --pgbench-only --database $db --clients 32 --seconds "$seconds" \
  --paced-rate "$rate" --paced-log "$log"
rm -f "$log" "$payload"
