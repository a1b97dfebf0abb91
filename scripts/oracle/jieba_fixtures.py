#!/usr/bin/env python3
"""Golden segmentations for tests/unit/test_jieba.c, made with Python jieba 0.42.1.

    ~/.venv-oracle/bin/python scripts/oracle/jieba_fixtures.py [--datasets ../shared/datasets]

Writes under tests/fixtures/jieba/:
  longbench_expected.bin.gz  expected tokens of every Chinese text of the LongBench records in
                             ../shared/datasets (third-party text, so only its sha256 and the token
                             lengths are stored; the test rebuilds the texts from the datasets)
  mixed_corpus.bin.gz        our own generated corpus of mixed Chinese/English/digits/punctuation/
                             whitespace texts (seeded, >= 1 MB)
  mixed_expected.bin.gz      expected tokens of each text of that corpus

Formats (all gzip):
  *_expected: b"kvbench-jieba-expected v1\\n", then per text: sha256 (32 raw bytes) of its UTF-8,
              varint token count, varint UTF-8 byte length of each token.
  corpus:     b"kvbench-jieba-corpus v1\\n", then per text: varint byte length, UTF-8 bytes.
Varints are LEB128 (7 bits a byte, low first).

Texts (the test enumerates the same ones): longbench-sample/{multifieldqa_zh,
passage_retrieval_zh}.jsonl fields context, input, answers[]; longbench-pred/*/{multifieldqa_zh,
dureader,vcsum,lsht,passage_retrieval_zh}.jsonl fields pred, answers[], all_classes[]. Each
distinct text once, in order of first appearance.
"""
import argparse
import glob
import gzip
import hashlib
import json
import logging
import os
import random
import sys

import jieba

ZH_TASKS = ["multifieldqa_zh", "dureader", "vcsum", "lsht", "passage_retrieval_zh"]
SAMPLE_TASKS = ["multifieldqa_zh", "passage_retrieval_zh"]


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def dataset_texts(root):
    texts = []
    for t in SAMPLE_TASKS:
        with open(os.path.join(root, "longbench-sample", t + ".jsonl"), encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                texts += [r["context"], r["input"]] + list(r["answers"])
    for d in sorted(glob.glob(os.path.join(root, "longbench-pred", "*", ""))):
        for t in ZH_TASKS:
            p = os.path.join(d, t + ".jsonl")
            if not os.path.exists(p):
                continue
            with open(p, encoding="utf-8") as f:
                for line in f:
                    r = json.loads(line)
                    texts += [r["pred"]] + list(r["answers"]) + list(r.get("all_classes") or [])
    seen, out = set(), []
    for x in texts:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


# ---- the generated mixed corpus ---------------------------------------------------------------
WHITESPACE = [" ", " ", " ", "\t", "\n", "\n", "\r\n", "\r", "\u3000", "\xa0", "\u2028", "\x0b",
              "\x0c", "\x1c", "\x85", "\u2003", "  ", "\n\n", "\r\n\r\n", " \r\n"]
ASCII_PUNCT = list("!\"$'()*,/:;<=>?@[\\]^`{|}~")
HAN_DEFAULT_SYMBOLS = list("+#&._%-")
CJK_PUNCT = list("，。！？、；：“”‘’（）《》【】…—·「」『』〔〕～￥")
FULLWIDTH = [chr(c) for c in range(0xFF10, 0xFF1A)] + [chr(c) for c in range(0xFF21, 0xFF3B)]
EXOTIC = ["\U0001F600", "\U0001F44D", "é", "ü", "ß", "Ω", "π", "α", "й", "ا", "\u0301",
          "\u200b", "\ufeff", "\x00", "\x7f", "°", "±", "×", "÷", "€", "£", "①", "Ⅳ", "㎡",
          "\u3400", "\u4dbf", "\u9fd6", "\u9fea", "\u9fff", "\U00020000", "\U0002A6D6",
          "\u3007", "\u4dc0", "ｶ", "あ", "カ", "한", "\ue000"]


def gen_corpus(words, min_bytes, seed=20240521):
    rng = random.Random(seed)
    # words with a positive frequency, the more frequent more likely (a crude Zipf)
    common = [w for w, f in words if f >= 50]
    rare = [w for w, f in words if f < 50]

    def han_word():
        r = rng.random()
        if r < 0.70:
            return rng.choice(common)
        if r < 0.85:
            return rng.choice(rare)
        # characters the dictionary route leaves single: HMM material, some absent from the
        # emission table (MIN_FLOAT ties)
        return "".join(chr(rng.randint(0x4E00, 0x9FD5)) for _ in range(rng.randint(1, 6)))

    def latin_word():
        n = rng.randint(1, 12)
        s = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
                    for _ in range(n))
        return rng.choice([s, s.lower(), s.capitalize(), s.upper()])

    def number():
        r = rng.random()
        i = str(rng.randint(0, 10 ** rng.randint(1, 9)))
        if r < 0.3:
            return i
        if r < 0.5:
            return i + "." + str(rng.randint(0, 9999))
        if r < 0.6:
            return i + "%"
        if r < 0.7:
            return i + "." + str(rng.randint(0, 99)) + "%"
        if r < 0.8:
            return ".".join(str(rng.randint(0, 20)) for _ in range(rng.randint(2, 4)))
        if r < 0.9:
            return i + rng.choice(["-", "_", "+", "&", "#", "%%", "..", ".a", "a1"]) + \
                str(rng.randint(0, 99))
        return "0" * rng.randint(1, 3) + i

    def piece(style):
        r = rng.random()
        if style == "zh":
            table = [(0.80, han_word), (0.86, lambda: rng.choice(CJK_PUNCT)),
                     (0.90, latin_word), (0.94, number), (0.96, lambda: rng.choice(WHITESPACE)),
                     (0.98, lambda: rng.choice(HAN_DEFAULT_SYMBOLS)),
                     (0.99, lambda: rng.choice(ASCII_PUNCT + FULLWIDTH)),
                     (1.01, lambda: rng.choice(EXOTIC))]
        elif style == "en":
            table = [(0.45, latin_word), (0.60, lambda: " "), (0.70, number),
                     (0.80, han_word), (0.86, lambda: rng.choice(ASCII_PUNCT)),
                     (0.92, lambda: rng.choice(HAN_DEFAULT_SYMBOLS)),
                     (0.96, lambda: rng.choice(WHITESPACE)), (1.01, lambda: rng.choice(EXOTIC))]
        else:  # "soup": everything, glued
            table = [(0.25, han_word), (0.40, latin_word), (0.55, number),
                     (0.65, lambda: rng.choice(HAN_DEFAULT_SYMBOLS)),
                     (0.75, lambda: rng.choice(CJK_PUNCT + ASCII_PUNCT)),
                     (0.85, lambda: rng.choice(WHITESPACE)),
                     (0.92, lambda: rng.choice(FULLWIDTH)), (1.01, lambda: rng.choice(EXOTIC))]
        for p, f in table:
            if r < p:
                return f()

    texts, total = [], 0
    while total < min_bytes:
        style = rng.choice(["zh", "zh", "zh", "en", "soup"])
        n = rng.choice([1, 2, 3, 5, 10, 30, 100, 300, 1000])
        n = rng.randint(1, n)
        if rng.random() < 0.05:
            # a long run of unknown characters: a long Viterbi
            t = "".join(chr(rng.randint(0x4E00, 0x9FD5)) for _ in range(rng.randint(50, 400)))
        else:
            t = "".join(piece(style) for _ in range(n))
        texts.append(t)
        total += len(t.encode("utf-8"))
    # edge cases, always present
    texts += ["", " ", "\r\n", "\r\r\n\n", "中", "a", "1.5", "3.14%", "C++", "x" * 5000,
              "的" * 3000, "\u4e00" * 200, "\u9fd5\u9fd6\u4e00", "１２３", "A.B.C.", "..%%--__",
              "iPhone12手机", "H5N1病毒", "3.5亿元", "c#和C#", "AT&T公司", "我爱北京天安门"]
    return texts


def segment(text):
    toks = list(jieba.cut(text, cut_all=False, HMM=True))
    if "".join(toks) != text:
        raise SystemExit("jieba tokens do not concatenate to the text: %r" % text[:80])
    return [len(t.encode("utf-8")) for t in toks]


def write_expected(path, texts):
    body = bytearray(b"kvbench-jieba-expected v1\n")
    ntok = 0
    for t in texts:
        lens = segment(t)
        ntok += len(lens)
        body += hashlib.sha256(t.encode("utf-8")).digest()
        body += varint(len(lens))
        for n in lens:
            body += varint(n)
    with gzip.GzipFile(path, "wb", compresslevel=9, mtime=0) as f:
        f.write(bytes(body))
    return ntok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    ap.add_argument("--datasets", default=os.path.join(repo, "..", "shared", "datasets"))
    ap.add_argument("--out", default=os.path.join(repo, "tests", "fixtures", "jieba"))
    ap.add_argument("--mixed-bytes", type=int, default=1_200_000)
    a = ap.parse_args()
    jieba.setLogLevel(logging.WARNING)
    assert jieba.__version__ == "0.42.1", jieba.__version__
    os.makedirs(a.out, exist_ok=True)

    texts = dataset_texts(a.datasets)
    n = write_expected(os.path.join(a.out, "longbench_expected.bin.gz"), texts)
    print("longbench: %d texts, %d bytes, %d tokens" %
          (len(texts), sum(len(t.encode()) for t in texts), n))

    dict_path = os.path.join(os.path.dirname(jieba.__file__), "dict.txt")
    words = []
    with open(dict_path, encoding="utf-8") as f:
        for line in f:
            w, fr = line.split(" ")[:2]
            words.append((w, int(fr)))
    mixed = gen_corpus(words, a.mixed_bytes)
    body = bytearray(b"kvbench-jieba-corpus v1\n")
    for t in mixed:
        b = t.encode("utf-8")
        body += varint(len(b)) + b
    with gzip.GzipFile(os.path.join(a.out, "mixed_corpus.bin.gz"), "wb", compresslevel=9,
                       mtime=0) as f:
        f.write(bytes(body))
    n = write_expected(os.path.join(a.out, "mixed_expected.bin.gz"), mixed)
    print("mixed: %d texts, %d bytes, %d tokens" %
          (len(mixed), sum(len(t.encode()) for t in mixed), n))


if __name__ == "__main__":
    sys.exit(main())
