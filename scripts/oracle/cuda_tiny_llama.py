#!/usr/bin/env python3
"""Golden logits of a tiny random Llama (GQA, llama3 RoPE scaling) for the CPU twin forward pass
of the CUDA driver (kernels/cpu_ref.c: kvb_ref_model_forward), checked by tests/cuda/test_twins.c.

Writes tests/fixtures/cuda/tiny_llama.bin (bf16 little-endian weights, order: embed; per layer
attn_norm, wq, wk, wv, wo, ffn_norm, w_gate, w_up, w_down; final_norm; lm_head) and
tests/fixtures/cuda/tiny_llama.txt ("config" line, "ids" line, then one line of vocab logits per
position, float32 printed with 9 significant digits). The weights are rounded to bf16 first and
transformers runs in float32 on them (LlamaForCausalLM, eager attention).
Run with ~/.venv-oracle/bin/python scripts/oracle/cuda_tiny_llama.py
"""
import os

import torch
from transformers import LlamaConfig, LlamaForCausalLM

OUT = "tests/fixtures/cuda"
CFG = dict(vocab_size=96, hidden_size=64, intermediate_size=112, num_hidden_layers=2,
           num_attention_heads=4, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-5,
           rope_theta=10000.0, max_position_embeddings=256, tie_word_embeddings=False,
           rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                             high_freq_factor=4.0, original_max_position_embeddings=32),
           attention_bias=False, mlp_bias=False)


def main():
    torch.manual_seed(1234)
    cfg = LlamaConfig(**CFG)
    cfg._attn_implementation = "eager"
    model = LlamaForCausalLM(cfg).float().eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:  # norms: around 1, not exactly 1, so a wrong norm shows
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) * (0.5 / p.shape[-1] ** 0.5 if p.shape[0] != 96 else 1.0))
            p.copy_(p.to(torch.bfloat16).to(torch.float32))
    order = [model.model.embed_tokens.weight]
    for layer in model.model.layers:
        a, m = layer.self_attn, layer.mlp
        order += [layer.input_layernorm.weight, a.q_proj.weight, a.k_proj.weight, a.v_proj.weight,
                  a.o_proj.weight, layer.post_attention_layernorm.weight, m.gate_proj.weight,
                  m.up_proj.weight, m.down_proj.weight]
    order += [model.model.norm.weight, model.lm_head.weight]
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "tiny_llama.bin"), "wb") as f:
        for t in order:
            f.write(t.detach().to(torch.bfloat16).contiguous().view(torch.int16).numpy().astype("<i2").tobytes())
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(0, CFG["vocab_size"], (1, 40), generator=g)
    with torch.no_grad():
        logits = model(ids).logits[0].float()
    with open(os.path.join(OUT, "tiny_llama.txt"), "w") as f:
        c = CFG
        r = c["rope_scaling"]
        f.write(f"config {c['num_hidden_layers']} {c['num_attention_heads']} {c['num_key_value_heads']} "
                f"{c['head_dim']} {c['hidden_size']} {c['intermediate_size']} {c['vocab_size']} "
                f"{c['rms_norm_eps']!r} {c['rope_theta']!r} {r['factor']!r} {r['low_freq_factor']!r} "
                f"{r['high_freq_factor']!r} {r['original_max_position_embeddings']}\n")
        f.write("ids " + " ".join(str(int(i)) for i in ids[0]) + "\n")
        for row in logits:
            f.write(" ".join(f"{float(v):.9g}" for v in row) + "\n")


if __name__ == "__main__":
    main()
