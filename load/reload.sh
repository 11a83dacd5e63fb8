#!/usr/bin/env bash
# The reload scenario (issue 11): 100 connections echo for 20 s without
# reloads, then 20 s while the gateway reloads twice a second, alternating
# between load/reload/a.toml and b.toml. Writes load/results/reload.json.
#
#   bash load/reload.sh                       # extra flags go to the load tool
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --quiet
mkdir -p load/results/logs
config=$(mktemp --suffix=.toml)
cp load/reload/a.toml "$config"
SOCKGATE_LISTEN=127.0.0.1:28580 SOCKGATE_MANAGEMENT_LISTEN=127.0.0.1:28581 \
SOCKGATE_METRICS_LISTEN=127.0.0.1:28582 SOCKGATE_LOG=warn \
  target/release/sockgate --config "$config" 2> load/results/logs/reload-gateway.log &
GW=$!
trap 'kill $GW 2>/dev/null || true; rm -f "$config"' EXIT
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:28582/healthz >/dev/null && break
  sleep 0.1
done
target/release/sockgate-load reload --url ws://127.0.0.1:28580/dev \
  --management http://127.0.0.1:28581 --config "$config" \
  --table-a load/reload/a.toml --table-b load/reload/b.toml "$@" | tee load/results/reload.json
