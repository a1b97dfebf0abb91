#!/usr/bin/env bash
# make bench: runs every scripts/bench/*.sh in turn (each compares kvbench with a peer in the
# same run and prints ratios). Peers come from the oracle virtualenv ($KVBENCH_VENV, default
# ~/.venv-oracle); a missing peer is reported and skipped, never faked.
set -u
cd "$(dirname "$0")/.."
export KVBENCH="${KVBENCH:-$PWD/bin/kvbench}"
export KVBENCH_VENV="${KVBENCH_VENV:-$HOME/.venv-oracle}"
status=0
for b in scripts/bench/*.sh; do
  [ -e "$b" ] || continue
  echo "== $(basename "$b" .sh)"
  bash "$b" || status=1
done
exit $status
