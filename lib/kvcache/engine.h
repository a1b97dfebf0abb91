/* lib/kvcache/engine.h (private): the shared store behind every compressing method.
 *
 * The store knows no method. It holds, per layer and per stored head (a kv head, or a query head
 * with gqa=query_head), an fp16 token store or a KIVI store (store.h), runs decode attention
 * over what is held, counts the bytes, and calls the hooks of the method's descriptor
 * (kvcache_impl.h) at prefill and decode. The methods (snapkv.c, pyramidkv.c, h2o.c,
 * streamingllm.c, zigzagkv.c, think.c, simlayerkv.c, kivi.c) decide what is kept and in which
 * form, with the operations below: fill (a head from the prompt), keep (a subset of what a head
 * holds), quantize (a layer, KIVI), and the scorers (scores.c) over the prefill tensors. Their
 * private state lives behind kv->state; their parameters behind kv->params. */
#ifndef KVB_KVCACHE_ENGINE_H
#define KVB_KVCACHE_ENGINE_H

#include "kvcache/kvcache.h"
#include "kvcache/kvcache_impl.h"
#include "kvcache/params.h"
#include "kvcache/store.h"

/* First member of the params struct of every method on the shared store. */
typedef struct kvb_kv_params {
    int gqa_query; /* 0 = one copy per kv head (kv_head), 1 = per query head (query_head) */
} kvb_kv_params;

/* The knobs of the SnapKV scorer (SnapKV, PyramidKV, ZigZagKV, ThinK). */
typedef struct kvb_snap_params {
    int budget, window, kernel, pool;
} kvb_snap_params;

/* The params struct of a method on the SnapKV scorer starts with this (SnapKV's is just this). */
typedef struct kvb_snap_method_params {
    kvb_kv_params kv;
    kvb_snap_params snap;
} kvb_snap_method_params;

/* KIVI quantization (KIVI, SimLayerKV+KIVI). */
struct kvb_quant_params {
    int bits, group, residual;
};

/* Table rows of the SnapKV scorer's parameters and of KIVI's, for a params struct `type` with a
 * kvb_snap_params / kvb_quant_params member `m`. */
#define KVB_SNAP_PARAMS(type, m)                                                                   \
    KVB_PARAM(type, budget, m.budget, 512), KVB_PARAM(type, window, m.window, 8),                  \
        KVB_PARAM(type, kernel, m.kernel, 7), KVB_PARAM(type, pool, m.pool, 0 /* maxpool */)
#define KVB_QUANT_PARAMS(type, m, bits_default)                                                    \
    KVB_PARAM(type, bits, m.bits, bits_default), KVB_PARAM(type, group, m.group, 32),              \
        KVB_PARAM(type, residual, m.residual, 32)

struct kvb_kv {
    const struct kvb_cache_method *m;
    const void *params; /* the method's params struct (starts with kvb_kv_params) */
    void *own_params;   /* params allocated by kvb_kv_create (NULL inside a kvb_cache) */
    void *state;        /* the method's private state (its init hook allocates it) */
    kvb_cache_shape shape;
    char family[32];
    kvb_pool *pool;
    int L, S;         /* layers, stored heads per layer (kv heads or query heads) */
    int group;        /* query heads per kv head */
    int gqa_query;    /* stored heads are query heads */
    int n_prompt;     /* prompt length of the current record */
    int room;         /* decode tokens the stores must still accept */
    long generated;   /* tokens appended since prefill (per layer 0) */
    int prefilled;    /* layers seen at prefill in this record */
    int external;     /* a device holds the K/V (KVB_DEVICE_HOLDS_SELECTED): the stores keep
                         positions and counts only, the scorers read the device's statistics */
    kvb_seq *seq;     /* (L, S) fp16 stores */
    kvb_qseq *qseq;   /* (L, S) KIVI stores */
    const kvb_kivi_kernels *kivi; /* their decode kernels: the best, or $KVBENCH_ISA's, at create */
    int *layer_quant; /* (L) 1 when the layer's data lives in qseq */
    int *appended;    /* (L) tokens appended since prefill, per layer */
    int *budgets;     /* (L) selected-prefix tokens of methods with per-layer budgets (PyramidKV,
                         ZigZagKV), for tests and diagnostics (zeroed at reset) */
    size_t peak_bytes;
    /* per-record scratch for prefill (sized at reset) */
    float *sc_attn, *sc_red, *sc_pool, *sc_row;
    int *sc_idx, *sc_work;
    kvb_half *sc_h;
    float *sc_thread; /* (threads, n_prompt) for the colsum */
};

/* The kvb_cache storage of every method on the shared store (descriptor .ops). */
extern const struct kvb_cache_ops kvb_store_ops;

/* A store outside a kvb_cache (tests): method by name, parameters parsed from its table. */
int kvb_kv_create(kvb_kv **kv, const char *method, const kvb_cache_shape *shape,
                  const kvb_cache_param *params, int n_params, kvb_pool *pool, kvb_error *e);
void kvb_kv_free(kvb_kv *kv);
int kvb_kv_reset(kvb_kv *kv, int n_prompt, kvb_error *e);
unsigned kvb_kv_needs(const kvb_kv *kv);
int kvb_kv_prefill_layer(kvb_kv *kv, const kvb_prefill_layer *pl, kvb_error *e);
int kvb_kv_prefill_end(kvb_kv *kv, kvb_error *e);
/* The method's per-layer statistic (descriptor layer_score; 0 without one), for tests. */
double kvb_kv_layer_score(const kvb_kv *kv, int layer);
/* Original positions held by one stored head (ascending), for tests; returns the count. */
int kvb_kv_kept_positions(const kvb_kv *kv, int layer, int head, int *pos, int max);

/* ---- operations for the methods ------------------------------------------------------------ */
/* The fp16 store of stored head `head` of a layer. */
kvb_seq *kvb_kv_seq(kvb_kv *kv, int layer, int head);
/* Row of stored head `head` of token t in a (n, n_kv_heads, D) tensor. */
const float *kvb_kv_row(const kvb_kv *kv, const float *x, int t, int head);
/* Build stored head `head` of a layer from the prefill K/V, keeping the ascending positions
 * idx[0..m) (all n when idx is NULL). */
int kvb_kv_fill(kvb_kv *kv, const kvb_prefill_layer *pl, int head, const int *idx, int m,
                kvb_error *e);
typedef int (*kvb_kv_fill_fn)(kvb_kv *kv, const kvb_prefill_layer *pl, int head, const int *idx,
                              int m, kvb_error *e);
/* Every head of a layer from the prefill, the same positions idx[0..m) (NULL: all). */
int kvb_kv_fill_all(kvb_kv *kv, const kvb_prefill_layer *pl, const int *idx, int m,
                    kvb_error *e);
/* Select the top `cap` of each stored head's score vector (prefix of n - window positions,
 * scores (S, n - window)), add the window and store each head with fill (NULL: kvb_kv_fill).
 * cap < 0: keep everything. */
int kvb_kv_keep_topk(kvb_kv *kv, const kvb_prefill_layer *pl, const float *scores, int cap,
                     int window, kvb_kv_fill_fn fill, kvb_error *e);
/* SnapKV's layer: window scores (when cap >= 0) then kvb_kv_keep_topk. */
int kvb_kv_snap_layer(kvb_kv *kv, const kvb_prefill_layer *pl, const kvb_snap_params *sp,
                      int cap, kvb_kv_fill_fn fill, kvb_error *e);
/* The observation window of a method whose params start with kvb_snap_method_params (the
 * descriptor's device_window). */
int kvb_snap_window(const void *params);
/* Prompt tokens SnapKV selects from the prefix (window excluded), or -1 = keep everything. */
int kvb_snap_cap(const kvb_snap_params *sp, int n);
/* The budget includes the window, so it must exceed it. */
int kvb_window_check(int budget, int window, kvb_error *e);
/* Checks of the SnapKV parameters (budget exceeds window, odd kernel): the descriptor check of
 * a method whose params start with kvb_snap_method_params. */
int kvb_snap_check(const void *params, const kvb_cache_shape *s, kvb_error *e);
/* Stored heads of a plan (gqa layout of the params). */
int kvb_kv_plan_heads(const void *params, const kvb_cache_shape *s);
/* Plan of a method that keeps kept_per_head fp16 tokens on every stored head of every layer. */
int kvb_kv_plan_fp16(const void *params, const kvb_cache_shape *s, long kept_per_head,
                     kvb_cache_plan_layer *out);

/* KIVI: quantize a layer from the prefill K/V (quant parameters qp). */
int kvb_kv_quantize_prefill(kvb_kv *kv, const kvb_prefill_layer *pl, const kvb_quant_params *qp,
                            kvb_error *e);
/* KIVI: move a layer's fp16 stores into KIVI stores: the first np tokens by the prefill rule,
 * the rest by the decode rule. */
int kvb_kv_quantize_layer(kvb_kv *kv, int layer, int np, const kvb_quant_params *qp,
                          kvb_error *e);
/* Checks of the KIVI parameters against the shape. */
int kvb_quant_check(const kvb_quant_params *qp, const kvb_cache_shape *s, kvb_error *e);
/* KIVI bytes of a prompt of n tokens on S heads (plan). */
void kvb_quant_plan(kvb_cache_plan_layer *o, const kvb_quant_params *qp, int n, int S,
                    const kvb_cache_shape *s);

/* ---- scorers over the prefill tensors (scores.c) -------------------------------------------- */
/* Score vectors of the SnapKV kernel for every stored head: out (S, n - w) = window-attention
 * column sums over the prefix, reduced to kv heads (kv_head mode, mean before pooling as
 * KVCache-Factory's kv_head mode), pooled. raw (S, n - w), when not NULL, receives the unpooled
 * vector. */
void kvb_kv_window_scores(kvb_kv *kv, const kvb_prefill_layer *pl, const kvb_snap_params *sp,
                          float *out, float *raw);
/* H2O: column sums of the causal attention over the prefix of n - window positions, reduced as
 * kvb_kv_window_scores, no pooling; computed here when pl->colsum is NULL. */
void kvb_kv_colsum_scores(kvb_kv *kv, const kvb_prefill_layer *pl, int window, float *out);

#endif
