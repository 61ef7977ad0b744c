#!/usr/bin/env bash
# Writes the offline data of every compile-checked query (`sqlx::query!`) to
# <crate>/.sqlx, against a scratch database per service migrated from its
# migrations/, so that a fresh clone builds with no database at all.
# With --check it writes to a scratch folder instead and fails when the
# committed data differs (a query or the schema changed without it).
# Needs PostgreSQL as in the README (TEST_POSTGRES_URL to point elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."

export PGOPTIONS="-c client_min_messages=warning"
base=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
check=false
[ "${1:-}" = "--check" ] && check=true
status=0

for crate in task-service notifier-service; do
  db="tg_sqlx_${crate//-/_}_$$"
  psql "$base/postgres" -qAtc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  for migration in "$crate"/migrations/*.sql; do
    # One transaction per migration, as sqlx runs them, unless it says not.
    single=--single-transaction
    grep -q '^-- no-transaction' "$migration" && single=
    psql "$base/$db" -q $single -v ON_ERROR_STOP=1 -f "$migration" >/dev/null
  done
  out="$crate/.sqlx"
  if $check; then out=$(mktemp -d); fi
  rm -rf "${out:?}"/query-*.json
  mkdir -p "$out"
  # The macros expand again only when the crate recompiles.
  touch "$crate/src/lib.rs"
  DATABASE_URL="$base/$db" SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$(cd "$out" && pwd)" \
    cargo check --quiet -p "$crate" --lib
  psql "$base/postgres" -qAtc "DROP DATABASE IF EXISTS $db"
  if $check; then
    if ! diff -r -q "$crate/.sqlx" "$out" >/dev/null; then
      echo "$crate/.sqlx is stale: run scripts/sqlx-prepare.sh and commit it" >&2
      diff -r -q "$crate/.sqlx" "$out" >&2 || true
      status=1
    fi
    rm -rf "$out"
  fi
  touch "$crate/src/lib.rs"
done
exit $status
