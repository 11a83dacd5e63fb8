#!/usr/bin/env bash
# What each operation costs Redis and the network between the nodes and Redis
# (issue 25 §3): a cluster of 2, then 3, release-built nodes in the chaos
# harness's namespaces, no faults. Writes load/results/cost/nodes-2.json and
# nodes-3.json; the 3-node file carries the model's check (its Redis commands
# predicted from the 2-node figures). Not run by CI. Needs what tests/chaos needs.
set -euo pipefail
cd "$(dirname "$0")/.."
export SOCKGATE_COST_OUT="${SOCKGATE_COST_OUT:-$PWD/load/results/cost}"
rm -f "$SOCKGATE_COST_OUT"/nodes-*.json
for n in 2 3; do
  SOCKGATE_COST_NODES=$n cargo test --release --test chaos -- --ignored --nocapture costs_per_operation
done
