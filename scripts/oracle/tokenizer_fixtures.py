#!/usr/bin/env python3
"""Golden token ids for lib/tokenizer, from Hugging Face tokenizers/transformers.

Run from the repository root with the oracle venv:
    ~/.venv-oracle/bin/python scripts/oracle/tokenizer_fixtures.py

Corpus (>= 2 MB, rebuilt by the C test from the same recipe): the LongBench records in
../shared/datasets/longbench-sample (Chinese), predictions and answers (English, code) in
../shared/datasets/longbench-pred, the Paul Graham essays, and synthetic text written here
(source code, whitespace runs, CRLF, tabs, digit runs, combining marks, emoji ZWJ sequences,
RTL, special-token strings, invalid UTF-8, seeded random mixtures). Third-party text is never
written to the fixtures: a piece is a recipe (file, line, field) plus its length and CRC-32.

Oracles:
  llama2-7b, llama3-8b, mistral-7b: tokenizers.Tokenizer.from_file(../shared/tokenizers/<m>/
      tokenizer.json); BOS as the issue defines it (the model's BOS, then the text's ids).
  smollm2-135m: transformers.AutoTokenizer.from_pretrained(models/smollm2-135m,
      gguf_file=...) (what transformers builds from the GGUF), checked against
      llama-cpp-python's tokenizer of the same file when that is installed.
Invalid UTF-8 is defined as bytes.decode('utf-8', errors='replace') before encoding.

Writes tests/fixtures/tokenizer/{corpus.json.gz, <tok>.ids.gz, <tok>.json, chat.json}.
"""
import gzip
import json
import os
import random
import sys
import zlib

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.path.join(ROOT, "..", "shared")
DATA = os.path.join(SHARED, "datasets")
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
GGUF_DIR = os.path.join(ROOT, "models", "smollm2-135m")
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


# ---- corpus recipes ------------------------------------------------------------------------
def resolve(rec):
    """Bytes of one piece, exactly as tests/unit/test_tokenizer_corpus.c rebuilds them."""
    if "text" in rec:
        return rec["text"].encode("utf-8")
    if "hex" in rec:
        return bytes.fromhex(rec["hex"])
    path = os.path.join(DATA, rec["file"])
    if "field" not in rec:
        with open(path, "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    a, b = rec["lines"]
    parts = []
    for ln in lines[a:b]:
        v = json.loads(ln)[rec["field"]]
        parts.append(rec["sep"].join(v) if isinstance(v, list) else v)
    return rec["sep"].join(parts).encode("utf-8")


def dataset_recipes():
    recs = []
    # Paul Graham essays: whole files (English prose)
    pg = os.path.join(DATA, "paul-graham-essays")
    for fn in sorted(os.listdir(pg)):
        if fn.endswith(".txt"):
            recs.append({"name": "pg/" + fn, "file": "paul-graham-essays/" + fn})
    # LongBench records (Chinese): context and input of the first records of both files
    for fn, n in (("multifieldqa_zh.jsonl", 40), ("passage_retrieval_zh.jsonl", 12)):
        for i in range(n):
            for field in ("input", "context"):
                recs.append({"name": f"lb/{fn}:{i}:{field}", "file": "longbench-sample/" + fn,
                             "lines": [i, i + 1], "field": field, "sep": "\n"})
    # LongBench predictions and answers: every task of two models (English, Chinese, code)
    for model in ("llama3-8b-instruct", "llama2-7b-chat-4k"):
        d = os.path.join(DATA, "longbench-pred", model)
        for fn in sorted(os.listdir(d)):
            if not fn.endswith(".jsonl"):
                continue
            recs.append({"name": f"pred/{model}/{fn}:pred", "file": f"longbench-pred/{model}/{fn}",
                         "lines": [0, 60], "field": "pred", "sep": "\n"})
            if model == "llama3-8b-instruct":
                recs.append({"name": f"pred/{fn}:answers", "file": f"longbench-pred/{model}/{fn}",
                             "lines": [0, 60], "field": "answers", "sep": "\n"})
    return recs


CODE_C = r'''#include <stdio.h>
/* comment with  two spaces	and a tab */
int main(int argc, char **argv) {
    for (int i = 0; i < argc; ++i) {
        printf("%d: %s\n", i, argv[i]);   // trailing comment
    }
	return 0x7fffffff >> 3 != 0 ? -1 : 1'000;
}
'''
CODE_PY = '''def f(x, *args, **kw):
    """Docstring: it's "quoted" and 'single'."""
    if x >= 10_000:
        return [y ** 2 for y in range(x) if y % 3 == 0]
    elif x is None:
        raise ValueError(f"bad {x!r}")
    return {'a': 1, "b": [1, 2, 3]}  # dict


class A(object):
        pass
'''
CODE_JSON = '{"key": [1, 2.5e-3, null, true], "nested": {"s": "a\\nb", "u": "\\u00e9"}}\n'
CODE_HTML = '<html><body class="x">&nbsp;&lt;tag&gt; <a href="https://example.com/?q=1&r=2">link</a></body></html>'
CODE_SH = 'for f in *.txt; do\n  grep -c "x" "$f" | awk \'{s+=$1} END {print s}\'\ndone 2>&1 >/dev/null\r\n'

SPECIALS = ["<s>", "</s>", "<unk>", "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>",
            "<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_5|>",
            "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<repo_name>", "<file_sep>",
            "[INST]", "[/INST]", "<<SYS>>", "<0x0A>", "▁", "Ġ"]


def synthetic_texts():
    t = []
    add = lambda name, s: t.append((name, s))
    add("empty", "")
    add("one space", " ")
    add("code/c", CODE_C)
    add("code/py", CODE_PY)
    add("code/json", CODE_JSON)
    add("code/html", CODE_HTML)
    add("code/sh", CODE_SH)
    for k in (1, 2, 3, 4, 7, 16, 33):
        add(f"ws/spaces{k}", "a" + " " * k + "b" + " " * k)
        add(f"ws/lead{k}", " " * k + "word")
        add(f"ws/tabs{k}", "\t" * k + "x\t" * k)
        add(f"ws/nl{k}", "line" + "\n" * k + "next" + "\n" * k)
        add(f"ws/crlf{k}", "a\r\n" * k + "\r\n" * k + "b \r\n c")
        add(f"ws/mixed{k}", " \t\n\r\n \u00a0\u3000 " * k + "end")
    add("ws/unicode", "a\u00a0b\u2003c\u3000d\u0085e\u2028f\u2029g\u200bh\ufeffi\u202fj\u205fk")
    add("ws/only", " \t \n ")
    for k in range(1, 41, 3):
        add(f"digits/{k}", "".join(str((i * 7 + 3) % 10) for i in range(k)) + " and " +
            " ".join(str(10 ** j) for j in range(k % 12)))
    add("digits/mixed", "3.14159 1,000,000 2024-01-01T12:00:00Z v1.2.3 0x1F 1e-9 ١٢٣٤ ١٢ ¼½¾ ²³ Ⅻ ①②③ ９８７")
    add("combining", "e\u0301 a\u0308\u0304 n\u0303o\u0302 Z\u0351\u0352\u0353a\u0489l\u0489g\u0489o "
        "\u1100\u1161\u11a8 क्षत्रिय ภาษาไทย Ελληνικά ё й")
    add("emoji", "👨‍👩‍👧‍👦 🏳️‍🌈 👍🏽 🇺🇸🇫🇷 1️⃣ #️⃣ 🧑🏿‍🚀 ❤️‍🔥 😀😃😄 🫠")
    add("rtl", "שלום עולם! مرحبا بالعالم. \u200fRLM\u200e LRM \u202bembedded\u202c mixed עברית and English 123")
    add("scripts", "Привет мир. Γειά σου κόσμε. こんにちは世界。안녕하세요 세계. 𠀀𠀁 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ﬁ ﬀ Å Ω")
    add("contractions", "DON'T I'M it'S we'RE they'LL she'D you'VE 'ſ 'S' 'T 'tis o'clock rock'n'roll")
    add("punct", "!!! ??? ... --- ___ *** ::: ;;; ``` ~~~ (((x))) [[y]] {{z}} «quotes» „low“ —dash– …")
    add("control", "a\x00b\x01c\x1fd\x7fe\x0bf\x0cg")
    for i, sp in enumerate(SPECIALS):
        add(f"special/{i}", f"x{sp}y {sp} {sp}{sp}\n{sp}\n text<{sp}>")
    add("special/chat3", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>")
    add("special/chatml", "<|im_start|>system\nYou are helpful<|im_end|>\n<|im_start|>user\nhi<|im_end|>")
    add("special/partial", "<|eot_id <|im_start <s <|begin_of_text| </s")
    add("long/a", "a" * 5000)
    add("long/eq", "==" * 1000)
    add("long/nl", "\n" * 300)
    add("long/sp", " " * 2000 + "x")
    add("long/cjk", "中文" * 1500)
    # seeded random mixtures of every class above
    rng = random.Random(1234)
    pool = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") * 4 +
            list(" \t\n\r.,;:!?'\"-_()[]{}<>/\\|@#$%^&*+=~`") * 2 +
            list("中文字符日本語한국어éüñçßøΩЖ") + ["\u0301", "\u0308", "\u200d", "\u00a0", "\u3000",
            "👍", "👨‍👩‍👧", "🇺🇸", "\r\n", "  ", "   ", "'s", "'LL", "١", "²", "ſ", "\u0085"] + SPECIALS)
    for i in range(400):
        n = rng.randint(1, 120)
        add(f"random/{i}", "".join(rng.choice(pool) for _ in range(n)))
    return t


INVALID = [
    b"\xff", b"abc\x80def", b"\xed\xa0\x80 surrogate", b"\xed\xbf\xbf", b"\xc0\xaf overlong",
    b"\xe0\x80\xaf", b"\xf4\x90\x80\x80 too big", b"\xf8\x88\x80\x80\x80", b"trunc \xe4\xb8",
    b"\xf0\x9f\x98 x", b"\xf0\x9f\x98\x80\xf0\x9f", b"\x80\x80\x80", b"\xc3", b"mix \xc3\xa9\xc3 \xe4\xb8\xad\xe4",
    b"<s>\xff</s>", b"<|eot_id|>\xfe<|im_start|>", b"\xef\xbf\xbd real replacement char",
    bytes(range(128, 256)), bytes(range(0, 256)),
]


def build_corpus():
    recs = dataset_recipes()
    for name, s in synthetic_texts():
        # NUL cannot live in a C string: such pieces are stored as hex
        key, val = ("hex", s.encode("utf-8").hex()) if "\0" in s else ("text", s)
        recs.append({"name": "syn/" + name, key: val})
    for i, b in enumerate(INVALID):
        recs.append({"name": f"invalid/{i}", "hex": b.hex()})
    rng = random.Random(99)
    for i in range(60):  # random bytes, biased towards UTF-8 lead/continuation bytes
        n = rng.randint(1, 64)
        b = bytes(rng.choice([rng.randint(0, 255), rng.randint(0x80, 0xBF), rng.randint(0xC0, 0xF7),
                              ord(rng.choice("ab <>|"))]) for _ in range(n))
        recs.append({"name": f"invalid/random{i}", "hex": b.hex()})
    pieces = []
    total = 0
    for r in recs:
        data = resolve(r)
        r["len"] = len(data)
        r["crc32"] = zlib.crc32(data)
        total += len(data)
        pieces.append((r, data))
    return pieces, total


# ---- ids encoding --------------------------------------------------------------------------
def varint(n, out):
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return


def write_ids(path, all_ids):
    out = bytearray()
    for ids in all_ids:
        varint(len(ids), out)
        for i in ids:
            varint(i, out)
    with gzip.GzipFile(path, "wb", compresslevel=9, mtime=0) as f:
        f.write(bytes(out))


def crc(s):
    b = s.encode("utf-8")
    return [len(b), zlib.crc32(b)]


# ---- oracles -------------------------------------------------------------------------------
def hf_file_oracle(name):
    from tokenizers import Tokenizer
    d = os.path.join(SHARED, "tokenizers", name)
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    cfg = json.load(open(os.path.join(d, "tokenizer_config.json")))
    bos = cfg["bos_token"]
    bos = bos["content"] if isinstance(bos, dict) else bos
    bos_id = tok.token_to_id(bos)

    def enc(text):
        ids = tok.encode(text, add_special_tokens=False).ids
        with_sp = tok.encode(text, add_special_tokens=True).ids
        # the post-processor adds BOS for llama2/mistral; llama3's does not (README)
        assert with_sp == ids or with_sp == [bos_id] + ids, name
        return ids

    dec = lambda ids, skip: tok.decode(ids, skip_special_tokens=skip)
    return enc, dec, bos_id


def gguf_oracle():
    """SmolLM2's tokenizer as transformers builds it from the GGUF, with one correction:
    transformers' GGUF converter gives it a plain ByteLevel pre-tokenizer, while the model's
    own tokenizer.json (and llama.cpp's "smollm" pre-tokenizer) first splits every digit
    (Digits(individual_digits=True)). The two differ on whitespace before digits ("  99" ->
    "ĠĠ" "9" "9" vs "Ġ" "Ġ9" ...); kvbench follows the model's tokenizer. The number of pieces
    on which uncorrected transformers agrees is recorded in smollm2-135m.json."""
    from tokenizers import Tokenizer, pre_tokenizers
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE)
    raw = tok.backend_tokenizer
    back = Tokenizer.from_str(raw.to_str())
    back.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    bos_id = tok.bos_token_id
    stats = {"transformers_agree": 0}

    def enc(text):
        ids = back.encode(text, add_special_tokens=False).ids
        plain = raw.encode(text, add_special_tokens=False).ids
        stats["transformers_agree"] += plain == ids
        assert tok(text).input_ids == [bos_id] + plain
        return ids

    dec = lambda ids, skip: back.decode(ids, skip_special_tokens=skip)
    return enc, dec, bos_id, tok, stats


def llama_cpp_check(pieces, ids_per_piece):
    try:
        from llama_cpp import Llama
    except ImportError:
        print("  llama-cpp-python not installed: second oracle for smollm2 skipped")
        return None
    m = Llama(os.path.join(GGUF_DIR, GGUF_FILE), vocab_only=True, verbose=False)
    same = 0
    diff = []
    for (r, data), ids in zip(pieces, ids_per_piece):
        text = data.decode("utf-8", errors="replace").encode("utf-8")
        got = m.tokenize(text, add_bos=False, special=True) if text else []
        if got == ids:
            same += 1
        else:
            diff.append(r["name"])
    print(f"  llama.cpp agrees on {same}/{len(pieces)} pieces; differs on {diff[:10]}")
    return {"agree": same, "total": len(pieces), "differ": diff}


# ---- small synthetic tokenizers: every pipeline stage the real files do not use -------------
def synth_tokenizers():
    """Tiny BPE tokenizers trained on the synthetic text above, each exercising stages the
    shipped tokenizers do not (Metaspace, Digits, Split behaviours, regex Replace, lstrip/rstrip/
    single_word/normalized added tokens, Metaspace and Strip decoders, no decoder at all).
    Writes synth/<name>.json (the tokenizer) and synth/<name>.expected.json."""
    from tokenizers import Tokenizer, AddedToken, Regex, decoders, models, normalizers
    from tokenizers import pre_tokenizers as pt, trainers
    corpus = [s for _, s in synthetic_texts()] * 3
    texts = [s for _, s in synthetic_texts() if len(s) < 300 and "\0" not in s][:150] + [
        "Hello  world <L> x  <L>y <R>  z word words sword word_ <N> 123456 7 <P>",
        " leading and trailing ", "a1b22c333d4444", "xxxyyxx aeiou queue", "",
        "▁already▁marked", "<L><R><N><P>", "   <R>   <L>   ", "<N>123<N>"]

    def specials():
        return [AddedToken("<L>", lstrip=True, special=True, normalized=False),
                AddedToken("<R>", rstrip=True, special=True, normalized=False),
                AddedToken("word", single_word=True, special=False, normalized=False),
                AddedToken("<N>", normalized=True, special=False),
                AddedToken("<P>", special=False, normalized=False)]

    made = {}
    # 1. sentencepiece-like with a Metaspace pre-tokenizer and decoder, byte fallback
    t = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    t.pre_tokenizer = pt.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    t.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace(
        replacement="▁", prepend_scheme="first", split=True)])
    tr = trainers.BpeTrainer(vocab_size=400, special_tokens=["<unk>"] +
                             [f"<0x{b:02X}>" for b in range(256)], show_progress=False)
    t.train_from_iterator(corpus, tr)
    t.add_special_tokens([x for x in specials() if x.special])
    t.add_tokens([x for x in specials() if not x.special])
    made["metaspace"] = t
    # 2. byte-level with a normalizer, Digits and every Split behaviour, Strip decoder
    t = Tokenizer(models.BPE())
    t.normalizer = normalizers.Sequence([normalizers.Replace(Regex("[0-9]{3}"), "#"),
                                         normalizers.Prepend("@"),
                                         normalizers.Replace(" ", "  ")])
    t.pre_tokenizer = pt.Sequence([
        pt.Split(" ", behavior="merged_with_next"),
        pt.Digits(individual_digits=False),
        pt.Split(Regex("[aeiou]"), behavior="merged_with_previous"),
        pt.Split(Regex("x+"), behavior="contiguous"),
        pt.Split(Regex("y"), behavior="removed"),
        pt.Split(Regex("[qu]"), behavior="isolated", invert=True),
        pt.ByteLevel(add_prefix_space=True, use_regex=False)])
    t.decoder = decoders.Sequence([decoders.ByteLevel(), decoders.Strip(" ", 1, 0)])
    tr = trainers.BpeTrainer(vocab_size=600, initial_alphabet=pt.ByteLevel.alphabet(),
                             show_progress=False)
    t.train_from_iterator(corpus, tr)
    t.add_special_tokens([x for x in specials() if x.special])
    t.add_tokens([x for x in specials() if not x.special])
    made["splits"] = t
    # 3. byte-level, GPT-2 regex, no decoder (HF joins tokens with spaces)
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pt.ByteLevel(add_prefix_space=False, use_regex=True)
    tr = trainers.BpeTrainer(vocab_size=500, initial_alphabet=pt.ByteLevel.alphabet(),
                             show_progress=False)
    t.train_from_iterator(corpus, tr)
    made["nodecoder"] = t

    d = os.path.join(OUT, "synth")
    os.makedirs(d, exist_ok=True)
    for name, t in made.items():
        t.save(os.path.join(d, f"{name}.json"))
        t = Tokenizer.from_file(os.path.join(d, f"{name}.json"))  # exactly what C reads
        exp = []
        for x in texts:
            ids = t.encode(x, add_special_tokens=False).ids
            exp.append({"text": x, "ids": ids, "dec": t.decode(ids, skip_special_tokens=False),
                        "dec_skip": t.decode(ids, skip_special_tokens=True)})
        with open(os.path.join(d, f"{name}.expected.json"), "w") as f:
            json.dump(exp, f, ensure_ascii=False, indent=0)
        print(f"synth/{name}: {len(texts)} texts")


def chat_fixtures(smol):
    """Chat templates (HF's own, for one user message) and transformers' decode."""
    from transformers import AutoTokenizer
    prompts = ["Hello", "  What is 2+2?\n\n", "多行\n文本 <s> [INST]"]
    chat = {"prompts": prompts, "llama3": [], "chatml": []}
    l3 = AutoTokenizer.from_pretrained(os.path.join(SHARED, "tokenizers", "llama3-8b"))
    for p in prompts:
        msgs = [{"role": "user", "content": p}]
        text = l3.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        ids = l3(text, add_special_tokens=False).input_ids
        chat["llama3"].append({"text": text, "ids": ids})
        text = smol.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        ids = smol(text, add_special_tokens=False).input_ids
        chat["chatml"].append({"text": text, "ids": ids})
    # transformers' decode (clean_up_tokenization_spaces from tokenizer_config.json)
    texts = [s for _, s in synthetic_texts() if len(s) < 300 and "\0" not in s][::3]
    texts += ["Hello , world . I 'm here , isn 't it ? Yes ! a 's b 've c 're d n't ' x ' ."]
    chat["transformers_decode"] = {}
    for name in ("llama2-7b", "llama3-8b", "mistral-7b"):
        t = AutoTokenizer.from_pretrained(os.path.join(SHARED, "tokenizers", name))
        rows = []
        for x in texts:
            ids = t(x, add_special_tokens=True).input_ids
            rows.append({"ids": ids, "text": t.decode(ids, skip_special_tokens=True)})
        chat["transformers_decode"][name] = rows
    with open(os.path.join(OUT, "chat.json"), "w") as f:
        json.dump(chat, f, ensure_ascii=False, indent=1)
    print("chat templates written")


def main():
    if sys.argv[1:] == ["--synth"]:
        synth_tokenizers()
        return
    if sys.argv[1:] == ["--chat"]:
        chat_fixtures(gguf_oracle()[3])
        return
    os.makedirs(OUT, exist_ok=True)
    synth_tokenizers()
    pieces, total = build_corpus()
    print(f"corpus: {len(pieces)} pieces, {total} bytes")
    assert total >= 2_000_000, "corpus must be at least 2 MB"
    with gzip.GzipFile(os.path.join(OUT, "corpus.json.gz"), "wb", compresslevel=9, mtime=0) as f:
        f.write(json.dumps({"version": 1, "pieces": [r for r, _ in pieces]},
                           ensure_ascii=False, indent=0).encode("utf-8"))

    oracles = {}
    for name in ("llama2-7b", "llama3-8b", "mistral-7b"):
        oracles[name] = hf_file_oracle(name)
    smol = None
    if os.path.exists(os.path.join(GGUF_DIR, GGUF_FILE)):
        enc, dec, bos, smol, smol_stats = gguf_oracle()
        oracles["smollm2-135m"] = (enc, dec, bos)
    else:
        print("models/smollm2-135m missing: run `make model` first", file=sys.stderr)
        sys.exit(2)

    for name, (enc, dec, bos) in oracles.items():
        all_ids, meta = [], []
        for r, data in pieces:
            text = data.decode("utf-8", errors="replace")
            ids = enc(text)
            d_all, d_skip = dec(ids, False), dec(ids, True)
            all_ids.append(ids)
            meta.append({"roundtrip": d_all == text, "dec": crc(d_all), "dec_skip": crc(d_skip)})
        write_ids(os.path.join(OUT, f"{name}.ids.gz"), all_ids)
        info = {"tokenizer": name, "bos": bos, "n_tokens": sum(map(len, all_ids)),
                "roundtrip": sum(m["roundtrip"] for m in meta), "pieces": meta}
        if name == "smollm2-135m":
            info["llama_cpp"] = llama_cpp_check(pieces, all_ids)
            info["transformers_uncorrected_agree"] = smol_stats["transformers_agree"]
            print(f"  uncorrected transformers agrees on {smol_stats['transformers_agree']} pieces")
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump(info, f, separators=(",", ":"))
        print(f"{name}: {info['n_tokens']} tokens, decode(encode(x)) == x on "
              f"{info['roundtrip']}/{len(pieces)} pieces")

    chat_fixtures(smol)


if __name__ == "__main__":
    main()
