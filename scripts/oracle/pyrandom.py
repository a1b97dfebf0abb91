#!/usr/bin/env python3
"""Oracle for lib/core/pyrandom: CPython's `random` and numpy's legacy RandomState, call by call.

Writes tests/fixtures/ruler/pyrandom.json (argument: another path). Each case seeds up to three
generators (py: random.seed, as RULER's module-level calls; py2: a second random.Random, as
RULER's random.Random(seed).shuffle; np: np.random.seed) and lists calls in the order made, each
with its result; tests/unit/test_pyrandom.c replays them and requires equality. Integers that may
exceed 2^53 are decimal strings; doubles are float.hex() strings (exact). A call Python rejects
(ValueError) is recorded as "error": true and draws nothing, which the next call checks.

Needs numpy (any Python 3.11+ with numpy; `make fixtures` uses ~/.venv-oracle).
"""
import json
import math
import platform
import random
import sys

import numpy as np


def big(x):
    """an int exactly: JSON number when a double holds it, else a decimal string"""
    return x if abs(x) < 2**53 else str(x)


def words32(x, k):
    """getrandbits(k)'s value as its 32-bit words, least significant first"""
    return [(x >> (32 * i)) & 0xFFFFFFFF for i in range((k + 31) // 32)]


def setsize_pool(n, k):
    """CPython's rule in Random.sample: True when it uses the pool algorithm"""
    setsize = 21
    if k > 5:
        setsize += 4 ** math.ceil(math.log(k * 3, 4))
    return n <= setsize


class Recorder:
    def __init__(self, name):
        self.name = name
        self.seeds = {}
        self.ops = []
        self.g = {}

    def seed_py(self, which, seed):
        r = random.Random(seed)
        self.g[which] = r
        # the seed as Python has it, and the 32-bit words of |seed| that init_by_array is keyed with
        self.seeds[which] = {"value": big(seed),
                             "words": words32(abs(seed), max(32, abs(seed).bit_length()))}

    def seed_np(self, seed):
        np.random.seed(seed)
        self.seeds["np"] = seed

    def call(self, which, op, **args):
        rec = {"r": which, "op": op}
        rec.update({a: big(v) if isinstance(v, int) else v for a, v in args.items()})
        try:
            rec["out"] = self._do(which, op, args)
        except ValueError:
            rec["error"] = True
        self.ops.append(rec)
        return rec.get("out")

    def _do(self, which, op, a):
        if which == "np":
            assert op == "randint"
            return big(int(np.random.randint(a["low"], a["high"])))
        r = self.g[which]
        if op == "random":
            return r.random().hex()
        if op == "getrandbits":
            return words32(r.getrandbits(a["k"]), a["k"])
        if op == "randbelow":
            return big(r._randbelow(a["n"]))
        if op == "randrange":
            return big(r.randrange(a["start"], a["stop"], a["step"]))
        if op == "randint":
            return big(r.randint(a["a"], a["b"]))
        if op == "choice":
            return r.choice(range(a["n"]))
        if op == "choices":
            return r.choices(range(a["n"]), k=a["k"])
        if op == "shuffle":
            x = list(range(a["n"]))
            r.shuffle(x)
            return x
        if op == "sample":
            out = r.sample(range(a["n"]), a["k"])
            return out
        raise AssertionError(op)

    def json(self):
        for rec in self.ops:
            if rec["op"] == "sample":
                rec["pool"] = setsize_pool(int(rec["n"]), int(rec["k"]))
        return {"name": self.name, "seeds": self.seeds, "ops": self.ops}


GETRANDBITS_K = [0, 1, 5, 31, 32, 33, 63, 64, 65, 100, 128]
RANDBELOW_N = [1, 2, 3, 7, 10, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**53 + 5, 2**63, 2**64 - 1]
RANDRANGE = [(0, 10, 1), (-5, 5, 1), (10**6, 10**7, 1), (0, 100, 7), (100, 0, -3), (5, -5, -1),
             (0, 1, 1), (3, 3, 1), (5, 3, 1), (0, 10, -1), (10, 0, 2), (0, 5, 0), (-2**63, 2**63 - 1, 1),
             (2**63 - 1, -2**63, -1), (-2**63, 2**63 - 1, 3), (0, 2**63 - 1, 2**62)]
RANDINT = [(10**6, 10**7 - 1), (0, 0), (-3, 3), (1, 2**40), (5, 4), (0, 2**63 - 1)]
SAMPLES = [(40, 1), (40, 4), (40, 5), (40, 6), (40, 10), (40, 40), (10, 3), (21, 5), (22, 5),
           (85, 10), (86, 10), (1000, 10), (1000, 300), (100000, 100), (5, 0), (0, 0), (3, 4),
           (2**40, 20)]


def every_call(name, seed):
    """each call of random, one after the other, from random.seed(seed)"""
    t = Recorder(name)
    t.seed_py("py", seed)
    for _ in range(5):
        t.call("py", "random")
    for k in GETRANDBITS_K:
        t.call("py", "getrandbits", k=k)
    for n in RANDBELOW_N:
        t.call("py", "randbelow", n=n)
    for start, stop, step in RANDRANGE:
        t.call("py", "randrange", start=start, stop=stop, step=step)
    for a, b in RANDINT:
        t.call("py", "randint", a=a, b=b)
    for n in (1, 2, 26, 1000, 2**33):
        t.call("py", "choice", n=n)
    t.call("py", "choices", n=26, k=5)
    t.call("py", "choices", n=3, k=40)
    for n in (0, 1, 2, 100):
        t.call("py", "shuffle", n=n)
    for n, k in SAMPLES:
        t.call("py", "sample", n=n, k=k)
    return t


def numpy_calls(name, seed):
    t = Recorder(name)
    t.seed_np(seed)
    for _ in range(20):
        t.call("np", "randint", low=10000, high=99999)
    for low, high in [(0, 1), (5, 6), (-7, 100), (0, 2**31), (0, 2**32), (0, 2**32 + 1),
                      (0, 2**40), (-2**63, 2**63 - 1), (7, 7), (8, 7), (10000, 99999)]:
        t.call("np", "randint", low=low, high=high)
    return t


def ruler_flow(name, seed):
    """the calls of RULER's niah.py and variable_tracking.py in their order (random.seed and
    np.random.seed together, a fresh Random(seed) for the needles' shuffle), sized small"""
    t = Recorder(name)
    t.seed_py("py", seed)
    t.seed_np(seed)
    for _ in range(4):  # needles: words keys (choice over the word list), numbers / uuids values
        t.call("py", "choice", n=3000)
        t.call("py", "randint", a=10**6, b=10**7 - 1)
        t.call("py", "getrandbits", k=128)
    t.seed_py("py2", seed)
    t.call("py2", "shuffle", n=8)
    t.call("py", "sample", n=40, k=8)  # random.sample(DEPTHS, len(needles))
    t.call("py", "sample", n=500, k=3)  # random.sample(range(num_haystack), len(needles))
    t.call("py", "sample", n=4, k=2)  # random.sample(range(num_needle_k), num_needle_q)
    for _ in range(6):  # variable tracking: variable names, the chain's start value
        t.call("py", "choices", n=26, k=5)
        t.call("np", "randint", low=10000, high=99999)
    for _ in range(12):  # shuffle_sublists_heap priorities
        t.call("py", "random")
    t.call("py", "sample", n=200, k=5)  # positions of the chain among the sentences
    return t


def interleaved(name, seed, n_ops):
    """a long random mix of every call on the three generators, the mix drawn by another stream"""
    meta = random.Random(1000 + seed)
    t = Recorder(name)
    t.seed_py("py", seed)
    t.seed_py("py2", seed + 1)
    t.seed_np(seed)
    for _ in range(n_ops):
        w = meta.choice(["py", "py", "py", "py2", "np"])
        if w == "np":
            lo = meta.randint(-1000, 1000)
            t.call("np", "randint", low=lo, high=lo + meta.choice([1, 2, 5, 90000, 2**33]))
            continue
        op = meta.choice(["random", "getrandbits", "randbelow", "randrange", "randint", "choice",
                          "choices", "shuffle", "sample"])
        if op == "random":
            t.call(w, op)
        elif op == "getrandbits":
            t.call(w, op, k=meta.choice([1, 7, 32, 40, 128]))
        elif op == "randbelow":
            t.call(w, op, n=meta.randint(1, 2**40))
        elif op == "randrange":
            t.call(w, op, start=meta.randint(-50, 50), stop=meta.randint(-50, 50),
                   step=meta.choice([1, 1, 2, -3]))
        elif op == "randint":
            a = meta.randint(-100, 100)
            t.call(w, op, a=a, b=a + meta.randint(0, 10**7))
        elif op == "choice":
            t.call(w, op, n=meta.randint(1, 5000))
        elif op == "choices":
            t.call(w, op, n=meta.randint(1, 30), k=meta.randint(0, 6))
        elif op == "shuffle":
            t.call(w, op, n=meta.randint(0, 30))
        else:
            n = meta.randint(0, 120)
            t.call(w, op, n=n, k=meta.randint(0, min(n, 40)))
    return t


def linspace_cases():
    out = []
    for start, stop, num, endpoint in [(0, 100, 40, True), (0, 100, 40, False), (0, 1, 7, True),
                                       (-3.5, 2.25, 11, True), (0, 100, 1, True),
                                       (0, 100, 0, True), (5, 5, 3, True), (0, 1e-310, 4, True)]:
        v = np.linspace(start, stop, num=num, endpoint=endpoint)
        out.append({"start": float(start).hex(), "stop": float(stop).hex(), "num": num,
                    "endpoint": endpoint, "out": [float(x).hex() for x in v],
                    "round_int": [int(x) for x in np.round(v).astype(int)]})
    return out


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/ruler/pyrandom.json"
    cases = []
    for seed in (0, 42, 2**40, -5, 2**32, 2**64 + 3, 12345):
        cases.append(every_call(f"every_call seed {seed}", seed).json())
    for seed in (0, 42, 2**32 - 1, 12345):
        cases.append(numpy_calls(f"numpy seed {seed}", seed).json())
    for seed in (42, 7):
        cases.append(ruler_flow(f"ruler flow seed {seed}", seed).json())
    for seed in (0, 42, 2**20):
        cases.append(interleaved(f"interleaved seed {seed}", seed, 300).json())
    doc = {
        "how": f"scripts/oracle/pyrandom.py: CPython {platform.python_version()} random, "
               f"numpy {np.__version__} legacy RandomState",
        "cases": cases,
        # RULER's needle depths: np.round(np.linspace(0, 100, num=40, endpoint=True)).astype(int)
        "linspace": linspace_cases(),
    }
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
