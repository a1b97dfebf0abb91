#!/usr/bin/env python3
"""RULER's own generator on kvbench's data, for lib/ruler's generator test.

    ~/.venv-oracle/bin/python scripts/oracle/ruler_gen.py RULER_CHECKOUT [--lengths 1024,4096]
        [--samples 3] [--tasks niah_single_1,...] [--out tests/fixtures/ruler/gen.json]

RULER_CHECKOUT is a checkout of NVIDIA/RULER that the user provides (this script neither fetches
nor builds it). Its scripts/ is copied to a temporary directory, unmodified, and given what its
download scripts would have put beside it:

  - synthetic/json/PaulGrahamEssays.json built from ../shared/datasets/paul-graham-essays/*.txt
    exactly as json/download_paulgraham_essay.py builds it (the sorted files read in text mode
    and concatenated; the essays it scrapes from paulgraham.com are not available here);
  - synthetic/json/squad.json and hotpotqa.json: small synthetic files in SQuAD v2.0's and
    HotpotQA's formats, written here (made-up words, nothing third-party) and also into the
    fixture directory for the C test;
  - the tokenizer: SmolLM2's, as transformers builds it from the GGUF (`make model`), saved as a
    Hugging Face tokenizer directory for RULER's `--tokenizer_type hf`;
  - NLTK's English punkt_tab parameters from datasets/ruler/punkt_tab/english (`make
    ruler-data`), through NLTK_DATA.

Then prepare.py runs for every task and length with --random_seed 42 and the model template
"base" (plus two variants: a chat template and --remove_newline_tab), and the fixture records for
each sample the sha256 of its input, its outputs, length and answer prefix, and what diagnoses a
mismatch: the input's length in characters and the needles' positions as fractions of it.

Needs: the oracle venv with wonderwords 3.0.1, nltk, numpy, scipy, pyyaml, tqdm, tenacity,
transformers (+ gguf) (scripts/bench/requirements.txt).
"""
import argparse
import glob
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ESSAYS = os.path.join(ROOT, "..", "shared", "datasets", "paul-graham-essays")
GGUF_DIR = os.path.join(ROOT, "models", "smollm2-135m")
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PUNKT = os.path.join(ROOT, "datasets", "ruler", "punkt_tab", "english")
FIXDIR = os.path.join(ROOT, "tests", "fixtures", "ruler")
TASKS = ["niah_single_1", "niah_single_2", "niah_single_3", "niah_multikey_1", "niah_multikey_2",
         "niah_multikey_3", "niah_multivalue", "niah_multiquery", "vt", "cwe", "fwe", "qa_1",
         "qa_2"]
# (task, length, model template type, remove_newline_tab): the variants beyond "base"
VARIANTS = [("niah_single_2", 1024, "Phi3", False), ("vt", 1024, "base", True),
            ("cwe", 1024, "meta-chat", True)]


# RULER's scripts seed `random` and then import transformers (select_tokenizer). With this venv's
# transformers 5.x that import pulls in rich (through huggingface_hub's CLI), and rich.style draws
# random.getrandbits(24) when it is imported: one word of the stream that RULER's pinned
# environment (transformers 4.44.2, huggingface_hub 0.23.4) does not draw, which shifts every
# sample by one generation. Importing it before the script starts (sitecustomize runs at startup)
# keeps the stream RULER's.
SITECUSTOMIZE = """try:
    import rich.style  # noqa: F401  (draws from `random` when imported)
except ImportError:
    pass
"""


# ---- what RULER's download scripts would have made ----------------------------------------------
def essays_json(path):
    """download_paulgraham_essay.py: text += open(file, 'r').read() over the sorted files."""
    text = ""
    files = sorted(glob.glob(os.path.join(ESSAYS, "*.txt")))
    for f in files:
        with open(f, "r") as fh:
            text += fh.read()
    with open(path, "w") as f:
        json.dump({"text": text}, f)
    words = re.sub(r"\s+", " ", text).split(" ")
    return len(files), len(words)


SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qu", "dor", "fen", "gil",
             "hax", "jun", "wex", "yor"]


def fake_word(r):
    return "".join(r.choice(SYLLABLES) for _ in range(r.randint(1, 3)))


def fake_sentence(r, n):
    words = [fake_word(r) for _ in range(n)]
    return " ".join(words).capitalize() + "."


def squad_like(r):
    """SQuAD v2.0's layout: data[].paragraphs[].{context, qas[].{question, answers[].text,
    is_impossible}}; one context repeated across articles (RULER de-duplicates contexts)."""
    data, shared = [], fake_sentence(r, 30)
    for a in range(24):
        paras = []
        for p in range(3):
            # short paragraphs here and in hotpot_like: RULER's qa.py never ends when its
            # smallest size, 10 documents (HotpotQA: a question's own 10), exceeds the length
            ctx = " ".join(fake_sentence(r, r.randint(3, 7)) for _ in range(2))
            if a % 7 == 3 and p == 0:
                ctx = shared
            qas = []
            for q in range(2):
                ans = fake_word(r)
                qas.append({"question": "What is the %s of %s?" % (fake_word(r), fake_word(r)),
                            "id": "%d-%d-%d" % (a, p, q),
                            "answers": [{"text": ans, "answer_start": 0},
                                        {"text": ans.upper(), "answer_start": 0}],
                            "is_impossible": (a + p + q) % 5 == 4})
            paras.append({"context": ctx, "qas": qas})
        data.append({"title": fake_word(r), "paragraphs": paras})
    return {"version": "v2.0", "data": data}


def hotpot_like(r):
    """HotpotQA's distractor layout: [{question, answer, context: [[title, [sentences]]]}]."""
    titles = [fake_word(r).capitalize() for _ in range(90)]
    paras = {t: [fake_sentence(r, r.randint(3, 6)) + " " for _ in range(r.randint(1, 2))]
             for t in titles}
    out = []
    for i in range(20):
        ts = r.sample(titles, 10)
        out.append({"_id": str(i), "question": "Which %s is %s?" % (fake_word(r), fake_word(r)),
                    "answer": fake_word(r), "type": "bridge", "level": "easy",
                    "supporting_facts": [[ts[0], 0]],
                    "context": [[t, paras[t]] for t in ts]})
    return out


def english_words_stand_in(path):
    """common_words_extraction.py loads json/english_words.json when it starts, but samples from
    it only when a list needs more words than wonderwords has (8166 with 3.0.1: not below 131072
    tokens with SmolLM2's tokenizer). A checkout without git-lfs has a pointer there, which json
    cannot read: a stand-in of made-up words takes its place; the fixture's lengths never read
    it."""
    with open(path, "rb") as f:
        head = f.read(64)
    if not head.startswith(b"version https://git-lfs"):
        return False
    r = random.Random(7)
    with open(path, "w") as f:
        json.dump({str(i): fake_word(r) + fake_word(r) for i in range(20000)}, f)
    return True


def hf_tokenizer(dest):
    """SmolLM2's tokenizer as transformers builds it from the GGUF, saved as a plain fast
    tokenizer: saving the class transformers picks for this GGUF (CodeLlamaTokenizer) and loading
    it back loses its byte-level pre-tokenizer (transformers 5.2); the tokenizers object keeps
    it."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast
    tok = AutoTokenizer.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE)
    PreTrainedTokenizerFast(tokenizer_object=tok.backend_tokenizer).save_pretrained(dest)
    back = AutoTokenizer.from_pretrained(dest, trust_remote_code=True)
    probe = "The grass is green.\n<|im_start|>user 1234567 jalape\u00f1o-pasta"
    if back.tokenize(probe) != tok.tokenize(probe):
        sys.exit("ruler_gen: the saved tokenizer tokenizes differently from the GGUF's")
    return dest


# ---- RULER ---------------------------------------------------------------------------------
def run_prepare(data_dir, env, tok_dir, save_dir, task, length, samples, template, rnt):
    cmd = [sys.executable, "prepare.py", "--save_dir", save_dir, "--benchmark", "synthetic",
           "--task", task, "--tokenizer_path", tok_dir, "--tokenizer_type", "hf",
           "--max_seq_length", str(length), "--model_template_type", template,
           "--num_samples", str(samples), "--random_seed", "42"]
    if rnt:
        cmd.append("--remove_newline_tab")
    p = subprocess.run(cmd, cwd=data_dir, env=env, capture_output=True, text=True)
    out = os.path.join(save_dir, task, "validation.jsonl")
    if p.returncode or not os.path.exists(out):
        sys.exit("ruler_gen: prepare.py %s %d failed:\n%s\n%s" % (task, length, p.stdout[-3000:],
                                                                  p.stderr[-3000:]))
    with open(out) as f:
        return [json.loads(line) for line in f]


def depths(task, text):
    """Where the needles are, as fractions of the input's characters."""
    if task.startswith("niah"):
        pat = r"One of the special magic \w+ for .+? is: .+?\."
    elif task == "vt":
        pat = r"VAR [A-Z]+ = (?:VAR [A-Z]+ |\d+)"
    elif task.startswith("qa"):
        pat = r"Document \d+:\n"
    else:
        return []
    return [round(m.start() / max(1, len(text)), 6) for m in re.finditer(pat, text)][:64]


def record(task, length, template, model_template, rnt, rows):
    return {"task": task, "length": length, "seed": 42, "model_template_type": template,
            "model_template": model_template, "remove_newline_tab": rnt,
            "samples": [{"sha256": hashlib.sha256(r["input"].encode("utf-8")).hexdigest(),
                         "outputs": r["outputs"], "length": r["length"],
                         "answer_prefix": r["answer_prefix"], "input_chars": len(r["input"]),
                         "needle_depths": depths(task, r["input"])} for r in rows]}


def versions(ruler):
    import nltk
    import numpy
    import transformers
    import wonderwords  # noqa: F401
    from importlib.metadata import version
    try:
        commit = subprocess.run(["git", "-C", ruler, "rev-parse", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = ""
    return {"ruler_commit": commit or "unknown", "python": sys.version.split()[0],
            "wonderwords": version("wonderwords"), "nltk": nltk.__version__,
            "numpy": numpy.__version__, "transformers": transformers.__version__}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ruler", help="a checkout of NVIDIA/RULER")
    ap.add_argument("--lengths", default="1024,4096")
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--out", default=os.path.join(FIXDIR, "gen.json"))
    ap.add_argument("--jobs", type=int, default=3, help="prepare.py runs at once (each is mostly "
                    "Python's start-up)")
    a = ap.parse_args()
    src = os.path.join(a.ruler, "scripts", "data")
    if not os.path.exists(os.path.join(src, "prepare.py")):
        sys.exit("ruler_gen: %s: no scripts/data/prepare.py (not a RULER checkout)" % a.ruler)
    if not os.path.exists(os.path.join(PUNKT, "ortho_context.tab")):
        sys.exit("ruler_gen: %s: missing (run `make ruler-data`)" % PUNKT)
    vers = versions(a.ruler)
    if vers["wonderwords"] != "3.0.1":
        sys.exit("ruler_gen: wonderwords %s; the fixtures are made with 3.0.1"
                 % vers["wonderwords"])
    tmp = tempfile.mkdtemp(prefix="ruler_gen.")
    try:
        shutil.copytree(os.path.dirname(src), os.path.join(tmp, "scripts"))
        data = os.path.join(tmp, "scripts", "data")
        jdir = os.path.join(data, "synthetic", "json")
        n_files, n_words = essays_json(os.path.join(jdir, "PaulGrahamEssays.json"))
        stand_in = english_words_stand_in(os.path.join(jdir, "english_words.json"))
        r = random.Random(20261204)
        qa_files = {"squad": squad_like(r), "hotpotqa": hotpot_like(r)}
        for name, obj in qa_files.items():
            for d in (jdir, FIXDIR):
                with open(os.path.join(d, "qa_%s.json" % name if d == FIXDIR else name + ".json"),
                          "w") as f:
                    json.dump(obj, f, indent=None, separators=(",", ":"))
        nltk_dir = os.path.join(tmp, "nltk_data", "tokenizers")
        shutil.copytree(PUNKT, os.path.join(nltk_dir, "punkt_tab", "english"))
        os.makedirs(os.path.join(nltk_dir, "punkt"))  # prepare.py's check; nothing downloads
        tok_dir = hf_tokenizer(os.path.join(tmp, "tokenizer"))
        site = os.path.join(tmp, "site")
        os.makedirs(site)
        with open(os.path.join(site, "sitecustomize.py"), "w") as f:
            f.write(SITECUSTOMIZE)
        env = dict(os.environ, NLTK_DATA=os.path.join(tmp, "nltk_data"), PYTHONPATH=site,
                   PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
                   TOKENIZERS_PARALLELISM="false")
        sys.path.insert(0, data)
        from template import Templates  # RULER's model templates, read from the checkout
        lengths = sorted((int(n) for n in a.lengths.split(",")), reverse=True)
        runs = [(t, n, "base", False) for n in lengths for t in a.tasks.split(",")]
        runs += [v for v in VARIANTS if v[0] in a.tasks.split(",")]
        done = {}
        lock = threading.Lock()

        def write():
            # the cases finished so far, in the order of `runs`: a long run leaves a usable file
            cases = [done[r] for r in runs if r in done]
            out = {"made_by": "scripts/oracle/ruler_gen.py", "versions": vers,
                   "essays": {"files": n_files, "words": n_words},
                   "english_words_stand_in": stand_in, "complete": len(cases) == len(runs),
                   "cases": cases}
            with open(a.out + ".tmp", "w") as f:
                json.dump(out, f, indent=1, ensure_ascii=True)
                f.write("\n")
            os.replace(a.out + ".tmp", a.out)
            return len(cases)

        def one(run):
            task, length, template, rnt = run
            save = os.path.join(tmp, "out_%s_%d_%s_%d" % (task, length, template, rnt))
            rows = run_prepare(data, env, tok_dir, save, task, length, a.samples, template, rnt)
            with lock:
                done[run] = record(task, length, template, Templates[template], rnt, rows)
                n = write()
            print("ruler_gen: %s %d %s%s: %d samples (%d/%d)" % (
                task, length, template, " rnt" if rnt else "", len(rows), n, len(runs)),
                flush=True)

        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
            list(pool.map(one, runs))
        print("ruler_gen: %d cases into %s" % (len(runs), a.out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
