/* lib/kvcache/simlayerkv.c: SimLayerKV (spec B.2, the decoding variant shipped by
 * sail-sg/SimLayerKV): the prompt is cached in full; on the first decode step each layer's score
 * is the head-averaged attention mass of the new query on the first `sink` and the last `recent`
 * cached tokens (new token included; overlapping windows count twice). A layer whose score is
 * strictly above `threshold` (and threshold < 2, the reference's guard) is lazy and keeps only
 * those `sink` + `recent` tokens from then on (it still grows by one token per step). Decided
 * once per record. SimLayerKV+KIVI (spec C.4) cuts the *prompt* part (the new token stays) and then
 * quantizes the layer with KIVI's prefill rule. */
#include "kvcache/engine.h"
#include "kvcache/select.h"

#include <stdlib.h>

static double layer_score(const kvb_kv *kv, int layer)
{
    const int H = kv->shape.n_heads;
    double s = 0.0;
    for (int h = 0; h < H; h++)
        s += kv->head_score[(size_t)layer * H + h];
    return s / H;
}

int kvb_simlayer_would_be_lazy(const kvb_kv *kv, int layer)
{
    return kv->p.threshold < 2.0 && layer_score(kv, layer) > kv->p.threshold;
}

void kvb_simlayer_decide(kvb_kv *kv, int layer)
{
    const int lazy = kvb_simlayer_would_be_lazy(kv, layer);
    kv->lazy[layer] = lazy;
    kv->decided[layer] = 1;
    const int keep = kv->p.sink + kv->p.recent;
    if (kv->p.kind == KVB_KIND_SIMLAYERKV) {
        if (!lazy)
            return;
        for (int h = 0; h < kv->S; h++) {
            kvb_seq *s = &kv->seq[(size_t)layer * kv->S + h];
            const int m = kvb_sel_streaming(s->n, keep, kv->p.sink, kv->sc_idx);
            kvb_seq_keep(s, kv->sc_idx, m);
        }
        return;
    }
    /* SimLayerKV+KIVI: the prompt part is cut (lazy) and quantized; the tokens appended since
     * prefill follow through KIVI's decode rule */
    int np = kv->n_prompt;
    if (lazy) {
        for (int h = 0; h < kv->S; h++) {
            kvb_seq *s = &kv->seq[(size_t)layer * kv->S + h];
            int m = kvb_sel_streaming(kv->n_prompt, keep, kv->p.sink, kv->sc_idx);
            np = m;
            for (int t = kv->n_prompt; t < s->n; t++)
                kv->sc_idx[m++] = t;
            kvb_seq_keep(s, kv->sc_idx, m);
        }
    }
    /* allocation failure leaves the layer in fp16: still correct, only larger */
    (void)kvb_kivi_from_seq(kv, layer, np, NULL);
}

const struct kvb_cache_method kvb_cache_method_simlayerkv = KVB_KV_METHOD("SimLayerKV", NULL, 0);

static const char *const simlayerkv_kivi_aliases[] = { "kivi_SimLayerKV", NULL };
const struct kvb_cache_method kvb_cache_method_simlayerkv_kivi =
    KVB_KV_METHOD("SimLayerKV+KIVI", simlayerkv_kivi_aliases, 0);
