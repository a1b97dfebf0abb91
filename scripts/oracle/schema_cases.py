#!/usr/bin/env python3
"""Cross-check of results/schema/run.schema.json against the C validator (lib/results/runjson.c).

Run: ~/.venv-oracle/bin/python scripts/oracle/schema_cases.py tests/fixtures/results/schema_cases.json

Takes the crafted run.json (tests/fixtures/results/runs/full/run.json), applies valid and invalid
edits, and records the verdict of the JSON Schema (jsonschema, Draft 2020-12) for each. The C test
(tests/unit/test_results_schema.c) requires kvb_run_from_json to give the same verdict on every
case. Rules the schema cannot state (shard.index < shard.count, duplicate keys) are tested in C
only. Also: `schema_cases.py --check FILE...` validates run.json files and exits 1 if one fails.
"""
import copy
import json
import os
import sys

import jsonschema

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SCHEMA = json.load(open(os.path.join(ROOT, "results/schema/run.schema.json")))
V = jsonschema.Draft202012Validator(SCHEMA)


def edits():
    def put(path, value):
        def f(d):
            *head, last = path
            for k in head:
                d = d[k]
            d[last] = value
        return f

    def delete(path):
        def f(d):
            *head, last = path
            for k in head:
                d = d[k]
            del d[last]
        return f

    T = ["tasks", "hotpotqa"]
    yield "unchanged", lambda d: None
    yield "no metric", delete(T + ["metric"])
    yield "no cells", delete(["tasks", "niah", "cells"])
    yield "no buckets", delete(["tasks", "passage_retrieval_en", "buckets"])
    yield "empty fingerprint", put(["model", "fingerprint"], "")
    yield "extra top-level field", put(["note"], "hello")
    yield "params with values", put(["method", "params"], {"budget": 64, "pool": "maxpool"})
    yield "bucket null", put(["tasks", "passage_retrieval_en", "buckets", "0-4k"], None)
    yield "avg_en16 present", put(["summary", "avg_en16"], 40.5)
    yield "score 0 and 100", lambda d: (put(T + ["score"], 0)(d), put(["tasks", "niah", "score"], 100)(d))
    for key in ["schema_version", "kind", "tool", "created", "machine", "model", "method",
                "chat_template", "data", "settings", "shard", "tasks", "summary"]:
        yield "no " + key, delete([key])
    for sec, key in [("tool", "version"), ("tool", "git_commit"), ("machine", "cpu"),
                     ("machine", "threads"), ("machine", "peak_rss_bytes"), ("model", "name"),
                     ("model", "fingerprint"), ("method", "name"), ("method", "params"),
                     ("data", "files"), ("shard", "index"), ("shard", "count"),
                     ("summary", "avg_tasks"), ("summary", "compression_ratio"), ("summary", "n_bad")]:
        yield "no %s.%s" % (sec, key), delete([sec, key])
    for key in ["score", "n", "n_bad", "memory", "timing"]:
        yield "no task " + key, delete(T + [key])
    for key in ["kv_bytes_prefill", "peak_kv_bytes", "compression_ratio", "keep_ratio"]:
        yield "no memory." + key, delete(T + ["memory", key])
    for key in ["prompt_tokens", "decode_s", "decode_ms_per_token"]:
        yield "no timing." + key, delete(T + ["timing", key])
    yield "no bucket 8k+", delete(["tasks", "passage_retrieval_en", "buckets", "8k+"])
    yield "no cell depth", lambda d: d["tasks"]["niah"]["cells"][0].pop("depth")
    yield "schema_version 2", put(["schema_version"], 2)
    yield "schema_version 0", put(["schema_version"], 0)
    yield "schema_version string", put(["schema_version"], "1")
    yield "kind other", put(["kind"], "other")
    yield "tool name other", put(["tool", "name"], "other")
    yield "empty created", put(["created"], "")
    yield "threads string", put(["machine", "threads"], "2")
    yield "threads 0", put(["machine", "threads"], 0)
    yield "threads 1.5", put(["machine", "threads"], 1.5)
    cuda = {"device": "cuda", "cuda_driver": "12.8", "cuda_runtime": "13.0", "device_bytes": 1 << 30}

    def machine(**kv):
        def f(d):
            d["machine"].update(kv)
        return f
    yield "device cpu", machine(device="cpu")
    yield "device cuda", machine(**cuda)
    yield "device gpu", machine(device="gpu")
    yield "device cuda no driver", machine(device="cuda", cuda_runtime="13.0", device_bytes=1)
    yield "device cuda no device_bytes", machine(device="cuda", cuda_driver="12.8", cuda_runtime="13.0")
    yield "device cuda empty runtime", machine(**dict(cuda, cuda_runtime=""))
    yield "device_bytes negative", machine(**dict(cuda, device_bytes=-1))
    yield "device_bytes 1.5", machine(**dict(cuda, device_bytes=1.5))
    yield "model name empty", put(["model", "name"], "")
    yield "model name number", put(["model", "name"], 7)
    yield "params array", put(["method", "params"], [1])
    yield "settings string", put(["settings"], "x")
    yield "files sha short", put(["data", "files", "niah"], "abc")
    yield "files sha uppercase", put(["data", "files", "niah"], "A" * 64)
    yield "shard count 0", put(["shard", "count"], 0)
    yield "shard index -1", put(["shard", "index"], -1)
    yield "tasks empty", put(["tasks"], {})
    yield "tasks array", put(["tasks"], [])
    yield "task name with space", lambda d: d["tasks"].__setitem__("a b", copy.deepcopy(d["tasks"]["niah"]))
    yield "score 100.01", put(T + ["score"], 100.01)
    yield "score -1", put(T + ["score"], -1)
    yield "score string", put(T + ["score"], "45")
    yield "score null", put(T + ["score"], None)
    yield "n 0", put(T + ["n"], 0)
    yield "n 2.5", put(T + ["n"], 2.5)
    yield "n_bad -1", put(T + ["n_bad"], -1)
    yield "metric number", put(T + ["metric"], 3)
    yield "memory array", put(T + ["memory"], [])
    yield "keep_ratio 1.5", put(T + ["memory", "keep_ratio"], 1.5)
    yield "peak negative", put(T + ["memory", "peak_kv_bytes"], -5)
    yield "gen_tokens fraction", put(T + ["timing", "gen_tokens"], 3.5)
    yield "decode_s string", put(T + ["timing", "decode_s"], "1")
    yield "bucket 101", put(["tasks", "passage_retrieval_en", "buckets", "4-8k"], 101)
    yield "bucket string", put(["tasks", "passage_retrieval_en", "buckets", "4-8k"], "x")
    yield "cells object", put(["tasks", "niah", "cells"], {})
    yield "cell depth 101", lambda d: d["tasks"]["niah"]["cells"][0].__setitem__("depth", 101)
    yield "cell length 0", lambda d: d["tasks"]["niah"]["cells"][0].__setitem__("length", 0)
    yield "cell n 0", lambda d: d["tasks"]["niah"]["cells"][0].__setitem__("n", 0)
    yield "cell score 120", lambda d: d["tasks"]["niah"]["cells"][0].__setitem__("score", 120)
    yield "summary keep 2", put(["summary", "keep_ratio"], 2)
    yield "summary n_bad 0.5", put(["summary", "n_bad"], 0.5)
    yield "avg_en16 string", put(["summary", "avg_en16"], "x")
    # RULER: a task per (task, length) and RULER's average per length (docs/ruler.md); the order
    # of the lengths is a C-only rule (test_results_schema.c)
    R = [{"length": 1024, "n_tasks": 2, "average": 75.0}, {"length": 4096, "n_tasks": 1, "average": 0}]
    yield "ruler summary", put(["summary", "ruler"], copy.deepcopy(R))
    yield "ruler task name", lambda d: d["tasks"].__setitem__("niah_single_1.4096", copy.deepcopy(d["tasks"]["niah"]))
    yield "ruler empty", put(["summary", "ruler"], [])
    yield "ruler object", put(["summary", "ruler"], {"1024": 75.0})
    yield "ruler item number", put(["summary", "ruler"], [75.0])
    yield "ruler length 0", put(["summary", "ruler"], [dict(R[0], length=0)])
    yield "ruler length 1.5", put(["summary", "ruler"], [dict(R[0], length=1.5)])
    yield "ruler n_tasks 0", put(["summary", "ruler"], [dict(R[0], n_tasks=0)])
    yield "ruler average 101", put(["summary", "ruler"], [dict(R[0], average=101)])
    yield "ruler average string", put(["summary", "ruler"], [dict(R[0], average="75")])
    yield "ruler no average", put(["summary", "ruler"], [{"length": 1024, "n_tasks": 2}])
    yield "document array", None


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--check":
        bad = 0
        for f in sys.argv[2:]:
            errs = list(V.iter_errors(json.load(open(f))))
            print("%s: %s" % (f, "valid" if not errs else "INVALID: " + errs[0].message))
            bad += bool(errs)
        sys.exit(1 if bad else 0)
    out = sys.argv[1]
    base = json.load(open(os.path.join(ROOT, "tests/fixtures/results/runs/full/run.json")))
    cases = []
    for name, f in edits():
        d = copy.deepcopy(base)
        if f is None:
            d = [d]
        else:
            f(d)
        cases.append({"name": name, "valid": V.is_valid(d), "doc": d})
    with open(out, "w") as fh:
        json.dump({"how": "scripts/oracle/schema_cases.py (jsonschema %s, Draft 2020-12)"
                   % __import__("importlib.metadata").metadata.version("jsonschema"),
                   "cases": cases}, fh)
    print("%d cases, %d valid" % (len(cases), sum(c["valid"] for c in cases)))


if __name__ == "__main__":
    main()
