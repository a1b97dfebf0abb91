/* lib/kvcache/h2o.c: H2O as KVCache-Factory's H2OKVCluster (spec §2.2), the one-shot prefill
 * variant: score each prefix token by the attention all prompt queries pay it (column sums of
 * the causal attention), no pooling, keep the top budget - window plus the window. The forward
 * pass provides the column sums (KVB_NEED_COLSUM); when it does not, they are computed here
 * without materialising the n x n matrix. */
#include "kvcache/engine.h"
#include "kvcache/select.h"

#include <string.h>

typedef struct colsum_job {
    kvb_kv *kv;
    const kvb_prefill_layer *pl;
    int nth;
} colsum_job;

static void colsum_worker(void *arg, int ith, int nth)
{
    colsum_job *j = arg;
    const kvb_kv *kv = j->kv;
    const int H = kv->shape.n_heads, n = j->pl->n_tokens, D = kv->shape.head_dim;
    const int group = kv->group;
    /* one query head at a time, heads split over the threads */
    for (int h = ith; h < H; h += nth) {
        const int kvh = h / group;
        /* view the single head as a 1-head problem with strided rows */
        float *out = kv->sc_attn + (size_t)h * n, *scratch = kv->sc_thread + (size_t)ith * n;
        memset(out, 0, (size_t)n * sizeof(float));
        kvb_sel_colsum_head(j->pl->q + (size_t)h * D, (size_t)H * D, j->pl->k + (size_t)kvh * D,
                            (size_t)kv->shape.n_kv_heads * D, n, D, out, scratch);
    }
}

void kvb_h2o_scores(kvb_kv *kv, const kvb_prefill_layer *pl, float *out)
{
    const int n = pl->n_tokens, H = kv->shape.n_heads;
    const int m = n - KVB_MIN(kv->p.window, n);
    const float *cs = pl->colsum;
    if (!cs) {
        colsum_job job = { kv, pl, 1 };
        if (kv->pool)
            kvb_pool_run(kv->pool, colsum_worker, &job);
        else
            colsum_worker(&job, 0, 1);
        cs = kv->sc_attn;
    }
    for (int s = 0; s < kv->S; s++) {
        float *o = out + (size_t)s * m;
        if (kv->p.gqa_query) {
            memcpy(o, cs + (size_t)s * n, (size_t)m * sizeof(float));
            continue;
        }
        for (int j = 0; j < m; j++) {
            float acc = 0.0f;
            for (int g = 0; g < kv->group; g++)
                acc += cs[(size_t)(s * kv->group + g) * n + j];
            o[j] = acc / (float)kv->group;
        }
    }
    (void)H;
}

const struct kvb_cache_method kvb_cache_method_h2o = KVB_KV_METHOD("H2O", NULL, KVB_NEED_COLSUM);
