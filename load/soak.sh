#!/usr/bin/env bash
# The soak run (issue 10, part 5): 10,000 connections with 5% replaced per
# minute, echo at 2,000 msg/s, @connections POSTs at 1,000/s and group sends at
# 10/s for 30 minutes, against a release build of sockgate on this machine.
# Writes load/results/soak/soak.json (every sample, the fitted lines, losses)
# and soak.svg. Not run by CI.
#
#   bash load/soak.sh                      # the full run (~32 minutes)
#   bash load/soak.sh --duration-secs 120  # a short trial (extra flags go to the load tool)
#
# Needs: loopback addresses 127.0.0.2-127.0.0.9, an open-file limit of at least
# 20,000, and nothing listening on ports 28480-28482.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --release --workspace --quiet
mkdir -p load/results/logs
SOCKGATE_LISTEN=127.0.0.1:28480 SOCKGATE_MANAGEMENT_LISTEN=127.0.0.1:28481 \
SOCKGATE_METRICS_LISTEN=127.0.0.1:28482 SOCKGATE_LOG=warn \
  target/release/sockgate --config load/soak/gateway.toml 2> load/results/logs/soak-gateway.log &
GW=$!
trap 'kill $GW 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:28482/healthz >/dev/null && break
  sleep 0.1
done
target/release/sockgate-load soak --pid "$GW" \
  --url ws://127.0.0.1:28480/dev --management http://127.0.0.1:28481/dev \
  --metrics http://127.0.0.1:28482/metrics "$@"
