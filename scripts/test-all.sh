#!/usr/bin/env bash
# Every test (README, "Tests"): the Rust tests of the workspace, the
# operations kit's checks, the web page in headless Chromium, and every
# command of README's quick start against ./scripts/start.sh.
# Needs what README lists: PostgreSQL, RabbitMQ, Node.js with npm, Debian's
# chromium and prometheus (promtool) packages, grpcurl; CI installs them.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test --workspace"
cargo test --workspace

echo "== deploy/: promtool check rules, check config, test rules; the dashboard is JSON"
(cd deploy/prometheus && promtool check rules alerts.yml && promtool check config prometheus.yml \
  && promtool test rules alerts_test.yml)
python3 -m json.tool deploy/grafana/todogenie.json >/dev/null

echo "== the web page in headless Chromium"
bash scripts/web-e2e.sh

echo "== README's quick start with grpcurl, against ./scripts/start.sh"
bash scripts/readme-test.sh
