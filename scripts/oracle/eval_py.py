#!/usr/bin/env python3
"""eval.py's scoring with the oracle's metric functions (scripts/oracle/metric_fixtures.py), for
benchmarks and cross-checks: prints {task: score} for DIR/<task>.jsonl.
Run: ~/.venv-oracle/bin/python scripts/oracle/eval_py.py DIR [task,...]"""
import json
import os
import sys
import warnings

warnings.simplefilter("ignore")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metric_fixtures import record_scores, task_score  # noqa: E402


def main():
    d = sys.argv[1]
    only = set(sys.argv[2].split(",")) if len(sys.argv) > 2 else None
    out = {}
    for name in os.listdir(d):
        if not name.endswith("jsonl"):
            continue
        task = name.split(".")[0]
        if only and task not in only:
            continue
        rows = [json.loads(l) for l in open(os.path.join(d, name), encoding="utf-8")]
        classes = rows[-1]["all_classes"]
        out[task] = task_score([record_scores(task, r["pred"], r["answers"], classes)[0] for r in rows])
    print(json.dumps(out, indent=4))


main()
