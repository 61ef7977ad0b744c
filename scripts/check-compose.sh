#!/usr/bin/env bash
# Validates docker-compose.yml with docker-compose's own parser: it must
# refuse to render without the four secrets, render with them, and publish
# every port on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
unset JWT_SECRET POSTGRES_PASSWORD RABBITMQ_USER RABBITMQ_PASSWORD
run() { docker-compose --env-file scripts/empty.env -f docker-compose.yml config "$@"; }
if run -q 2>/dev/null; then
  echo "docker-compose.yml renders without its secrets" >&2
  exit 1
fi
for missing in JWT_SECRET POSTGRES_PASSWORD RABBITMQ_USER RABBITMQ_PASSWORD; do
  env=(JWT_SECRET=0123456789abcdef0123456789abcdef POSTGRES_PASSWORD=pw RABBITMQ_USER=u RABBITMQ_PASSWORD=pw)
  if env "${env[@]}" "$missing=" docker-compose --env-file scripts/empty.env -f docker-compose.yml config -q 2>/dev/null; then
    echo "docker-compose.yml renders with $missing empty" >&2
    exit 1
  fi
done
rendered=$(JWT_SECRET=0123456789abcdef0123456789abcdef POSTGRES_PASSWORD=pw RABBITMQ_USER=u \
  RABBITMQ_PASSWORD=pw run)
if grep -E 'published|host_ip|- "?[0-9]+:[0-9]+' <<<"$rendered" | grep -v '127.0.0.1' | grep -qE '[0-9]'; then
  echo "a port is published beyond 127.0.0.1:" >&2
  grep -E 'published|host_ip|:[0-9]+' <<<"$rendered" >&2
  exit 1
fi
if grep -q 'trust' <<<"$rendered"; then
  echo "PostgreSQL must not use trust authentication" >&2
  exit 1
fi
echo "docker-compose.yml: refuses missing secrets, ports on 127.0.0.1 only"
