#!/usr/bin/env python3
"""scripts/gpu_project.py: the projected wall time of `kvbench run --tasks en16` for Llama-3-8B on
the GPU a benchmark ran on (issue 17 item 5), from the real length distribution of the records.

    python3 scripts/gpu_project.py --bench BENCH.json [--peer PEER.json] [--lengths FIXTURE]

BENCH: kvb_cuda_bench's JSON for llama3-8b (rows of context, prefill_s, decode_ms); PEER: the same
rows from scripts/bench/gpu_peer.py (transformers sdpa), projected alike. Standard library only
(it runs on the GPU host). Prints one JSON object; a summary on stderr. A BENCH with no rows (no
GPU) prints {"skipped": ...} and a `SKIP:` line and exits 0; a missing or malformed input: one
line naming the file and the problem, exit 2.

Per record (tests/fixtures/gpu/en16_llama3.json, made by scripts/oracle/gpu_en16_lengths.py):
  prompt tokens n = min(round(length * tokens_per_word), longbench_max_length) + 1 (BOS):
      `length` is LongBench's word count; tokens_per_word is `code` for lcc/repobench-p, else
      `prose`; longbench_max_length from configs/models/llama3-8b.json (middle truncation);
  time = prefill_s(n) + answer * decode_ms(n + answer / 2) / 1000, where
      prefill_s: piecewise linear in n through (0, 0) and the measured contexts (prefill cost is
          a*n + b*n^2, so between points this slightly overestimates; below the first point it
          assumes the first point's tok/s, which a GPU does not reach on short prompts);
      decode_ms: piecewise linear through the measured contexts, extended with the end segments
          (decode time is affine in the context: weights + K/V bytes);
      answer: `expected` = the tokens Llama-3-8B-Instruct really generated for that record (+1 stop,
          capped at the task's max_new_tokens: configs/longbench/tasks.json, LongBench's
          dataset2maxlen); `worst` = max_new_tokens for every record.
Not counted: model upload, tokenization, scoring (seconds, once per run)."""
import argparse
import json
import os
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


class InputError(Exception):
    pass


def load_json(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise InputError("%s: cannot read %s: %s" % (path, what, e.strerror))
    try:  # a benchmark log may carry lines (stderr's) before and after its JSON object
        return json.JSONDecoder().raw_decode(text[text.index("{"):] if "{" in text else text)[0]
    except ValueError as e:
        raise InputError("%s: %s is not JSON: %s" % (path, what, e))


def rows_of(path, what):
    """[(context, prefill_s, decode_ms)] sorted by context, or None where the run measured nothing"""
    d = load_json(path, what)
    rows = d.get("rows") if isinstance(d, dict) else None
    if not rows:
        return None
    out = []
    for r in rows:
        try:
            c, p, m = int(r["context"]), float(r["prefill_s"]), float(r["decode_ms"])
        except (KeyError, TypeError, ValueError):
            raise InputError("%s: a row of %s lacks context/prefill_s/decode_ms: %s" % (path, what, r))
        if c <= 0 or not p > 0 or not m > 0:
            raise InputError("%s: %s row with non-positive values: %s" % (path, what, r))
        out.append((c, p, m))
    return sorted(out)


def interp(xs, ys, x):
    """piecewise linear through (xs, ys), the end segments extended"""
    if len(xs) == 1:
        return ys[0] * x / xs[0]
    i = 1
    while i < len(xs) - 1 and x > xs[i]:
        i += 1
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def project(rows, fx, tasks_cfg, max_len):
    ctx = [r[0] for r in rows]
    pre_x, pre_y = [0] + ctx, [0.0] + [r[1] for r in rows]
    dec_y = [r[2] for r in rows]
    tpw = fx["tokens_per_word"]
    per_task, tot = {}, {"prefill_s": 0.0, "decode_s": 0.0, "worst_decode_s": 0.0}
    for t, v in fx["tasks"].items():
        r = tpw["code"] if t in fx["code_tasks"] else tpw["prose"]
        cap = tasks_cfg[t]["max_new_tokens"]
        s = {"records": len(v["length"]), "prefill_s": 0.0, "decode_s": 0.0, "worst_decode_s": 0.0, "tokens": 0}
        for words, ans in zip(v["length"], v["answer_tokens"]):
            n = min(int(round(words * r)), max_len) + 1
            s["tokens"] += n
            s["prefill_s"] += interp(pre_x, pre_y, n)
            s["decode_s"] += ans * interp(ctx, dec_y, n + ans / 2) / 1000
            s["worst_decode_s"] += cap * interp(ctx, dec_y, n + cap / 2) / 1000
        for k in tot:
            tot[k] += s[k]
        per_task[t] = {k: round(x, 2) if isinstance(x, float) else x for k, x in s.items()}
    return {"expected_min": round((tot["prefill_s"] + tot["decode_s"]) / 60, 2),
            "worst_min": round((tot["prefill_s"] + tot["worst_decode_s"]) / 60, 2),
            "prefill_min": round(tot["prefill_s"] / 60, 2), "decode_min": round(tot["decode_s"] / 60, 2),
            "per_task": per_task}


def check_fixture(fx, path, tasks_cfg):
    try:
        ok = all(t in tasks_cfg and len(v["length"]) == len(v["answer_tokens"]) > 0
                 for t, v in fx["tasks"].items())
        ok = ok and fx["tokens_per_word"]["prose"] > 0 and fx["tokens_per_word"]["code"] > 0
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise InputError("%s: not an en16 lengths fixture (tasks.<task>.length/answer_tokens, "
                         "tokens_per_word.prose/code)" % path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", required=True)
    ap.add_argument("--peer")
    ap.add_argument("--lengths", default=os.path.join(ROOT, "tests", "fixtures", "gpu", "en16_llama3.json"))
    ap.add_argument("--model", default="llama3-8b")
    ap.add_argument("--target-min", type=float, default=45.0, help="issue 17's target (minutes)")
    a = ap.parse_args()
    try:
        fx = load_json(a.lengths, "the lengths fixture")
        tasks_path = os.path.join(ROOT, "configs", "longbench", "tasks.json")
        tasks_cfg = load_json(tasks_path, "the task table")["tasks"]
        check_fixture(fx, a.lengths, tasks_cfg)
        model_path = os.path.join(ROOT, "configs", "models", a.model + ".json")
        max_len = load_json(model_path, "the model config").get("longbench_max_length")
        if not isinstance(max_len, int) or max_len <= 0:
            raise InputError("%s: no positive longbench_max_length" % model_path)
        rows = rows_of(a.bench, "the benchmark")
        peer = rows_of(a.peer, "the peer benchmark") if a.peer else None
    except InputError as e:
        print("gpu_project: error: %s" % e, file=sys.stderr)
        return 2
    if not rows:
        print("SKIP: gpu_project: %s has no measured rows (no GPU?)" % a.bench, file=sys.stderr)
        print(json.dumps({"skipped": "no measured rows in %s" % a.bench}))
        return 0
    n_rec = sum(len(v["length"]) for v in fx["tasks"].values())
    out = {"model": a.model, "tasks": list(fx["tasks"]), "records": n_rec, "max_length": max_len,
           "tokens_per_word": fx["tokens_per_word"], "measured_contexts": [r[0] for r in rows],
           "target_min": a.target_min, "kvbench": project(rows, fx, tasks_cfg, max_len)}
    out["kvbench"]["meets_target"] = out["kvbench"]["expected_min"] < a.target_min
    if peer:
        out["peer"] = project(peer, fx, tasks_cfg, max_len)
    print(json.dumps(out))
    k = out["kvbench"]
    print("en16 %s, %d records: kvbench %.1f min expected (prefill %.1f, decode %.1f), %.1f min if every "
          "answer ran to max_new_tokens; target < %.0f min: %s%s" % (
              a.model, n_rec, k["expected_min"], k["prefill_min"], k["decode_min"], k["worst_min"],
              a.target_min, "met" if k["meets_target"] else "NOT met",
              "; transformers sdpa %.1f min" % out["peer"]["expected_min"] if peer else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
