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

int kvb_think_prune(kvb_kv *kv, const kvb_prefill_layer *pl, int head, const int *idx, int m,
                    kvb_error *e)
{
    const int D = kv->shape.head_dim, H = kv->shape.n_heads, n = pl->n_tokens;
    const int n_prune = (int)floor(kv->p.ratio * D);
    if (n_prune <= 0)
        return kvb_kv_fill(kv, pl, head, idx, m, e);
    /* channel scores */
    double qsq[1024], score[1024];
    float fscore[1024];
    int pruned[1024], work[1024];
    const int nq = KVB_MIN(kv->p.qwindow, n);
    const int h0 = kv->p.gqa_query ? head : head * kv->group;
    const int nh = kv->p.gqa_query ? 1 : kv->group;
    kvb_sel_channel_sqmean(pl->q, n, n - nq, H, h0, nh, D, qsq);
    const int kvh = kv->p.gqa_query ? head / kv->group : head;
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
    const int n_full = KVB_MIN(kv->p.recent, m), n_thin = m - n_full;
    kvb_seq *s = &kv->seq[(size_t)pl->layer * kv->S + head];
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

const struct kvb_cache_method kvb_cache_method_think = KVB_KV_METHOD("ThinK", NULL, 0);
