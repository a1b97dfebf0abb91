/* Prefill attention, causal, GQA: the exact f32 block (kvb_attn_block_f32: OpenBLAS sgemm on
 * stacked query heads, the --weights f32 / gguf path) and the bf16 flash attention below, both
 * exported as one op with the CUDA kernels' shapes (kvb_attn_prefill, model/ops.h).
 *
 * bf16: prefill attention on bf16 inputs with f32 accumulation, tiled as flash attention: one work item
 * is one query block (KVB_ATTN_B queries) of the query heads that share a kv head (GQA), and it
 * reads each block of KVB_ATTN_B keys and values once for all of those rows. Scores, the online
 * softmax (running max and sum per row, output rescaled when the max grows) and the output stay
 * in f32; Q (with 1/sqrt(head_dim) folded in), K, V and the probabilities P enter the dot
 * products as bf16, whose products are exact in f32 (8 x 8 significand bits), so the only
 * roundings beyond an f32 attention are the four bf16 roundings. Error bound: attn_bound() in
 * tests/unit/test_model_attn.c, derived there.
 *
 * The AVX-512 BF16 kernel (vdpbf16ps: 16 lanes, each a pair of bf16 products added to an f32
 * accumulator) needs K packed 16 keys x 2 dims per vector and V 16 dims x 2 keys per vector
 * (kvb_fa_pack). kvb_fa_block_ref is its scalar twin: the same roundings, plain loops. */
#include "model_impl.h"
#include "simd512.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/simd.h"

#define KVB_FA_R 5 /* rows of one register tile: 5 x 4 accumulators + 4 loads of 32 registers
                   * (6 rows spill accumulators: the softmax's constants stay live; 10% slower) */

static inline uint16_t bf(float x) { return kvb_f32_to_bf16(x); }

/* ---- f32 --------------------------------------------------------------------------------------------- */
/* Queries [r0, r1) of the query heads [h0, h0 + gn) that share kv head kvh, over keys [0, r1): the
 * heads' query rows are stacked into one (gn * rows, hd) matrix so each K and V block is packed
 * once per group (GQA) and the GEMMs get gn times more rows; S = QK^T (one block of scores),
 * masked softmax, O = PV, scattered back per head. S: gn * (r1 - r0) * r1 floats, Q, O:
 * gn * (r1 - r0) * hd. */
void kvb_attn_block_f32(const kvb_attn_rows *a, int kvh, int h0, int gn, int r0, int r1, float *S,
                        float *Q, float *O)
{
    int hd = a->hd, rows = r1 - r0, cols = r1, M = gn * rows;
    int qs = a->n_heads * hd, ks = a->n_kv_heads * hd;
    float scale = 1.0f / sqrtf((float)hd);
    for (int g = 0; g < gn; g++)
        for (int i = 0; i < rows; i++)
            memcpy(Q + ((size_t)g * rows + i) * hd, a->q + (size_t)(r0 + i) * qs + (size_t)(h0 + g) * hd,
                   sizeof(float) * (size_t)hd);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, cols, hd, scale, Q, hd,
                a->k + (size_t)kvh * hd, ks, 0.0f, S, cols);
    for (int r = 0; r < M; r++) {
        float *s = S + (size_t)r * cols;
        int valid = r0 + r % rows + 1;
        float mx = kvb_max_f32(s, valid), sum = kvb_exp_sub_sum(s, valid, mx);
        cblas_sscal(valid, 1.0f / sum, s, 1);
        for (int j = valid; j < cols; j++)
            s[j] = 0;
        if (a->colsum)
            cblas_saxpy(valid, 1.0f, s, 1, a->colsum + (size_t)(h0 + r / rows) * a->n, 1);
        if (a->lse)
            a->lse[(size_t)(h0 + r / rows) * a->n + r0 + r % rows] = mx + logf(sum);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, hd, cols, 1.0f, S, cols,
                a->v + (size_t)kvh * hd, ks, 0.0f, O, hd);
    for (int g = 0; g < gn; g++)
        for (int i = 0; i < rows; i++)
            memcpy(a->out + (size_t)(r0 + i) * qs + (size_t)(h0 + g) * hd, O + ((size_t)g * rows + i) * hd,
                   sizeof(float) * (size_t)hd);
}

int kvb_fa_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512bf16");
}

size_t kvb_fa_packed_elems(int n, int hd)
{
    return (size_t)((n + KVB_ATTN_B - 1) / KVB_ATTN_B * KVB_ATTN_B) * hd;
}

/* Keys [j0, j1) of one kv head into kp / vp (see kvb_fa_pack in model_impl.h); keys past n are
 * zeros, so a masked probability (0) never meets a NaN. j0, j1 multiples of KVB_ATTN_B or j1 = n. */
void kvb_fa_pack(uint16_t *kp, uint16_t *vp, const float *k, const float *v, int stride, int n,
                 int hd, int j0, int j1)
{
    int jend = (j1 + KVB_ATTN_B - 1) / KVB_ATTN_B * KVB_ATTN_B, half = hd / 2;
    for (int j = j0; j < jend; j++) {
        const float *kr = k + (size_t)j * stride, *vr = v + (size_t)j * stride;
        uint16_t *kd = kp + (size_t)(j / 16) * half * 32 + (j % 16) * 2;
        uint16_t *vd = vp + (size_t)(j / 2) * hd * 2 + (j % 2);
        for (int p = 0; p < half; p++) {
            kd[p * 32] = j < n ? bf(kr[2 * p]) : 0;
            kd[p * 32 + 1] = j < n ? bf(kr[2 * p + 1]) : 0;
        }
        for (int d = 0; d < hd; d++)
            vd[d * 2] = j < n ? bf(vr[d]) : 0;
    }
}

/* The rows of one work item as bf16, scaled: row g * rows + i is query r0 + i of head h0 + g. */
static void pack_q(const kvb_fa_item *t, uint16_t *qb)
{
    for (int g = 0; g < t->gn; g++)
        for (int i = 0; i < t->rows; i++) {
            const float *src = t->q + (size_t)i * t->q_stride + (size_t)g * t->hd;
            uint16_t *dst = qb + ((size_t)g * t->rows + i) * t->hd;
            for (int d = 0; d < t->hd; d++)
                dst[d] = bf(src[d] * t->scale);
        }
}

/* out = O / l per row, lse = m + log l (natural log of the scaled scores' sum of exp). */
static void finish(const kvb_fa_item *t, const float *O, const float *m, const float *l)
{
    for (int r = 0; r < t->gn * t->rows; r++) {
        int g = r / t->rows, i = r % t->rows;
        float inv = 1.0f / l[r], *dst = t->out + (size_t)i * t->out_stride + (size_t)g * t->hd;
        for (int d = 0; d < t->hd; d++)
            dst[d] = O[(size_t)r * t->hd + d] * inv;
        if (t->lse)
            t->lse[(size_t)g * t->lse_stride + i] = m[r] + logf(l[r]);
    }
}

/* The work item's scratch, laid out and started alike by both kernels: packed bf16 queries qb,
 * then O (rows x hd, zeroed), the running maxima m (-inf) and sums l (0) of the M rows. */
static void fa_begin(const kvb_fa_item *t, float *scratch, uint16_t **qb, float **O, float **m,
                     float **l)
{
    const int hd = t->hd, M = t->gn * t->rows;
    *qb = (uint16_t *)(void *)scratch;
    *O = scratch + (size_t)M * hd, *m = *O + (size_t)M * hd, *l = *m + M;
    pack_q(t, *qb);
    memset(*O, 0, sizeof(float) * (size_t)M * hd);
    for (int r = 0; r < M; r++)
        (*m)[r] = -INFINITY, (*l)[r] = 0;
}

/* ---- scalar twin ------------------------------------------------------------------------------------- */
void kvb_fa_block_ref(const kvb_fa_item *t, float *scratch)
{
    const int hd = t->hd, M = t->gn * t->rows, nk = t->r0 + t->rows, half = hd / 2;
    uint16_t *qb;
    float *O, *m, *l;
    fa_begin(t, scratch, &qb, &O, &m, &l);
    for (int j0 = 0; j0 < nk; j0 += KVB_ATTN_B) {
        for (int r = 0; r < M; r++) {
            int qpos = t->r0 + r % t->rows, valid = KVB_MIN(KVB_ATTN_B, qpos + 1 - j0);
            const uint16_t *q = qb + (size_t)r * hd;
            float s[KVB_ATTN_B], mx = m[r];
            for (int c = 0; c < valid; c++) {
                int j = j0 + c;
                const uint16_t *kk = t->kp + (size_t)(j / 16) * half * 32 + (j % 16) * 2;
                float a = 0;
                for (int p = 0; p < half; p++)
                    a += kvb_bf16_to_f32(q[2 * p]) * kvb_bf16_to_f32(kk[p * 32]) +
                         kvb_bf16_to_f32(q[2 * p + 1]) * kvb_bf16_to_f32(kk[p * 32 + 1]);
                s[c] = a;
                mx = fmaxf(mx, a);
            }
            float alpha = expf(m[r] - mx), sum = 0;
            float *o = O + (size_t)r * hd;
            for (int d = 0; d < hd; d++)
                o[d] *= alpha;
            for (int c = 0; c < valid; c++) {
                float p = kvb_bf16_to_f32(bf(expf(s[c] - mx)));
                const uint16_t *vv = t->vp + (size_t)((j0 + c) / 2) * hd * 2 + ((j0 + c) % 2);
                sum += p;
                for (int d = 0; d < hd; d++)
                    o[d] += p * kvb_bf16_to_f32(vv[d * 2]);
            }
            m[r] = mx;
            l[r] = l[r] * alpha + sum;
        }
    }
    finish(t, O, m, l);
}

/* ---- AVX-512 BF16 ------------------------------------------------------------------------------------ */
#define FA_TARGET KVB_AVX512_TARGET

/* bf16 -> f32 of 16 values */
FA_TARGET static inline __m512 widen(__m256i h)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* One register tile: rows [r, r + R) of the item against keys [j0, j0 + 64): scores, online
 * softmax, O += P V. R is a constant after inlining. */
FA_TARGET static inline __attribute__((always_inline)) void
tile(const kvb_fa_item *t, const uint16_t *qb, float *O, float *m, float *l, int r, int j0,
     const int R)
{
    const int hd = t->hd, half = hd / 2;
    const uint32_t *q32 = (const uint32_t *)(const void *)(qb + (size_t)r * hd);
    const uint16_t *kb = t->kp + (size_t)(j0 / 16) * half * 32;
    __m512 acc[KVB_FA_R][4];
    _Pragma("GCC unroll 8")
    for (int i = 0; i < R; i++)
        _Pragma("GCC unroll 8")
        for (int c = 0; c < 4; c++)
            acc[i][c] = _mm512_setzero_ps();
    for (int p = 0; p < half; p++) {
        __m512i k[4];
        _Pragma("GCC unroll 8")
        for (int c = 0; c < 4; c++)
            k[c] = _mm512_loadu_si512(kb + ((size_t)c * half + p) * 32);
        _Pragma("GCC unroll 8")
        for (int i = 0; i < R; i++) {
            __m512i qq = _mm512_set1_epi32((int)q32[(size_t)i * half + p]);
            _Pragma("GCC unroll 8")
            for (int c = 0; c < 4; c++)
                acc[i][c] = _mm512_dpbf16_ps(acc[i][c], (__m512bh)qq, (__m512bh)k[c]);
        }
    }
    /* online softmax; P of the tile as bf16 pairs (key 2k, 2k + 1) per 32-bit word */
    uint32_t P[KVB_FA_R][KVB_ATTN_B / 2];
    float alpha[KVB_FA_R];
    _Pragma("GCC unroll 8")
    for (int i = 0; i < R; i++) {
        int qpos = t->r0 + (r + i) % t->rows, valid = qpos + 1 - j0; /* >= 1 */
        __mmask16 mk[4];
        __m512 mx = _mm512_set1_ps(m[r + i]);
        _Pragma("GCC unroll 8")
        for (int c = 0; c < 4; c++) {
            int v = KVB_MIN(16, KVB_MAX(0, valid - 16 * c));
            mk[c] = (__mmask16)((1u << v) - 1);
            mx = _mm512_mask_max_ps(mx, mk[c], mx, acc[i][c]);
        }
        float mnew = _mm512_reduce_max_ps(mx);
        alpha[i] = expf(m[r + i] - mnew);
        m[r + i] = mnew;
        __m512 sum = _mm512_setzero_ps(), mm = _mm512_set1_ps(mnew);
        _Pragma("GCC unroll 8")
        for (int c = 0; c < 4; c += 2) {
            __m512 p0 = _mm512_maskz_mov_ps(mk[c], kvb_exp512(_mm512_sub_ps(acc[i][c], mm)));
            __m512 p1 = _mm512_maskz_mov_ps(mk[c + 1], kvb_exp512(_mm512_sub_ps(acc[i][c + 1], mm)));
            __m512i pb = (__m512i)_mm512_cvtne2ps_pbh(p1, p0); /* keys 32c/2 .. +31 in order */
            _mm512_storeu_si512(&P[i][c * 8], pb);
            sum = _mm512_add_ps(sum, widen(_mm512_castsi512_si256(pb)));
            sum = _mm512_add_ps(sum, widen(_mm512_extracti64x4_epi64(pb, 1)));
        }
        l[r + i] = l[r + i] * alpha[i] + _mm512_reduce_add_ps(sum);
    }
    /* O = alpha O + P V, 64 (or 32) dims at a time */
    const uint16_t *vb = t->vp + (size_t)(j0 / 2) * hd * 2;
    for (int d0 = 0; d0 < hd; d0 += 64) {
        const int ng = hd - d0 >= 64 ? 4 : 2;
        _Pragma("GCC unroll 8")
        for (int i = 0; i < R; i++) {
            __m512 a = _mm512_set1_ps(alpha[i]);
            _Pragma("GCC unroll 8")
            for (int g = 0; g < ng; g++)
                acc[i][g] = _mm512_mul_ps(a, _mm512_loadu_ps(O + (size_t)(r + i) * hd + d0 + 16 * g));
        }
        for (int kp = 0; kp < KVB_ATTN_B / 2; kp++) {
            __m512i v[4];
            _Pragma("GCC unroll 8")
            for (int g = 0; g < ng; g++)
                v[g] = _mm512_loadu_si512(vb + ((size_t)kp * hd + d0 + 16 * g) * 2);
            _Pragma("GCC unroll 8")
            for (int i = 0; i < R; i++) {
                __m512i pp = _mm512_set1_epi32((int)P[i][kp]);
                _Pragma("GCC unroll 8")
                for (int g = 0; g < ng; g++)
                    acc[i][g] = _mm512_dpbf16_ps(acc[i][g], (__m512bh)pp, (__m512bh)v[g]);
            }
        }
        _Pragma("GCC unroll 8")
        for (int i = 0; i < R; i++)
            _Pragma("GCC unroll 8")
            for (int g = 0; g < ng; g++)
                _mm512_storeu_ps(O + (size_t)(r + i) * hd + d0 + 16 * g, acc[i][g]);
    }
}

FA_TARGET void kvb_fa_block_avx512(const kvb_fa_item *t, float *scratch)
{
    const int M = t->gn * t->rows, nk = t->r0 + t->rows;
    uint16_t *qb;
    float *O, *m, *l;
    fa_begin(t, scratch, &qb, &O, &m, &l);
    /* every key block once for all rows: K and V of a block stay in L1 across the tiles */
    for (int j0 = 0; j0 < nk; j0 += KVB_ATTN_B) {
        int r = 0;
        for (; r + KVB_FA_R <= M; r += KVB_FA_R)
            tile(t, qb, O, m, l, r, j0, KVB_FA_R);
        switch (M - r) {
        case 4: tile(t, qb, O, m, l, r, j0, 4); break;
        case 3: tile(t, qb, O, m, l, r, j0, 3); break;
        case 2: tile(t, qb, O, m, l, r, j0, 2); break;
        case 1: tile(t, qb, O, m, l, r, j0, 1); break;
        default: break;
        }
    }
    finish(t, O, m, l);
}

/* ---- the op --------------------------------------------------------------------------------------------- */
static int attn_f32(const kvb_attn_rows *a)
{
    int G = a->n_heads / a->n_kv_heads, B = KVB_MIN(KVB_ATTN_B, a->n);
    float *S = malloc(sizeof(float) * (size_t)G * B * a->n);
    float *Q = malloc(sizeof(float) * (size_t)G * B * a->hd), *O = malloc(sizeof(float) * (size_t)G * B * a->hd);
    if (S && Q && O)
        for (int r0 = 0; r0 < a->n; r0 += KVB_ATTN_B)
            for (int h = 0; h < a->n_kv_heads; h++)
                kvb_attn_block_f32(a, h, h * G, G, r0, KVB_MIN(a->n, r0 + KVB_ATTN_B), S, Q, O);
    int rc = S && Q && O ? 0 : KVB_ENOMEM;
    free(S), free(Q), free(O);
    return rc;
}

static int attn_bf16(const kvb_attn_rows *a)
{
    int G = a->n_heads / a->n_kv_heads, hd = a->hd, qs = a->n_heads * hd, ks = a->n_kv_heads * hd;
    size_t per = kvb_fa_packed_elems(a->n, hd);
    uint16_t *kp = malloc(2 * per * a->n_kv_heads), *vp = malloc(2 * per * a->n_kv_heads);
    float *scratch = malloc(sizeof(float) * kvb_fa_scratch_floats(G, hd));
    int avx512 = kvb_fa_available(), rc = kp && vp && scratch ? 0 : KVB_ENOMEM;
    for (int h = 0; !rc && h < a->n_kv_heads; h++)
        kvb_fa_pack(kp + per * h, vp + per * h, a->k + (size_t)h * hd, a->v + (size_t)h * hd, ks, a->n,
                    hd, 0, a->n);
    for (int r0 = 0; !rc && r0 < a->n; r0 += KVB_ATTN_B)
        for (int h = 0; h < a->n_kv_heads; h++) {
            kvb_fa_item t = { .q = a->q + (size_t)r0 * qs + (size_t)h * G * hd, .q_stride = qs,
                              .kp = kp + per * h, .vp = vp + per * h,
                              .out = a->out + (size_t)r0 * qs + (size_t)h * G * hd, .out_stride = qs,
                              .lse = a->lse ? a->lse + (size_t)h * G * a->n + r0 : NULL,
                              .lse_stride = a->n, .r0 = r0, .rows = KVB_MIN(KVB_ATTN_B, a->n - r0),
                              .gn = G, .hd = hd, .scale = 1.0f / sqrtf((float)hd) };
            if (avx512)
                kvb_fa_block_avx512(&t, scratch);
            else
                kvb_fa_block_ref(&t, scratch);
        }
    free(kp), free(vp), free(scratch);
    return rc;
}

int kvb_attn_prefill(float *o, float *lse, const float *q, const float *k, const float *v, int n,
                     int n_heads, int n_kv_heads, int head_dim, int bf16)
{
    if (n < 1 || n_heads < 1 || n_kv_heads < 1 || n_heads % n_kv_heads || head_dim < 1 ||
        (bf16 && head_dim % 32))
        return KVB_EINVAL;
    kvb_attn_rows a = { .q = q, .k = k, .v = v, .out = o, .lse = lse, .n = n, .n_heads = n_heads,
                        .n_kv_heads = n_kv_heads, .hd = head_dim };
    return bf16 ? attn_bf16(&a) : attn_f32(&a);
}
