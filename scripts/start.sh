#!/usr/bin/env bash
# Starts the TodoGenie services on this machine against the local PostgreSQL
# and RabbitMQ (each service creates its database and applies its migrations),
# and stops them all on Ctrl-C. Settings come from the environment (see README).
set -euo pipefail
cd "$(dirname "$0")/.."

# A development secret, unless one is given: tokens made with `token` match it.
export JWT_SECRET="${JWT_SECRET:-dev-secret-change-me-0123456789abcdef}"
# The web page of examples/web, served by `npm run dev` there, may call both.
export CORS_ALLOWED_ORIGINS="${CORS_ALLOWED_ORIGINS:-http://127.0.0.1:5173,http://localhost:5173}"
services=(task-service notifier-service)

cargo build --release $(printf -- '-p %s ' "${services[@]}")
# Where cargo put them: CARGO_TARGET_DIR when set, else ./target.
bin="${CARGO_TARGET_DIR:-target}/release"

pids=()
stop() {
  trap - INT TERM EXIT
  [ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[@]}" 2>/dev/null || true
  wait || true
}
trap stop INT TERM EXIT

for service in "${services[@]}"; do
  "$bin/$service" &
  pids+=($!)
done

# Wait (up to 60 s) until both answer /readyz.
task_http="${TASK_HTTP_ADDR:-127.0.0.1:9101}"
notifier_http="${NOTIFIER_HTTP_ADDR:-127.0.0.1:8080}"
for _ in $(seq 1 120); do
  if curl -fsS "http://$task_http/readyz" >/dev/null 2>&1 \
    && curl -fsS "http://$notifier_http/readyz" >/dev/null 2>&1; then
    echo
    echo "task-service is ready on ${TASK_GRPC_ADDR:-127.0.0.1:50051} (gRPC) and $task_http (HTTP)."
    echo "notifier-service is ready on ${NOTIFIER_GRPC_ADDR:-127.0.0.1:50052} (gRPC) and $notifier_http (HTTP, webhooks)."
    echo "A token:  TOKEN=\$(JWT_SECRET=$JWT_SECRET $bin/task-service token --sub alice)"
    echo "Then see README.md for grpcurl calls. Ctrl-C stops everything."
    break
  fi
  sleep 0.5
done
wait -n "${pids[@]}"
