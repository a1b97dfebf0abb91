#!/usr/bin/env python3
"""scripts/bench/gpu_peer.py: the GPU peer of kvbench's CUDA benchmark: transformers (sdpa, bf16)
on a random-weight model of the same shapes (configs/models/<name>.json "config"), same contexts.

    python3 scripts/bench/gpu_peer.py --model llama3-8b --context 2048,8192,32768 --decode-tokens 32

Prints one JSON object: {"peer": "transformers X sdpa bf16", "rows": [{context, prefill_s,
prefill_tok_s, decode_ms}]}. Prefill = one forward of `context` random tokens with the KV cache
kept and only the last position's logits (logits_to_keep=1, as kvbench computes); decode = the
mean of `decode_tokens` single-token steps on that cache. One warm-up of each shape first; CUDA
synchronised around every timed region. Needs torch with CUDA and transformers (no downloads)."""
import argparse
import json
import os
import sys
import time


def load_config(name):
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "..", "configs", "models", name + ".json")
    with open(path) as f:
        return json.load(f)["config"]


def timed(fn, torch):
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    t0 = time.perf_counter()
    out = fn()
    sync()
    return out, time.perf_counter() - t0


def run_context(model, torch, n, decode_tokens, vocab, device):
    gen = torch.Generator(device=device).manual_seed(n)
    ids = torch.randint(0, vocab, (1, n), device=device, generator=gen)

    def prefill():
        return model(ids, use_cache=True, logits_to_keep=1)

    def decode(out):
        cache, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
        for _ in range(decode_tokens):
            o = model(tok, past_key_values=cache, use_cache=True)
            cache, tok = o.past_key_values, o.logits[:, -1:].argmax(-1)
        return tok

    with torch.inference_mode():
        warm = prefill()
        decode(warm)
        del warm
        out, t_pre = timed(prefill, torch)
        _, t_dec = timed(lambda: decode(out), torch)
        del out
    if device == "cuda":
        torch.cuda.empty_cache()
    return {"context": n, "prefill_s": round(t_pre, 4), "prefill_tok_s": round(n / t_pre, 1),
            "decode_ms": round(1000 * t_dec / decode_tokens, 3)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="llama3-8b")
    ap.add_argument("--context", default="2048,8192,32768")
    ap.add_argument("--decode-tokens", type=int, default=32)
    ap.add_argument("--device", default="cuda", help="cpu: rehearse the script without a GPU")
    a = ap.parse_args()
    import torch
    import transformers
    if a.device == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"skipped": "no CUDA device for torch"}))
        return 0
    cfg = load_config(a.model)
    contexts = [int(x) for x in a.context.split(",")]
    cfg["max_position_embeddings"] = max(cfg.get("max_position_embeddings", 0),
                                         max(contexts) + a.decode_tokens)
    conf = transformers.LlamaConfig(**{k: v for k, v in cfg.items() if k != "architectures"})
    conf._attn_implementation = "sdpa"
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device(a.device):
        model = transformers.LlamaForCausalLM(conf)
    model.eval()
    rows = [run_context(model, torch, n, a.decode_tokens, cfg["vocab_size"], a.device) for n in contexts]
    print(json.dumps({"peer": "transformers %s sdpa bf16 (torch %s)" % (transformers.__version__,
                                                                       torch.__version__),
                      "gpu": torch.cuda.get_device_name(0) if a.device == "cuda" else "cpu", "model": a.model,
                      "decode_tokens": a.decode_tokens, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
