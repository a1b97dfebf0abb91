/* lib/kvcache/simlayerkv.c: SimLayerKV (spec B.2, the decoding variant shipped by
 * sail-sg/SimLayerKV): the prompt is cached in full; on the first decode step each layer's score
 * is the head-averaged attention mass of the new query on the first `sink` and the last `recent`
 * cached tokens (new token included; overlapping windows count twice). A layer whose score is
 * strictly above `threshold` (and threshold < 2, the reference's guard) is lazy and keeps only
 * those `sink` + `recent` tokens from then on (it still grows by one token per step). Decided
 * once per record, at the layer's next append.
 * SimLayerKV+KIVI (spec C.4, alias kivi_SimLayerKV) is the same method with KIVI on top: it cuts
 * the *prompt* part (the new token stays) and then quantizes the layer with KIVI's prefill rule;
 * both descriptors live here. */
#include "kvcache/engine.h"
#include "kvcache/select.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct simlayerkv_params {
    kvb_kv_params kv;
    double threshold;
    int sink, recent;
    kvb_quant_params quant; /* SimLayerKV+KIVI (bits 0: plain SimLayerKV, not in its table) */
} simlayerkv_params;

/* Default threshold for a model family (spec B.2; smollm2/unknown: see docs). */
static double default_threshold(const char *family)
{
    /* sail-sg/SimLayerKV pred.py picks the threshold by a substring of the model name. SmolLM2 has
     * no reference value: it is a Llama-3-style GQA model, so it gets llama3's 0.9 (docs). */
    if (family) {
        if (strstr(family, "llama2"))
            return 0.65;
        if (strstr(family, "mistral"))
            return 0.8;
        if (strstr(family, "qwen"))
            return 0.85;
    }
    return 0.9;
}

#define SIMLAYER_PARAMS                                                                            \
    { &kvb_param_threshold, offsetof(simlayerkv_params, threshold), 0, default_threshold },      \
        KVB_PARAM(simlayerkv_params, sink, sink, 4),                                               \
        KVB_PARAM(simlayerkv_params, recent, recent, 1024)

static const kvb_method_param simlayerkv_table[] = {
    SIMLAYER_PARAMS,
    KVB_PARAM(simlayerkv_params, gqa, kv.gqa_query, 0),
};

static const kvb_method_param simlayerkv_kivi_table[] = {
    SIMLAYER_PARAMS,
    KVB_QUANT_PARAMS(simlayerkv_params, quant, 4),
    KVB_PARAM(simlayerkv_params, gqa, kv.gqa_query, 0),
};

typedef struct simlayerkv_state {
    double *head_score; /* (L, n_heads) mass of the first decode step on the two windows */
    int *decided, *lazy; /* (L) decision made / layer lazy */
} simlayerkv_state;

static int simlayerkv_init(kvb_kv *kv, kvb_error *e)
{
    simlayerkv_state *st = kvb_calloc(1, sizeof(*st));
    kv->state = st;
    if (st) {
        st->head_score = kvb_calloc((size_t)kv->L * kv->shape.n_heads, sizeof(double));
        st->decided = kvb_calloc((size_t)kv->L, sizeof(int));
        st->lazy = kvb_calloc((size_t)kv->L, sizeof(int));
    }
    if (!st || !st->head_score || !st->decided || !st->lazy)
        return kvb_errorf(e, KVB_ENOMEM, "kvcache: out of memory");
    return 0;
}

static int simlayerkv_reset(kvb_kv *kv, kvb_error *e)
{
    (void)e;
    simlayerkv_state *st = kv->state;
    memset(st->head_score, 0, (size_t)kv->L * kv->shape.n_heads * sizeof(double));
    memset(st->decided, 0, (size_t)kv->L * sizeof(int));
    memset(st->lazy, 0, (size_t)kv->L * sizeof(int));
    return 0;
}

static void simlayerkv_release(kvb_kv *kv)
{
    simlayerkv_state *st = kv->state;
    if (st) {
        free(st->head_score);
        free(st->decided);
        free(st->lazy);
    }
    free(st);
    kv->state = NULL;
}

static int simlayerkv_prefill(kvb_kv *kv, const kvb_prefill_layer *pl, kvb_error *e)
{
    return kvb_kv_fill_all(kv, pl, NULL, pl->n_tokens, e);
}

/* The layer's first decode step has attended and its decision is still to be made. */
static int pending(const kvb_kv *kv, int layer)
{
    const simlayerkv_state *st = kv->state;
    return kv->appended[layer] == 1 && !st->decided[layer];
}

/* The layer's score: the head average of the first decode step's mass on the two windows. */
static double layer_score(const kvb_kv *kv, int layer)
{
    const simlayerkv_state *st = kv->state;
    const int H = kv->shape.n_heads;
    double s = 0.0;
    for (int h = 0; h < H; h++)
        s += st->head_score[(size_t)layer * H + h];
    return s / H;
}

static int would_be_lazy(const kvb_kv *kv, int layer)
{
    const simlayerkv_params *p = kv->params;
    return p->threshold < 2.0 && layer_score(kv, layer) > p->threshold;
}

/* Each head leaves its mass on the initial and recent windows on the first decode step. */
static void simlayerkv_attended(kvb_kv *kv, int layer, int head, const float *probs, int n)
{
    const simlayerkv_params *p = kv->params;
    simlayerkv_state *st = kv->state;
    if (pending(kv, layer))
        st->head_score[(size_t)layer * kv->shape.n_heads + head] =
            kvb_sel_simlayer_head(probs, n, p->sink, p->recent);
}

/* Decide at the layer's next append: lazy layers keep sink + recent tokens of the prompt and
 * what was appended since (SimLayerKV: the last `recent` of everything held). Returns lazy. */
static int decide(kvb_kv *kv, int layer, int prompt_only, int *np)
{
    const simlayerkv_params *p = kv->params;
    simlayerkv_state *st = kv->state;
    const int lazy = would_be_lazy(kv, layer);
    st->lazy[layer] = lazy;
    st->decided[layer] = 1;
    *np = kv->n_prompt;
    if (!lazy)
        return 0;
    const int keep = p->sink + p->recent;
    for (int h = 0; h < kv->S; h++) {
        kvb_seq *s = kvb_kv_seq(kv, layer, h);
        int m = kvb_sel_streaming(prompt_only ? kv->n_prompt : s->n, keep, p->sink, kv->sc_idx);
        if (prompt_only) {
            *np = m;
            for (int t = kv->n_prompt; t < s->n; t++)
                kv->sc_idx[m++] = t;
        }
        kvb_seq_keep(s, kv->sc_idx, m);
    }
    return 1;
}

/* On a device: the first decode step's per-head masses come from the device's attention. */
static unsigned simlayerkv_device_needs(const kvb_kv *kv, int *sink, int *recent)
{
    const simlayerkv_params *p = kv->params;
    *sink = p->sink, *recent = p->recent;
    for (int l = 0; l < kv->L; l++)
        if (pending(kv, l))
            return KVB_NEED_SINK;
    return 0;
}

static void simlayerkv_decode_stats(kvb_kv *kv, int layer, const float *sink_mass)
{
    simlayerkv_state *st = kv->state;
    if (pending(kv, layer))
        for (int h = 0; h < kv->shape.n_heads; h++)
            st->head_score[(size_t)layer * kv->shape.n_heads + h] = sink_mass[h];
}

static void simlayerkv_decode(kvb_kv *kv, int layer)
{
    int np;
    if (pending(kv, layer))
        decide(kv, layer, 0, &np);
}

/* SimLayerKV+KIVI: the prompt part is cut (lazy) and quantized; the tokens appended since
 * prefill follow through KIVI's decode rule. */
static void simlayerkv_kivi_decode(kvb_kv *kv, int layer)
{
    int np;
    if (!pending(kv, layer))
        return;
    decide(kv, layer, 1, &np);
    /* allocation failure leaves the layer in fp16: still correct, only larger */
    (void)kvb_kv_quantize_layer(kv, layer, np, &((const simlayerkv_params *)kv->params)->quant,
                                NULL);
}

/* Decided on the first decode step but trimmed at the next append: when decoding stopped after
 * one token, report what the reference holds after that step. */
static long simlayerkv_reference_tokens(const kvb_kv *kv, int layer)
{
    const simlayerkv_params *p = kv->params;
    return pending(kv, layer) && would_be_lazy(kv, layer) ? p->sink + p->recent : -1;
}

static int simlayerkv_lazy(const kvb_kv *kv, int layer)
{
    const simlayerkv_state *st = kv->state;
    return st->decided[layer] ? st->lazy[layer]
           : kv->appended[layer] == 1 ? would_be_lazy(kv, layer) : 0;
}

static int simlayerkv_plan(const void *params, const kvb_cache_shape *s, int n,
                           kvb_cache_plan_layer *out, char *why, size_t whylen)
{
    (void)s, (void)n, (void)out;
    snprintf(why, whylen, "%s decides which layers are lazy from the attention of the first "
             "decode step; kept tokens per layer are known only after running the model",
             ((const simlayerkv_params *)params)->quant.bits ? "SimLayerKV+KIVI" : "SimLayerKV");
    return KVB_EUNSUP;
}

static int simlayerkv_kivi_check(const void *params, const kvb_cache_shape *s, kvb_error *e)
{
    return kvb_quant_check(&((const simlayerkv_params *)params)->quant, s, e);
}

#define SIMLAYER_HOOKS                                                                             \
    .params_size = sizeof(simlayerkv_params), .ops = &kvb_store_ops, .init = simlayerkv_init,     \
    .reset = simlayerkv_reset, .prefill_layer = simlayerkv_prefill,                                \
    .attended = simlayerkv_attended, .lazy = simlayerkv_lazy, .release = simlayerkv_release,     \
    .layer_score = layer_score, .plan = simlayerkv_plan

const struct kvb_cache_method kvb_cache_method_simlayerkv = {
    .name = "SimLayerKV",
    .params = simlayerkv_table,
    .n_params = KVB_ARRAY_SIZE(simlayerkv_table),
    .decode = simlayerkv_decode,
    .reference_tokens = simlayerkv_reference_tokens,
    .on_device = KVB_DEVICE_HOLDS_SELECTED,
    .device_decode_needs = simlayerkv_device_needs,
    .decode_stats = simlayerkv_decode_stats,
    SIMLAYER_HOOKS,
};

static const kvb_quant_params *simlayerkv_quant(const void *params)
{
    return &((const simlayerkv_params *)params)->quant;
}

static const char *const simlayerkv_kivi_aliases[] = { "kivi_SimLayerKV", NULL };
const struct kvb_cache_method kvb_cache_method_simlayerkv_kivi = {
    .name = "SimLayerKV+KIVI",
    .aliases = simlayerkv_kivi_aliases,
    .params = simlayerkv_kivi_table,
    .n_params = KVB_ARRAY_SIZE(simlayerkv_kivi_table),
    .check = simlayerkv_kivi_check,
    .decode = simlayerkv_kivi_decode,
    .on_device = KVB_DEVICE_HOLDS_SELECTED,
    .device_decode_needs = simlayerkv_device_needs,
    .decode_stats = simlayerkv_decode_stats,
    .device_quant = simlayerkv_quant,
    SIMLAYER_HOOKS,
};
