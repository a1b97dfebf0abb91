/* kernels/cpu_ref.c: the CPU side of every kernel test. Where lib/ has the op (the CPU path
 * itself), the twin is a thin bf16 adapter around it: storage widened to f32 exactly (or to f16
 * where the CPU cache holds f16), the lib function, the result rounded to bf16 as the kernel
 * stores it. KIVI's twins are the cache's own quantizers and decode attention
 * (lib/kvcache/kivi_quant.h, store.h kvb_kivi_attend) in the kernels' layout; the prefill
 * attention is kvb_attn_prefill (lib/model/ops.h). Only the prefill-attention statistics twin has
 * no lib function of its shape (the CPU forward fuses the column sums into its f32 attention
 * loops) and defines the op in double. See cpu_ref.h. */
#include "cpu_ref.h"

#include "kvcache/kivi_quant.h"
#include "kvcache/ops.h"
#include "kvcache/select.h"
#include "kvcache/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define bf2f kvb_bf16_to_f32
#define f2bf kvb_f32_to_bf16

/* ---- dense ops: lib/model/ops.h ---------------------------------------------------------- */
int kvb_ref_gemm(void *y, int y_dtype, const kvb_bf16 *x, const kvb_bf16 *w, int n, int in, int out,
                 int accumulate)
{
    if (n <= 0 || in <= 0 || out <= 0 || (accumulate && y_dtype != KVB_DT_F32)) return KVB_EINVAL;
    float *xf = malloc(sizeof(float) * n * in), *yf = malloc(sizeof(float) * n * out);
    int rc = xf && yf ? 0 : KVB_ENOMEM;
    for (size_t i = 0; !rc && i < (size_t)n * in; i++) xf[i] = bf2f(x[i]);
    if (!rc) rc = kvb_matmul_bf16(yf, xf, w, n, in, out);
    for (size_t i = 0; !rc && i < (size_t)n * out; i++) {
        if (y_dtype == KVB_DT_F32)
            ((float *)y)[i] = accumulate ? ((float *)y)[i] + yf[i] : yf[i];
        else
            ((kvb_bf16 *)y)[i] = f2bf(yf[i]);
    }
    free(xf), free(yf);
    return rc;
}

int kvb_ref_rmsnorm(kvb_bf16 *o, const float *x, const kvb_bf16 *w, int n, int d, float eps)
{
    if (n <= 0 || d <= 0) return KVB_EINVAL;
    float *wf = malloc(sizeof(float) * d), *row = malloc(sizeof(float) * d);
    if (!wf || !row) return free(wf), free(row), KVB_ENOMEM;
    for (int i = 0; i < d; i++) wf[i] = bf2f(w[i]);
    for (int t = 0; t < n; t++) {
        kvb_rmsnorm(row, x + (size_t)t * d, wf, d, eps);
        for (int i = 0; i < d; i++) o[(size_t)t * d + i] = f2bf(row[i]);
    }
    free(wf), free(row);
    return 0;
}

int kvb_ref_rope(kvb_bf16 *o, int o_stride, const float *x, int x_stride, int n, int n_heads,
                 int head_dim, const int32_t *pos, const float *inv_freq)
{
    if (n <= 0 || n_heads <= 0 || head_dim <= 0 || head_dim % 2) return KVB_EINVAL;
    int half = head_dim / 2, nd = n_heads * head_dim;
    float *row = malloc(sizeof(float) * nd), *cs = malloc(sizeof(float) * half * 2);
    if (!row || !cs) return free(row), free(cs), KVB_ENOMEM;
    for (int t = 0; t < n; t++) {
        memcpy(row, x + (size_t)t * x_stride, sizeof(float) * nd);
        kvb_rope_cos_sin(cs, cs + half, inv_freq, half, pos[t]);
        kvb_rope_rotate(row, n_heads, head_dim, cs, cs + half);
        for (int i = 0; i < nd; i++) o[(size_t)t * o_stride + i] = f2bf(row[i]);
    }
    free(row), free(cs);
    return 0;
}

int kvb_ref_swiglu(kvb_bf16 *o, const float *gate, const float *up, int stride, int n, int f)
{
    if (n <= 0 || f <= 0 || stride < f) return KVB_EINVAL;
    for (int t = 0; t < n; t++)
        for (int i = 0; i < f; i++)
            o[(size_t)t * f + i] = f2bf(kvb_silu(gate[(size_t)t * stride + i]) * up[(size_t)t * stride + i]);
    return 0;
}

int kvb_ref_to_bf16(kvb_bf16 *o, int o_stride, const float *x, int x_stride, int n, int d)
{
    if (n <= 0 || d <= 0) return KVB_EINVAL;
    for (int t = 0; t < n; t++)
        for (int i = 0; i < d; i++) o[(size_t)t * o_stride + i] = f2bf(x[(size_t)t * x_stride + i]);
    return 0;
}

/* ---- prefill attention --------------------------------------------------------------------- */
/* Scaled scores of query row i (head h) against keys [0, i]; returns the row max. */
static float row_scores(float *s, const kvb_bf16 *q, const kvb_bf16 *k, int i, int h, int g,
                        int n_heads, int n_kv_heads, int hd)
{
    float scale = 1.f / sqrtf((float)hd), mx = -INFINITY;
    const kvb_bf16 *qi = q + ((size_t)i * n_heads + h) * hd;
    for (int j = 0; j <= i; j++) {
        const kvb_bf16 *kj = k + ((size_t)j * n_kv_heads + g) * hd;
        double d = 0;
        for (int c = 0; c < hd; c++) d += (double)bf2f(qi[c]) * bf2f(kj[c]);
        s[j] = (float)(d * scale);
        if (s[j] > mx) mx = s[j];
    }
    return mx;
}

static int attn_shape_ok(int n, int h, int hk, int hd)
{
    return n > 0 && h > 0 && hk > 0 && h % hk == 0 && hd > 0 && hd <= 128;
}

/* The CPU prefill's f32 attention (kvb_attn_prefill, model/ops.h): the rows the fp32 and the
 * tensor-core kernels are held to (head_dim 48 included, which the bf16 CPU path does not take). */
int kvb_ref_attn_prefill(kvb_bf16 *o, float *lse, const kvb_bf16 *q, const kvb_bf16 *k,
                         const kvb_bf16 *v, int n, int n_heads, int n_kv_heads, int hd)
{
    if (!attn_shape_ok(n, n_heads, n_kv_heads, hd)) return KVB_EINVAL;
    size_t nq = (size_t)n * n_heads * hd, nk = (size_t)n * n_kv_heads * hd;
    /* calloc: gcc 12 cannot see that the loops below fill them (n > 0) */
    float *qf = calloc(nq, sizeof(float)), *of = malloc(sizeof(float) * nq);
    float *kf = calloc(nk, sizeof(float)), *vf = calloc(nk, sizeof(float));
    int rc = KVB_ENOMEM;
    if (qf && of && kf && vf) {
        for (size_t i = 0; i < nq; i++) qf[i] = bf2f(q[i]);
        for (size_t i = 0; i < nk; i++) kf[i] = bf2f(k[i]), vf[i] = bf2f(v[i]);
        rc = kvb_attn_prefill(of, lse, qf, kf, vf, n, n_heads, n_kv_heads, hd, 0);
        for (size_t i = 0; !rc && i < nq; i++) o[i] = f2bf(of[i]);
    }
    free(qf), free(of), free(kf), free(vf);
    return rc;
}

int kvb_ref_attn_prefill_stats(const kvb_attn_stats *st, const float *lse, const kvb_bf16 *q,
                               const kvb_bf16 *k, int n, int n_heads, int n_kv_heads, int hd)
{
    if (!attn_shape_ok(n, n_heads, n_kv_heads, hd) || st->row0 < 0 || st->row0 >= n)
        return KVB_EINVAL;
    float *s = malloc(sizeof(float) * (size_t)n);
    if (!s) return KVB_ENOMEM;
    int grp = n_heads / n_kv_heads, nw = n - st->row0;
    if (st->colsum) memset(st->colsum, 0, sizeof(float) * (size_t)n_heads * n);
    if (st->rows) memset(st->rows, 0, sizeof(float) * (size_t)n_heads * nw * n);
    for (int h = 0; h < n_heads; h++) {
        double *col = calloc((size_t)n, sizeof(double));
        if (!col) {
            free(s);
            return KVB_ENOMEM;
        }
        for (int i = st->row0; i < n; i++) {
            row_scores(s, q, k, i, h, h / grp, n_heads, n_kv_heads, hd);
            double sink = 0;
            for (int j = 0; j <= i; j++) {
                double p = exp((double)s[j] - lse[(size_t)h * n + i]);
                col[j] += p;
                if (st->rows) st->rows[((size_t)h * nw + (i - st->row0)) * n + j] = (float)p;
                if (j < st->n_init || (i - j > 0 && i - j <= st->n_recent)) sink += p;
            }
            if (st->sink_mass) st->sink_mass[(size_t)h * nw + (i - st->row0)] = (float)sink;
        }
        if (st->colsum)
            for (int j = 0; j < n; j++) st->colsum[(size_t)h * n + j] = (float)col[j];
        free(col);
    }
    free(s);
    return 0;
}

/* ThinK's channel magnitudes: lib/kvcache/select.h on the widened window rows */
int kvb_ref_channel_sqmean(float *out, const kvb_bf16 *x, int n, int row0, int n_heads, int hd)
{
    if (n <= 0 || row0 < 0 || row0 >= n || n_heads <= 0 || hd <= 0) return KVB_EINVAL;
    size_t m = (size_t)n * n_heads * hd;
    float *xf = malloc(sizeof(float) * m);
    double *d = malloc(sizeof(double) * hd);
    if (!xf || !d) return free(xf), free(d), KVB_ENOMEM;
    for (size_t i = (size_t)row0 * n_heads * hd; i < m; i++) xf[i] = bf2f(x[i]);
    for (int h = 0; h < n_heads; h++) {
        kvb_sel_channel_sqmean(xf, n, row0, n_heads, h, hd, d);
        for (int c = 0; c < hd; c++) out[(size_t)h * hd + c] = (float)d[c];
    }
    free(xf), free(d);
    return 0;
}

/* ---- decode attention and the gather: lib/kvcache/ops.h ------------------------------------- */
/* K/V as the CPU path holds them: the token store is f16, and a bf16 value converts to f16 exactly
 * for 2^-17 <= |x| <= 65504 (8 significant bits fit f16's 11; below 2^-14 the f16 subnormal
 * spacing 2^-24 still holds bf16's last bit down to 2^-17); smaller values round with |error| <=
 * 2^-25; larger ones an f16 cache cannot hold, so they are refused. Rows of kv head g at
 * dst + g * max_len * hd. */
/* n bf16 into f16, refused beyond the f16 range (an f16 cache cannot hold them) */
static int to_f16(kvb_half *dst, const kvb_bf16 *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = bf2f(src[i]);
        if (!(fabsf(x) <= 65504.f)) return KVB_EINVAL;
        dst[i] = kvb_f2h(x);
    }
    return 0;
}

static int to_f16_cache(kvb_half *dst, const kvb_bf16 *src, size_t hs, const int32_t *len,
                        int max_len, int n_kv_heads, int hd)
{
    int rc = 0;
    for (int g = 0; g < n_kv_heads && !rc; g++)
        rc = to_f16(dst + (size_t)g * max_len * hd, src + (size_t)g * hs, (size_t)len[g] * hd);
    return rc;
}

int kvb_ref_attn_decode(float *o, const float *q, const kvb_bf16 *k, const kvb_bf16 *v,
                        size_t head_stride, const int32_t *len, int max_len, int n_heads,
                        int n_kv_heads, int hd, float *sink_mass, int n_init, int n_recent)
{
    if (n_heads <= 0 || n_kv_heads <= 0 || n_heads % n_kv_heads || hd <= 0 || max_len <= 0 ||
        n_init < 0 || n_recent < 0)
        return KVB_EINVAL;
    for (int g = 0; g < n_kv_heads; g++)
        if (len[g] < 1 || len[g] > max_len) return KVB_EINVAL;
    size_t nc = (size_t)n_kv_heads * max_len * hd;
    kvb_half *kh = malloc(sizeof(kvb_half) * nc), *vh = malloc(sizeof(kvb_half) * nc);
    float *work = malloc(sizeof(float) * ((size_t)max_len + hd));
    int rc = kh && vh && work ? 0 : KVB_ENOMEM;
    if (!rc) rc = to_f16_cache(kh, k, head_stride, len, max_len, n_kv_heads, hd);
    if (!rc) rc = to_f16_cache(vh, v, head_stride, len, max_len, n_kv_heads, hd);
    if (!rc)
        kvb_kv_attn_decode_f16(o, q, kh, vh, (size_t)max_len * hd, len, n_heads, n_kv_heads, hd,
                               sink_mass, n_init, n_recent, work);
    free(kh), free(vh), free(work);
    return rc;
}

int kvb_ref_attn_decode_thin(float *o, const float *q, const kvb_bf16 *kt, const int32_t *ch,
                             int n_ch, int cp, int n_thin, const kvb_bf16 *k, size_t k_head_stride,
                             const kvb_bf16 *v, size_t v_head_stride, const int32_t *len,
                             int n_heads, int n_kv_heads, int hd)
{
    if (n_heads <= 0 || n_kv_heads <= 0 || n_heads % n_kv_heads || hd <= 0 || n_ch < 1 ||
        n_ch > cp || n_thin < 1)
        return KVB_EINVAL;
    int mx = 0;
    for (int g = 0; g < n_kv_heads; g++) mx = len[g] > mx ? len[g] : mx;
    const size_t KV = (size_t)n_kv_heads;
    kvb_half *th = malloc(sizeof(kvb_half) * KV * n_thin * n_ch);
    kvb_half *kh = malloc(sizeof(kvb_half) * KV * k_head_stride);
    kvb_half *vh = malloc(sizeof(kvb_half) * KV * v_head_stride);
    int *chi = malloc(sizeof(int) * KV * n_ch);
    float *work = malloc(sizeof(float) * ((size_t)n_thin + mx + hd));
    int rc = th && kh && vh && chi && work ? 0 : KVB_ENOMEM;
    for (size_t g = 0; g < KV && !rc; g++) /* the store holds n_ch channels, not the padding */
        for (int t = 0; t < n_thin && !rc; t++)
            rc = to_f16(th + (g * n_thin + t) * n_ch, kt + (g * n_thin + t) * cp, (size_t)n_ch);
    for (size_t i = 0; !rc && i < KV * n_ch; i++) chi[i] = ch[(i / n_ch) * cp + i % n_ch];
    if (!rc) rc = to_f16(kh, k, KV * k_head_stride);
    if (!rc) rc = to_f16(vh, v, KV * v_head_stride);
    if (!rc)
        kvb_kv_attn_decode_thin_f16(o, q, th, chi, n_ch, n_thin, kh, k_head_stride, vh,
                                    v_head_stride, len, n_heads, n_kv_heads, hd, work);
    free(th), free(kh), free(vh), free(chi), free(work);
    return rc;
}

static void copy_bf16(void *dst, const void *src, int n) { memcpy(dst, src, sizeof(kvb_bf16) * (size_t)n); }

int kvb_ref_gather_kv(kvb_bf16 *dst, size_t dhs, const kvb_bf16 *src, int n, int n_kv_heads,
                      int hd, const int32_t *idx, int idx_stride, int count, const int32_t *counts)
{
    if (n <= 0 || n_kv_heads <= 0 || hd <= 0 || count < 0 || idx_stride < count) return KVB_EINVAL;
    for (int g = 0; g < n_kv_heads; g++) {
        int cnt = counts && counts[g] < count ? counts[g] : count;
        kvb_kv_gather_rows(dst + g * dhs, sizeof(kvb_bf16), src, sizeof(kvb_bf16), n, n_kv_heads, hd,
                           g, idx + (size_t)g * idx_stride, cnt, copy_bf16);
    }
    return 0;
}

/* ---- KIVI: lib/kvcache/kivi_quant.h -------------------------------------------------------- */
int kvb_kivi_fmt_check(const kvb_kivi_fmt *f, char *msg, size_t n)
{
    const char *why = NULL;
    if (f->bits != 2 && f->bits != 4) why = "bits must be 2 or 4";
    else if (f->group <= 0 || f->group % (32 / f->bits)) why = "group must be a multiple of 32/bits";
    else if (f->head_dim <= 0 || f->head_dim % f->group) why = "head_dim must be a multiple of group";
    else if (f->n_kv_heads <= 0) why = "n_kv_heads must be positive";
    if (!why) return 0;
    if (msg) snprintf(msg, n, "kivi: %s (bits=%d group=%d head_dim=%d)", why, f->bits, f->group,
                      f->head_dim);
    return KVB_EINVAL;
}

/* The quantizers are the cache's own (lib/kvcache/kivi_quant.c: kvb_kivi_quant_keys per key
 * block, kvb_kivi_quant_value per token), on the bf16 input rounded to fp16 as the cache holds it;
 * the layouts of kvb_cuda.h are theirs, one head at a time. */
int kvb_ref_kivi_quant_k(uint32_t *kq, kvb_f16 *ks, kvb_f16 *km, size_t kq_hs, size_t ks_hs,
                         const kvb_bf16 *x, size_t x_hs, int x_ts, int n_tokens,
                         const kvb_kivi_fmt *f)
{
    if (kvb_kivi_fmt_check(f, NULL, 0) || f->head_dim > 128 || n_tokens < 0 || n_tokens % f->group)
        return KVB_EINVAL;
    const int G = f->group, D = f->head_dim, wpb = D * G * f->bits / 32;
    kvb_half blk[128 * 128]; /* G x D keys of one block (G <= D <= 128) */
    for (int h = 0; h < f->n_kv_heads; h++)
        for (int g = 0; g < n_tokens / G; g++) {
            for (int t = 0; t < G; t++)
                for (int c = 0; c < D; c++)
                    blk[t * D + c] = kvb_f2h(bf2f(x[h * x_hs + (size_t)(g * G + t) * x_ts + c]));
            kvb_kivi_quant_keys(blk, D, G, D, f->bits, kq + h * kq_hs + (size_t)g * wpb,
                                ks + h * ks_hs + (size_t)g * D, km + h * ks_hs + (size_t)g * D);
        }
    return 0;
}

int kvb_ref_kivi_quant_v(uint32_t *vq, kvb_f16 *vs, kvb_f16 *vm, size_t vq_hs, size_t vs_hs,
                         const kvb_bf16 *x, size_t x_hs, int x_ts, int n_tokens,
                         const kvb_kivi_fmt *f)
{
    if (kvb_kivi_fmt_check(f, NULL, 0) || f->head_dim > 128 || n_tokens < 0) return KVB_EINVAL;
    const int D = f->head_dim, wpt = D * f->bits / 32, gpt = D / f->group;
    kvb_half row[128];
    for (int h = 0; h < f->n_kv_heads; h++)
        for (int t = 0; t < n_tokens; t++) {
            for (int c = 0; c < D; c++) row[c] = kvb_f2h(bf2f(x[h * x_hs + (size_t)t * x_ts + c]));
            kvb_kivi_quant_value(row, D, f->group, f->bits, vq + h * vq_hs + (size_t)t * wpt,
                                 vs + h * vs_hs + (size_t)t * gpt, vm + h * vs_hs + (size_t)t * gpt);
        }
    return 0;
}

/* Dequantization: the CPU's (code * scale + min in f32); the bf16 residual widened exactly. */
void kvb_ref_kivi_key(float *out, const kvb_kivi_view *v, const kvb_kivi_fmt *f, int g, int j)
{
    int D = f->head_dim, G = f->group, b = f->bits, wpg = G * b / 32;
    if (j >= v->nk_q) {
        const kvb_bf16 *r = v->kr + g * v->kr_head_stride + (size_t)(j - v->nk_q) * D;
        for (int c = 0; c < D; c++) out[c] = bf2f(r[c]);
        return;
    }
    float blk[128 * 128]; /* G x D keys of j's group (G <= D <= 128) */
    size_t gi = (size_t)(j / G) * D;
    kvb_kivi_dequant_keys(v->kq + g * v->kq_head_stride + gi * wpg, v->ks + g * v->ks_head_stride + gi,
                          v->km + g * v->ks_head_stride + gi, G, D, b, blk);
    memcpy(out, blk + (size_t)(j % G) * D, sizeof(float) * D);
}

void kvb_ref_kivi_value(float *out, const kvb_kivi_view *v, const kvb_kivi_fmt *f, int g, int j)
{
    int D = f->head_dim, G = f->group, b = f->bits, wpt = D * b / 32;
    if (j >= v->nv_q) {
        const kvb_bf16 *r = v->vr + g * v->vr_head_stride + (size_t)(j - v->nv_q) * D;
        for (int c = 0; c < D; c++) out[c] = bf2f(r[c]);
        return;
    }
    size_t si = g * v->vs_head_stride + (size_t)j * (D / G);
    kvb_kivi_dequant_value(v->vq + g * v->vq_head_stride + (size_t)j * wpt, v->vs + si, v->vm + si,
                           D, G, b, out);
}

/* The CPU cache's decode attention (lib/kvcache/store.c kvb_kivi_attend: f32, the packed-code
 * kernels of $KVBENCH_ISA or the best this CPU runs) over each kv head of the view, its query
 * heads at once; bf16 residual rows become the cache's fp16 as for decode attention above. */
int kvb_ref_kivi_attn_decode(float *o, const float *q, const kvb_kivi_view *v,
                             const kvb_kivi_fmt *f, int n_heads)
{
    const int S = v->nk_q + v->nk_r, D = f->head_dim;
    if (kvb_kivi_fmt_check(f, NULL, 0) || n_heads % f->n_kv_heads || S <= 0 ||
        S != v->nv_q + v->nv_r || v->nk_q % f->group || v->nk_q < 0 || v->nk_r < 0 ||
        v->nv_q < 0 || v->nv_r < 0)
        return KVB_EINVAL;
    const int grp = n_heads / f->n_kv_heads;
    kvb_half *kr = malloc(sizeof(kvb_half) * ((size_t)v->nk_r + 1) * D);
    kvb_half *vr = malloc(sizeof(kvb_half) * ((size_t)v->nv_r + 1) * D);
    float *scores = malloc(sizeof(float) * (size_t)grp * (S + 1));
    if (!kr || !vr || !scores) {
        free(kr), free(vr), free(scores);
        return KVB_ENOMEM;
    }
    const kvb_kivi_kernels *kk = kvb_kivi_kernels_pick(getenv("KVBENCH_ISA"));
    const int32_t nkr = v->nk_r, nvr = v->nv_r;
    int rc = 0;
    for (int g = 0; g < f->n_kv_heads; g++) {
        /* the residual rows as the cache holds them (fp16), one head at a time */
        rc = to_f16_cache(kr, v->kr + g * v->kr_head_stride, 0, &nkr, v->nk_r, 1, D);
        if (!rc) rc = to_f16_cache(vr, v->vr + g * v->vr_head_stride, 0, &nvr, v->nv_r, 1, D);
        if (rc) break;
        const kvb_kivi_head h = {D, f->bits, f->group,
                                 v->kq + g * v->kq_head_stride, v->ks + g * v->ks_head_stride,
                                 v->km + g * v->ks_head_stride, v->nk_q, kr, v->nk_r,
                                 v->vq + g * v->vq_head_stride, v->vs + g * v->vs_head_stride,
                                 v->vm + g * v->vs_head_stride, v->nv_q, vr, v->nv_r};
        kvb_kivi_attend(&h, kk, q + (size_t)g * grp * D, grp, o + (size_t)g * grp * D, scores,
                        (size_t)S + 1);
    }
    free(kr), free(vr), free(scores);
    return rc;
}

/* ---- selection: lib/kvcache/select.h ------------------------------------------------------- */
int kvb_ref_topk(int32_t *idx, const float *x, int rows, int n, int ld, int k)
{
    if (rows <= 0 || n <= 0 || ld < n || k <= 0 || k > n) return KVB_EINVAL;
    int *work = malloc(sizeof(int) * (size_t)n);
    if (!work) return KVB_ENOMEM;
    for (int r = 0; r < rows; r++) kvb_sel_topk(x + (size_t)r * ld, n, k, idx + (size_t)r * k, work);
    free(work);
    return 0;
}

int kvb_ref_mass_count(int32_t *count, const float *x, int rows, int n, int ld, float tau)
{
    if (rows <= 0 || n <= 0 || ld < n || !(tau >= 0.f && tau <= 1.f)) return KVB_EINVAL;
    float *work = malloc(sizeof(float) * (size_t)n);
    if (!work) return KVB_ENOMEM;
    for (int r = 0; r < rows; r++) count[r] = kvb_sel_lmba(x + (size_t)r * ld, n, tau, work);
    free(work);
    return 0;
}

/* ---- forward pass -------------------------------------------------------------------------- */
/* The driver's pipeline (kernels/model.cu) with the twins: bf16 weights and GEMM inputs, fp32
 * residual stream, K/V and attention output in bf16. Host weights only. */
int kvb_ref_model_forward(const kvb_cuda_model_desc *d, const int32_t *ids, int n, float *logits)
{
    if (!d->embed || !d->layers || !d->final_norm || n <= 0 || d->head_dim > 128) return KVB_EINVAL;
    const int Hd = d->hidden, F = d->intermediate, H = d->n_heads, Hk = d->n_kv_heads;
    const int D = d->head_dim, HD = H * D, KD = Hk * D;
    const size_t N = (size_t)n;
    float *x = calloc(N * Hd, 4), *q = calloc(N * HD, 4), *k = calloc(N * KD, 4);
    float *v = calloc(N * KD, 4), *g = calloc(N * F, 4), *u = calloc(N * F, 4);
    float *lse = calloc((size_t)H * N, 4), inv[64];
    kvb_bf16 *xb = calloc(N * Hd, 2), *qb = calloc(N * HD, 2), *kb = calloc(N * KD, 2);
    kvb_bf16 *vb = calloc(N * KD, 2), *att = calloc(N * HD, 2), *act = calloc(N * F, 2);
    int32_t *pos = calloc(N, 4);
    int rc = KVB_ENOMEM;
    if (!x || !q || !k || !v || !g || !u || !lse || !xb || !qb || !kb || !vb || !att || !act || !pos)
        goto out;
    for (int t = 0; t < n; t++) {
        rc = KVB_EINVAL;
        if (ids[t] < 0 || ids[t] >= d->vocab) goto out;
        pos[t] = t;
        for (int i = 0; i < Hd; i++) x[(size_t)t * Hd + i] = bf2f(d->embed[(size_t)ids[t] * Hd + i]);
    }
    kvb_rope_inv_freq(inv, D, d->rope_theta, d->rope_factor, d->rope_low_freq_factor,
                      d->rope_high_freq_factor, d->rope_original_max_position);
    for (int l = 0; l < d->n_layers; l++) {
        const kvb_cuda_layer_w *w = &d->layers[l];
        kvb_ref_rmsnorm(xb, x, w->attn_norm, n, Hd, d->rms_eps);
        kvb_ref_gemm(q, KVB_DT_F32, xb, w->wq, n, Hd, HD, 0);
        kvb_ref_gemm(k, KVB_DT_F32, xb, w->wk, n, Hd, KD, 0);
        kvb_ref_gemm(v, KVB_DT_F32, xb, w->wv, n, Hd, KD, 0);
        kvb_ref_rope(qb, HD, q, HD, n, H, D, pos, inv);
        kvb_ref_rope(kb, KD, k, KD, n, Hk, D, pos, inv);
        kvb_ref_to_bf16(vb, KD, v, KD, n, KD);
        if ((rc = kvb_ref_attn_prefill(att, lse, qb, kb, vb, n, H, Hk, D))) goto out;
        kvb_ref_gemm(x, KVB_DT_F32, att, w->wo, n, HD, Hd, 1);
        kvb_ref_rmsnorm(xb, x, w->ffn_norm, n, Hd, d->rms_eps);
        kvb_ref_gemm(g, KVB_DT_F32, xb, w->w_gate, n, Hd, F, 0);
        kvb_ref_gemm(u, KVB_DT_F32, xb, w->w_up, n, Hd, F, 0);
        kvb_ref_swiglu(act, g, u, F, n, F);
        kvb_ref_gemm(x, KVB_DT_F32, act, w->w_down, n, F, Hd, 1);
    }
    kvb_ref_rmsnorm(xb, x + (N - 1) * Hd, d->final_norm, 1, Hd, d->rms_eps);
    kvb_ref_gemm(logits, KVB_DT_F32, xb, d->lm_head ? d->lm_head : d->embed, 1, Hd, d->vocab, 0);
    rc = 0;
out:
    free(x), free(q), free(k), free(v), free(g), free(u), free(lse), free(xb), free(qb);
    free(kb), free(vb), free(att), free(act), free(pos);
    return rc;
}
