#!/usr/bin/env python3
"""Golden fixtures for kvbench's LongBench metrics (tests/fixtures/metrics/).

The oracle is LongBench v1's metrics.py + eval.py *behaviour*, re-implemented here on the exact
libraries LongBench pins: PyPI rouge==1.0.1, fuzzywuzzy==0.18.0 on difflib (python-Levenshtein
must NOT be importable), jieba 0.42.1, plus Python's str/re/collections and numpy for LongBench-E.
It scores (prediction, answers) pairs built from
  - real model outputs and real answers in ../shared/datasets/longbench-pred/<model>/ (4 models),
  - perturbations of both: case, punctuation, articles, extra sentences, truncation, numbers,
    whitespace and Unicode oddities, code lines with comments, classification label mixes,
    rouge's sentence splitting and recursion-limit edge, ...
and writes
  tests/fixtures/metrics/pairs.jsonl.gz    one JSON object per line (see README.md there)
  tests/fixtures/metrics/answers.jsonl.gz  the answer lists, referenced by index from pairs

Run (from the repo root):  nice ~/.venv-oracle/bin/python scripts/oracle/metric_fixtures.py
"""
import collections
import gzip
import importlib.util
import json
import os
import random
import re
import string
import sys

import jieba
import numpy as np
from fuzzywuzzy import fuzz
from rouge import Rouge

assert importlib.util.find_spec("Levenshtein") is None, "uninstall python-Levenshtein: LongBench runs fuzzywuzzy on difflib"
jieba.setLogLevel(60)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRED = os.path.join(ROOT, "..", "shared", "datasets", "longbench-pred")
OUT = os.path.join(ROOT, "tests", "fixtures", "metrics")
MODELS = ["llama2-7b-chat-4k", "llama3-8b-instruct", "llama2-7b", "qwen3-8b"]

# ---------------------------------------------------------------------------------------------
# The metric functions, behaving as metrics.py does (written for this oracle).
ASCII_PUNCT = set(string.punctuation)
CN_PUNCT = set(string.punctuation) | set(
    "！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏.")
ARTICLES = re.compile(r"\b(a|an|the)\b")


def norm_en(s):
    s = "".join(c for c in s.lower() if c not in ASCII_PUNCT)
    return " ".join(ARTICLES.sub(" ", s).split())


def norm_zh(s):
    return "".join("".join(c for c in s.lower() if c not in CN_PUNCT).split())


def f1(pred_toks, gt_toks):
    same = sum((collections.Counter(pred_toks) & collections.Counter(gt_toks)).values())
    if same == 0:
        return 0
    p = 1.0 * same / len(pred_toks)
    r = 1.0 * same / len(gt_toks)
    return (2 * p * r) / (p + r)


def qa_f1(pred, gt, **kw):
    return f1(norm_en(pred).split(), norm_en(gt).split())


def qa_f1_zh(pred, gt, **kw):
    a = [t for t in (norm_zh(x) for x in jieba.cut(pred, cut_all=False)) if t]
    b = [t for t in (norm_zh(x) for x in jieba.cut(gt, cut_all=False)) if t]
    return f1(a, b)


# The frame structure below matters: rouge's LCS rebuild is recursive, and a RecursionError is
# scored 0.0; the frames between eval.py's scorer and rouge are: rouge_fn -> Rouge.get_scores ...
def rouge_fn(pred, gt, **kw):
    try:
        sc = Rouge().get_scores([pred], [gt], avg=True)
    except Exception:
        return 0.0
    return sc["rouge-l"]["f"]


def rouge_zh_fn(pred, gt, **kw):
    return rouge_fn(" ".join(jieba.cut(pred, cut_all=False)), " ".join(jieba.cut(gt, cut_all=False)))


def classification(pred, gt, **kw):
    em = [c for c in kw["all_classes"] if c in pred]
    for t in em:  # mutating while iterating, as metrics.py does
        if t in gt and t != gt:
            em.remove(t)
    return (1.0 / len(em)) if gt in em else 0.0


def _share(pred, want):
    nums = re.findall(r"\d+", pred)
    return 0.0 if not nums else float(sum(1 for n in nums if str(n) == str(want)) / len(nums))


def retrieval(pred, gt, **kw):
    return _share(pred, re.findall(r"Paragraph (\d+)", gt)[0])


def retrieval_zh(pred, gt, **kw):
    return _share(pred, re.findall(r"段落(\d+)", gt)[0])


def count(pred, gt, **kw):
    return _share(pred, gt)


def code_sim(pred, gt, **kw):
    line = ""
    for l in pred.lstrip("\n").split("\n"):
        if "`" not in l and "#" not in l and "//" not in l:
            line = l
            break
    return fuzz.ratio(line, gt) / 100


METRIC = {
    "narrativeqa": qa_f1, "qasper": qa_f1, "multifieldqa_en": qa_f1, "multifieldqa_zh": qa_f1_zh,
    "hotpotqa": qa_f1, "2wikimqa": qa_f1, "musique": qa_f1, "dureader": rouge_zh_fn,
    "gov_report": rouge_fn, "qmsum": rouge_fn, "multi_news": rouge_fn, "vcsum": rouge_zh_fn,
    "trec": classification, "triviaqa": qa_f1, "samsum": rouge_fn, "lsht": classification,
    "passage_retrieval_en": retrieval, "passage_count": count, "passage_retrieval_zh": retrieval_zh,
    "lcc": code_sim, "repobench-p": code_sim,
}
FIRST_LINE = {"trec", "triviaqa", "samsum", "lsht"}
ZH = {"multifieldqa_zh", "dureader", "vcsum", "lsht", "passage_retrieval_zh"}
SEGMENTED = {"multifieldqa_zh", "dureader", "vcsum"}


def frame_depth():
    f, n = sys._getframe(1), 0
    while f is not None:
        n += 1
        f = f.f_back
    return n


def record_scores(task, pred, answers, classes):
    """eval.py's scorer body for one record; returns (record score, per-answer metric values).
    The recursion limit is shifted so that this frame has exactly the budget eval.py's scorer
    frame (depth 2: <module>, scorer) has under the default limit of 1000."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000 + frame_depth() - 2)
    try:
        if task in FIRST_LINE:
            pred = pred.lstrip("\n").split("\n")[0]
        score, each = 0.0, []
        for gt in answers:
            s = METRIC[task](pred, gt, all_classes=classes)
            each.append(s)
            score = max(score, s)
        return score, each
    finally:
        sys.setrecursionlimit(old)


def task_score(scores):
    return round(100 * sum(scores) / len(scores), 2)


def e_scores(scores, lengths):
    b = {"0-4k": [], "4-8k": [], "8k+": []}
    for s, l in zip(scores, lengths):
        b["0-4k" if l < 4000 else "4-8k" if l < 8000 else "8k+"].append(s)
    with np.errstate(all="ignore"):
        import warnings
        warnings.simplefilter("ignore")
        out = {k: round(100 * np.mean(v), 2) for k, v in b.items()}
    # eval.py's json.dump writes NaN for an empty bucket; here null, which every JSON parser reads
    return {k: (None if v != v else float(v)) for k, v in out.items()}


# ---------------------------------------------------------------------------------------------
# Pair generation
R = random.Random(20261123)


def load(model, task):
    rows = []
    with open(os.path.join(PRED, model, task + ".jsonl"), encoding="utf-8") as f:
        for line in f:
            rows.append(json.loads(line))
    return rows


WS = [" ", "  ", "\t", "\n", "\u00a0", "\u3000", "\u2003", "\x85", "\x1c", "\r\n", "\u2028"]
UNI = ["İstanbul", "ΣΑΣ ΟΔΥΣΣΕΥΣ", "ǅemal", "ＡＢＣ Ｔｈｅ", "ﬁnal", "ẞ", "K\u212a", "Ω\u2126",
       "e\u0301the", "naïve café", "the\u0301 cat", "Σ.", "ΑΣ\u0345", "x_the_y", "١٢٣", "１２"]


def words(s):
    return s.split(" ")


def p_case(s):
    return R.choice([str.upper, str.lower, str.title, str.swapcase, str.capitalize])(s)


def p_punct(s):
    w = words(s)
    out = []
    for x in w:
        r = R.random()
        if r < 0.2:
            x = x + R.choice(string.punctuation)
        elif r < 0.3:
            x = R.choice(string.punctuation) + x
        elif r < 0.35 and len(x) > 2:
            k = R.randrange(1, len(x))
            x = x[:k] + R.choice("-_'.,/") + x[k:]
        out.append(x)
    s2 = " ".join(out)
    if R.random() < 0.3:
        s2 = "".join(c for c in s2 if c not in ASCII_PUNCT)
    return s2


def p_articles(s):
    w = words(s)
    out = []
    for x in w:
        if R.random() < 0.3:
            out.append(R.choice(["the", "a", "an", "The", "A", "An", "THE", "theater", "another",
                                 "a-", "the_", "an'", "(the)", "the.", "ana", "A.", "aN"]))
        out.append(x)
    return " ".join(out)


def p_extra(s, pool):
    o = R.choice(pool)
    r = R.random()
    if r < 0.3:
        return s + ". " + o
    if r < 0.5:
        return o + " " + s
    if r < 0.7:
        return "The answer is: " + s + "\n\nExplanation: " + o
    return s + R.choice(WS) + o


def p_trunc(s):
    if not s:
        return s
    k = R.randrange(0, len(s) + 1)
    return s[:k] if R.random() < 0.7 else s[k:]


def p_numbers(s):
    r = R.random()
    if r < 0.3:
        return re.sub(r"\d", lambda m: str(R.randrange(10)), s)
    if r < 0.5:
        return s + " " + " ".join(str(R.randrange(0, 40)) for _ in range(R.randrange(1, 4)))
    if r < 0.6:
        return s.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    if r < 0.7:
        return s.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    if r < 0.8:
        return "0" + s
    return s + " " + str(R.randrange(0, 30)) + ".5"


def p_ws(s):
    w = words(s)
    return R.choice(WS).join(w) if R.random() < 0.5 else R.choice(["\n\n", " ", "\n", ""]) + s + R.choice(["", "\n", " \n\n"])


def p_unicode(s):
    w = words(s)
    k = R.randrange(0, len(w) + 1)
    return " ".join(w[:k] + [R.choice(UNI)] + w[k:])


def perturb(s, pool, n=1):
    fns = [p_case, p_punct, p_articles, lambda x: p_extra(x, pool), p_trunc, p_numbers, p_ws, p_unicode]
    for _ in range(n):
        s = R.choice(fns)(s)
    return s


def p_code(pred, gt):
    """Code-completion style predictions around the gold line."""
    r = R.random()
    line = gt
    if r < 0.15:
        return gt
    if r < 0.3:
        return "\n" * R.randrange(1, 3) + R.choice(["# TODO", "// next", "```python", "```"]) + "\n" + gt + "\n" + pred
    if r < 0.45:  # edit a few characters
        s = list(gt)
        for _ in range(R.randrange(1, 4)):
            if s:
                i = R.randrange(len(s))
                s[i] = R.choice("abcdefxyz(){}[];=+ \t_0123456789")
        return "".join(s)
    if r < 0.55:
        return line.strip() if R.random() < 0.5 else "    " + line
    if r < 0.65:  # a long line: autojunk territory on both sides
        pad = R.choice(["=", " ", "a", "0", "self."]) * R.randrange(40, 120)
        return (gt + pad + gt)[: R.randrange(150, 400)]
    if r < 0.75:
        return gt + " # comment" + "\n" + gt
    if r < 0.85:
        return "x // y\n" + gt[::-1]
    return pred.split("\n")[0] + R.choice(["", "\n", "`", "#", "//", "/"]) + gt


def long_code_pair():
    """Long strings with repeated characters so that difflib's popular-element rule matters."""
    alpha = R.choice(["ab", "abc", "a b(", "xyz_= ", "0123456789"])
    n = R.randrange(150, 600)
    gt = "".join(R.choice(alpha) for _ in range(n))
    p = list(gt)
    for _ in range(R.randrange(1, 30)):
        i = R.randrange(len(p))
        p[i] = R.choice(alpha + "Q")
    if R.random() < 0.5:
        p = p[R.randrange(0, 50):]
    return "".join(p), gt


def rouge_edge_cases():
    out = []
    for pred, gt in [("", "abc"), ("abc", ""), ("", ""), ("...", "a. b"), (" . . ", "a"),
                     ("The cat sat. It was happy.", "the cat sat happily"),
                     ("the cat sat on the mat", "the cat is on the mat"), ("a b a b", "a b"),
                     ("3.14 is pi", "pi is 3.14"), ("a.b.c", "c.b.a"), ("   ", "x"), ("x", "   "),
                     ("Word word WORD", "word"), ("e.g. this", "e.g. that"), (".", "."),
                     ("a  b\tc\nd", "a b c d"), ("x . . y", "y . x")]:
        out.append((pred, gt))
    # around the recursion limit: ref [w r1..ra], hyp [w h1..hb] need a + b + 2 nested calls
    for total in list(range(986, 997)) + [1200, 1900]:
        a = R.randrange(1, 50)
        b = total - 2 - a
        ref = " ".join(["w"] + ["r%d" % i for i in range(a)])
        hyp = " ".join(["w"] + ["h%d" % i for i in range(b)])
        if R.random() < 0.5:
            ref, hyp = ref + ". extra words here", hyp + ". and more"
        out.append((hyp, ref))
        out.append((ref, hyp))
    return out


def classification_cases(classes, answers_pool):
    out = []
    for _ in range(260):
        k = R.randrange(0, 4)
        picks = R.sample(classes, k)
        pred = R.choice([", ", " or ", "\n", " "]).join(picks)
        if R.random() < 0.3:
            pred = perturb(pred, answers_pool)
        gt = R.choice(picks) if picks and R.random() < 0.7 else R.choice(classes)
        out.append((pred, [gt]))
    return out


def main():
    pairs = []  # (group, task, pred, answers, classes_key, length)
    answers_index = {}
    answers_list = []
    classes_of = {}

    def aid(ans):
        key = json.dumps(ans, ensure_ascii=False)
        if key not in answers_index:
            answers_index[key] = len(answers_list)
            answers_list.append(ans)
        return answers_index[key]

    # how many real records per (model, task): long summaries are subsampled to keep it compact
    per_task = collections.defaultdict(lambda: 200)
    per_task.update({"gov_report": 25, "multi_news": 30, "qmsum": 40, "vcsum": 25, "dureader": 30,
                     "narrativeqa": 120, "qasper": 120, "multifieldqa_zh": 80,
                     "lcc": 120, "repobench-p": 120, "passage_count": 120,
                     "passage_retrieval_en": 120, "passage_retrieval_zh": 60, "lsht": 80,
                     "trec": 150, "samsum": 100})
    for model in MODELS:
        for task in METRIC:
            rows = load(model, task)
            classes_of[task] = rows[-1]["all_classes"]
            pool = [a for r in rows for a in r["answers"]]
            idx = sorted(R.sample(range(len(rows)), min(per_task[task], len(rows))))
            for i in idx:
                r = rows[i]
                pairs.append((f"real/{model}/{task}", task, r["pred"], r["answers"], r["length"]))
            if model != "llama3-8b-instruct":
                continue
            # perturbations (once, on one model's file, for every task)
            n_pert = {"gov_report": 15, "multi_news": 15, "qmsum": 30, "vcsum": 15, "dureader": 40,
                      "multifieldqa_zh": 400, "passage_retrieval_zh": 260}.get(task, 220)
            for _ in range(n_pert):
                r = rows[R.randrange(len(rows))]
                src = R.random()
                if task in ("lcc", "repobench-p"):
                    if R.random() < 0.15:
                        p, g = long_code_pair()
                        pairs.append((f"pert/{task}", task, p, [g], R.randrange(0, 12000)))
                        continue
                    pred = p_code(r["pred"], R.choice(r["answers"]))
                elif task in ("trec", "lsht"):
                    continue
                elif src < 0.6:
                    pred = perturb(R.choice(r["answers"]), pool, R.randrange(1, 4))
                else:
                    pred = perturb(r["pred"], pool, R.randrange(1, 3))
                pairs.append((f"pert/{task}", task, pred, r["answers"], R.randrange(0, 12000)))
            if task in ("trec", "lsht"):
                for pred, ans in classification_cases(classes_of[task], pool):
                    pairs.append((f"pert/{task}", task, pred, ans, R.randrange(0, 12000)))
            if task == "samsum":
                for pred, gt in rouge_edge_cases():
                    pairs.append(("edge/rouge", "gov_report", pred, [gt], R.randrange(0, 12000)))
            if task == "vcsum":  # rouge_zh sits one frame deeper: its recursion limit is one less
                for total in range(985, 996):
                    a = R.randrange(1, 40)
                    ref = " ".join(["w"] + ["r%d" % i for i in range(a)])
                    hyp = " ".join(["w"] + ["h%d" % i for i in range(total - 2 - a)])
                    pairs.append(("edge/rouge_zh", "dureader", hyp, [ref], R.randrange(0, 12000)))
                    pairs.append(("edge/rouge_zh", "dureader", "会议" + ref, [hyp], R.randrange(0, 12000)))
    # hand-written edge cases for the other metrics (the spec's golden vectors among them)
    edges = [
        ("qasper", "The cat sat", ["a cat sat down"]), ("qasper", "Paris, France.", ["Paris"]),
        ("qasper", "the the", ["The"]), ("qasper", "", ["x"]), ("qasper", "x", [""]),
        ("qasper", "", [""]), ("qasper", "An apple a day", ["apple day", "an apple"]),
        ("qasper", "ΣΑΣ.", ["σας"]), ("qasper", "İ", ["i̇"]), ("qasper", "a\u00a0b", ["a b"]),
        ("qasper", "yes", []), ("triviaqa", "\n\nParis\nLondon", ["Paris"]),
        ("triviaqa", "\n \nParis", ["Paris"]),
        ("lcc", "```python\n    return a + b\n", ["    return a+b"]),
        ("lcc", "\n\nfoo(bar)", ["foo(baz)"]), ("lcc", "# comment\nx = 1", ["x = 1"]),
        ("lcc", "", [""]), ("lcc", "#", [""]), ("lcc", "a//b\nc", ["c"]), ("lcc", "ab", ["ba"]),
        ("passage_count", "There are 12 unique paragraphs out of 30", ["12"]),
        ("passage_count", "１２ and 12", ["12"]), ("passage_count", "none", ["3"]),
        ("passage_retrieval_en", "Paragraph 5 or Paragraph 15", ["Paragraph 5"]),
        ("passage_retrieval_en", "Paragraph 05", ["Paragraph 5"]),
        ("passage_retrieval_en", "Paragraph 5", ["Paragraph 5", "Paragraph 6"]),
        ("passage_retrieval_zh", "段落5，段落15", ["段落5"]),
        ("passage_retrieval_zh", "第 ５ 段", ["段落5"]),
    ]
    for task, pred, ans in edges:
        pairs.append(("edge/" + task, task, pred, ans, R.randrange(0, 12000)))
    trec = classes_of["trec"]
    for pred, gt in [("Entity or Description", "Entity"), ("Abbreviation", "Abbreviation"),
                     ("Other entity", "Other entity"), ("entity", "Other entity"),
                     ("Other location and City and Other entity", "City"), ("", "City")]:
        pairs.append(("edge/trec", "trec", pred, [gt], 100))

    # score, write
    lines = []
    groups = collections.OrderedDict()
    for group, task, pred, answers, length in pairs:
        classes = classes_of[task] if task in ("trec", "lsht") else None
        score, each = record_scores(task, pred, answers, classes)
        rec = {"g": group, "t": task, "p": pred, "a": aid(answers), "s": score, "e": each, "l": length}
        if task in SEGMENTED:  # recorded jieba segmentation (code-point lengths) of each text
            rec["seg"] = [[len(t) for t in jieba.cut(x, cut_all=False)] for x in [pred] + answers]
        lines.append(rec)
        groups.setdefault(group, []).append((score, length, task))
    os.makedirs(OUT, exist_ok=True)
    with gzip.open(os.path.join(OUT, "answers.jsonl.gz"), "wt", encoding="utf-8", compresslevel=9) as f:
        for a in answers_list:
            f.write(json.dumps(a, ensure_ascii=False) + "\n")
    with gzip.open(os.path.join(OUT, "pairs.jsonl.gz"), "wt", encoding="utf-8", compresslevel=9) as f:
        for rec in lines:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        for g, v in groups.items():
            sc = [x[0] for x in v]
            f.write(json.dumps({"group": g, "task": v[0][2], "n": len(v), "score": task_score(sc),
                                "e": e_scores(sc, [x[1] for x in v])}, ensure_ascii=False) + "\n")
    with open(os.path.join(OUT, "classes.json"), "w", encoding="utf-8") as f:
        json.dump({"trec": classes_of["trec"], "lsht": classes_of["lsht"]}, f, ensure_ascii=False)
    n_zh = sum(1 for r in lines if r["t"] in ZH)
    print(f"{len(lines)} pairs ({n_zh} Chinese), {len(groups)} groups, {len(answers_list)} answer lists")


if __name__ == "__main__":
    main()
