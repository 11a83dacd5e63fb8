#!/usr/bin/env bash
# Measures a two-node cluster on this machine: a redis-server, two sockgate
# nodes (A and B), and the load tool. Writes load/results/cluster.jsonl and
# prints each result line.
#
#   bash load/cluster.sh
#
# 1. push, cross-node: clients on A, @connections POSTs sent to B (2,000/s).
# 2. push, same node: clients on A, POSTs sent to A (the baseline for 1).
# 3. group broadcast: 10,000 receivers, half on each node, all in one group,
#    40 sends/s published through A; plus the Redis messages each send took.
# Needs redis-server, and ports 28379, 28080-28093 free.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --release --workspace --quiet
out=load/results/cluster.jsonl
mkdir -p load/results/logs
: > "$out"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

redis-server --port 28379 --bind 127.0.0.1 --save "" --appendonly no >load/results/logs/cluster-redis.log 2>&1 &
pids+=($!)
until redis-cli -p 28379 ping >/dev/null 2>&1; do sleep 0.1; done

node() { # name public mgmt metrics
  SOCKGATE_LISTEN=127.0.0.1:$2 SOCKGATE_MANAGEMENT_LISTEN=127.0.0.1:$3 SOCKGATE_METRICS_LISTEN=127.0.0.1:$4 \
    RUST_LOG=warn target/release/sockgate --config load/cluster/gateway.toml >"load/results/logs/cluster-$1.log" 2>&1 &
  pids+=($!)
  until curl -sf "http://127.0.0.1:$4/readyz" >/dev/null; do sleep 0.1; done
}
node a 28080 28081 28090
node b 28082 28083 28092

run() { # label, args...
  local label=$1; shift
  echo "== $label" >&2
  target/release/sockgate-load "$@" | python3 -c "import json,sys; d=json.load(sys.stdin); d['label']='$label'; print(json.dumps(d))" | tee -a "$out"
}
run push-cross-node push --url ws://127.0.0.1:28080/dev --management http://127.0.0.1:28083/dev --connections 100 --rate 2000
sleep 3
run push-same-node push --url ws://127.0.0.1:28080/dev --management http://127.0.0.1:28081/dev --connections 100 --rate 2000
sleep 3
before=$(curl -s http://127.0.0.1:28090/metrics | awk '/^sockgate_cluster_messages_total\{direction="out",kind="group"\}/ {print $2}')
run group-broadcast-two-nodes broadcast --url ws://127.0.0.1:28080/dev,ws://127.0.0.1:28082/dev \
  --management http://127.0.0.1:28081/dev --group everyone --receivers 10000 --rate 40 --duration-secs 10
after=$(curl -s http://127.0.0.1:28090/metrics | awk '/^sockgate_cluster_messages_total\{direction="out",kind="group"\}/ {print $2}')
python3 - "$before" "$after" <<'PY' | tee -a "$out"
import json, sys
before, after = (float(x or 0) for x in sys.argv[1:3])
sends = 400
print(json.dumps({"label": "redis-messages-per-group-send", "group_publishes": after - before, "sends": sends,
                  "redis_messages_per_send": (after - before) / sends}))
PY
