/* lib/kvcache/kivi.c: KIVI (spec C): keys quantized per channel in groups of `group` tokens,
 * values per token in groups of `group` channels, `bits` 2 or 4, codes packed 32/bits per 32-bit
 * word with fp16 scale and zero point per group; the newest tokens stay in fp16 (keys: T mod R
 * after prefill, flushed R at a time; values: a sliding window of R). Decode attention runs on
 * the packed codes (store.c: fused dequantization). */
#include "kvcache/engine.h"

#include <stdlib.h>

/* Gather one stored head's rows of a (n, n_kv_heads, D) fp32 tensor into fp16 (n, D). */
static void gather_h(const kvb_kv *kv, const float *x, int n, int head, kvb_half *dst)
{
    const int D = kv->shape.head_dim;
    for (int t = 0; t < n; t++)
        kvb_f2h_row(dst + (size_t)t * D, kvb_kv_row(kv, x, t, head), D);
}

int kvb_kivi_prefill(kvb_kv *kv, const kvb_prefill_layer *pl, kvb_error *e)
{
    const int n = pl->n_tokens, D = kv->shape.head_dim;
    kvb_half *kh = kv->sc_h, *vh = kv->sc_h + (size_t)n * D;
    for (int h = 0; h < kv->S; h++) {
        kvb_qseq *q = &kv->qseq[(size_t)pl->layer * kv->S + h];
        kvb_qseq_release(q);
        if (kvb_qseq_init(q, D, kv->p.bits, kv->p.group, kv->p.residual, n + kv->room))
            return kvb_errorf(e, KVB_ENOMEM, "kvcache: out of memory");
        gather_h(kv, pl->k, n, h, kh);
        gather_h(kv, pl->v, n, h, vh);
        kvb_qseq_prefill(q, kh, vh, D, n);
    }
    kv->layer_quant[pl->layer] = 1;
    return 0;
}

int kvb_kivi_from_seq(kvb_kv *kv, int layer, int np, kvb_error *e)
{
    const int D = kv->shape.head_dim;
    float kf[1024], vf[1024];
    for (int h = 0; h < kv->S; h++) {
        const size_t i = (size_t)layer * kv->S + h;
        kvb_seq *s = &kv->seq[i];
        kvb_qseq *q = &kv->qseq[i];
        kvb_qseq_release(q);
        if (kvb_qseq_init(q, D, kv->p.bits, kv->p.group, kv->p.residual, s->n + kv->room)) {
            for (int j = 0; j < h; j++)
                kvb_qseq_release(&kv->qseq[(size_t)layer * kv->S + j]);
            return kvb_errorf(e, KVB_ENOMEM, "kvcache: out of memory");
        }
    }
    for (int h = 0; h < kv->S; h++) {
        const size_t i = (size_t)layer * kv->S + h;
        kvb_seq *s = &kv->seq[i];
        kvb_qseq *q = &kv->qseq[i];
        kvb_qseq_prefill(q, s->k, s->v, D, np);
        for (int t = np; t < s->n; t++) {
            kvb_h2f_row(kf, s->k + (size_t)t * D, D);
            kvb_h2f_row(vf, s->v + (size_t)t * D, D);
            kvb_qseq_append(q, kf, vf);
        }
        kvb_seq_release(s);
    }
    kv->layer_quant[layer] = 1;
    return 0;
}

const struct kvb_cache_method kvb_cache_method_kivi = KVB_KV_METHOD("KIVI", NULL, 0);
