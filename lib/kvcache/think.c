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

/* Store one stored head of the kept positions idx[0..m), keys channel-pruned. */

static int think_fill(kvb_kv *kv, const kvb_prefill_layer *pl, int head, const int *idx, int m,
                      kvb_error *e)
{
    const think_params *p = kv->params;
    const int D = kv->shape.head_dim, H = kv->shape.n_heads, n = pl->n_tokens;
    const int n_prune = (int)floor(p->ratio * D);
    if (n_prune <= 0)
        return kvb_kv_fill(kv, pl, head, idx, m, e);
    /* channel scores */
    double qsq[1024], score[1024];
    float fscore[1024];
    int pruned[1024], work[1024];
    const int nq = KVB_MIN(p->qwindow, n);
    const int h0 = kv->gqa_query ? head : head * kv->group;
    const int nh = kv->gqa_query ? 1 : kv->group;
    kvb_sel_channel_sqmean(pl->q, n, n - nq, H, h0, nh, D, qsq);
    const int kvh = kv->gqa_query ? head / kv->group : head;
    if (idx) {
        kvb_sel_think_scores(qsq, pl->k + (size_t)kvh * D, kv->shape.n_kv_heads * D, idx, m, D,
                             score);
    } else {
        kvb_sel_think_scores(qsq, pl->k + (size_t)kvh * D, kv->shape.n_kv_heads * D, NULL, m, D,
                             score);
    }
    for (int j = 0; j < D; j++)
        fscore[j] = (float)score[j];
    kvb_sel_bottomk(fscore, D, n_prune, pruned, work);
    /* kept channels: the complement, ascending */
    int ch[1024], n_ch = 0, pi = 0;
    for (int j = 0; j < D; j++) {
        if (pi < n_prune && pruned[pi] == j) {
            pi++;
            continue;
        }
        ch[n_ch++] = j;
    }
    const int n_full = KVB_MIN(p->recent, m), n_thin = m - n_full;
    kvb_seq *s = kvb_kv_seq(kv, pl->layer, head);
    kvb_seq_release(s);
    if (kvb_seq_init(s, D, n_thin, n_ch, n_full + kv->room))
        return kvb_errorf(e, KVB_ENOMEM, "kvcache: out of memory");
    if (n_thin > 0)
        memcpy(s->ch, ch, (size_t)n_ch * sizeof(int));
    else
        s->n_ch = D;
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
    const int n_prune = (int)floor(p->ratio * D);
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
    .prefill_layer = think_prefill,
};
