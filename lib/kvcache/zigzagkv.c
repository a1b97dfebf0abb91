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
 * memory of prefill is the full cache, reported as such). */
#include "kvcache/engine.h"
#include "kvcache/select.h"

#include <string.h>

int kvb_zigzag_prefill(kvb_kv *kv, const kvb_prefill_layer *pl, kvb_error *e)
{
    const int n = pl->n_tokens, l = pl->layer;
    for (int h = 0; h < kv->S; h++) {
        int rc = kvb_kv_fill(kv, pl, h, NULL, n, e);
        if (rc)
            return rc;
    }
    if (n < kv->p.budget)
        return 0;
    const int m = n - KVB_MIN(kv->p.window, n);
    float *pooled = kv->zz_scores + (size_t)l * kv->S * kv->n_prompt;
    float *raw = kv->sc_pool; /* free here: the pooled scores go straight to zz_scores */
    kvb_snapkv_scores(kv, pl, pooled, raw);
    double acc = 0.0;
    for (int h = 0; h < kv->S; h++) {
        const float *s = (kv->p.lmba_pooled ? pooled : raw) + (size_t)h * m;
        acc += kvb_sel_lmba(s, m, kv->p.tau, kv->sc_row);
    }
    kv->lmba[l] = acc / kv->S;
    return 0;
}

int kvb_zigzag_end(kvb_kv *kv, kvb_error *e)
{
    (void)e;
    const int n = kv->n_prompt;
    if (n < kv->p.budget) {
        for (int l = 0; l < kv->L; l++)
            kv->budgets[l] = n;
        return 0;
    }
    const int w = KVB_MIN(kv->p.window, n), m = n - w;
    kvb_sel_zigzag_budgets(kv->lmba, kv->L, kv->p.budget - kv->p.window, kv->p.bmin_ratio, m,
                           kv->budgets);
    for (int l = 0; l < kv->L; l++) {
        const float *pooled = kv->zz_scores + (size_t)l * kv->S * kv->n_prompt;
        for (int h = 0; h < kv->S; h++) {
            int cnt = kvb_sel_topk(pooled + (size_t)h * m, m, kv->budgets[l], kv->sc_idx,
                                   kv->sc_work);
            for (int t = m; t < n; t++)
                kv->sc_idx[cnt++] = t;
            /* the layer was stored in full and in position order, so index == slot */
            kvb_seq_keep(&kv->seq[(size_t)l * kv->S + h], kv->sc_idx, cnt);
        }
    }
    return 0;
}

const struct kvb_cache_method kvb_cache_method_zigzagkv = KVB_KV_METHOD("ZigZagKV", NULL, 0);
