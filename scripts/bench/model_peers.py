#!/usr/bin/env python3
"""Peers of `kvbench bench` on the same GGUF and thread count: llama.cpp (llama-cpp-python) and
transformers on CPU (f32, the GGUF dequantized). Prints one JSON object:
{"llama.cpp": {"version": "...", "<ctx>": {"prefill_tok_s", "decode_ms_per_token"}}, "transformers": {...}}.
A peer whose package does not import is {"skipped": "<why>"}: reported, never faked.
Prompts are seeded random token ids, like kvbench bench. Run by scripts/bench/model.sh."""
import json
import os
import random
import sys
import time


def ids_for(ctx, vocab):
    rng = random.Random(ctx)
    return [rng.randrange(100, vocab) for _ in range(ctx)]


def bench_llama_cpp(gguf, contexts, gen, threads):
    import llama_cpp
    from llama_cpp import Llama
    llm = Llama(model_path=gguf, n_ctx=max(contexts) + gen + 8, n_threads=threads,
                n_threads_batch=threads, n_batch=512, n_ubatch=512, verbose=False)
    vocab = llm.n_vocab()
    out = {"version": f"llama-cpp-python {llama_cpp.__version__}"}
    for ctx in contexts:
        ids = ids_for(ctx, vocab)
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(ids)
        t1 = time.perf_counter()
        tok = ids[-1]
        for _ in range(gen):
            llm.eval([tok])
        t2 = time.perf_counter()
        out[str(ctx)] = dict(prefill_tok_s=ctx / (t1 - t0), decode_ms_per_token=1e3 * (t2 - t1) / gen)
    return out


def bench_transformers(gguf, contexts, gen, threads):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()
    torch.set_num_threads(threads)
    d, f = os.path.split(os.path.abspath(gguf))
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    vocab = model.config.vocab_size
    out = {"version": f"transformers {transformers.__version__} (torch {torch.__version__}, CPU, f32)"}
    with torch.no_grad():
        for ctx in contexts:
            ids = torch.tensor([ids_for(ctx, vocab)])
            t0 = time.perf_counter()
            o = model(ids, use_cache=True)
            t1 = time.perf_counter()
            past, tok = o.past_key_values, o.logits[:, -1:].argmax(-1)
            for _ in range(gen):
                o = model(tok, past_key_values=past, use_cache=True)
                past, tok = o.past_key_values, o.logits[:, -1:].argmax(-1)
            t2 = time.perf_counter()
            out[str(ctx)] = dict(prefill_tok_s=ctx / (t1 - t0), decode_ms_per_token=1e3 * (t2 - t1) / gen)
    return out


def main():
    gguf, contexts, gen, threads = sys.argv[1], [int(c) for c in sys.argv[2].split(",")], int(sys.argv[3]), int(sys.argv[4])
    which = sys.argv[5].split(",") if len(sys.argv) > 5 else ["llama.cpp", "transformers"]
    res = {}
    for name, fn in (("llama.cpp", bench_llama_cpp), ("transformers", bench_transformers)):
        if name not in which:
            continue
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        try:
            res[name] = fn(gguf, contexts, gen, threads)
            res[name]["load"] = f"{load} -> " + " ".join(f"{x:.2f}" for x in os.getloadavg())
        except ImportError as e:  # a missing peer is reported and skipped; any other error fails
            res[name] = {"skipped": f"{e} (make bench-deps installs the peers)"}
            print(f"model_peers: {name} skipped: {e}", file=sys.stderr)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
