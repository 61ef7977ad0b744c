# Sourced by scripts/web-e2e.sh and scripts/readme-test.sh: removes what one
# run of the services made, its databases and its event topology (the
# notifier's queue and dead letters, the exchange and its .dlx), so runs
# leave nothing behind. Usage: remove_run_resources EXCHANGE QUEUE DB...
remove_run_resources() {
  local exchange=$1 queue=$2
  shift 2
  for db in "$@"; do
    psql postgres://postgres@127.0.0.1:5432/postgres -qAtc \
      "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  for q in "$queue" "$queue.dead"; do
    rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1 || true
  done
  for e in "$exchange" "$exchange.dlx"; do
    rabbitmqctl -q eval \
      "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"$e\">>), false, <<\"cleanup\">>)." \
      >/dev/null 2>&1 || true
  done
}
