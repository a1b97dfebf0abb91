"""The tiny Llama shape shared by scripts/fuzz_seeds.py and scripts/make_hostile.py (plain python3
stdlib): its HF config.json text and its tensor names and shapes in the order HF writes them."""
import json

TINY = dict(hidden=8, inter=16, heads=2, kv=1, hd=4, vocab=16, layers=1)


def tiny_config(c=TINY, **kw):
    """config.json text of the tiny model; keyword arguments override or add fields."""
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": c["hidden"],
           "intermediate_size": c["inter"], "num_attention_heads": c["heads"],
           "num_key_value_heads": c["kv"], "head_dim": c["hd"], "num_hidden_layers": c["layers"],
           "vocab_size": c["vocab"], "max_position_embeddings": 128, "rms_norm_eps": 1e-5,
           "rope_theta": 10000.0, "tie_word_embeddings": True, "bos_token_id": 1, "eos_token_id": 2}
    cfg.update(kw)
    return json.dumps(cfg, indent=1)


def tiny_tensors(c=TINY):
    """[(name, shape)] of every weight (tied embeddings: no lm_head)."""
    t = [("model.embed_tokens.weight", (c["vocab"], c["hidden"])), ("model.norm.weight", (c["hidden"],))]
    for l in range(c["layers"]):
        p = "model.layers.%d." % l
        t += [(p + "input_layernorm.weight", (c["hidden"],)),
              (p + "post_attention_layernorm.weight", (c["hidden"],)),
              (p + "self_attn.q_proj.weight", (c["heads"] * c["hd"], c["hidden"])),
              (p + "self_attn.k_proj.weight", (c["kv"] * c["hd"], c["hidden"])),
              (p + "self_attn.v_proj.weight", (c["kv"] * c["hd"], c["hidden"])),
              (p + "self_attn.o_proj.weight", (c["hidden"], c["heads"] * c["hd"])),
              (p + "mlp.gate_proj.weight", (c["inter"], c["hidden"])),
              (p + "mlp.up_proj.weight", (c["inter"], c["hidden"])),
              (p + "mlp.down_proj.weight", (c["hidden"], c["inter"]))]
    return t
