/* lib/kvcache/store.c: fp16 and KIVI token stores and their decode attention (see store.h). */
#include "kvcache/store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/simd.h"
#include "kvcache/attn_f16.h"
#include "kvcache/kivi_quant.h"
#include "kvcache/ops.h"
#include "kvcache/select.h"

/* ---- small kernels ------------------------------------------------------------------------- */

/* q (fp32, D) . k (fp16, D). The same operation order as full.c's f16 kernel (8-wide FMA,
 * then the pairwise horizontal sum, then the scalar tail), so a method that keeps every token
 * gives bit-identical attention to `full --dtype f16` (single-threaded: with threads, full splits
 * tokens and merges the parts, which rounds differently). */
static inline float dot_h(const float *q, const kvb_half *k, int D)
{
    const int vec = D & ~7;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < vec; i += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i),
                              _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i))), acc);
    float s = kvb_hsum256_pairwise(acc);
    for (int i = vec; i < D; i++)
        s += q[i] * kvb_h2f(k[i]);
    return s;
}

/* out (fp32, D) += p * v (fp16, D) */
static inline void axpy_h(float *out, float p, const kvb_half *v, int D)
{
    int i = 0;
    const __m256 pp = _mm256_set1_ps(p);
    for (; i + 8 <= D; i += 8)
        _mm256_storeu_ps(out + i,
                         _mm256_fmadd_ps(pp, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + i))),
                                         _mm256_loadu_ps(out + i)));
    for (; i < D; i++)
        out[i] += p * kvb_h2f(v[i]);
}

/* In-place softmax of x[0..n): the vectorized exp of core/simd.h, in the same order as full.c,
 * so a method holding every token is bit-identical to `full --dtype f16`. */
static void softmax(float *x, int n)
{
    kvb_scale_f32(x, n, 1.0f / kvb_exp_sub_sum(x, n, kvb_max_f32(x, n)));
}

/* ---- fp16 token store ---------------------------------------------------------------------- */

int kvb_seq_init(kvb_seq *s, int D, int n_thin, int n_ch, int cap)
{
    memset(s, 0, sizeof(*s));
    s->D = D;
    s->cap = cap;
    s->n_ch = n_thin > 0 ? n_ch : D;
    s->k = kvb_malloc((size_t)(cap > 0 ? cap : 1) * D * sizeof(kvb_half));
    s->v = kvb_malloc((size_t)(n_thin + (cap > 0 ? cap : 1)) * D * sizeof(kvb_half));
    s->pos = kvb_malloc((size_t)(n_thin + (cap > 0 ? cap : 1)) * sizeof(int));
    if (n_thin > 0) {
        s->ch = kvb_malloc((size_t)(n_ch > 0 ? n_ch : 1) * sizeof(int));
        s->kthin = kvb_malloc((size_t)n_thin * (n_ch > 0 ? n_ch : 1) * sizeof(kvb_half));
    }
    if (!s->k || !s->v || !s->pos || (n_thin > 0 && (!s->ch || !s->kthin))) {
        kvb_seq_release(s);
        return KVB_ENOMEM;
    }
    s->n_thin = n_thin;
    return 0;
}

int kvb_seq_init_positions(kvb_seq *s, int D, int cap)
{
    memset(s, 0, sizeof(*s));
    s->D = D;
    s->cap = cap;
    s->n_ch = D;
    s->pos = kvb_malloc((size_t)(cap > 0 ? cap : 1) * sizeof(int));
    return s->pos ? 0 : KVB_ENOMEM;
}

int kvb_seq_thin_positions(kvb_seq *s, int n_thin, const int *ch, int n_ch)
{
    if (n_thin <= 0)
        return 0;
    if (s->k || s->n_thin || n_thin > s->n || !(s->ch = kvb_malloc((size_t)n_ch * sizeof(int))))
        return KVB_ENOMEM;
    memcpy(s->ch, ch, (size_t)n_ch * sizeof(int));
    s->n_ch = n_ch;
    s->n_thin = n_thin;
    s->n -= n_thin;
    s->cap -= n_thin;
    return 0;
}

void kvb_seq_release(kvb_seq *s)
{
    free(s->k);
    free(s->v);
    free(s->ch);
    free(s->kthin);
    free(s->pos);
    memset(s, 0, sizeof(*s));
}

int kvb_seq_push(kvb_seq *s, const float *k, const float *v, int pos)
{
    if (s->n >= s->cap || !k != !s->k || !v != !s->v)
        return -1;
    if (s->k) {
        kvb_f2h_row(s->k + (size_t)s->n * s->D, k, s->D);
        kvb_f2h_row(s->v + (size_t)(s->n_thin + s->n) * s->D, v, s->D);
    }
    s->pos[s->n_thin + s->n] = pos;
    s->n++;
    return 0;
}

void kvb_seq_keep(kvb_seq *s, const int *idx, int m)
{
    const size_t row = (size_t)s->D * sizeof(kvb_half);
    for (int i = 0; i < m; i++) {
        if (idx[i] == i)
            continue;
        if (s->k) {
            memmove(s->k + (size_t)i * s->D, s->k + (size_t)idx[i] * s->D, row);
            memmove(s->v + (size_t)(s->n_thin + i) * s->D,
                    s->v + (size_t)(s->n_thin + idx[i]) * s->D, row);
        }
        s->pos[s->n_thin + i] = s->pos[s->n_thin + idx[i]];
    }
    s->n = m;
}

int kvb_seq_tokens(const kvb_seq *s)
{
    return s->n_thin + s->n;
}

size_t kvb_seq_k_bytes(const kvb_seq *s)
{
    return ((size_t)s->n_thin * s->n_ch + (size_t)s->n * s->D) * sizeof(kvb_half);
}

size_t kvb_seq_v_bytes(const kvb_seq *s)
{
    return (size_t)(s->n_thin + s->n) * s->D * sizeof(kvb_half);
}

size_t kvb_seq_meta_bytes(const kvb_seq *s)
{
    /* a head_dim <= 1024 channel index fits 16 bits; that is what a compact store needs */
    return s->n_thin > 0 ? (size_t)s->n_ch * 2 : 0;
}

void kvb_seq_attend(const kvb_seq *s, const float *q, float *out, float *probs, float *qg)
{
    const int D = s->D, T = s->n_thin + s->n;
    const float scale = 1.0f / sqrtf((float)D); /* full D even for thin keys, as ThinK */
    if (s->n_thin > 0) {
        for (int c = 0; c < s->n_ch; c++)
            qg[c] = q[s->ch[c]];
        for (int t = 0; t < s->n_thin; t++)
            probs[t] = dot_h(qg, s->kthin + (size_t)t * s->n_ch, s->n_ch) * scale;
    }
    if (D % 32 == 0) /* the kernels of full.c: same sums, 8 keys at a time */
        kvb_f16_scores(s->k, s->n, D, q, 1, scale, probs + s->n_thin);
    else
        for (int t = 0; t < s->n; t++)
            probs[s->n_thin + t] = dot_h(q, s->k + (size_t)t * D, D) * scale;
    memset(out, 0, (size_t)D * sizeof(float));
    if (T == 0)
        return;
    softmax(probs, T);
    if (D % 32 == 0)
        kvb_f16_values(s->v, T, D, probs, 1, out);
    else
        for (int t = 0; t < T; t++)
            axpy_h(out, probs[t], s->v + (size_t)t * D, D);
}

/* ---- the ops in the kernels' shapes (ops.h) ------------------------------------------------ */

void kvb_kv_attn_decode_f16(float *o, const float *q, const kvb_half *k, const kvb_half *v,
                            size_t head_stride, const int32_t *len, int n_heads, int n_kv_heads,
                            int head_dim, float *sink_mass, int n_init, int n_recent, float *work)
{
    const int grp = n_heads / n_kv_heads;
    for (int h = 0; h < n_heads; h++) {
        const int g = h / grp, L = len[g];
        /* a view of kv head g as a token store holding L full-width tokens (read only) */
        const kvb_seq s = { .D = head_dim, .n = L, .cap = L,
                            .k = (kvb_half *)(k + (size_t)g * head_stride),
                            .v = (kvb_half *)(v + (size_t)g * head_stride) };
        kvb_seq_attend(&s, q + (size_t)h * head_dim, o + (size_t)h * head_dim, work, work + L);
        if (sink_mass)
            sink_mass[h] = (float)kvb_sel_simlayer_head(work, L, n_init, n_recent);
    }
}

void kvb_kv_attn_decode_thin_f16(float *o, const float *q, const kvb_half *kthin, const int *ch,
                                 int n_ch, int n_thin, const kvb_half *k, size_t k_head_stride,
                                 const kvb_half *v, size_t v_head_stride, const int32_t *len,
                                 int n_heads, int n_kv_heads, int head_dim, float *work)
{
    const int grp = n_heads / n_kv_heads;
    for (int h = 0; h < n_heads; h++) {
        const int g = h / grp, L = len[g];
        const kvb_seq s = { .D = head_dim, .n_thin = n_thin, .n_ch = n_ch, .n = L, .cap = L,
                            .ch = (int *)(ch + (size_t)g * n_ch),
                            .kthin = (kvb_half *)(kthin + (size_t)g * n_thin * n_ch),
                            .k = (kvb_half *)(k + (size_t)g * k_head_stride),
                            .v = (kvb_half *)(v + (size_t)g * v_head_stride) };
        kvb_seq_attend(&s, q + (size_t)h * head_dim, o + (size_t)h * head_dim, work,
                       work + n_thin + L);
    }
}

void kvb_kv_gather_rows(void *dst, size_t dst_size, const void *src, size_t src_size, int n,
                        int n_kv_heads, int head_dim, int g, const int32_t *idx, int m,
                        kvb_row_copy_fn copy)
{
    for (int t = 0; t < m; t++) {
        const int j = idx ? idx[t] : t;
        if (j < 0 || j >= n)
            continue;
        copy((char *)dst + (size_t)t * head_dim * dst_size,
             (const char *)src + ((size_t)j * n_kv_heads + g) * head_dim * src_size, head_dim);
    }
}

/* ---- KIVI store ----------------------------------------------------------------------------- */

int kvb_qseq_init(kvb_qseq *s, int D, int bits, int G, int R, int cap)
{
    memset(s, 0, sizeof(*s));
    s->D = D, s->bits = bits, s->G = G, s->R = R, s->cap = cap;
    s->kern = kvb_kivi_kernels_pick(NULL);
    const int blocks = cap / G + 1;
    s->kcap = blocks * G;
    s->vcap = cap + 1;
    s->kw = kvb_malloc((size_t)blocks * D * G * bits / 32 * sizeof(uint32_t));
    s->ks = kvb_malloc((size_t)blocks * D * sizeof(kvb_half));
    s->km = kvb_malloc((size_t)blocks * D * sizeof(kvb_half));
    s->kr = kvb_malloc((size_t)R * D * sizeof(kvb_half));
    s->vw = kvb_malloc((size_t)s->vcap * D * bits / 32 * sizeof(uint32_t));
    s->vs = kvb_malloc((size_t)s->vcap * (D / G) * sizeof(kvb_half));
    s->vm = kvb_malloc((size_t)s->vcap * (D / G) * sizeof(kvb_half));
    s->vr = kvb_malloc((size_t)(R + 1) * D * sizeof(kvb_half));
    if (!s->kw || !s->ks || !s->km || !s->kr || !s->vw || !s->vs || !s->vm || !s->vr) {
        kvb_qseq_release(s);
        return KVB_ENOMEM;
    }
    return 0;
}

void kvb_qseq_init_counts(kvb_qseq *s, int D, int bits, int G, int R, int cap)
{
    memset(s, 0, sizeof(*s));
    s->D = D, s->bits = bits, s->G = G, s->R = R, s->cap = cap;
    s->kcap = (cap / G + 1) * G;
    s->vcap = cap + 1;
}

void kvb_qseq_release(kvb_qseq *s)
{
    free(s->kw);
    free(s->ks);
    free(s->km);
    free(s->kr);
    free(s->vw);
    free(s->vs);
    free(s->vm);
    free(s->vr);
    memset(s, 0, sizeof(*s));
}

static void quant_key_block(kvb_qseq *s, const kvb_half *k, int ld)
{
    const int b = s->nkq / s->G;
    const size_t wpb = (size_t)s->D * s->G * s->bits / 32;
    if (s->kw)
        kvb_kivi_quant_keys(k, ld, s->G, s->D, s->bits, s->kw + b * wpb, s->ks + (size_t)b * s->D,
                            s->km + (size_t)b * s->D);
    s->nkq += s->G;
}

static void quant_value(kvb_qseq *s, const kvb_half *v)
{
    const int ng = s->D / s->G;
    if (s->vw)
        kvb_kivi_quant_value(v, s->D, s->G, s->bits, s->vw + (size_t)s->nvq * s->D * s->bits / 32,
                             s->vs + (size_t)s->nvq * ng, s->vm + (size_t)s->nvq * ng);
    s->nvq++;
}

void kvb_qseq_prefill(kvb_qseq *s, const kvb_half *k, const kvb_half *v, int ld, int T)
{
    const int D = s->D;
    const int kq = T < s->R ? 0 : T - T % s->R;
    const int data = s->kr != NULL; /* else counts only (kvb_qseq_init_counts) */
    for (int t = 0; t < kq; t += s->G)
        quant_key_block(s, data ? k + (size_t)t * ld : NULL, ld);
    for (int t = kq; t < T; t++, s->nkr++)
        if (data)
            memcpy(s->kr + (size_t)s->nkr * D, k + (size_t)t * ld, (size_t)D * sizeof(kvb_half));
    const int vq = T <= s->R ? 0 : T - s->R;
    for (int t = 0; t < vq; t++)
        quant_value(s, data ? v + (size_t)t * ld : NULL);
    for (int t = vq; t < T; t++, s->nvr++)
        if (data)
            memcpy(s->vr + (size_t)s->nvr * D, v + (size_t)t * ld, (size_t)D * sizeof(kvb_half));
}

int kvb_qseq_append(kvb_qseq *s, const float *k, const float *v)
{
    const int D = s->D, data = s->kr != NULL;
    if (s->nkq + s->nkr >= s->cap || !k != !data || !v != !data)
        return -1;
    /* Flushes of the previous step happen now: the reference quantizes after that step's
     * attention, which therefore still saw the fp16 copies. */
    if (s->nkr == s->R) {
        for (int t = 0; t < s->R; t += s->G)
            quant_key_block(s, data ? s->kr + (size_t)t * D : NULL, D);
        s->nkr = 0;
    }
    if (s->nvr > s->R) {
        quant_value(s, s->vr);
        if (data)
            memmove(s->vr, s->vr + D, (size_t)(s->nvr - 1) * D * sizeof(kvb_half));
        s->nvr--;
    }
    if (data) {
        kvb_f2h_row(s->kr + (size_t)s->nkr * D, k, D);
        kvb_f2h_row(s->vr + (size_t)s->nvr * D, v, D);
    }
    s->nkr++, s->nvr++;
    return 0;
}

int kvb_qseq_tokens(const kvb_qseq *s)
{
    return s->nkq + s->nkr;
}

void kvb_qseq_bytes(const kvb_qseq *s, size_t *k, size_t *v, size_t *meta, size_t *residual)
{
    const size_t D = (size_t)s->D;
    *k = (size_t)s->nkq * D * s->bits / 8;
    *v = (size_t)s->nvq * D * s->bits / 8;
    /* fp16 scale + fp16 zero point: per (channel, key group) and per (token, value group) */
    *meta = ((size_t)(s->nkq / s->G) * D + (size_t)s->nvq * (D / s->G)) * 2 * sizeof(kvb_half);
    *residual = ((size_t)s->nkr + s->nvr) * D * sizeof(kvb_half);
}

void kvb_kivi_attend(const kvb_kivi_head *h, const kvb_kivi_kernels *kk, const float *q, int nq,
                     float *out, float *scores, size_t s_stride)
{
    const int D = h->D, G = h->G, bits = h->bits, T = h->nkq + h->nkr;
    const float scale = 1.0f / sqrtf((float)D);
    float inv[KVB_KIVI_MAX_MULTI];
    if (nq > KVB_KIVI_MAX_MULTI) { /* the scratch holds that many heads' scores */
        for (int i = 0; i < nq; i += KVB_KIVI_MAX_MULTI)
            kvb_kivi_attend(h, kk, q + (size_t)i * D, KVB_MIN(nq - i, KVB_KIVI_MAX_MULTI),
                            out + (size_t)i * D, scores, s_stride);
        return;
    }
    /* raw scores (the softmax scales them), unnormalized probabilities, then the output divided
     * by their sum once */
    kk->keys(q, nq, (size_t)D, h->kw, h->ks, h->km, h->nkq / G, G, D, bits, scores, s_stride);
    for (int i = 0; i < nq; i++) {
        float *sc = scores + i * s_stride;
        for (int t = 0; t < h->nkr; t++)
            sc[h->nkq + t] = dot_h(q + (size_t)i * D, h->kr + (size_t)t * D, D);
        inv[i] = T > 0 ? 1.0f / kk->softmax(sc, T, scale) : 0.0f;
    }
    /* the quantized values (overwrites out), then the fp16 ones */
    kk->values(scores, s_stride, nq, h->vw, h->vs, h->vm, h->nvq, D, G, bits, out, (size_t)D);
    for (int i = 0; i < nq; i++) {
        for (int t = 0; t < h->nvr; t++)
            axpy_h(out + (size_t)i * D, scores[i * s_stride + h->nvq + t], h->vr + (size_t)t * D, D);
        kvb_scale_f32(out + (size_t)i * D, D, inv[i]);
    }
}

void kvb_qseq_attend_multi(const kvb_qseq *s, const float *q, int nq, float *out, float *scores,
                           size_t s_stride)
{
    const kvb_kivi_head h = { s->D, s->bits, s->G, s->kw, s->ks, s->km, s->nkq, s->kr, s->nkr,
                              s->vw, s->vs, s->vm, s->nvq, s->vr, s->nvr };
    kvb_kivi_attend(&h, s->kern, q, nq, out, scores, s_stride);
}

void kvb_qseq_attend(const kvb_qseq *s, const float *q, float *out, float *scores)
{
    kvb_qseq_attend_multi(s, q, 1, out, scores, (size_t)(s->nkq + s->nkr + 1));
}
