#!/usr/bin/env bash
# The web page's end-to-end test (README, "Web page"): builds task-service
# and the page, starts both against a fresh database and exchange of its
# own, and drives the page in headless Chromium (examples/web/e2e.mjs).
# Needs PostgreSQL and RabbitMQ as for the other tests, Node.js with npm,
# and Debian's chromium (CI installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/run-resources.sh

target="${CARGO_TARGET_DIR:-target}"
cargo build -q -p task-service
run="tg_web_$$"
grpc_port=50161 http_port=9161 page_port=5183

export JWT_SECRET="web-e2e-only-secret-0123456789abcdef"
export TASK_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$run"
export TASK_GRPC_ADDR="127.0.0.1:$grpc_port" TASK_HTTP_ADDR="127.0.0.1:$http_port"
export AMQP_EXCHANGE="web.$run" AMQP_QUEUE="web.$run.notifier"
export CORS_ALLOWED_ORIGINS="http://127.0.0.1:$page_port"
export RUST_LOG=warn

pids=()
cleanup() {
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  remove_run_resources "$AMQP_EXCHANGE" "$AMQP_QUEUE" "$run"
}
trap cleanup EXIT

"$target/debug/task-service" &
pids+=($!)

(cd examples/web && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
(cd examples/web && exec ./node_modules/.bin/vite preview --host 127.0.0.1 --port "$page_port" --strictPort >/dev/null 2>&1) &
pids+=($!)

for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1 \
    && curl -fsS "http://127.0.0.1:$page_port/" >/dev/null 2>&1; then
    break
  fi
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$http_port/readyz" >/dev/null
curl -fsS "http://127.0.0.1:$page_port/" >/dev/null

token=$("$target/debug/task-service" token --sub alice --ttl 10m)
PAGE_URL="http://127.0.0.1:$page_port/" SERVER_URL="http://127.0.0.1:$grpc_port" TOKEN="$token" \
  node examples/web/e2e.mjs
