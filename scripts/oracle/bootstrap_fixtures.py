#!/usr/bin/env python3
"""Golden fixtures for lib/results: the paired bootstrap of `kvbench diff`, and the Python/numpy
number rules result.json depends on.

Run: ~/.venv-oracle/bin/python scripts/oracle/bootstrap_fixtures.py tests/fixtures/results

The bootstrap is re-implemented here independently of the C code, with the same generator
(splitmix64), the same index draw (rejection sampling, no modulo bias) and the same draw order
(replicate -> task -> record); the interval is numpy.percentile(method='linear') of the sorted
replicates. The C intervals must match bit for bit (tolerance 0: both sides do the same IEEE
operations in the same order; the C build is ISO C, so no FMA contraction).

Also written: numpy's mean of lists (pairwise summation) for LongBench-E buckets, Python's
round(x, 2) and repr(float), against which kvb_np_pairwise_sum, kvb_py_round and
kvb_py_float_repr are tested.
"""
import json
import os
import random
import sys

import numpy as np

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):
        threshold = ((1 << 64) - n) % n
        while True:
            x = self.next()
            if x >= threshold:
                return x % n


def bootstrap(groups, n_rep, seed, level):
    """groups: list of (a, b) lists of per-record scores. Returns per-group and average CIs."""
    diffs = [[bi - ai for ai, bi in zip(a, b)] for a, b in groups]
    points = []
    for d in diffs:
        s = 0.0
        for x in d:
            s += x
        points.append(100.0 * s / len(d))
    rng = SplitMix64(seed)
    reps = [[0.0] * n_rep for _ in groups]
    avg = [0.0] * n_rep
    for r in range(n_rep):
        tot = 0.0
        for g, d in enumerate(diffs):
            n = len(d)
            s = 0.0
            for _ in range(n):
                s += d[rng.below(n)]
            v = 100.0 * s / n
            reps[g][r] = v
            tot += v
        avg[r] = tot / len(groups)
    tail = (1.0 - level) / 2.0 * 100.0

    def ci(rep, point):
        x = np.sort(np.array(rep, dtype=np.float64))
        lo = float(np.percentile(x, tail, method="linear"))
        hi = float(np.percentile(x, 100.0 - tail, method="linear"))
        return {"delta": point, "lo": lo, "hi": hi, "significant": bool(lo > 0 or hi < 0)}

    s = 0.0
    for p in points:
        s += p
    return [ci(reps[g], points[g]) for g in range(len(groups))], ci(avg, s / len(groups))


def make_group(rng, n, kind, shift):
    if kind == "binary":  # accuracy-like metrics (retrieval, classification)
        a = [float(rng.random() < 0.6) for _ in range(n)]
        b = [float(rng.random() < 0.6 + shift) for _ in range(n)]
    else:  # F1 / Rouge-like continuous scores in [0, 1]
        a = [rng.random() for _ in range(n)]
        b = [min(1.0, max(0.0, x + rng.gauss(shift, 0.1))) for x in a]
    return a, b


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/results"
    os.makedirs(out, exist_ok=True)
    rng = random.Random(20261123)
    cases = []
    specs = [  # (seed, n_rep, level, [(n, kind, shift), ...])
        (1, 1000, 0.95, [(50, "cont", 0.0)]),
        (42, 2000, 0.95, [(50, "cont", -0.05), (200, "binary", -0.1), (7, "cont", 0.02)]),
        (0xDEADBEEFCAFEF00D, 500, 0.9, [(1, "cont", 0.0), (3, "binary", 0.2), (129, "cont", 0.01)]),
        (7, 1000, 0.99, [(300, "binary", 0.0), (64, "cont", 0.1)]),
    ]
    for seed, n_rep, level, gs in specs:
        groups = [make_group(rng, n, kind, shift) for n, kind, shift in gs]
        per, avg = bootstrap(groups, n_rep, seed, level)
        cases.append({
            "seed": str(seed), "n_rep": n_rep, "level": level,
            "groups": [{"a": a, "b": b} for a, b in groups],
            "per": per, "avg": avg,
        })
    seq = SplitMix64(1234567)
    first = [str(seq.next()) for _ in range(5)]
    seq = SplitMix64(99)
    below = [seq.below(n) for n in (1, 2, 3, 7, 1000, 2**63 + 5, 2**64 - 1)]
    with open(os.path.join(out, "bootstrap.json"), "w") as f:
        json.dump({"how": "scripts/oracle/bootstrap_fixtures.py (numpy %s)" % np.__version__,
                   "splitmix64_seed_1234567": first,
                   "below_seed_99": [str(x) for x in below],
                   "below_n": [str(n) for n in (1, 2, 3, 7, 1000, 2**63 + 5, 2**64 - 1)],
                   "cases": cases}, f, indent=1)

    # number rules: np.mean over lists (pairwise), round(x, 2), repr(float)
    means = []
    for n in (1, 5, 7, 8, 9, 15, 16, 17, 127, 128, 129, 255, 256, 300, 1000, 1031):
        xs = [rng.random() for _ in range(n)]
        means.append({"x": xs, "mean": float(np.mean(xs)), "round": round(100 * np.mean(xs), 2)})
    vals = [0.0, -0.0, 1.0, 100.0, 0.125, 2.675, 1.005, 0.285, 0.1 + 0.2, 1e-4, 1e-5, 1.5e-5,
            123456789012345.6, 1e16, 1.2345e16, 1e22, 5e-324, 1.7976931348623157e308, 33.33,
            66.67, 12.5, 0.015, 3.14159, 2.5, -7.25, 1e15, 9999999999999998.0]
    vals += [rng.uniform(0, 100) for _ in range(200)]
    vals += [round(rng.uniform(0, 100), 2) for _ in range(200)]
    vals += [rng.randrange(0, 10001) / 100 + 0.005 for _ in range(200)]
    nums = [{"x": v.hex(), "repr": repr(v), "round2": round(v, 2).hex(),
             "round2_repr": repr(round(v, 2))} for v in vals]
    with open(os.path.join(out, "numfmt.json"), "w") as f:
        json.dump({"how": "scripts/oracle/bootstrap_fixtures.py (numpy %s, Python %s)"
                   % (np.__version__, sys.version.split()[0]),
                   "means": means, "numbers": nums}, f, indent=1)


if __name__ == "__main__":
    main()
