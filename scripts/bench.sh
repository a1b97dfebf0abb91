#!/usr/bin/env bash
# make bench: runs every scripts/bench/*.sh in turn (each compares kvbench with a peer in the
# same run and prints ratios). Peers come from the oracle virtualenv ($KVBENCH_VENV, default
# ~/.venv-oracle; `make bench-deps` builds it); a missing peer is reported and skipped, never
# faked. Ends with one table (scripts/bench/summary.py): kvbench vs llama.cpp and transformers on
# SmolLM2 as ratios, with the machine, CPU flags, threads, load, date and the command.
# Env: BENCH_ONLY (comma list of bench names, e.g. model,kvcache; default all), and each bench's
# own (scripts/bench/model.sh: THREADS, CONTEXTS, GEN, WEIGHTS, KV, PEERS).
set -u
cd "$(dirname "$0")/.."
if [ -z "${BENCH_COMMAND:-}" ]; then
  BENCH_COMMAND="scripts/bench.sh"; [ -n "${MAKELEVEL:-}" ] && BENCH_COMMAND="make bench"
  for v in BENCH_ONLY THREADS CONTEXTS GEN WEIGHTS KV PEERS PY KVBENCH_VENV; do
    [ -n "${!v+x}" ] && BENCH_COMMAND="$v=${!v} $BENCH_COMMAND"
  done
fi
export BENCH_COMMAND
export KVBENCH="${KVBENCH:-$PWD/bin/kvbench}"
export KVBENCH_VENV="${KVBENCH_VENV:-$HOME/.venv-oracle}"
out=${BENCH_OUT:-build/bench}; mkdir -p "$out"; rm -f "$out"/model-*.json
status=0
for b in scripts/bench/*.sh; do
  [ -e "$b" ] || continue
  n=$(basename "$b" .sh)
  [ -n "${BENCH_ONLY:-}" ] && [[ ",$BENCH_ONLY," != *",$n,"* ]] && continue
  echo "== $n"
  s=$(date +%s)
  bash "$b" || { status=1; echo "== $n failed" >&2; }
  echo "== $n: $(( $(date +%s) - s )) s"
done
if [ -z "${BENCH_ONLY:-}" ] || [[ ",$BENCH_ONLY," == *",model,"* ]]; then
  python3 scripts/bench/summary.py "$out" || status=1
fi
exit $status
