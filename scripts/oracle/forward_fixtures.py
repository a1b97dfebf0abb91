#!/usr/bin/env python3
"""Forward-pass golden fixtures for kvbench (run with ~/.venv-oracle/bin/python).

1. Three tiny random models with the exact structure of Llama-2 (MHA), Llama-3 (GQA 4:1,
   rope_theta 500000, llama3 rope scaling) and Mistral (GQA, explicit head_dim), saved as Hugging
   Face directories: f32/ (sharded safetensors, model.safetensors.index.json) and bf16/ (one
   safetensors file); transformers' logits at every position of a fixed 300-token sequence, for
   each (bf16 logits are computed in f32 from the bf16-rounded weights, which is what kvbench
   does with --weights bf16).
2. The real SmolLM2-135M-Instruct Q4_1 GGUF loaded by transformers (gguf_file=, dequantized to
   f32): last-position logits of 3 prompts (~10, ~500, ~4000 tokens, given as ids so no
   tokenizer is involved) and their 32-token greedy continuations.

Usage: forward_fixtures.py [--gguf models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf]
Writes tests/fixtures/model/.
"""
import argparse
import gzip
import json
import os
import random

import numpy as np
import torch
from transformers import (AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, MistralConfig,
                          MistralForCausalLM)

from transformers.utils import logging as hf_logging

hf_logging.disable_progress_bar()
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "model")
SEQ = 300
VOCAB = 256


def tiny_models():
    common = dict(vocab_size=VOCAB, num_hidden_layers=2,
                  rms_norm_eps=1e-5, tie_word_embeddings=False, initializer_range=0.08,
                  bos_token_id=1, eos_token_id=2)
    llama2 = LlamaConfig(hidden_size=64, intermediate_size=128, num_attention_heads=4,
                         num_key_value_heads=4, rope_theta=10000.0, max_position_embeddings=4096,
                         **common)
    llama3 = LlamaConfig(hidden_size=64, intermediate_size=128, num_attention_heads=8,
                         num_key_value_heads=2, rope_theta=500000.0,
                         rope_scaling={"rope_type": "llama3", "factor": 8.0,
                                       "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                       "original_max_position_embeddings": 8192},
                         max_position_embeddings=131072, **common)
    mistral = MistralConfig(hidden_size=64, intermediate_size=128, num_attention_heads=4,
                            num_key_value_heads=2, head_dim=24, rope_theta=1000000.0,
                            sliding_window=None, max_position_embeddings=32768, **common)
    return [("llama2", LlamaForCausalLM, llama2), ("llama3", LlamaForCausalLM, llama3),
            ("mistral", MistralForCausalLM, mistral)]


def randomize_norms(model, gen):
    # transformers initializes norm weights to 1; random ones make the test see them
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(0.5 + torch.rand(p.shape, generator=gen))


def logits_all(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def write_gz(path, arr):
    with gzip.GzipFile(path, "wb", compresslevel=9, mtime=0) as f:
        f.write(np.ascontiguousarray(arr, dtype="<f4").tobytes())


def make_tiny():
    rng = random.Random(1234)
    ids = [1] + [rng.randrange(3, VOCAB) for _ in range(SEQ - 1)]
    for i, (name, cls, cfg) in enumerate(tiny_models()):
        torch.manual_seed(100 + i)
        gen = torch.Generator().manual_seed(200 + i)
        model = cls(cfg).float().eval()
        randomize_norms(model, gen)
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        # f32: sharded, so the index loader is exercised
        model.save_pretrained(os.path.join(d, "f32"), safe_serialization=True,
                              max_shard_size="150KB")
        lf = logits_all(model, ids)
        write_gz(os.path.join(d, "logits-f32.bin.gz"), lf)
        model.to(torch.bfloat16).save_pretrained(os.path.join(d, "bf16"), safe_serialization=True)
        # reload in f32: the bf16-rounded weights, exact in f32, and RoPE's inv_freq recomputed in
        # f32 (Module.to(bf16) would have rounded that buffer too)
        mb = cls.from_pretrained(os.path.join(d, "bf16"), dtype=torch.float32).eval()
        lb = logits_all(mb, ids)
        write_gz(os.path.join(d, "logits-bf16.bin.gz"), lb)
        meta = dict(tokens=ids, vocab=VOCAB, positions=SEQ,
                    max_abs_logit=float(np.abs(lf).max()),
                    bf16_vs_f32_max_diff=float(np.abs(lb - lf).max()))
        with open(os.path.join(d, "fixture.json"), "w") as f:
            json.dump(meta, f)
        print(name, "max|logit|", meta["max_abs_logit"], "bf16 vs f32", meta["bf16_vs_f32_max_diff"])


def smol_prompts():
    """Synthetic English text (no third-party data); tokenized once here with the GGUF's own
    tokenizer through transformers, and stored as ids, so the C test needs no tokenizer."""
    rng = random.Random(99)
    colors = ["red", "blue", "green", "yellow", "black", "white", "purple", "orange"]
    things = ["key", "coin", "letter", "ring", "book", "map", "stone", "lamp"]
    places = ["box", "drawer", "room", "cupboard", "bag", "chest", "shelf", "basket"]

    def story(n_sent):
        out = []
        for _ in range(n_sent):
            out.append("The %s %s is in %s number %d." % (rng.choice(colors), rng.choice(things),
                                                          rng.choice(places), rng.randrange(1, 500)))
        return " ".join(out)

    return ["The capital of France is Paris. The capital of Germany is",
            story(40) + " Question: where is the red key? Answer:",
            story(330) + " Question: where is the green map? Answer:"]


def make_smol(gguf):
    d, f = os.path.split(os.path.abspath(gguf))
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float32).eval()
    cases = []
    for text in smol_prompts():
        ids = tok(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            out = model(torch.tensor([ids]), use_cache=True)
            last = out.logits[0, -1].float().numpy()
            past = out.past_key_values
            gen, margins, nxt = [], [], int(np.argmax(last))
            logits = last
            for _ in range(32):
                top2 = np.sort(logits)[-2:]
                margins.append(float(top2[1] - top2[0]))
                gen.append(nxt)
                out = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
                past = out.past_key_values
                logits = out.logits[0, -1].float().numpy()
                nxt = int(np.argmax(logits))
        cases.append(dict(ids=ids, greedy=gen, min_top2_margin=min(margins), last_logits=last))
        print("smollm2 prompt", len(ids), "tokens ->", tok.decode(gen)[:60].replace("\n", " "),
              "min margin", min(margins))
    d = os.path.join(OUT, "smollm2")
    os.makedirs(d, exist_ok=True)
    for i, c in enumerate(cases):
        write_gz(os.path.join(d, "last-logits-%d.bin.gz" % i), c.pop("last_logits"))
    with open(os.path.join(d, "fixture.json"), "w") as fh:
        json.dump(dict(vocab=int(model.config.vocab_size), cases=cases), fh)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", default="models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--skip-smol", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    make_tiny()
    if not a.skip_smol:
        make_smol(a.gguf)


if __name__ == "__main__":
    main()
