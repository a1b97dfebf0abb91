#!/usr/bin/env python3
"""LongBench-E bucket scores on ties: where eval.py's round(100 * np.mean(bucket), 2) (numpy's
rounding, since np.mean returns an np.float64) and Python's round(float, 2) disagree.

Each case is a bucket of `n` per-record scores, `ones` of them 1.0 and the rest 0.0 (as 0/1
metrics give), in that order; `numpy` is eval.py's value, `python` the value Python's round gives
(what run.json used to write). tests/unit/test_results_buckets.c checks that `run --e` (run.json)
and `eval --e` (result.json) both give `numpy`.

Usage: ~/.venv-oracle/bin/python scripts/oracle/ebucket_fixtures.py
Writes tests/fixtures/results/ebucket_ties.json.
"""
import json

import numpy as np

cases = []
for n in (4000, 2000):
    for ones in range(0, n // 8):
        m = np.mean(np.array([1.0] * ones + [0.0] * (n - ones)))
        want, py = float(round(100 * m, 2)), round(float(100 * m), 2)
        if want != py:
            cases.append(dict(n=n, ones=ones, numpy=want, python=py, scaled=repr(float(100 * m))))
        if sum(c["n"] == n for c in cases) == 4:
            break
cases.append(dict(n=3, ones=1, numpy=float(round(100 * np.mean([1.0, 0.0, 0.0]), 2)),
                  python=round(100 / 3, 2), scaled=repr(float(100 * np.mean([1.0, 0.0, 0.0])))))
out = dict(made_by="scripts/oracle/ebucket_fixtures.py", numpy=np.__version__, cases=cases)
with open("tests/fixtures/results/ebucket_ties.json", "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
for c in cases:
    print(c)
