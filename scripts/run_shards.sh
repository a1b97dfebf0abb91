#!/usr/bin/env bash
# Run one kvbench evaluation as N local shard processes, then merge them.
#
#   scripts/run_shards.sh -n N -o OUT [-j THREADS] -- [kvbench run options...]
#
# Shard i runs `kvbench run OPTIONS --shard i/N --out OUT/shards/i` (every N-th record), all N at
# once, each with THREADS threads (default: cores / N, at least 1); their logs go to
# OUT/shards/i.log. When all succeed, `kvbench merge` joins them into OUT (pred/, memory/,
# result.json, run.json), identical in scores to an unsharded run. $KVBENCH picks the binary
# (default: bin/kvbench next to this script). Exit: 0 ok, 1 a shard or the merge failed, 2 usage.
set -u
here=$(cd "$(dirname "$0")" && pwd)
K=${KVBENCH:-$here/../bin/kvbench}
n=""; out=""; threads=""
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    -n) n=${2:-}; shift 2 ;;
    -o) out=${2:-}; shift 2 ;;
    -j) threads=${2:-}; shift 2 ;;
    --) shift; break ;;
    -h|--help) usage ;;
    *) echo "run_shards.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
case $n in ''|*[!0-9]*) echo "run_shards.sh: -n N (a positive number of shards) is required" >&2; exit 2 ;; esac
[ "$n" -ge 1 ] || { echo "run_shards.sh: -n must be >= 1" >&2; exit 2; }
[ -n "$out" ] || { echo "run_shards.sh: -o OUT is required" >&2; exit 2; }
if [ -z "$threads" ]; then
  cores=$(nproc 2>/dev/null || echo 1)
  threads=$(( cores / n )); [ "$threads" -ge 1 ] || threads=1
fi
mkdir -p "$out/shards" || exit 1
pids=()
for ((i = 0; i < n; i++)); do
  "$K" run "$@" --threads "$threads" --shard "$i/$n" --out "$out/shards/$i" >"$out/shards/$i.log" 2>&1 &
  pids+=($!)
done
failed=0
for ((i = 0; i < n; i++)); do
  if ! wait "${pids[$i]}"; then
    echo "run_shards.sh: shard $i/$n failed, see $out/shards/$i.log:" >&2
    tail -n 5 "$out/shards/$i.log" >&2
    failed=1
  fi
done
[ "$failed" = 0 ] || exit 1
shards=()
for ((i = 0; i < n; i++)); do shards+=("$out/shards/$i"); done
"$K" merge "${shards[@]}" --out "$out" || exit 1
