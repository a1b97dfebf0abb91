#!/usr/bin/env python3
"""Golden fixtures for lib/kvcache (tests/unit/test_kvcache_oracle.c reads them).

Run:  ~/.venv-oracle/bin/python scripts/oracle/kvcache_fixtures.py [outdir]
      (default outdir tests/fixtures/kvcache)

What it does
1. Builds a tiny random Llama (transformers, float32, eager attention; 3 layers, 4 query heads,
   2 kv heads, head_dim 16, seeded) and runs a 96-token random prompt. Captures, per layer, the
   post-RoPE queries (recomputed from the attention input as kvpress does), keys and values
   (from the returned cache) and the eager attention matrix. Writes them to tiny_llama_qkv.bin.
2. Runs the kvpress presses on exactly those tensors (press.score / press.compress called on the
   captured module inputs) and records what they keep:
     - SnapKVPress(window 8, kernel 7)          -> our SnapKV pool=avgpool, gqa=kv_head, budget=n_kept
     - StreamingLLMPress(n_sink 4)              -> our StreamingLLM sink=4, budget=n_kept
     - ThinKPress(ratio 0.5, window 32)         -> our ThinK without eviction (budget > n), pruned
                                                   channel set per kv head
     - SimLayerKVPress.is_lazy score (n_last 1) -> our kvb_sel_simlayer_score on the last prompt
                                                   query's attention (kvpress drops the query's own
                                                   key; the test does the same)
     - eager attention column sums              -> our kvb_sel_colsum (the H2O statistic)
   Protocols that differ by design from the references we follow (KVCache-Factory's SnapKV/
   PyramidKV/H2O with sum over the window, maxpool, group mean before pooling; our ZigZagKV
   reconstruction) are checked against small numpy references written here from the spec
   (../shared/specs/pyramidkv-snapkv-zigzagkv-think-less.md §0.1, §1.1, §2.2, §3.3).
3. KIVI (spec C.1): numpy float16 quantization of random keys/values (per channel over groups of
   G tokens for keys, per token over groups of G channels for values), packing 32/b codes per
   uint32 little end first, for bits 2 and 4; plus attention of a query over the dequantized cache.
Top-k comparisons are as sets of indices, tie-aware (see topk_set): maxpool creates exact ties
whose order torch.topk leaves unspecified; any other near tie (< 1e-4 relative) aborts, so float
summation order cannot flip a choice.
"""
import json
import math
import os
import sys

import numpy as np
import torch
from torch.nn import functional as F

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/kvcache"
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(1234)
np.random.seed(1234)

N_LAYERS, H, KV, D, N = 3, 4, 2, 16, 96
GROUP = H // KV


# ---- 1. tiny model and captured tensors -----------------------------------------------------
def build_model():
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(vocab_size=128, hidden_size=H * D, intermediate_size=128,
                      num_hidden_layers=N_LAYERS, num_attention_heads=H, num_key_value_heads=KV,
                      head_dim=D, max_position_embeddings=512, rms_norm_eps=1e-5,
                      initializer_range=0.2, attn_implementation="eager")
    m = LlamaForCausalLM(cfg).float().eval()
    return m


model = build_model()
captured = {}


def pre_hook(module, args, kwargs):
    captured[module.layer_idx] = {"hidden": kwargs["hidden_states"].detach().clone(),
                                  "pe": tuple(t.detach().clone() for t in kwargs["position_embeddings"])}


hooks = [layer.self_attn.register_forward_pre_hook(pre_hook, with_kwargs=True)
         for layer in model.model.layers]
for i, layer in enumerate(model.model.layers):
    layer.self_attn.layer_idx = i
ids = torch.randint(0, 128, (1, N))
with torch.no_grad():
    out = model(ids, use_cache=True, output_attentions=True)
for h in hooks:
    h.remove()

from transformers.models.llama.modeling_llama import apply_rotary_pos_emb  # noqa: E402
from kvpress.utils import get_prerope_query_states  # noqa: E402

layers = []
cache = out.past_key_values
for l in range(N_LAYERS):
    mod = model.model.layers[l].self_attn
    hid, (cos, sin) = captured[l]["hidden"], captured[l]["pe"]
    with torch.no_grad():
        q = get_prerope_query_states(mod, hid)
        q, _ = apply_rotary_pos_emb(q, q, cos, sin)
    try:
        k, v = cache.layers[l].keys, cache.layers[l].values
    except AttributeError:
        k, v = cache.key_cache[l], cache.value_cache[l]
    layers.append({"q": q[0].numpy(), "k": k[0].numpy(), "v": v[0].numpy(),
                   "attn": out.attentions[l][0].numpy(), "mod": mod, "hid": hid, "pe": (cos, sin),
                   "kt": k, "vt": v})

with open(os.path.join(OUT, "tiny_llama_qkv.bin"), "wb") as f:
    for L in layers:
        # token-major as kvcache.h: (n, heads, D)
        f.write(np.ascontiguousarray(L["q"].transpose(1, 0, 2), dtype="<f4").tobytes())
        f.write(np.ascontiguousarray(L["k"].transpose(1, 0, 2), dtype="<f4").tobytes())
        f.write(np.ascontiguousarray(L["v"].transpose(1, 0, 2), dtype="<f4").tobytes())
        f.write(np.ascontiguousarray(L["attn"].sum(axis=1), dtype="<f4").tobytes())  # colsum (H, n)


def topk_set(scores, k, what, extra=()):
    """Tie-aware top-k: maxpool copies one value to its neighbours, so exact ties at the boundary
    are structural and torch.topk breaks them in no documented order. Returns
    {"must": indices strictly above the boundary value, "tied": indices equal to it (any
    len(kept) - len(must) of them may be chosen), "k": how many are kept}. Values within 1e-6
    (relative) of the boundary count as equal; anything closer than 1e-4 without being equal
    aborts (the C side computes in another order)."""
    s = np.asarray(scores, dtype=np.float64)
    order = np.sort(s)[::-1]
    v = order[k - 1]
    tol = 1e-6 * max(abs(v), 1e-30)
    tied = np.nonzero(np.abs(s - v) <= tol)[0]
    must = np.nonzero(s > v + tol)[0]
    rest = s[np.abs(s - v) > tol]
    if len(rest):
        near = np.min(np.abs(rest - v)) / max(abs(v), 1e-30)
        assert near > 1e-4, f"{what}: near tie at the top-{k} boundary ({near:.2e}); change the seed"
    ex = [int(i) for i in extra]
    return {"must": sorted(int(i) for i in must) + ex, "tied": sorted(int(i) for i in tied),
            "k": k + len(ex)}


def check_gap(scores, k, what):
    topk_set(scores, k, what)


# ---- 2a. kvpress presses ----------------------------------------------------------------------
from kvpress import SnapKVPress, StreamingLLMPress, ThinKPress, SimLayerKVPress  # noqa: E402
from kvpress.utils import compute_n_kept  # noqa: E402

fx = {"config": {"layers": N_LAYERS, "heads": H, "kv_heads": KV, "head_dim": D, "n": N},
      "provenance": "scripts/oracle/kvcache_fixtures.py; torch %s, kvpress %s" % (
          torch.__version__, __import__("importlib.metadata").metadata.version("kvpress"))}

ratio = 0.5
n_kept = compute_n_kept(N, ratio)
press = SnapKVPress(compression_ratio=ratio, window_size=8, kernel_size=7)
kept = []
for l, L in enumerate(layers):
    with torch.no_grad():
        sc = press.score(L["mod"], L["hid"], L["kt"], L["vt"], None, {"position_embeddings": L["pe"]})
    kept.append([topk_set(sc[0, h].numpy()[: N - 8], n_kept - 8, f"snapkv l{l} h{h}", range(N - 8, N))
                 for h in range(KV)])
fx["kvpress_snapkv"] = {"params": {"budget": n_kept, "window": 8, "kernel": 7, "pool": "avgpool"},
                        "kept": kept}

press = StreamingLLMPress(compression_ratio=ratio, n_sink=4)
kept = []
for l, L in enumerate(layers):
    sc = press.score(L["mod"], L["hid"], L["kt"], L["vt"], None, {})
    kept.append([{"must": sorted(int(i) for i in np.nonzero(sc[0, h].numpy() > 0)[0]), "tied": [],
                  "k": n_kept} for h in range(KV)])
fx["kvpress_streamingllm"] = {"params": {"budget": n_kept, "sink": 4}, "kept": kept}

press = ThinKPress(key_channel_compression_ratio=0.5, window_size=32)
pruned = []
for l, L in enumerate(layers):
    kz = L["kt"].clone()
    with torch.no_grad():
        kz, _ = press.compress(L["mod"], L["hid"], kz, L["vt"], None,
                               {"hidden_states": L["hid"], "position_embeddings": L["pe"]})
    per = []
    for h in range(KV):
        zero = [int(c) for c in range(D) if torch.all(kz[0, h, :, c] == 0)]
        per.append(zero)
    pruned.append(per)
# gap check on the channel scores (recomputed the kvpress way)
for l, L in enumerate(layers):
    qn = (L["q"][:, -32:, :] ** 2).mean(axis=1).reshape(KV, GROUP, D).mean(axis=1)
    kn = (L["k"] ** 2).mean(axis=1)
    for h in range(KV):
        check_gap(-(qn[h] * kn[h]), int(D * 0.5), f"think l{l} h{h}")
fx["kvpress_think"] = {"params": {"ratio": 0.5, "qwindow": 32, "budget": 1000, "window": 8},
                       "pruned_channels": pruned}

press = SimLayerKVPress(lazy_threshold=0.5, n_last=1, n_recent=16, n_initial=4)
scores = []
for l, L in enumerate(layers):
    with torch.no_grad():
        aw = SnapKVPress.compute_window_attention(L["mod"], L["hid"], L["kt"], 1, L["pe"])
        aw = aw.mean((0, 1, 2))
        s = aw[:4].sum() + aw[-16:].sum()
    scores.append(float(s))
fx["kvpress_simlayerkv"] = {"params": {"sink": 4, "recent": 16, "n_last": 1}, "scores": scores}


# ---- 2b. numpy references from the spec -------------------------------------------------------
def window_attn(q, k, w):
    """(H, n) column sums over the last w queries, causal within the window, fp64."""
    n = k.shape[1]
    out = np.zeros((H, n))
    for h in range(H):
        kh = k[h // GROUP].astype(np.float64)
        for i in range(w):
            row = n - w + i
            s = kh[: row + 1] @ q[h, row].astype(np.float64) / math.sqrt(D)
            p = np.exp(s - s.max())
            out[h, : row + 1] += p / p.sum()
    return out


def pool(x, kernel, kind):
    p = kernel // 2
    n = len(x)
    out = np.empty(n)
    for i in range(n):
        lo, hi = max(0, i - p), min(n - 1, i + p)
        out[i] = x[lo: hi + 1].max() if kind == "maxpool" else x[lo: hi + 1].sum() / kernel
    return out


def snap_scores(L, w, kernel, kind, gqa):
    a = window_attn(L["q"], L["k"], w)[:, : N - w]
    if gqa == "kv_head":
        a = a.reshape(KV, GROUP, N - w).mean(axis=1)
    return np.stack([pool(r, kernel, kind) for r in a])


def pyramid_caps(B, w, Ln, beta, n):
    avg = B - w
    mn = avg // beta
    mx = 2 * avg - mn
    if mx >= n - w:
        mx = n - w
        mn = 2 * avg - mx
    steps = (mx - mn) // (Ln - 1)
    if n < B:
        return None
    if n < 2 * avg:
        return [avg] * Ln
    return [mx - l * steps for l in range(Ln)]


refs = {}
# Factory SnapKV (sum, maxpool 7, window 8), kv_head and query_head
for gqa in ("kv_head", "query_head"):
    B, w = 40, 8
    kept = []
    for l, L in enumerate(layers):
        sc = snap_scores(L, w, 7, "maxpool", gqa)
        kept.append([topk_set(sc[h], B - w, f"ref snapkv {gqa} l{l} h{h}", range(N - w, N))
                     for h in range(sc.shape[0])])
    refs["snapkv_" + gqa] = {"method": "SnapKV", "params": {"budget": B, "window": w, "kernel": 7,
                             "pool": "maxpool", "gqa": gqa}, "kept": kept}
# PyramidKV (n = 96, B = 40, w = 8, beta = 20 over 3 layers -> pyramid mode)
B, w = 40, 8
caps = pyramid_caps(B, w, N_LAYERS, 20, N)
kept = []
for l, L in enumerate(layers):
    sc = snap_scores(L, w, 7, "maxpool", "kv_head")
    kept.append([topk_set(sc[h], caps[l], f"ref pyramid l{l} h{h}", range(N - w, N))
                 for h in range(KV)])
refs["pyramidkv"] = {"method": "PyramidKV", "params": {"budget": B, "window": w, "kernel": 7,
                     "pool": "maxpool", "beta": 20}, "caps": caps, "kept": kept}
# H2O (Factory one-shot: column sums of all queries, no pooling, window kept)
B, w = 40, 8
kept = []
for l, L in enumerate(layers):
    cs = L["attn"].sum(axis=1).astype(np.float64)[:, : N - w].reshape(KV, GROUP, N - w).mean(axis=1)
    kept.append([topk_set(cs[h], B - w, f"ref h2o l{l} h{h}", range(N - w, N)) for h in range(KV)])
refs["h2o"] = {"method": "H2O", "params": {"budget": B, "window": w}, "kept": kept}
# ZigZagKV as reconstructed (docs/kvcache.md): LMBA on pooled SnapKV scores, tau 0.9,
# B_l = Bmin + (avg - Bmin) * L * u_l, Bmin = 0.2 avg, round half away from zero, clamp [0, n-w]
B, w, tau, bmin = 40, 8, 0.9, 0.2
lmba, scs = [], []
for l, L in enumerate(layers):
    sc = snap_scores(L, w, 7, "maxpool", "kv_head")
    scs.append(sc)
    vals = []
    for h in range(KV):
        s = np.sort(np.clip(sc[h], 0, None))[::-1]
        c = np.cumsum(s)
        vals.append(min(int((c < tau * s.sum()).sum()) + 1, len(s)))
    lmba.append(float(np.mean(vals)))
avg = B - w
tot = sum(lmba)
budgets = []
for l in range(N_LAYERS):
    b = bmin * avg + (avg - bmin * avg) * N_LAYERS * lmba[l] / tot
    r = int(math.floor(b + 0.5)) if b >= 0 else -int(math.floor(-b + 0.5))
    budgets.append(max(0, min(r, N - w)))
kept = [[topk_set(scs[l][h], budgets[l], f"ref zigzag l{l} h{h}", range(N - w, N))
         for h in range(KV)] for l in range(N_LAYERS)]
refs["zigzagkv"] = {"method": "ZigZagKV", "params": {"budget": B, "window": w, "kernel": 7,
                    "pool": "maxpool", "tau": tau, "bmin_ratio": bmin}, "lmba": lmba,
                    "budgets": budgets, "kept": kept}
fx["numpy_refs"] = refs

with open(os.path.join(OUT, "tiny_llama.json"), "w") as f:
    json.dump(fx, f, indent=1)


# ---- 3. KIVI -----------------------------------------------------------------------------------
def h(x):
    return np.float16(x)


def quant_group(x, bits):
    """x: float16 vector. Each op rounds to fp16 as torch half tensors do."""
    mn, mx = x.min(), x.max()
    max_int = np.float16((1 << bits) - 1)
    scale = h(h(mx - mn) / max_int)
    if scale == 0:
        return np.zeros(len(x), dtype=np.uint8), scale, mn
    d = h(h(x - mn) / scale)
    d = np.clip(d, 0, max_int)
    return np.rint(d.astype(np.float32)).astype(np.uint8), scale, mn


def pack(codes, bits):
    per = 32 // bits
    words = []
    for w0 in range(0, len(codes), per):
        acc = 0
        for j in range(per):
            acc |= int(codes[w0 + j]) << (bits * j)
        words.append(acc)
    return words


kivi = {"provenance": "scripts/oracle/kvcache_fixtures.py (numpy float16, spec C.1)", "cases": []}
rng = np.random.default_rng(7)
for bits in (2, 4):
    G, Dk, T = 32, 64, 64
    keys = (rng.standard_normal((T, Dk)) * 2).astype(np.float16)
    keys[:, 5] = np.float16(0.75)  # a constant channel: scale 0, codes 0
    vals = (rng.standard_normal((T, Dk))).astype(np.float16)
    q = rng.standard_normal(Dk).astype(np.float32)
    kw, ks, km, kdq = [], [], [], np.zeros((T, Dk), dtype=np.float64)
    for b in range(T // G):
        for c in range(Dk):
            codes, s, m = quant_group(keys[b * G:(b + 1) * G, c], bits)
            kw.extend(pack(codes, bits))
            ks.append(int(np.array(s, dtype=np.float16).view(np.uint16)))
            km.append(int(np.array(m, dtype=np.float16).view(np.uint16)))
            kdq[b * G:(b + 1) * G, c] = codes.astype(np.float32) * np.float32(s) + np.float32(m)
    vw, vs, vm, vdq = [], [], [], np.zeros((T, Dk), dtype=np.float64)
    for t in range(T):
        codes_all = []
        for g in range(Dk // G):
            codes, s, m = quant_group(vals[t, g * G:(g + 1) * G], bits)
            codes_all.extend(codes)
            vs.append(int(np.array(s, dtype=np.float16).view(np.uint16)))
            vm.append(int(np.array(m, dtype=np.float16).view(np.uint16)))
            vdq[t, g * G:(g + 1) * G] = codes.astype(np.float32) * np.float32(s) + np.float32(m)
        vw.extend(pack(codes_all, bits))
    logits = kdq @ q.astype(np.float64) / math.sqrt(Dk)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    att = p @ vdq
    kivi["cases"].append({
        "bits": bits, "group": G, "head_dim": Dk, "tokens": T,
        "keys_f16": [int(x) for x in keys.view(np.uint16).ravel()],
        "values_f16": [int(x) for x in vals.view(np.uint16).ravel()],
        "q": [float(x) for x in q],
        "key_words": kw, "key_scale_f16": ks, "key_mn_f16": km,
        "value_words": vw, "value_scale_f16": vs, "value_mn_f16": vm,
        "attention_dequantized": [float(x) for x in att],
    })
with open(os.path.join(OUT, "kivi.json"), "w") as f:
    json.dump(kivi, f)
print("wrote", OUT)
