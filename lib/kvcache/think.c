/* lib/kvcache/think.c: ThinK (spec §4): after SnapKV selection, prune the floor(ratio * D) key
 * channels with the lowest score qsq[j] * mean_s k_s[j]^2 (qsq: mean of q^2 over the last
 * `qwindow` prompt queries, averaged over the group's query heads in kv_head layout), per stored
 * head. The `recent` newest kept tokens (and every generated token) keep all channels; older kept
 * tokens store only the kept channels (a real thin-key store: their bytes shrink). Decode logits
 * of thin keys use the kept channels of q and the full-D scale, as the reference.
 * Deviation: "recent" = the newest positions (the reference keeps the last r entries of its
 * score-ordered cache, which with window 8 < r = 32 are partly low-score tokens). Prompts shorter
 * than the budget are still channel-pruned (as ThinK's own update_thinkv). */
#include "kvcache/engine.h"
#include "kvcache/select.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct think_params {
    kvb_snap_method_params base;
    double ratio;
    int recent, qwindow;
} think_params;

static const kvb_method_param think_table[] = {
    KVB_SNAP_PARAMS(think_params, base.snap),
    KVB_PARAM(think_params, ratio, ratio, 0.4),
    KVB_PARAM(think_params, recent, recent, 32),
    KVB_PARAM(think_params, qwindow, qwindow, 32),
    KVB_PARAM(think_params, gqa, base.kv.gqa_query, 0),
};

/* Key channels ThinK prunes of head_dim D. */
static int think_pruned(const think_params *p, int D)
{
    return (int)floor(p->ratio * D);
}

/* ThinK's state: per layer and stored head the pooled qsq, kept until a device's key magnitudes
 * arrive (think_device_channels), and one group's per-query-head means (scratch). */
static double *think_qsq_of(const kvb_kv *kv, int layer, int head)
{
    return (double *)kv->state + ((size_t)layer * kv->S + head) * kv->shape.head_dim;
}

/* ThinK's query channel magnitudes of stored head `head`: the window's per-query-head means
 * (computed here from q, or by a device: pl->q_sqmean), pooled over the group. */
static void think_qsq(const kvb_kv *kv, const kvb_prefill_layer *pl, int head, double *qsq)
{
    const think_params *p = kv->params;
    const int D = kv->shape.head_dim, H = kv->shape.n_heads, n = pl->n_tokens;
    const int h0 = kv->gqa_query ? head : head * kv->group;
    const int nh = kv->gqa_query ? 1 : kv->group;
    const double *means = pl->q_sqmean ? pl->q_sqmean + (size_t)h0 * D : NULL;
    if (!means) {
        double *scratch = think_qsq_of(kv, kv->L, 0); /* past the table: the group's means */
        for (int i = 0; i < nh; i++)
            kvb_sel_channel_sqmean(pl->q, n, n - KVB_MIN(p->qwindow, n), H, h0 + i, D,
                                   scratch + (size_t)i * D);
        means = scratch;
    }
    kvb_sel_pool_mean(means, (size_t)D, nh, D, qsq);
}

/* The channels a head keeps (ascending, count returned): all but the floor(ratio * D) lowest
 * scores qsq[j] * ksq[j] (ksq: mean of k^2 over the head's kept tokens). */
static int think_channels(const think_params *p, int D, const double *qsq, const double *ksq,
                          int *ch)
{
    const int n_prune = think_pruned(p, D);
    float score[KVB_SEL_DMAX] = { 0 }; /* (gcc cannot see D >= 1) */
    int pruned[KVB_SEL_DMAX], work[KVB_SEL_DMAX], n_ch = 0, pi = 0;
    for (int j = 0; j < D; j++)
        score[j] = (float)(qsq[j] * ksq[j]);
    kvb_sel_bottomk(score, D, n_prune, pruned, work);
    for (int j = 0; j < D; j++) {
        if (pi < n_prune && pruned[pi] == j)
            pi++;
        else
            ch[n_ch++] = j;
    }
    return n_ch;
}

/* Store one stored head of the kept positions idx[0..m) (NULL: all), keys channel-pruned; on a
 * device only the positions, and qsq until the device's key magnitudes arrive
 * (think_device_channels). */
static int think_fill(kvb_kv *kv, const kvb_prefill_layer *pl, int head, const int *idx, int m,
                      kvb_error *e)
{
    const think_params *p = kv->params;
    const int D = kv->shape.head_dim;
    if (think_pruned(p, D) <= 0)
        return kvb_kv_fill(kv, pl, head, idx, m, e);
    if (!idx)
        m = pl->n_tokens;
    double *qsq = think_qsq_of(kv, pl->layer, head);
    think_qsq(kv, pl, head, qsq);
    if (kv->external)
        return kvb_kv_fill(kv, pl, head, idx, m, e);
    double ksq[KVB_SEL_DMAX];
    int ch[KVB_SEL_DMAX];
    const int kvh = kv->gqa_query ? head / kv->group : head;
    kvb_sel_rows_sqmean(pl->k + (size_t)kvh * D, (size_t)kv->shape.n_kv_heads * D, idx, m, D, ksq);
    const int n_ch = think_channels(p, D, qsq, ksq, ch);
    const int n_full = KVB_MIN(p->recent, m), n_thin = m - n_full;
    kvb_seq *s = kvb_kv_seq(kv, pl->layer, head);
    kvb_seq_release(s);
    if (kvb_seq_init(s, D, n_thin, n_ch, n_full + kv->room))
        return kvb_errorf(e, KVB_ENOMEM, "kvcache: out of memory");
    if (n_thin > 0)
        memcpy(s->ch, ch, (size_t)n_ch * sizeof(int));
    for (int i = 0; i < n_thin; i++) {
        const int t = idx ? idx[i] : i;
        const float *kr = kvb_kv_row(kv, pl->k, t, head);
        for (int c = 0; c < n_ch; c++)
            s->kthin[(size_t)i * n_ch + c] = kvb_f2h(kr[ch[c]]);
        kvb_f2h_row(s->v + (size_t)i * D, kvb_kv_row(kv, pl->v, t, head), D);
        s->pos[i] = t;
    }
    for (int i = n_thin; i < m; i++) {
        const int t = idx ? idx[i] : i;
        kvb_seq_push(s, kvb_kv_row(kv, pl->k, t, head), kvb_kv_row(kv, pl->v, t, head), t);
    }
    return 0;
}

/* On a device, after the prompt's keep: ksq (S, D), the mean of k^2 over each head's kept rows;
 * the channel choice as think_fill makes it, the oldest kept positions made thin. */
static int think_device_channels(kvb_kv *kv, int layer, const double *ksq, kvb_error *e)
{
    const think_params *p = kv->params;
    const int D = kv->shape.head_dim;
    int ch[KVB_SEL_DMAX];
    if (think_pruned(p, D) <= 0)
        return 0;
    for (int h = 0; h < kv->S; h++) {
        kvb_seq *s = kvb_kv_seq(kv, layer, h);
        if (s->n_thin || kv->appended[layer])
            return kvb_errorf(e, KVB_EINVAL, "cache ThinK: channel statistics for layer %d "
                              "after its keys were pruned", layer);
        const double *qsq = think_qsq_of(kv, layer, h);
        const int n_ch = think_channels(p, D, qsq, ksq + (size_t)h * D, ch);
        const int m = kvb_seq_tokens(s);
        if (kvb_seq_thin_positions(s, m - KVB_MIN(p->recent, m), ch, n_ch))
            return kvb_errorf(e, KVB_ENOMEM, "kvcache: out of memory");
    }
    return 0;
}

static int think_init(kvb_kv *kv, kvb_error *e)
{
    const size_t heads = (size_t)kv->L * kv->S + (kv->gqa_query ? 1 : kv->group);
    kv->state = kvb_calloc(heads * kv->shape.head_dim, sizeof(double));
    return kv->state ? 0 : kvb_errorf(e, KVB_ENOMEM, "kvcache: out of memory");
}

static void think_release(kvb_kv *kv)
{
    free(kv->state);
    kv->state = NULL;
}

static int think_qwindow(const void *params)
{
    return ((const think_params *)params)->qwindow;
}

static int think_prefill(kvb_kv *kv, const kvb_prefill_layer *pl, kvb_error *e)
{
    const kvb_snap_params *sp = &((const think_params *)kv->params)->base.snap;
    return kvb_kv_snap_layer(kv, pl, sp, kvb_snap_cap(sp, pl->n_tokens), think_fill, e);
}

static int think_plan(const void *params, const kvb_cache_shape *s, int n,
                      kvb_cache_plan_layer *out, char *why, size_t whylen)
{
    (void)why, (void)whylen;
    const think_params *p = params;
    const int S = kvb_kv_plan_heads(params, s), D = s->head_dim;
    const kvb_snap_params *sp = &p->base.snap;
    const long kept = kvb_plan_evict_kept(kvb_snap_cap(sp, n), n, sp->window);
    const int n_prune = think_pruned(p, D);
    for (int l = 0; l < s->n_layers; l++) {
        kvb_cache_plan_layer *o = &out[l];
        kvb_plan_fp16(o, kept, S, s);
        if (n_prune > 0) {
            const long n_full = KVB_MIN((long)p->recent, kept), n_thin = kept - n_full;
            o->k_bytes = (size_t)S * (n_thin * (D - n_prune) + n_full * D) * 2;
            o->meta_bytes = n_thin > 0 ? (size_t)S * (D - n_prune) * 2 : 0;
        }
    }
    return 0;
}

const struct kvb_cache_method kvb_cache_method_think = {
    .name = "ThinK",
    .params = think_table,
    .n_params = KVB_ARRAY_SIZE(think_table),
    .params_size = sizeof(think_params),
    .check = kvb_snap_check,
    .ops = &kvb_store_ops,
    .plan = think_plan,
    .on_device = KVB_DEVICE_HOLDS_SELECTED,
    .device_needs = KVB_NEED_WINDOW | KVB_NEED_QSQ | KVB_NEED_KSQ,
    .device_window = kvb_snap_window,
    .device_qwindow = think_qwindow,
    .device_channels = think_device_channels,
    .init = think_init,
    .release = think_release,
    .prefill_layer = think_prefill,
};
