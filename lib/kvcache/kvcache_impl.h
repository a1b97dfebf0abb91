/* lib/kvcache private header: what a cache method implements. Only the files of lib/kvcache include it.
 *
 * Adding a method (three steps):
 *   1. write lib/kvcache/<method>.c defining `const struct kvb_cache_method kvb_cache_method_<x>`
 *      (every callback below except the ones marked optional);
 *   2. add `extern const struct kvb_cache_method kvb_cache_method_<x>;` and one line to the
 *      table in lib/kvcache/registry.c;
 *   3. add a test under tests/unit/ comparing kept indices/budgets with the reference.
 *
 * The dispatcher (kvcache.c) owns `struct kvb_cache`: it copies the shape, checks arguments
 * (layer range, head ranges, token capacity) before calling the method, and counts tokens, so
 * methods only do their own work. A method keeps its state behind `priv`. */
#ifndef KVB_KVCACHE_IMPL_H
#define KVB_KVCACHE_IMPL_H

#include "kvcache/kvcache.h"

struct kvb_cache_method {
    const char *name;           /* canonical command-line name ("full", "SimLayerKV") */
    const char *const *aliases; /* NULL-terminated list, or NULL; matched case-insensitively */
    unsigned needs;             /* KVB_NEED_* the forward pass must compute at prefill; init may
                                   change c->needs (e.g. a parameter turns a statistic on) */

    /* Parse and validate params (unknown name or bad value: KVB_EINVAL naming it), allocate the
     * state for shape->max_tokens tokens into c->priv. Called once. */
    int (*init)(kvb_cache *c, const kvb_cache_param *params, int n_params, kvb_error *e);
    /* Forget the previous record; the next one has n_prompt prompt tokens. */
    int (*reset)(kvb_cache *c, int n_prompt, kvb_error *e);
    /* One layer's full prompt K/V/Q after RoPE (+ colsum when needed). Keep what you keep. The
     * pointers are only valid during the call: copy. */
    int (*prefill_layer)(kvb_cache *c, const kvb_prefill_layer *pl, kvb_error *e);
    /* Optional (NULL = nothing to do): all layers seen; methods deciding across layers do it here. */
    int (*prefill_end)(kvb_cache *c, kvb_error *e);
    /* One new token's K/V at `layer`, (n_kv_heads, head_dim) each. */
    int (*append)(kvb_cache *c, int layer, const float *k, const float *v, kvb_error *e);
    /* Decode attention of one token for query heads [h0, h1): q (n_heads, head_dim), not scaled
     * (apply 1/sqrt(head_dim)); write out[h*head_dim ...] for h in [h0, h1) only. scratch:
     * scratch_floats() floats private to this thread. Must be thread-safe for disjoint ranges
     * and must not allocate. */
    void (*attend)(kvb_cache *c, int layer, const float *q, float *out, int h0, int h1,
                   float *scratch);
    /* Optional (NULL = decode splits by heads only): tokens of part `part` of `n_parts` for every
     * query head, in partial form: out (n_heads, head_dim) = sum_t exp(s_t - mx[h]) v_t, not
     * normalized, mx[h] the largest scaled score of the range (-inf when empty), sum[h] the sum
     * of the exponentials. Thread-safe for distinct parts; must not allocate. */
    void (*attend_part)(kvb_cache *c, int layer, const float *q, int part, int n_parts,
                        float *out, float *mx, float *sum, float *scratch);
    size_t (*scratch_floats)(const kvb_cache *c);
    /* Bytes really held now, all layers (K, V, scales/zeros, residual, index arrays). */
    size_t (*bytes)(const kvb_cache *c);
    /* Per-layer accounting (see kvb_cache_layer_stats); tokens_full is filled by the dispatcher
     * after the call, so the method may leave it 0. */
    void (*layer_stats)(const kvb_cache *c, int layer, kvb_cache_layer_stats *out);
    /* Effective parameters as a JSON object text, malloc'ed (NULL = "{}"). Optional. */
    char *(*params_json)(const kvb_cache *c);
    /* Free priv. */
    void (*release)(kvb_cache *c);
};

struct kvb_cache {
    const struct kvb_cache_method *m;
    kvb_cache_shape shape;     /* copied; shape.model_family points at family[] */
    char family[32];
    kvb_pool *pool;            /* may be NULL (single-threaded) */
    unsigned needs;            /* starts as m->needs; init may change it */
    int n_prompt;              /* prompt tokens of the current record */
    int n_tokens;              /* true sequence length so far: n_prompt + appended tokens (after
                                  every layer of a step got its append: counted on layer 0) */
    size_t prefill_peak;       /* largest m->bytes() seen from the reset to the end of prefill */
    void *priv;                /* method state */
};

/* registry.c */
extern const struct kvb_cache_method *const kvb_cache_methods[];
extern const int kvb_cache_n_methods;

/* Shared helpers for methods (kvcache.c). */
/* Softmax-weighted sum: out[d] = sum_t softmax(scale * q.k_t) v_t over n token rows with row
 * stride `stride` floats (K and V row-major (n, stride), first head_dim floats used). scores:
 * n floats of scratch. The reference kernel every f32 method can use. */
void kvb_attend_f32(const float *q, const float *k, const float *v, int n, int head_dim,
                    size_t stride, float scale, float *scores, float *out);

#endif
