#!/usr/bin/env python3
"""Golden fixture for kvbench's RULER scoring (tests/fixtures/ruler/score.json).

The oracle is RULER's own scoring code, run from a RULER checkout the user provides (nothing of it
is copied or built here): scripts/eval/evaluate.py's postprocess_pred, get_pred_and_ref and
run_evaluation_per_task, and scripts/eval/synthetic/constants.py's string_match_all and
string_match_part, with each task's metric chosen as evaluate.py chooses it (scripts/synthetic.yaml
task -> constants.TASKS[task]['metric_fn']). evaluate.py imports nemo, nltk and pandas and parses
argv at import, so its three functions are taken from its syntax tree and run with a stand-in for
nemo's read_manifest (one JSON object per line, as nemo reads a manifest) and tqdm.

For each prediction it records evaluate.py's postprocessed string and the score evaluate.py gives a
task made of that prediction alone (metric_fn([pred], [refs])); for each task, the score of all of
the task's predictions as evaluate.py computes it from a prediction file. Predictions: case and
Unicode case (final sigma, dotted I, sharp s), control characters, Unicode whitespace (the
\\x1c-\\x1f separators and U+0085 that str.strip() strips), empty and whitespace-only predictions,
several references, references that are substrings of each other or empty, the answer prefix
repeated by the model (no U+0000: a prediction is a C string in kvbench), seeded random partial
matches, and a task whose round(sum / n * 100, 2) differs from LongBench's round(100 * sum / n, 2).

It also writes tests/fixtures/ruler/templates.json, RULER's model templates (scripts/data/
template.py's Templates, read by evaluating that file), which kvbench's --ruler-template names.

Run (from the repo root):
  ~/.venv-oracle/bin/python scripts/oracle/ruler_score.py /path/to/RULER [tests/fixtures/ruler/score.json]
(for example a copy of github.com/NVIDIA/RULER; needs pyyaml)
"""
import ast
import json
import os
import random
import sys
import tempfile
import importlib.util

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_ruler(ruler):
    """evaluate.py's scoring functions, the metric of each synthetic task, and RULER's commit."""
    src_path = os.path.join(ruler, "scripts", "eval", "evaluate.py")
    tree = ast.parse(open(src_path, encoding="utf-8").read(), src_path)
    want = {"postprocess_pred", "get_pred_and_ref", "run_evaluation_per_task"}
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in want]
    assert {d.name for d in defs} == want, "evaluate.py no longer defines " + str(want)

    def read_manifest(path):  # nemo's manifest_utils.read_manifest: one JSON object per line
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    ns = {"re": __import__("re"), "read_manifest": read_manifest, "tqdm": lambda x: x}
    exec(compile(ast.Module(body=defs, type_ignores=[]), src_path, "exec"), ns)

    spec = importlib.util.spec_from_file_location(
        "ruler_eval_constants", os.path.join(ruler, "scripts", "eval", "synthetic", "constants.py"))
    const = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(const)
    with open(os.path.join(ruler, "scripts", "synthetic.yaml"), encoding="utf-8") as f:
        tasks = yaml.safe_load(f)
    for config in tasks.values():  # as evaluate.py's main() builds TASKS
        config.update(const.TASKS[config["task"]])
    head = os.path.join(ruler, ".git")
    commit = ""
    if os.path.isdir(head):
        import subprocess
        commit = subprocess.run(["git", "-C", ruler, "rev-parse", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
    return ns, tasks, commit


NIAH_PREFIX = " The special magic numbers for quizzical-hat mentioned in the provided text are"

# (task, prediction, references)
CASES = [
    ("niah_single_1", " 1234567.", ["1234567"]),
    ("niah_single_1", "", ["1234567"]),
    ("niah_single_1", "   \n\t ", ["1234567"]),
    ("niah_single_1", "123456", ["1234567"]),
    ("niah_single_1", "12345678", ["1234567"]),
    ("niah_single_1", NIAH_PREFIX + " 1234567" + NIAH_PREFIX, ["1234567"]),
    ("niah_single_1", NIAH_PREFIX + NIAH_PREFIX + ":", ["1234567"]),
    ("niah_single_1", "\x01\x02 1234567 \x1f\x1e", ["1234567"]),
    ("niah_single_1", "\x1c\x1d1234567\x85\u3000\u2028", ["1234567"]),
    ("niah_single_1", "1234\x0b567", ["1234567"]),
    ("niah_single_1", "1234\x7f567 \x7f", ["1234567"]),
    ("niah_single_1", "\u00a01234567\u00a0", ["1234567"]),
    ("niah_single_1", "１２３４５６７", ["1234567"]),
    ("niah_single_3", "The UUID is 8A3F1C2E-0D4B-4E5F-9A6B-7C8D9E0F1A2B.",
     ["8a3f1c2e-0d4b-4e5f-9a6b-7c8d9e0f1a2b"]),
    ("niah_single_3", "8a3f1c2e-0d4b-4e5f-9a6b-7c8d9e0f1a2", ["8a3f1c2e-0d4b-4e5f-9a6b-7c8d9e0f1a2b"]),
    ("niah_multivalue", "1111111, 2222222, and 3333333", ["1111111", "2222222", "3333333", "4444444"]),
    ("niah_multivalue", "11111112222222", ["1111111", "2222222", "3333333", "4444444"]),
    ("niah_multivalue", "4444444", ["4444444", "4444444", "1111111"]),
    ("niah_multivalue", "none", ["1111111", "2222222", "3333333"]),
    ("niah_multiquery", "ab", ["a", "b", "ab", "abc"]),
    ("niah_multiquery", "x", ["", "y"]),
    ("vt", " VAR ABCDE, VAR FGHIJ\nVAR klmno", ["ABCDE", "FGHIJ", "KLMNO", "PQRST", "UVWXY"]),
    ("vt", "\x03", ["ABCDE"]),
    ("cwe", "1. ΟΔΟΣ 2. STRASSE 3. İstanbul 4. ǅemal", ["οδος", "straße", "istanbul", "ǆemal"]),
    ("cwe", "σίσυφος ΣΊΣΥΦΟΣ", ["ΣΊΣΥΦΟΣ", "σίσυφοσ"]),
    ("cwe", "Ⅻ ﬁne ǈ", ["ⅻ", "ﬁne", "ǉ", "fine"]),
    ("fwe", " Answer: According to the coded text above, the three most frequently appeared "
            "words are: abc def ghi", ["abc", "def", "ghi"]),
    ("fwe", "ABC, DEF", ["abc", "def", "ghi"]),
    ("fwe", "\U0001F600 abc \U0001F600", ["abc", "\U0001F600", "jkl"]),
    ("qa_1", "Denver Broncos", ["Denver Broncos", "The Denver Broncos"]),
    ("qa_1", "the denver broncos won", ["Carolina Panthers", "Denver Broncos"]),
    ("qa_1", "Panthers", ["Carolina Panthers"]),
    ("qa_1", "", ["Carolina Panthers"]),
    ("qa_2", "Answer: Answer: yes", ["yes"]),
    ("qa_2", "Noël", ["NOËL", "no"]),
    ("qa_2", "\tno\r\n", ["NO"]),
]


def random_cases(seed=19):
    """Partial matches over many samples: per-sample terms k/m whose sum / n * 100 lands on
    every kind of rounding."""
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta"]
    out = []
    for task, n in (("niah_multikey_1", 7), ("niah_multikey_2", 33), ("niah_single_2", 11)):
        for _ in range(n):
            m = rng.randint(1, 7)
            refs = rng.sample(words, m)
            pred = " ".join(w.upper() if rng.random() < 0.3 else w
                            for w in refs if rng.random() < 0.6)
            out.append((task, pred, refs))
    return out


def rounding_case(task="niah_multikey_3", n=40, seed=5):
    """n samples whose string_match_all terms k/m give round(sum / n * 100, 2) (evaluate.py)
    != round(100 * sum / n, 2) (LongBench's eval.py): a scorer with the other formula fails."""
    rng = random.Random(seed)
    words = ["w%d" % i for i in range(7)]
    while True:
        km = [(rng.randint(0, m), m) for m in (rng.randint(1, 7) for _ in range(n))]
        s = sum(k / m for k, m in km)
        if round(s / n * 100, 2) != round(100 * s / n, 2):
            return [(task, " ".join(words[:k]) + " ", words[:m]) for k, m in km]


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: ruler_score.py RULER_DIR [OUT]")
    ruler = sys.argv[1]
    out_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "tests", "fixtures", "ruler",
                                                                  "score.json")
    ns, tasks, commit = load_ruler(ruler)
    cases = CASES + random_cases() + rounding_case()
    preds = []
    for task, pred, refs in cases:
        config = tasks[task]
        post = ns["postprocess_pred"](pred, config)
        preds.append({"task": task, "pred": pred, "outputs": refs, "post": post,
                      "score": config["metric_fn"]([post], [refs])})
    task_scores = {}
    with tempfile.TemporaryDirectory() as tmp:
        for task in dict.fromkeys(c[0] for c in cases):
            path = os.path.join(tmp, task + ".jsonl")
            with open(path, "w", encoding="utf-8") as f:
                for i, (t, pred, refs) in enumerate(cases):
                    if t == task:
                        f.write(json.dumps({"index": i, "input": "", "outputs": refs, "pred": pred,
                                            "others": {}}) + "\n")
            score, nulls, _, _ = ns["run_evaluation_per_task"](tasks[task], path)
            task_scores[task] = {"score": score, "nulls": nulls,
                                 "metric": tasks[task]["metric_fn"].__name__}
    doc = {"how": "scripts/oracle/ruler_score.py on NVIDIA/RULER " + (commit or "(no git)") +
                  " (Python %d.%d.%d)" % sys.version_info[:3],
           "predictions": preds, "tasks": task_scores}
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=True, indent=1)
        f.write("\n")
    print("wrote %s: %d predictions, %d tasks" % (out_path, len(preds), len(task_scores)))
    ns_t = {}
    with open(os.path.join(ruler, "scripts", "data", "template.py"), encoding="utf-8") as f:
        exec(compile(f.read(), "template.py", "exec"), ns_t)
    tpath = os.path.join(os.path.dirname(out_path), "templates.json")
    with open(tpath, "w", encoding="utf-8") as f:
        json.dump({"how": doc["how"].replace("ruler_score.py on", "ruler_score.py: template.py of"),
                   "templates": ns_t["Templates"]}, f, ensure_ascii=True, indent=1)
        f.write("\n")
    print("wrote %s: %d templates" % (tpath, len(ns_t["Templates"])))


if __name__ == "__main__":
    main()
