#!/usr/bin/env bash
# The cluster under real network faults (issue 25): three sockgate nodes, Redis,
# an nginx load balancer, the backend and the clients, each on a host of its own
# (a network namespace), while a seeded random nemesis partitions, delays, loses
# packets and kills nodes for SOCKGATE_CHAOS_SECS (default 600). The checker
# judges the run against the README's delivery contract. Writes
# load/results/chaos/chaos.json (every fault, one row per second, the
# checker's verdict) and chaos.svg. Not run by CI (tests/chaos runs a short fixed
# schedule there).
#
#   bash load/chaos.sh                        # 10 minutes, a seed from the clock
#   SOCKGATE_CHAOS_SEED=7 bash load/chaos.sh  # replay a schedule
#   SOCKGATE_CHAOS_SECS=120 bash load/chaos.sh
#   SOCKGATE_CHAOS_REDIS=cluster bash load/chaos.sh   # a Redis Cluster of three
#       hosts (master and replica each) that the nemesis also splits; writes
#       load/results/chaos-cluster/
#
# Needs root (namespaces, TUN), redis-server, nginx with its stream module.
set -euo pipefail
cd "$(dirname "$0")/.."
export SOCKGATE_CHAOS_SECS="${SOCKGATE_CHAOS_SECS:-600}"
if [ "${SOCKGATE_CHAOS_REDIS:-}" = cluster ]; then
  export SOCKGATE_CHAOS_OUT="${SOCKGATE_CHAOS_OUT:-$PWD/load/results/chaos-cluster}"
else
  export SOCKGATE_CHAOS_OUT="${SOCKGATE_CHAOS_OUT:-$PWD/load/results/chaos}"
fi
cargo build --release -p sockgate-load --quiet
status=0
cargo test --release --test chaos -- --ignored --nocapture a_random_schedule_for_minutes || status=$?
target/release/sockgate-load chaos-plot \
  --input "$SOCKGATE_CHAOS_OUT/chaos.json" --output "$SOCKGATE_CHAOS_OUT/chaos.svg"
exit "$status"
