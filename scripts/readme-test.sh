#!/usr/bin/env bash
# README's quick start, run as a new user would: ./scripts/start.sh in the
# background (its own databases, exchange, queue and ports), then every
# command of scripts/quickstart.sh with grpcurl; and the README shows that
# script as it is. Needs grpcurl on PATH (CI installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/run-resources.sh

# The README's block is the script, line for line.
python3 - <<'PY'
import re, sys
readme = open("README.md").read()
script = open("scripts/quickstart.sh").read()
blocks = re.findall(r"```sh\n(.*?)```", readme, re.S)
if script not in blocks:
    sys.exit("README.md does not show scripts/quickstart.sh as it is")
PY

run="tg_readme_$$"
export TASK_DATABASE_URL="postgres://postgres@127.0.0.1:5432/${run}_tasks"
export NOTIFIER_DATABASE_URL="postgres://postgres@127.0.0.1:5432/${run}_notifier"
export AMQP_EXCHANGE="readme.$run" AMQP_QUEUE="readme.$run.notifier"
export TASK_GRPC_ADDR=127.0.0.1:50171 TASK_HTTP_ADDR=127.0.0.1:9171
export NOTIFIER_GRPC_ADDR=127.0.0.1:50172 NOTIFIER_HTTP_ADDR=127.0.0.1:8172
export RUST_LOG=warn

cleanup() {
  [ -n "${start_pid:-}" ] && kill -TERM "$start_pid" 2>/dev/null && wait "$start_pid" 2>/dev/null || true
  remove_run_resources "$AMQP_EXCHANGE" "$AMQP_QUEUE" "${run}_tasks" "${run}_notifier"
}
trap cleanup EXIT

./scripts/start.sh > "/tmp/$run.log" 2>&1 &
start_pid=$!
for _ in $(seq 1 1200); do
  grep -q "Ctrl-C stops everything" "/tmp/$run.log" 2>/dev/null && break
  kill -0 "$start_pid" 2>/dev/null || { cat "/tmp/$run.log"; exit 1; }
  sleep 0.5
done
grep -q "Ctrl-C stops everything" "/tmp/$run.log" || { cat "/tmp/$run.log"; exit 1; }

./scripts/quickstart.sh
echo "README quick start: every command ran"
