#!/usr/bin/env bash
# Reproduces load/results/comparison.md: builds sockgate, the load tool and the
# bare baseline server in release mode, then runs every case in load/cases/
# against both servers, one after the other, on this machine.
#
#   bash load/compare.sh                 # every case (~15 min, build included)
#   bash load/compare.sh --only echo     # some cases (written to load/results/partial/)
#
# Needs: loopback addresses 127.0.0.2-127.0.0.17 (Linux routes all of 127/8 to lo),
# an open-file limit of at least 20,000 (`ulimit -n`), and nothing else listening
# on ports 28080-28090, 28180-28182 and 28300-28302. The http and wrk cases run
# nginx, the wrk case wrk (installed with apt-get when missing); the hosted
# case Python's aiohttp and awslambdaric (installed with pip when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  -h|--help)
    # This header, without building anything (a release build takes minutes).
    sed -n '2,/^set -euo/p' load/compare.sh | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
esac
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" -lt 20000 ]; then
  echo "compare.sh: the open-file limit is $(ulimit -n); the hold case needs 20000 (see README, 'Raising the limits')." >&2
  exit 1
fi
# nginx is the baseline of the http and wrk cases, wrk the wrk case's client
# (installed here, never in CI).
for tool in nginx wrk; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get install -y -q "$tool"
  fi
done
# The hosted case runs its handler under awslambdaric and, as its baseline,
# wrapped in aiohttp (installed here, never in CI).
if ! python3 -c "import aiohttp, awslambdaric" 2>/dev/null; then
  python3 -m pip install --quiet aiohttp awslambdaric
fi
cargo build --release --workspace --quiet
exec target/release/sockgate-load compare "$@"
