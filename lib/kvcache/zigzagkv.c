/* lib/kvcache/zigzagkv.c: ZigZagKV (arXiv 2412.09036) as reconstructed in spec §3.2/§3.3 (no
 * official code exists). Choices, all parameters (docs/kvcache.md):
 *  - scorer: the SnapKV kernel (window `window`, pooling `pool`/`kernel`, kv_head group mean);
 *  - LMBA of a head: the number of largest prefix scores whose cumulative sum first reaches
 *    tau * total (`lmba` pooled = on the pooled scores, like the flash revision of the public
 *    reconstruction, or raw = before pooling); LMBA of a layer: mean over the stored heads;
 *  - budgets: u_l = LMBA_l / sum LMBA, B_l = B_min + (avg - B_min) * L * u_l with
 *    avg = budget - window and B_min = bmin_ratio * avg, rounded, clamped to [0, n - window],
 *    no redistribution; the window is kept on top of B_l (PyramidKV's budget semantics);
 *  - prompts shorter than the budget are not compressed (as SnapKV/PyramidKV).
 * Budgets need every layer's LMBA, so each layer is held in full until prefill ends (the peak
 * memory of prefill is the full cache, reported as such). Budgets are reported in kv->budgets,
 * LMBA as the layer score. */
#include "kvcache/engine.h"
#include "kvcache/select.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct zigzagkv_params {
    kvb_snap_method_params base;
    double tau, bmin_ratio;
    int lmba_pooled;
} zigzagkv_params;

static const kvb_method_param zigzagkv_table[] = {
    KVB_SNAP_PARAMS(zigzagkv_params, base.snap),
    KVB_PARAM(zigzagkv_params, tau, tau, 0.9),
    KVB_PARAM(zigzagkv_params, bmin_ratio, bmin_ratio, 0.2),
    KVB_PARAM(zigzagkv_params, lmba, lmba_pooled, 1 /* pooled */),
    KVB_PARAM(zigzagkv_params, gqa, base.kv.gqa_query, 0),
};

typedef struct zigzagkv_state {
    float *scores; /* (L, S, n_prompt) pooled scores, kept until every layer's LMBA is known */
    double *lmba;  /* (L) */
} zigzagkv_state;

static int zigzagkv_check(const void *params, const kvb_cache_shape *s, kvb_error *e)
{
    const zigzagkv_params *p = params;
    int rc = kvb_snap_check(params, s, e);
    if (!rc && p->tau <= 0.0)
        rc = kvb_errorf(e, KVB_EINVAL, "invalid tau '%g' (expected a number in (0, 1])", p->tau);
    return rc;
}

static int zigzagkv_init(kvb_kv *kv, kvb_error *e)
{
    zigzagkv_state *st = kvb_calloc(1, sizeof(*st));
    kv->state = st;
    if (st)
        st->lmba = kvb_calloc((size_t)kv->L, sizeof(double));
    return st && st->lmba ? 0 : kvb_errorf(e, KVB_ENOMEM, "kvcache: out of memory");
}

static int zigzagkv_reset(kvb_kv *kv, kvb_error *e)
{
    zigzagkv_state *st = kv->state;
    memset(st->lmba, 0, (size_t)kv->L * sizeof(double));
    free(st->scores);
    st->scores = kvb_malloc((size_t)kv->L * kv->S * kv->n_prompt * sizeof(float));
    if (!st->scores)
        return kvb_errorf(e, KVB_ENOMEM, "kvcache: out of memory for a %d-token prompt",
                          kv->n_prompt);
    return 0;
}

static void zigzagkv_release(kvb_kv *kv)
{
    zigzagkv_state *st = kv->state;
    if (st) {
        free(st->scores);
        free(st->lmba);
    }
    free(st);
    kv->state = NULL;
}

static int zigzagkv_prefill(kvb_kv *kv, const kvb_prefill_layer *pl, kvb_error *e)
{
    const zigzagkv_params *p = kv->params;
    const kvb_snap_params *sp = &p->base.snap;
    zigzagkv_state *st = kv->state;
    const int n = pl->n_tokens, l = pl->layer;
    int rc = kvb_kv_fill_all(kv, pl, NULL, n, e);
    if (rc || n < sp->budget)
        return rc;
    const int m = n - KVB_MIN(sp->window, n);
    float *pooled = st->scores + (size_t)l * kv->S * kv->n_prompt;
    float *raw = kv->sc_pool; /* free here: the pooled scores go straight to st->scores */
    kvb_kv_window_scores(kv, pl, sp, pooled, raw);
    double acc = 0.0;
    for (int h = 0; h < kv->S; h++) {
        const float *s = (p->lmba_pooled ? pooled : raw) + (size_t)h * m;
        acc += kvb_sel_lmba(s, m, p->tau, kv->sc_row);
    }
    st->lmba[l] = acc / kv->S;
    return 0;
}

static int zigzagkv_end(kvb_kv *kv, kvb_error *e)
{
    (void)e;
    const zigzagkv_params *p = kv->params;
    const kvb_snap_params *sp = &p->base.snap;
    const zigzagkv_state *st = kv->state;
    const int n = kv->n_prompt;
    if (n < sp->budget) {
        for (int l = 0; l < kv->L; l++)
            kv->budgets[l] = n;
        return 0;
    }
    const int w = KVB_MIN(sp->window, n), m = n - w;
    kvb_sel_zigzag_budgets(st->lmba, kv->L, sp->budget - sp->window, p->bmin_ratio, m,
                           kv->budgets);
    for (int l = 0; l < kv->L; l++) {
        const float *pooled = st->scores + (size_t)l * kv->S * kv->n_prompt;
        for (int h = 0; h < kv->S; h++) {
            int cnt = kvb_sel_topk(pooled + (size_t)h * m, m, kv->budgets[l], kv->sc_idx,
                                   kv->sc_work);
            for (int t = m; t < n; t++)
                kv->sc_idx[cnt++] = t;
            /* the layer was stored in full and in position order, so index == slot */
            kvb_seq_keep(kvb_kv_seq(kv, l, h), kv->sc_idx, cnt);
        }
    }
    return 0;
}

static double zigzagkv_layer_score(const kvb_kv *kv, int layer)
{
    return ((const zigzagkv_state *)kv->state)->lmba[layer];
}

static int zigzagkv_plan(const void *params, const kvb_cache_shape *s, int n,
                         kvb_cache_plan_layer *out, char *why, size_t whylen)
{
    (void)params, (void)s, (void)n, (void)out;
    snprintf(why, whylen, "ZigZagKV sizes each layer's budget from its attention (LMBA); "
             "kept tokens per layer are known only after prefill");
    return KVB_EUNSUP;
}

const struct kvb_cache_method kvb_cache_method_zigzagkv = {
    .name = "ZigZagKV",
    .params = zigzagkv_table,
    .n_params = KVB_ARRAY_SIZE(zigzagkv_table),
    .params_size = sizeof(zigzagkv_params),
    .check = zigzagkv_check,
    .ops = &kvb_store_ops,
    .on_device = KVB_DEVICE_HOLDS_SELECTED,
    .device_needs = KVB_NEED_WINDOW,
    .device_window = kvb_snap_window,
    .plan = zigzagkv_plan,
    .init = zigzagkv_init,
    .reset = zigzagkv_reset,
    .prefill_layer = zigzagkv_prefill,
    .prefill_end = zigzagkv_end,
    .layer_score = zigzagkv_layer_score,
    .release = zigzagkv_release,
};
