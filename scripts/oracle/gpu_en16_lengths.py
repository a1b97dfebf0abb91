#!/usr/bin/env python3
"""scripts/oracle/gpu_en16_lengths.py: the record lengths scripts/gpu_project.py projects the en16
wall time from (issue 17 item 5), as a small fixture that travels to a GPU host (../shared does not).

    ~/.venv-oracle/bin/python scripts/oracle/gpu_en16_lengths.py [--pred DIR] [--out FILE]

Reads LongBench's own predictions of Llama-3-8B-Instruct (../shared/datasets/longbench-pred/
llama3-8b-instruct/<task>.jsonl, the 16 tasks of configs/longbench/tasks.json's set en16) and
writes tests/fixtures/gpu/en16_llama3.json:
  tasks.<task>.length          LongBench's `length` of every record, in file order: words
                               (str.split) of the record's text, as LongBench counts English/code
  tasks.<task>.answer_tokens   Llama-3 tokens of that record's prediction + 1 for the stop token,
                               capped at the task's max_new_tokens (configs/longbench/tasks.json):
                               the decode steps the real model took (a capped answer had no stop)
  tokens_per_word              Llama-3 tokens per str.split() word measured on stand-ins, since
                               the records themselves are not here: `prose` on the Paul Graham
                               essays (../shared/datasets/paul-graham-essays), `code` on Python
                               standard-library sources (lcc and repobench-p are Python, Java, C#)
Needs: tokenizers; ../shared/tokenizers/llama3-8b/tokenizer.json."""
import argparse
import glob
import json
import os
import sys
import sysconfig

from tokenizers import Tokenizer

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SHARED = os.path.join(ROOT, "..", "shared")
# a fixed sample of the standard library: large, varied modules present in every CPython 3
CODE_FILES = ["argparse.py", "difflib.py", "inspect.py", "tarfile.py", "typing.py", "pathlib.py",
              "json/decoder.py", "email/message.py", "logging/__init__.py", "unittest/case.py"]


def ratio(tok, texts):
    words = sum(len(t.split()) for t in texts)
    tokens = sum(len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False))
    return round(tokens / words, 4), words


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pred", default=os.path.join(SHARED, "datasets", "longbench-pred", "llama3-8b-instruct"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "gpu", "en16_llama3.json"))
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(ROOT, "configs", "longbench", "tasks.json")))
    tok = Tokenizer.from_file(os.path.join(SHARED, "tokenizers", "llama3-8b", "tokenizer.json"))
    tasks = {}
    for t in cfg["sets"]["en16"]:
        cap = cfg["tasks"][t]["max_new_tokens"]
        rows = [json.loads(line) for line in open(os.path.join(a.pred, t + ".jsonl"), encoding="utf-8")]
        preds = tok.encode_batch([r["pred"] for r in rows], add_special_tokens=False)
        tasks[t] = {"length": [int(r["length"]) for r in rows],
                    "answer_tokens": [min(len(p.ids) + 1, cap) for p in preds]}
    essays = [open(f, encoding="utf-8").read()
              for f in sorted(glob.glob(os.path.join(SHARED, "datasets", "paul-graham-essays", "*.txt")))]
    lib = sysconfig.get_paths()["stdlib"]
    code = [open(os.path.join(lib, f), encoding="utf-8").read() for f in CODE_FILES]
    prose_r, prose_w = ratio(tok, essays)
    code_r, code_w = ratio(tok, code)
    out = {"about": "made by scripts/oracle/gpu_en16_lengths.py (read its docstring); read by scripts/gpu_project.py",
           "source": "viridisGreen/LongBench pred/llama3-8b-instruct (../shared/datasets/longbench-pred/SOURCES.md)",
           "tokenizer": "Meta-Llama-3-8B-Instruct tokenizer.json (../shared/tokenizers/llama3-8b)",
           "tokens_per_word": {"prose": prose_r, "code": code_r,
                               "prose_on": "%d essays, %d words" % (len(essays), prose_w),
                               "code_on": "Python %s stdlib %s, %d words" % (sys.version.split()[0], ",".join(CODE_FILES), code_w)},
           "code_tasks": ["lcc", "repobench-p"],
           "tasks": tasks}
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    n = sum(len(v["length"]) for v in tasks.values())
    print("wrote %s: %d records, tokens/word prose %.3f code %.3f" % (a.out, n, prose_r, code_r))


if __name__ == "__main__":
    main()
