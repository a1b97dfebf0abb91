#!/usr/bin/env bash
# Bench: kvbench diff's paired bootstrap vs the same work in numpy (vectorized, its own generator),
# on the crafted runs of tests/fixtures/results/runs (3 tasks, 62 paired records), R replicates.
set -u
cd "$(dirname "$0")/../.."
K=${KVBENCH:-bin/kvbench}
PY=${KVBENCH_VENV:-$HOME/.venv-oracle}/bin/python
R=${BENCH_REPLICATES:-200000}
runs=tests/fixtures/results/runs
t0=$(date +%s.%N)
"$K" diff $runs/full $runs/snapkv --bootstrap "$R" --json >/dev/null || exit 1
t1=$(date +%s.%N)
c=$(echo "$t1 - $t0" | bc -l)
if "$PY" -c 'import numpy' 2>/dev/null; then
  p=$("$PY" - "$runs" "$R" <<'PY'
import json, sys, time
import numpy as np
runs, R = sys.argv[1], int(sys.argv[2])
d = []
for t in ("hotpotqa", "passage_retrieval_en", "niah"):
    a = {j["_id"]: j["score"] for j in map(json.loads, open(f"{runs}/full/pred/{t}.jsonl"))}
    b = {j["_id"]: j["score"] for j in map(json.loads, open(f"{runs}/snapkv/pred/{t}.jsonl"))}
    d.append(np.array([b[k] - a[k] for k in a if k in b]))
t0 = time.perf_counter()
rng = np.random.default_rng(1)
reps = []
for x in d:  # chunks keep memory bounded
    out = np.empty(R)
    for s in range(0, R, 10000):
        n = min(10000, R - s)
        out[s:s + n] = 100 * x[rng.integers(0, len(x), size=(n, len(x)))].mean(axis=1)
    reps.append(np.percentile(out, [2.5, 97.5]))
print(time.perf_counter() - t0)
PY
)
  printf '{"bench": "bootstrap", "replicates": %d, "records": 62, "kvbench_s": %.3f, "numpy_s": %.3f, "speedup": %.2f}\n' \
    "$R" "$c" "$p" "$(echo "$p / $c" | bc -l)"
else
  printf '{"bench": "bootstrap", "replicates": %d, "records": 62, "kvbench_s": %.3f, "numpy_s": null}\n' "$R" "$c"
  echo "numpy peer missing ($PY): skipped" >&2
fi
