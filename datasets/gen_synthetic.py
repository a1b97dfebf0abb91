#!/usr/bin/env python3
"""Small synthetic LongBench records (passage retrieval and passage counting), deterministic.

LongBench's own passage_retrieval_en / passage_count are synthetic too: Wikipedia paragraphs with
an abstract to locate, or with duplicates to count. These records use the same schema
(input, context, answers, length, dataset, language, all_classes, _id) with made-up paragraphs, so
tests and CI never depend on outside data. Python standard library only; the generator is a fixed
64-bit LCG, so the output is byte-identical on every machine and Python version.

  datasets/gen_synthetic.py --out DIR [--n 8] [--paragraphs 5] [--words 30] [--seed 1]
writes DIR/passage_retrieval_en.jsonl and DIR/passage_count.jsonl.
"""
import argparse
import json
import os

WORDS = ("river mountain garden window teacher market engine harbor letter winter station "
         "library forest bridge candle doctor island museum village orchard signal canvas "
         "thunder meadow lantern pocket silver copper marble violin rocket painter tunnel "
         "castle desert glacier falcon compass ladder mirror quartz saddle temple anchor "
         "blanket cabinet dolphin feather harvest jacket kettle lemon magnet needle").split()


class Lcg:
    """Knuth's MMIX LCG; high bits only."""

    def __init__(self, seed):
        self.s = (seed * 6364136223846793005 + 1442695040888963407) % 2**64

    def below(self, n):
        self.s = (self.s * 6364136223846793005 + 1442695040888963407) % 2**64
        return (self.s >> 33) % n


def paragraph(rng, n_words):
    ws = [WORDS[rng.below(len(WORDS))] for _ in range(n_words)]
    out, i = [], 0
    while i < len(ws):  # sentences of 6..10 words
        k = 6 + rng.below(5)
        out.append(" ".join(ws[i:i + k]).capitalize() + ".")
        i += k
    return " ".join(out)


def n_words(*texts):
    return sum(len(t.split()) for t in texts)


def retrieval(rng, idx, n_par, n_w):
    pars = [paragraph(rng, n_w) for _ in range(n_par)]
    k = rng.below(n_par)
    context = "\n\n".join("Paragraph %d: %s" % (i + 1, p) for i, p in enumerate(pars))
    # the "abstract": the chosen paragraph's first two sentences
    abstract = ". ".join(pars[k].split(". ")[:2]).rstrip(".") + "."
    return {"input": abstract, "context": context, "answers": ["Paragraph %d" % (k + 1)],
            "length": n_words(context, abstract), "dataset": "passage_retrieval_en",
            "language": "en", "all_classes": None, "_id": "synth-pr-%04d" % idx}


def count(rng, idx, n_par, n_w):
    unique = 1 + rng.below(n_par)
    base = [paragraph(rng, n_w) for _ in range(unique)]
    order = list(range(unique)) + [rng.below(unique) for _ in range(n_par - unique)]
    for i in range(len(order) - 1, 0, -1):  # Fisher-Yates with the LCG
        j = rng.below(i + 1)
        order[i], order[j] = order[j], order[i]
    context = "\n\n".join("Paragraph %d: %s" % (i + 1, base[o]) for i, o in enumerate(order))
    return {"input": "", "context": context, "answers": [str(unique)],
            "length": n_words(context), "dataset": "passage_count", "language": "en",
            "all_classes": None, "_id": "synth-pc-%04d" % idx}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--paragraphs", type=int, default=5)
    ap.add_argument("--words", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for name, fn, salt in (("passage_retrieval_en", retrieval, 0), ("passage_count", count, 1)):
        rng = Lcg(a.seed * 2 + salt)
        with open(os.path.join(a.out, name + ".jsonl"), "w", encoding="utf-8") as f:
            for i in range(a.n):
                f.write(json.dumps(fn(rng, i, a.paragraphs, a.words), ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
