/* lib/kvcache/scores.c: the scorers the eviction methods share, over the prefill tensors and the
 * store's scratch: the SnapKV kernel (observation-window attention, GQA reduction, pooling; used
 * by SnapKV, PyramidKV, ZigZagKV and ThinK) and H2O's accumulated attention. The arithmetic
 * kernels themselves are in select.c. */
#include "kvcache/engine.h"
#include "kvcache/select.h"

#include <string.h>

/* Scores per query head, (n_heads, n) rows `n` apart -> per stored head over the prefix of m:
 * kv_head layout averages the group's query heads (the Factory's kv_head mode; kvpress averages
 * after avg-pooling, the same up to rounding). */
static void reduce_heads(const kvb_kv *kv, const float *in, int n, int m, float *out)
{
    if (!kv->gqa_query) {
        kvb_sel_group_mean(in, (size_t)n, kv->S * kv->group, kv->S, m, out);
        return;
    }
    for (int s = 0; s < kv->S; s++)
        memcpy(out + (size_t)s * m, in + (size_t)s * n, (size_t)m * sizeof(float));
}

typedef struct head_job {
    kvb_kv *kv;
    const kvb_prefill_layer *pl;
    int w;
} head_job;

/* query heads split over the pool's threads, each with its own n-float scratch row */
static void window_worker(void *arg, int ith, int nth)
{
    head_job *j = arg;
    kvb_kv *kv = j->kv;
    const int n = j->pl->n_tokens, H = kv->shape.n_heads, D = kv->shape.head_dim;
    const int KV = kv->shape.n_kv_heads;
    for (int h = ith; h < H; h += nth)
        kvb_sel_window_attn_head(j->pl->q + (size_t)h * D, (size_t)H * D,
                                 j->pl->k + (size_t)(h / kv->group) * D, (size_t)KV * D, n, D,
                                 j->w, 0, kv->sc_attn + (size_t)h * n,
                                 kv->sc_thread + (size_t)ith * n);
}

static void colsum_worker(void *arg, int ith, int nth)
{
    head_job *j = arg;
    const kvb_kv *kv = j->kv;
    const int H = kv->shape.n_heads, n = j->pl->n_tokens, D = kv->shape.head_dim;
    /* one query head at a time, heads split over the threads */
    for (int h = ith; h < H; h += nth) {
        float *out = kv->sc_attn + (size_t)h * n, *scratch = kv->sc_thread + (size_t)ith * n;
        memset(out, 0, (size_t)n * sizeof(float));
        kvb_sel_colsum_head(j->pl->q + (size_t)h * D, (size_t)H * D,
                            j->pl->k + (size_t)(h / kv->group) * D,
                            (size_t)kv->shape.n_kv_heads * D, n, D, out, scratch);
    }
}

static void run_heads(kvb_kv *kv, void (*worker)(void *, int, int), head_job *job)
{
    if (kv->pool)
        kvb_pool_run(kv->pool, worker, job);
    else
        worker(job, 0, 1);
}

void kvb_kv_window_scores(kvb_kv *kv, const kvb_prefill_layer *pl, const kvb_snap_params *sp,
                          float *out, float *raw)
{
    const int n = pl->n_tokens;
    const int w = KVB_MIN(sp->window, n), m = n - w;
    const float *attn = pl->window_attn; /* a device's statistics, or computed here */
    if (!attn) {
        head_job job = { kv, pl, w };
        run_heads(kv, window_worker, &job);
        attn = kv->sc_attn;
    }
    reduce_heads(kv, attn, n, m, kv->sc_red);
    for (int s = 0; s < kv->S; s++) {
        if (raw)
            memcpy(raw + (size_t)s * m, kv->sc_red + (size_t)s * m, (size_t)m * sizeof(float));
        kvb_sel_pool1d(kv->sc_red + (size_t)s * m, m, sp->kernel, sp->pool, out + (size_t)s * m);
    }
}

void kvb_kv_colsum_scores(kvb_kv *kv, const kvb_prefill_layer *pl, int window, float *out)
{
    const int n = pl->n_tokens;
    const int m = n - KVB_MIN(window, n);
    const float *cs = pl->colsum;
    if (!cs) {
        head_job job = { kv, pl, 0 };
        run_heads(kv, colsum_worker, &job);
        cs = kv->sc_attn;
    }
    reduce_heads(kv, cs, n, m, out);
}

/* ---- SnapKV's selection, shared by the methods built on its scorer --------------------------- */

int kvb_snap_window(const void *params)
{
    return ((const kvb_snap_method_params *)params)->snap.window;
}

int kvb_snap_cap(const kvb_snap_params *sp, int n)
{
    return n < sp->budget ? -1 : sp->budget - sp->window;
}

int kvb_window_check(int budget, int window, kvb_error *e)
{
    if (budget <= window)
        return kvb_errorf(e, KVB_EINVAL,
                          "budget %d must exceed window %d (the window is part of the "
                          "budget)", budget, window);
    return 0;
}

int kvb_snap_check(const void *params, const kvb_cache_shape *s, kvb_error *e)
{
    (void)s;
    const kvb_snap_params *sp = &((const kvb_snap_method_params *)params)->snap;
    if (kvb_window_check(sp->budget, sp->window, e))
        return KVB_EINVAL;
    if (sp->kernel % 2 == 0)
        return kvb_errorf(e, KVB_EINVAL, "invalid kernel '%d' (expected an odd integer "
                          "in [1, 255])", sp->kernel);
    return 0;
}

int kvb_kv_snap_layer(kvb_kv *kv, const kvb_prefill_layer *pl, const kvb_snap_params *sp,
                      int cap, kvb_kv_fill_fn fill, kvb_error *e)
{
    if (cap >= 0)
        kvb_kv_window_scores(kv, pl, sp, kv->sc_pool, NULL);
    return kvb_kv_keep_topk(kv, pl, kv->sc_pool, cap, sp->window, fill, e);
}
