/* tests/cuda/tiny_llama.h: load the tiny Llama fixture of scripts/oracle/cuda_tiny_llama.py
 * (weights, prompt ids, HF logits per position) into a kvb_cuda_model_desc with host weights. */
#ifndef KVB_TEST_TINY_LLAMA_H
#define KVB_TEST_TINY_LLAMA_H
#include "check.h"

typedef struct {
    kvb_cuda_model_desc d;
    kvb_cuda_layer_w layers[8];
    kvb_bf16 *blob;
    int32_t ids[256];
    int n_ids;
    float *logits; /* (n_ids, vocab) from transformers */
} tiny_llama;

static inline int tiny_llama_load(tiny_llama *t, const char *dir)
{
    char path[512];
    memset(t, 0, sizeof *t);
    kvb_cuda_model_desc *d = &t->d;
    snprintf(path, sizeof path, "%s/tiny_llama.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) return printf("FAIL %s missing (run from the repository root)\n", path), -1;
    double eps;
    if (fscanf(f, " config %d %d %d %d %d %d %d %lf %lf %lf %lf %lf %d", &d->n_layers, &d->n_heads,
               &d->n_kv_heads, &d->head_dim, &d->hidden, &d->intermediate, &d->vocab, &eps,
               &d->rope_theta, &d->rope_factor, &d->rope_low_freq_factor,
               &d->rope_high_freq_factor, &d->rope_original_max_position) != 13 ||
        d->n_layers > 8 || fscanf(f, " ids") != 0) {
        fclose(f);
        return printf("FAIL %s: bad header\n", path), -1;
    }
    d->rms_eps = (float)eps;
    char line[4096], *s = line, *end;
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    for (long v; t->n_ids < 256 && (v = strtol(s, &end, 10), end != s); s = end) t->ids[t->n_ids++] = (int32_t)v;
    t->logits = xmalloc(sizeof(float) * t->n_ids * d->vocab);
    for (int i = 0; i < t->n_ids * d->vocab; i++)
        if (fscanf(f, "%f", &t->logits[i]) != 1) {
            fclose(f);
            return printf("FAIL %s: short logits\n", path), -1;
        }
    fclose(f);
    size_t Hd = d->hidden, F = d->intermediate, V = d->vocab;
    size_t HD = (size_t)d->n_heads * d->head_dim, KD = (size_t)d->n_kv_heads * d->head_dim;
    size_t per_layer = 2 * Hd + HD * Hd + 2 * KD * Hd + Hd * HD + 3 * F * Hd;
    size_t total = 2 * V * Hd + Hd + per_layer * d->n_layers;
    t->blob = xmalloc(total * 2);
    snprintf(path, sizeof path, "%s/tiny_llama.bin", dir);
    f = fopen(path, "rb");
    if (!f || fread(t->blob, 2, total, f) != total) {
        if (f) fclose(f);
        return printf("FAIL %s: missing or short\n", path), -1;
    }
    fclose(f);
    kvb_bf16 *p = t->blob;
#define TAKE(dst, count) ((dst) = p, p += (count))
    TAKE(d->embed, V * Hd);
    for (int l = 0; l < d->n_layers; l++) {
        kvb_cuda_layer_w *w = &t->layers[l];
        TAKE(w->attn_norm, Hd), TAKE(w->wq, HD * Hd), TAKE(w->wk, KD * Hd), TAKE(w->wv, KD * Hd);
        TAKE(w->wo, Hd * HD), TAKE(w->ffn_norm, Hd), TAKE(w->w_gate, F * Hd), TAKE(w->w_up, F * Hd);
        TAKE(w->w_down, Hd * F);
    }
    TAKE(d->final_norm, Hd);
    TAKE(d->lm_head, V * Hd);
#undef TAKE
    d->layers = t->layers;
    d->max_tokens = t->n_ids + 8;
    return 0;
}

static inline void tiny_llama_free(tiny_llama *t)
{
    free(t->blob);
    free(t->logits);
}
#endif
