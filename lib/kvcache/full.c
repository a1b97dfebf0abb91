/* The `full` cache: keeps every token of every layer and head, as f16 (default: the 16-bit cache
 * of the papers, transformers and llama.cpp, and the storage of every compressing method, so the
 * baseline reads 1.00x) or f32 (dtype=f32: the exact path of the oracle tests; twice the bytes).
 * Storage is one block per (layer, kv head) with tokens contiguous, so decode attention streams
 * K then V linearly. */
#include "kvcache_impl.h"
#include "kvcache/params.h"

#include <stddef.h>

#include "core/simd.h"
#include "kvcache/attn_f16.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct full_state {
    int f16;          /* element type: 0 f32, 1 f16 */
    size_t elt;       /* bytes per element */
    size_t head_cap;  /* elements per (layer, kv head) block: max_tokens * head_dim */
    unsigned char *k, *v; /* (n_layers, n_kv_heads, max_tokens, head_dim) */
    int *len;         /* tokens held per layer */
} full_state;

typedef struct full_params {
    int f16; /* f16 storage (default) or f32 (dtype=f32) */
} full_params;

/* full holds 16 bits like every other method's store (and the papers, transformers and
 * llama.cpp): f16 for every model (docs/kvcache.md says why not bf16); dtype=f32 is exact */
static const kvb_method_param full_table[] = {
    KVB_PARAM(full_params, dtype, f16, 1),
};

static int full_init(kvb_cache *c, kvb_error *e)
{
    const int f16 = ((const full_params *)c->params)->f16;
    full_state *s = kvb_calloc(1, sizeof(*s));
    if (!s)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    c->priv = s;
    const kvb_cache_shape *sh = &c->shape;
    s->f16 = f16;
    s->elt = f16 ? 2 : 4;
    s->head_cap = (size_t)sh->max_tokens * sh->head_dim;
    size_t total;
    if (kvb_mul_overflow(s->head_cap * s->elt, (size_t)sh->n_layers * sh->n_kv_heads, &total))
        return kvb_errorf(e, KVB_ENOMEM, "cache of %d tokens is too large", sh->max_tokens);
    /* calloc: pages are only backed once written, so RSS follows the tokens really held */
    s->k = kvb_calloc(total, 1);
    s->v = kvb_calloc(total, 1);
    s->len = kvb_calloc((size_t)sh->n_layers, sizeof(int));
    if (!s->k || !s->v || !s->len)
        return kvb_errorf(e, KVB_ENOMEM, "cannot allocate a %zu-byte cache", 2 * total);
    return 0;
}

static void full_release(kvb_cache *c)
{
    full_state *s = c->priv;
    if (!s)
        return;
    free(s->k);
    free(s->v);
    free(s->len);
    free(s);
    c->priv = NULL;
}

static int full_reset(kvb_cache *c, int n_prompt, kvb_error *e)
{
    (void)n_prompt;
    (void)e;
    full_state *s = c->priv;
    memset(s->len, 0, sizeof(int) * (size_t)c->shape.n_layers);
    return 0;
}

static unsigned char *block(const kvb_cache *c, unsigned char *base, int layer, int kvh)
{
    const full_state *s = c->priv;
    return base + ((size_t)layer * c->shape.n_kv_heads + kvh) * s->head_cap * s->elt;
}

/* Store one token row (head_dim floats) at token index t of a block. */
static void put_row(const full_state *s, unsigned char *blk, int t, int hd, const float *x)
{
    if (!s->f16) {
        memcpy(blk + (size_t)t * hd * 4, x, (size_t)hd * 4);
        return;
    }
    uint16_t *dst = (uint16_t *)(void *)blk + (size_t)t * hd;
    int d = 0;
    for (; d + 8 <= hd; d += 8)
        _mm_storeu_si128((__m128i *)(dst + d),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + d), _MM_FROUND_TO_NEAREST_INT));
    for (; d < hd; d++)
        dst[d] = _cvtss_sh(x[d], _MM_FROUND_TO_NEAREST_INT);
}

static int full_prefill_layer(kvb_cache *c, const kvb_prefill_layer *pl, kvb_error *e)
{
    (void)e;
    full_state *s = c->priv;
    int nkv = c->shape.n_kv_heads, hd = c->shape.head_dim;
    for (int h = 0; h < nkv; h++) {
        unsigned char *kb = block(c, s->k, pl->layer, h), *vb = block(c, s->v, pl->layer, h);
        for (int t = 0; t < pl->n_tokens; t++) {
            put_row(s, kb, t, hd, pl->k + ((size_t)t * nkv + h) * hd);
            put_row(s, vb, t, hd, pl->v + ((size_t)t * nkv + h) * hd);
        }
    }
    s->len[pl->layer] = pl->n_tokens;
    return 0;
}

static int full_append(kvb_cache *c, int layer, const float *k, const float *v, kvb_error *e)
{
    full_state *s = c->priv;
    int nkv = c->shape.n_kv_heads, hd = c->shape.head_dim, t = s->len[layer];
    if (t >= c->shape.max_tokens)
        return kvb_errorf(e, KVB_EINVAL, "layer %d is full (%d tokens)", layer, t);
    for (int h = 0; h < nkv; h++) {
        put_row(s, block(c, s->k, layer, h), t, hd, k + (size_t)h * hd);
        put_row(s, block(c, s->v, layer, h), t, hd, v + (size_t)h * hd);
    }
    s->len[layer] = t + 1;
    return 0;
}

/* A device keeps the K/V (bf16, 2 bytes like f16): only the lengths live here; the host blocks
 * are calloc'ed and never written, so they take no resident memory. */
static int full_hold_external(kvb_cache *c, int n_tokens, kvb_error *e)
{
    full_state *s = c->priv;
    if (!s->f16)
        return kvb_errorf(e, KVB_EUNSUP, "cache method full with dtype=f32 is not on the GPU (the "
                          "device cache is bf16)");
    for (int l = 0; l < c->shape.n_layers && n_tokens; l++)
        s->len[l] = n_tokens;
    return 0;
}

/* ---- decode attention ------------------------------------------------------------------------ */
static inline __m256 load8(const full_state *s, const unsigned char *blk, size_t i)
{
    if (s->f16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(blk + i * 2)));
    return _mm256_loadu_ps((const float *)(const void *)blk + i);
}

static inline float load1(const full_state *s, const unsigned char *blk, size_t i)
{
    return s->f16 ? _cvtsh_ss(((const uint16_t *)(const void *)blk)[i])
                  : ((const float *)(const void *)blk)[i];
}

/* Scores of G heads (sc + g*n) -> exp(s - max) in place, with each head's max and sum; normalize:
 * divide by the sum too (sum becomes 1), in store.c's operation order. */
static void softmax_rows(float *sc, int n, int G, float *mx, float *sum, int normalize)
{
    for (int g = 0; g < G; g++) {
        float *x = sc + (size_t)g * n;
        mx[g] = kvb_max_f32(x, n);
        sum[g] = kvb_exp_sub_sum(x, n, mx[g]);
        if (normalize) {
            kvb_scale_f32(x, n, 1.0f / sum[g]);
            sum[g] = 1.0f;
        }
    }
}

/* The f16 fast path: head_dim a multiple of 32, at most 4 query heads per kv head (Llama-2 1,
 * SmolLM2 3, Llama-3 and Mistral 4). Partial form over n tokens: out[g] = sum_t e_t v_t unnormalized
 * with e_t = exp(s_t - mx[g]), sum[g] = sum_t e_t, so token ranges can be merged (flash-decoding).
 * normalize: the probabilities are normalized before V instead (sum[g] = 1), in exactly the
 * operation order of store.c, which keeps methods holding every token bit-identical to full. */
static void attend_part_f16(const uint16_t *kb, const uint16_t *vb, int n, int hd, const float *q,
                            int G, float scale, float *sc, float *out, float *mx, float *sum,
                            int normalize)
{
    kvb_f16_scores(kb, n, hd, q, G, scale, sc);
    softmax_rows(sc, n, G, mx, sum, normalize);
    kvb_f16_values(vb, n, hd, sc, G, out);
}

/* Any dtype and head_dim, up to FULL_MAX_GROUP query heads sharing one kv block, partial form as
 * above: each K and V row is read once for the whole group (GQA), scores for head g live at
 * sc + g*n. */
#define FULL_MAX_GROUP 16
static void attend_part_any(const full_state *s, const unsigned char *kb, const unsigned char *vb,
                            int n, int hd, const float *q, int G, float scale, float *sc, float *out,
                            float *mx, float *sum, int normalize)
{
    int vec = hd & ~7;
    for (int t = 0; t < n; t++) {
        size_t base = (size_t)t * hd;
        __m256 acc[FULL_MAX_GROUP];
        for (int g = 0; g < G; g++)
            acc[g] = _mm256_setzero_ps();
        for (int d = 0; d < vec; d += 8) {
            __m256 k = load8(s, kb, base + d);
            for (int g = 0; g < G; g++)
                acc[g] = _mm256_fmadd_ps(_mm256_loadu_ps(q + (size_t)g * hd + d), k, acc[g]);
        }
        for (int g = 0; g < G; g++) {
            float dot = kvb_hsum256_pairwise(acc[g]);
            for (int d = vec; d < hd; d++)
                dot += q[(size_t)g * hd + d] * load1(s, kb, base + d);
            sc[(size_t)g * n + t] = dot * scale;
        }
    }
    softmax_rows(sc, n, G, mx, sum, normalize);
    memset(out, 0, sizeof(float) * (size_t)hd * G);
    for (int t = 0; t < n; t++) {
        size_t base = (size_t)t * hd;
        for (int d = 0; d < vec; d += 8) {
            __m256 v = load8(s, vb, base + d);
            for (int g = 0; g < G; g++) {
                float *o = out + (size_t)g * hd + d;
                _mm256_storeu_ps(o, _mm256_fmadd_ps(_mm256_set1_ps(sc[(size_t)g * n + t]), v,
                                                    _mm256_loadu_ps(o)));
            }
        }
        for (int d = vec; d < hd; d++)
            for (int g = 0; g < G; g++)
                out[(size_t)g * hd + d] += sc[(size_t)g * n + t] * load1(s, vb, base + d);
    }
}

/* Heads [h0, h1) over tokens [t0, t1) of a layer, partial form (out unnormalized, mx/sum per head). */
static void attend_range(kvb_cache *c, int layer, const float *q, int h0, int h1, int t0, int t1,
                         float *scratch, float *out, float *mx, float *sum, int normalize)
{
    full_state *s = c->priv;
    int hd = c->shape.head_dim, group = c->shape.n_heads / c->shape.n_kv_heads, n = t1 - t0;
    float scale = 1.0f / sqrtf((float)hd);
    for (int h = h0; h < h1;) {
        int kvh = h / group;
        int he = KVB_MIN(h1, (kvh + 1) * group);
        he = KVB_MIN(he, h + FULL_MAX_GROUP);
        const unsigned char *kb = block(c, s->k, layer, kvh) + (size_t)t0 * hd * s->elt;
        const unsigned char *vb = block(c, s->v, layer, kvh) + (size_t)t0 * hd * s->elt;
        if (n <= 0) {
            for (int g = h; g < he; g++)
                mx[g] = -INFINITY, sum[g] = 0;
            memset(out + (size_t)h * hd, 0, sizeof(float) * (size_t)(he - h) * hd);
        } else if (s->f16 && hd % 32 == 0 && he - h <= KVB_F16_MAX_GROUP)
            attend_part_f16((const uint16_t *)(const void *)kb, (const uint16_t *)(const void *)vb,
                            n, hd, q + (size_t)h * hd, he - h, scale, scratch,
                            out + (size_t)h * hd, mx + h, sum + h, normalize);
        else
            attend_part_any(s, kb, vb, n, hd, q + (size_t)h * hd, he - h, scale, scratch,
                            out + (size_t)h * hd, mx + h, sum + h, normalize);
        h = he;
    }
}

static void full_attend(kvb_cache *c, int layer, const float *q, float *out, int h0, int h1,
                        float *scratch)
{
    full_state *s = c->priv;
    float mx[KVB_CACHE_MAX_HEADS], sum[KVB_CACHE_MAX_HEADS]; /* sum is 1: normalized in place */
    attend_range(c, layer, q, h0, h1, 0, s->len[layer], scratch, out, mx, sum, 1);
}

/* Token range `part` of `n_parts` for every head: the flash-decoding split (no kv block is read
 * by two threads, and the work is even whatever the head count). Ranges are multiples of 8 so the
 * f16 path stays on its 8-token kernel. */
static void full_attend_part(kvb_cache *c, int layer, const float *q, int part, int n_parts,
                             float *out, float *mx, float *sum, float *scratch)
{
    full_state *s = c->priv;
    int n = s->len[layer], per = (n + n_parts - 1) / n_parts;
    per = (per + 7) / 8 * 8;
    int t0 = KVB_MIN(n, part * per), t1 = KVB_MIN(n, t0 + per);
    attend_range(c, layer, q, 0, c->shape.n_heads, t0, t1, scratch, out, mx, sum, 0);
}

static size_t full_scratch(const kvb_cache *c)
{
    int group = c->shape.n_heads / c->shape.n_kv_heads;
    return (size_t)c->shape.max_tokens * (size_t)KVB_MIN(group, FULL_MAX_GROUP);
}

/* ---- accounting ------------------------------------------------------------------------------ */
static void full_layer_stats(const kvb_cache *c, int layer, kvb_cache_layer_stats *o)
{
    const full_state *s = c->priv;
    size_t per = (size_t)s->len[layer] * c->shape.n_kv_heads * c->shape.head_dim * s->elt;
    o->k_bytes = per;
    o->v_bytes = per;
    o->tokens = (long)s->len[layer] * c->shape.n_kv_heads;
}

static size_t full_bytes(const kvb_cache *c)
{
    size_t total = 0;
    for (int l = 0; l < c->shape.n_layers; l++) {
        kvb_cache_layer_stats st;
        memset(&st, 0, sizeof(st));
        full_layer_stats(c, l, &st);
        total += st.k_bytes + st.v_bytes;
    }
    return total;
}

static char *full_params_json(const kvb_cache *c)
{
    return kvb_params_json(c->m, c->params, 0);
}

static int full_plan(const void *params, const kvb_cache_shape *s, int n,
                     kvb_cache_plan_layer *out, char *why, size_t whylen)
{
    (void)why, (void)whylen;
    for (int l = 0; l < s->n_layers; l++) {
        kvb_plan_fp16(&out[l], n, s->n_kv_heads, s);
        if (!((const full_params *)params)->f16)
            out[l].k_bytes *= 2, out[l].v_bytes *= 2;
    }
    return 0;
}

static const struct kvb_cache_ops full_ops = {
    .init = full_init,
    .reset = full_reset,
    .prefill_layer = full_prefill_layer,
    .prefill_end = NULL,
    .append = full_append,
    .attend = full_attend,
    .attend_part = full_attend_part,
    .scratch_floats = full_scratch,
    .bytes = full_bytes,
    .layer_stats = full_layer_stats,
    .params_json = full_params_json,
    .release = full_release,
    .hold_external = full_hold_external,
};

const struct kvb_cache_method kvb_cache_method_full = {
    .name = "full",
    .params = full_table,
    .n_params = KVB_ARRAY_SIZE(full_table),
    .params_size = sizeof(full_params),
    .ops = &full_ops,
    .plan = full_plan,
};
