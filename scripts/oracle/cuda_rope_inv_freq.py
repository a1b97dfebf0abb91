#!/usr/bin/env python3
"""Golden RoPE inverse frequencies for kernels/cpu_ref.c:kvb_rope_inv_freq.

Writes tests/fixtures/cuda/rope_inv_freq.txt: one block per configuration,
"config <name> <head_dim> <theta> <factor> <low> <high> <orig_max>" then head_dim/2 lines of
float32 values printed with 9 significant digits (round-trips float32 exactly), computed by
transformers' own ROPE_INIT_FUNCTIONS on a LlamaConfig. Run with ~/.venv-oracle/bin/python.
"""
import os
import sys

import torch
from transformers import LlamaConfig
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

CONFIGS = [
    # name, head_dim, theta, rope_scaling (None or llama3 parameters)
    ("smollm2-135m", 64, 100000.0, None),
    ("llama2-7b", 128, 10000.0, None),
    ("mistral-7b", 128, 1000000.0, None),
    ("llama3-8b", 128, 500000.0, dict(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                      original_max_position_embeddings=8192)),
    ("odd-llama3", 48, 10000.0, dict(factor=4.0, low_freq_factor=1.0, high_freq_factor=2.0,
                                     original_max_position_embeddings=256)),
]


def inv_freq(head_dim, theta, scaling):
    kw = dict(hidden_size=head_dim * 4, num_attention_heads=4, head_dim=head_dim,
              rope_theta=theta, max_position_embeddings=131072)
    if scaling:
        kw["rope_scaling"] = dict(rope_type="llama3", **scaling)
    cfg = LlamaConfig(**kw)
    rope_type = "llama3" if scaling else "default"
    if hasattr(cfg, "rope_parameters") and cfg.rope_parameters is not None:
        rope_type = cfg.rope_parameters.get("rope_type", rope_type)
    fn = ROPE_INIT_FUNCTIONS[rope_type] if rope_type != "default" else None
    if fn is None:  # transformers 5 keeps the default init on the rotary class
        from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
        inv, _ = LlamaRotaryEmbedding.compute_default_rope_parameters(cfg, torch.device("cpu"))
    else:
        inv, _ = fn(cfg, torch.device("cpu"))
    return inv.to(torch.float32).tolist()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/cuda/rope_inv_freq.txt"
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        for name, hd, theta, sc in CONFIGS:
            s = sc or dict(factor=0.0, low_freq_factor=0.0, high_freq_factor=0.0,
                           original_max_position_embeddings=0)
            f.write(f"config {name} {hd} {theta!r} {s['factor']!r} {s['low_freq_factor']!r} "
                    f"{s['high_freq_factor']!r} {s['original_max_position_embeddings']}\n")
            for v in inv_freq(hd, theta, sc):
                f.write(f"{v:.9g}\n")


if __name__ == "__main__":
    main()
