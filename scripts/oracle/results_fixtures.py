#!/usr/bin/env python3
"""Crafted run directories for the results tests (tests/fixtures/results/runs/).

Run: ~/.venv-oracle/bin/python scripts/oracle/results_fixtures.py tests/fixtures/results/runs

Written independently of lib/results: run.json follows results/schema/run.schema.json, and every
result.json is computed the way LongBench's eval.py does it (total_score += score in record order,
round(100 * total / n, 2); LongBench-E buckets with round(100 * np.mean(bucket), 2)) and written with
json.dump(indent=4). `kvbench merge` of the three shards must reproduce full/result.json and the
pred/memory files byte for byte.

Runs: full (unsharded, 3 tasks), shard0..2 (full split by _index % 3), snapkv (same records,
lower scores on some, 4x compression), and run.json-only cases against full: pass, task_drop,
avg_drop, low_compr (gate), fewer (a task missing), other_model, newer (schema_version 2).
"""
import copy
import hashlib
import json
import os
import random
import shutil
import sys

import numpy as np

FP = "sha256:" + hashlib.sha256(b"smollm2-135m fixture weights").hexdigest()
EN16 = ["narrativeqa", "qasper", "multifieldqa_en", "hotpotqa", "2wikimqa", "musique", "gov_report",
        "qmsum", "multi_news", "trec", "triviaqa", "samsum", "passage_count",
        "passage_retrieval_en", "lcc", "repobench-p"]


def make_records(rng):
    tasks = {}
    recs = []
    for i in range(30):  # hotpotqa: continuous F1-like scores
        recs.append({"_id": "hq%03d" % i, "score": rng.choice([0.0, 1.0, round(rng.random(), 6), 0.5]),
                     "length": rng.randrange(2000, 12000), "answers": ["ans %d" % i]})
    tasks["hotpotqa"] = ("qa_f1", False, recs)
    recs = []
    for i in range(20):  # passage_retrieval_en, LongBench-E buckets (one bucket left empty)
        recs.append({"_id": "pr%03d" % i, "score": float(rng.random() < 0.7),
                     "length": rng.choice([1500, 3999, 4000, 7999]), "answers": ["Paragraph %d" % (i % 30)]})
    tasks["passage_retrieval_en"] = ("retrieval_score", True, recs)
    recs = []
    for L in (1024, 2048):
        for d in (0, 50, 100):
            for k in range(2):
                recs.append({"_id": "niah-%d-%d-%d" % (L, d, k), "score": rng.choice([0.0, 0.25, 1.0]),
                             "length": L, "answers": ["eat a sandwich and sit in Dolores Park"],
                             "cell": (L, d)})
    tasks["niah"] = ("niah_recall", False, recs)
    return tasks


def measured(rng, idx, rec, ratio):
    prompt = 500 + (idx * 37) % 3000
    gen = 5 + idx % 20
    full16 = float((prompt + gen) * 30 * 2 * 3 * 64 * 2)  # SmolLM2: 30 layers, 3 kv heads, dim 64
    held = full16 / ratio
    out = {"prompt_tokens": prompt, "gen_tokens": gen, "kv_bytes_prefill": held * 0.99,
           "kv_bytes_decode": held, "kv_bytes_peak": held * 1.01, "kv_full16_bytes": full16,
           "keep_ratio": round(1.0 / ratio, 6), "prefill_s": round(prompt / 900.0, 6),
           "decode_s": round(gen * 0.021, 6)}
    return out


def pred_line(idx, rec, m):
    line = {"pred": "prediction %d" % idx, "answers": rec["answers"], "all_classes": None,
            "length": rec["length"], "_id": rec["_id"], "_index": idx, "score": rec["score"]}
    line.update(m)
    if "cell" in rec:
        line["niah_length"], line["niah_depth"] = rec["cell"]
    return json.dumps(line, ensure_ascii=False)


def task_block(metric, e, items):
    """items: list of (rec, measured) in record order."""
    n = len(items)
    total = 0.0
    for rec, _ in items:
        total += rec["score"]
    t = {"score": round(100 * total / n, 2), "metric": metric, "n": n, "n_bad": 0}
    if e:
        b = {"0-4k": [], "4-8k": [], "8k+": []}
        for rec, _ in items:
            L = rec["length"]
            b["0-4k" if L < 4000 else "4-8k" if L < 8000 else "8k+"].append(rec["score"])
        t["buckets"] = {k: (round(100 * np.mean(v), 2) if v else None) for k, v in b.items()}

    def mean(key):
        s = 0.0
        for _, m in items:
            s += m[key]
        return s / n
    sums = {k: 0.0 for k in ("kv_bytes_prefill", "kv_bytes_decode", "kv_full16_bytes", "keep_ratio")}
    for k in sums:
        sums[k] = mean(k)
    dec_sum = 0.0
    full_sum = 0.0
    for _, m in items:
        dec_sum += m["kv_bytes_decode"]
        full_sum += m["kv_full16_bytes"]
    t["memory"] = {"kv_bytes_prefill": sums["kv_bytes_prefill"], "kv_bytes_decode": sums["kv_bytes_decode"],
                   "kv_full16_bytes": sums["kv_full16_bytes"],
                   "peak_kv_bytes": max(m["kv_bytes_peak"] for _, m in items),
                   "compression_ratio": full_sum / dec_sum, "keep_ratio": sums["keep_ratio"]}
    pt = sum(m["prompt_tokens"] for _, m in items)
    gt = sum(m["gen_tokens"] for _, m in items)
    ps = sum(m["prefill_s"] for _, m in items)
    ds = sum(m["decode_s"] for _, m in items)
    t["timing"] = {"prompt_tokens": pt, "gen_tokens": gt, "prefill_s": ps, "decode_s": ds,
                   "wall_s": ps + ds, "decode_ms_per_token": 1000 * ds / gt,
                   "prefill_tokens_per_s": pt / ps}
    cells = {}
    for rec, _ in items:
        if "cell" in rec:
            c = cells.setdefault(rec["cell"], [0.0, 0])
            c[0] += rec["score"]
            c[1] += 1
    if cells:
        t["cells"] = [{"length": L, "depth": d, "score": round(100 * s / k, 2), "n": k}
                      for (L, d), (s, k) in sorted(cells.items())]
    return t


def summary(tasks):
    scores = [t["score"] for t in tasks.values()]
    s = {"avg_tasks": round(sum(scores) / len(scores), 2)}
    if all(k in tasks for k in EN16):
        s["avg_en16"] = round(sum(tasks[k]["score"] for k in EN16) / 16, 2)
    wf = sum(t["n"] * t["memory"]["kv_full16_bytes"] for t in tasks.values())
    wh = sum(t["n"] * t["memory"]["kv_bytes_decode"] for t in tasks.values())
    s["compression_ratio"] = wf / wh
    s["peak_kv_bytes"] = max(t["memory"]["peak_kv_bytes"] for t in tasks.values())
    gen = sum(t["timing"]["gen_tokens"] for t in tasks.values())
    s["decode_ms_per_token"] = 1000 * sum(t["timing"]["decode_s"] for t in tasks.values()) / gen
    s["keep_ratio"] = sum(t["n"] * t["memory"]["keep_ratio"] for t in tasks.values()) / sum(
        t["n"] for t in tasks.values())
    s["n_bad"] = 0
    return s


def run_json(method, params, tasks, shard=(0, 1)):
    return {
        "schema_version": 1, "kind": "kvbench-run",
        "tool": {"name": "kvbench", "version": "0.1.0", "git_commit": "fixture00000"},
        "created": "2026-11-23T19:00:00Z",
        "machine": {"cpu": "fixture cpu", "threads": 2, "flags": "-O2 -mavx2", "gpu": "",
                    "peak_rss_bytes": 300000000},
        "model": {"name": "smollm2-135m", "repo": "HuggingFaceTB/SmolLM2-135M-Instruct",
                  "path": "models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf", "dtype": "q4_1",
                  "fingerprint": FP},
        "method": {"name": method, "params": params},
        "chat_template": "chatml",
        "data": {"dir": "datasets/synthetic",
                 "files": {k: hashlib.sha256(k.encode()).hexdigest() for k in tasks}},
        "settings": {"max_length": 7500, "limit": 0, "task_set": "fixture"},
        "shard": {"index": shard[0], "count": shard[1]},
        "tasks": tasks,
        "summary": summary(tasks),
    }


def write_run(d, method, params, task_recs, ratio, rng_seed, shard=(0, 1)):
    os.makedirs(os.path.join(d, "pred"), exist_ok=True)
    os.makedirs(os.path.join(d, "memory"), exist_ok=True)
    tasks = {}
    result = {}
    for name, (metric, e, recs) in task_recs.items():
        rng = random.Random(rng_seed)
        items = []
        lines = []
        mem = []
        for idx, rec in enumerate(recs):
            m = measured(rng, idx, rec, ratio)
            if idx % shard[1] != shard[0]:
                continue
            items.append((rec, m))
            lines.append(pred_line(idx, rec, m))
            steps = [int(m["kv_bytes_prefill"] + (s + 1) * m["kv_full16_bytes"] / (m["prompt_tokens"] + m["gen_tokens"]) / ratio)
                     for s in range(m["gen_tokens"])]
            mem.append(json.dumps({"_id": rec["_id"], "_index": idx,
                                   "kv_bytes_prefill": int(m["kv_bytes_prefill"]), "kv_bytes": steps}))
        with open(os.path.join(d, "pred", name + ".jsonl"), "w") as f:
            f.write("".join(x + "\n" for x in lines))
        with open(os.path.join(d, "memory", name + ".jsonl"), "w") as f:
            f.write("".join(x + "\n" for x in mem))
        tasks[name] = task_block(metric, e, items)
        # eval.py: round(100 * np.mean([]), 2) is nan for an empty bucket, and json.dump writes NaN
        result[name] = ({k: (float("nan") if v is None else v) for k, v in tasks[name]["buckets"].items()}
                        if e else tasks[name]["score"])
    with open(os.path.join(d, "result.json"), "w") as f:
        json.dump(result, f, ensure_ascii=False, indent=4)
    rj = run_json(method, params, tasks, shard)
    with open(os.path.join(d, "run.json"), "w") as f:
        json.dump(rj, f, indent=2)
    return rj


def write_json_only(path, rj):
    with open(path, "w") as f:
        json.dump(rj, f, indent=2)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/results/runs"
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    rng = random.Random(7)
    recs = make_records(rng)
    full = write_run(os.path.join(out, "full"), "full", {}, recs, 1.0, 11)
    for i in range(3):
        write_run(os.path.join(out, "shard%d" % i), "full", {}, recs, 1.0, 11, (i, 3))
    # SnapKV: every third hotpotqa record loses its answer, others unchanged
    worse = copy.deepcopy(recs)
    for i, r in enumerate(worse["hotpotqa"][2]):
        if i % 3 == 0:
            r["score"] = 0.0
    write_run(os.path.join(out, "snapkv"), "SnapKV", {"budget": 128, "window": 32, "kernel": 7,
                                                       "pool": "avgpool"}, worse, 4.0, 11)

    def variant(name, change):
        rj = copy.deepcopy(full)
        change(rj["tasks"])
        rj["summary"] = summary(rj["tasks"])
        write_json_only(os.path.join(out, name + ".json"), rj)

    def add(t, task, delta):
        t[task]["score"] = round(t[task]["score"] + delta, 2)
    variant("pass", lambda t: (add(t, "hotpotqa", 0.5), add(t, "niah", -0.7)))
    # one task drops 3 points, another gains 2.5: the average moves by less than 1 point
    variant("task_drop", lambda t: (add(t, "hotpotqa", -3.0), add(t, "passage_retrieval_en", 2.5)))
    # every task drops 1.5 points: no task beyond 2, the average beyond 1
    variant("avg_drop", lambda t: [add(t, k, -1.5) for k in list(t)])

    def lowc(t):
        for v in t.values():
            v["memory"]["kv_bytes_decode"] = v["memory"]["kv_full16_bytes"] / 1.5
            v["memory"]["compression_ratio"] = 1.5
    variant("low_compr", lowc)
    variant("fewer", lambda t: t.pop("niah"))  # a task only in the baseline
    other = copy.deepcopy(full)
    other["model"]["name"] = "llama3-8b"
    other["model"]["fingerprint"] = "sha256:" + "0" * 64
    write_json_only(os.path.join(out, "other_model.json"), other)
    newer = copy.deepcopy(full)
    newer["schema_version"] = 2
    write_json_only(os.path.join(out, "newer.json"), newer)
    with open(os.path.join(out, "README"), "w") as f:
        f.write("Made by scripts/oracle/results_fixtures.py (crafted runs, eval.py's scoring rules).\n")


if __name__ == "__main__":
    main()
