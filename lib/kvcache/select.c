/* lib/kvcache/select.c: scoring and selection kernels (see select.h for the contracts). */
#include "kvcache/select.h"

#include "core/core.h"

#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- observation-window attention --------------------------------------------------------- */

static float dotf(const float *a, const float *b, int n)
{
    int i = 0;
    __m256 acc = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
    float s = _mm_cvtss_f32(x);
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

void kvb_sel_window_attn_head(const float *q, size_t q_stride, const float *k, size_t k_stride,
                              int n, int D, int w, int mean, float *out, float *scratch)
{
    const float scale = 1.0f / sqrtf((float)D);
    memset(out, 0, (size_t)n * sizeof(float));
    for (int i = 0; i < w; i++) {
        const int row = n - w + i; /* absolute position of the window query */
        const float *qi = q + (size_t)row * q_stride;
        float mx = -INFINITY;
        for (int j = 0; j <= row; j++) {
            scratch[j] = dotf(qi, k + (size_t)j * k_stride, D) * scale;
            if (scratch[j] > mx)
                mx = scratch[j];
        }
        float sum = 0.0f;
        for (int j = 0; j <= row; j++) {
            scratch[j] = expf(scratch[j] - mx);
            sum += scratch[j];
        }
        const float inv = 1.0f / sum;
        for (int j = 0; j <= row; j++)
            out[j] += scratch[j] * inv;
    }
    if (mean)
        for (int j = 0; j < n; j++)
            out[j] /= (float)w;
}

void kvb_sel_window_attn(const float *q, const float *k, int n, int n_heads, int n_kv_heads, int D,
                         int w, int mean, float *out, float *scratch)
{
    if (w > n)
        w = n;
    if (w < 1)
        w = 1;
    const int group = n_heads / n_kv_heads;
    for (int h = 0; h < n_heads; h++)
        kvb_sel_window_attn_head(q + (size_t)h * D, (size_t)n_heads * D,
                                 k + (size_t)(h / group) * D, (size_t)n_kv_heads * D, n, D, w, mean,
                                 out + (size_t)h * n, scratch);
}

void kvb_sel_colsum_head(const float *q, size_t q_stride, const float *k, size_t k_stride, int n,
                         int D, float *out, float *scratch)
{
    const float scale = 1.0f / sqrtf((float)D);
    memset(out, 0, (size_t)n * sizeof(float));
    for (int i = 0; i < n; i++) {
        const float *qi = q + (size_t)i * q_stride;
        float mx = -INFINITY;
        for (int j = 0; j <= i; j++) {
            scratch[j] = dotf(qi, k + (size_t)j * k_stride, D) * scale;
            if (scratch[j] > mx)
                mx = scratch[j];
        }
        float sum = 0.0f;
        for (int j = 0; j <= i; j++) {
            scratch[j] = expf(scratch[j] - mx);
            sum += scratch[j];
        }
        const float inv = 1.0f / sum;
        for (int j = 0; j <= i; j++)
            out[j] += scratch[j] * inv;
    }
}

void kvb_sel_colsum(const float *q, const float *k, int n, int n_heads, int n_kv_heads, int D,
                    float *out, float *scratch)
{
    const int group = n_heads / n_kv_heads;
    for (int h = 0; h < n_heads; h++)
        kvb_sel_colsum_head(q + (size_t)h * D, (size_t)n_heads * D, k + (size_t)(h / group) * D,
                            (size_t)n_kv_heads * D, n, D, out + (size_t)h * n, scratch);
}

/* ---- pooling and GQA reduction ------------------------------------------------------------ */

void kvb_sel_pool1d(const float *in, int n, int kernel, int type, float *out)
{
    const int p = kernel / 2;
    for (int i = 0; i < n; i++) {
        /* window [i - p, i + p] in input coordinates; padding is outside [0, n) */
        const int lo = KVB_MAX(i - p, 0), hi = KVB_MIN(i + p, n - 1);
        if (type == KVB_POOL_MAX) {
            float m = -INFINITY;
            for (int j = lo; j <= hi; j++)
                if (in[j] > m)
                    m = in[j];
            out[i] = m;
        } else {
            float s = 0.0f;
            for (int j = lo; j <= hi; j++)
                s += in[j];
            out[i] = s / (float)kernel; /* count_include_pad=True */
        }
    }
}

void kvb_sel_group_mean(const float *in, size_t ld, int n_heads, int n_kv_heads, int n,
                        float *out)
{
    const int group = n_heads / n_kv_heads;
    for (int g = 0; g < n_kv_heads; g++) {
        float *o = out + (size_t)g * n;
        for (int j = 0; j < n; j++) {
            float s = 0.0f;
            for (int r = 0; r < group; r++)
                s += in[(size_t)(g * group + r) * ld + j];
            o[j] = s / (float)group;
        }
    }
}

/* ---- top-k -------------------------------------------------------------------------------- */

static int cmp_desc(const void *a, const void *b, void *ctx)
{
    const float *s = ctx;
    const int i = *(const int *)a, j = *(const int *)b;
    if (s[i] > s[j])
        return -1;
    if (s[i] < s[j])
        return 1;
    return (i > j) - (i < j);
}

static int cmp_asc(const void *a, const void *b, void *ctx)
{
    const float *s = ctx;
    const int i = *(const int *)a, j = *(const int *)b;
    if (s[i] < s[j])
        return -1;
    if (s[i] > s[j])
        return 1;
    return (i > j) - (i < j);
}

static int cmp_int(const void *a, const void *b)
{
    const int i = *(const int *)a, j = *(const int *)b;
    return (i > j) - (i < j);
}

static int select_k(const float *s, int n, int k, int *idx, int *work,
                    int (*cmp)(const void *, const void *, void *))
{
    if (k > n)
        k = n;
    if (k <= 0)
        return 0;
    for (int i = 0; i < n; i++)
        work[i] = i;
    qsort_r(work, (size_t)n, sizeof(int), cmp, (void *)s);
    memcpy(idx, work, (size_t)k * sizeof(int));
    qsort(idx, (size_t)k, sizeof(int), cmp_int);
    return k;
}

int kvb_sel_topk(const float *s, int n, int k, int *idx, int *work)
{
    return select_k(s, n, k, idx, work, cmp_desc);
}

int kvb_sel_bottomk(const float *s, int n, int k, int *idx, int *work)
{
    return select_k(s, n, k, idx, work, cmp_asc);
}

/* ---- budgets ------------------------------------------------------------------------------ */

int kvb_sel_pyramid_caps(int B, int w, int L, int beta, int n, int *caps)
{
    /* Python floor division; every operand here is non-negative in valid configurations, but keep
     * floor semantics for the clamped branch where min_num can go negative. */
    const int avg = B - w;
    long min_num = avg / beta;
    long max_num = 2L * avg - min_num;
    if (max_num >= n - w) {
        max_num = n - w;
        min_num = 2L * avg - max_num;
    }
    long diff = max_num - min_num, den = L > 1 ? L - 1 : 1;
    long steps = diff >= 0 ? diff / den : -((-diff + den - 1) / den);
    if (n < B) {
        for (int l = 0; l < L; l++)
            caps[l] = n - w > 0 ? n - w : 0;
        return KVB_PYR_FULL;
    }
    if (n < 2 * avg) {
        for (int l = 0; l < L; l++)
            caps[l] = avg;
        return KVB_PYR_UNIFORM;
    }
    for (int l = 0; l < L; l++)
        caps[l] = (int)(max_num - (long)l * steps);
    return KVB_PYR_PYRAMID;
}

int kvb_sel_streaming(int n, int budget, int sink, int *idx)
{
    int m = 0;
    if (n <= budget) {
        for (int i = 0; i < n; i++)
            idx[m++] = i;
        return m;
    }
    if (sink > budget)
        sink = budget;
    for (int i = 0; i < sink; i++)
        idx[m++] = i;
    for (int i = n - (budget - sink); i < n; i++)
        idx[m++] = i;
    return m;
}

static int cmp_fdesc(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

int kvb_sel_lmba(const float *s, int n, double tau, float *work)
{
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        work[i] = s[i] > 0.0f ? s[i] : 0.0f;
        total += work[i];
    }
    qsort(work, (size_t)n, sizeof(float), cmp_fdesc);
    const double target = tau * total;
    double c = 0.0;
    int count = 0;
    for (int m = 0; m < n; m++) {
        c += work[m];
        if (c < target)
            count++;
        else
            break;
    }
    count += 1;
    return count > n ? n : count;
}

void kvb_sel_zigzag_budgets(const double *lmba, int L, int avg, double bmin_ratio, int cap_max,
                            int *budgets)
{
    double total = 0.0;
    for (int l = 0; l < L; l++)
        total += lmba[l];
    const double bmin = bmin_ratio * avg;
    for (int l = 0; l < L; l++) {
        double b = total > 0.0 ? bmin + (avg - bmin) * L * (lmba[l] / total) : (double)avg;
        long r = lround(b);
        if (r < 0)
            r = 0;
        if (r > cap_max)
            r = cap_max;
        budgets[l] = (int)r;
    }
}

/* ---- SimLayerKV --------------------------------------------------------------------------- */

double kvb_sel_simlayer_head(const float *p, int S, int sink, int recent)
{
    double s = 0.0;
    for (int j = 0; j < sink && j < S; j++)
        s += p[j];
    for (int j = S - recent < 0 ? 0 : S - recent; j < S; j++)
        s += p[j];
    return s;
}

double kvb_sel_simlayer_score(const float *probs, int n_heads, int S, int sink, int recent)
{
    double s = 0.0;
    for (int h = 0; h < n_heads; h++)
        s += kvb_sel_simlayer_head(probs + (size_t)h * S, S, sink, recent);
    return s / n_heads;
}

/* ---- ThinK -------------------------------------------------------------------------------- */

void kvb_sel_rows_sqmean(const float *x, size_t stride, const int *idx, int nk, int D, double *out)
{
    for (int j = 0; j < D; j++)
        out[j] = 0.0;
    for (int s = 0; s < nk; s++) {
        const float *row = x + (size_t)(idx ? idx[s] : s) * stride;
        for (int j = 0; j < D; j++)
            out[j] += (double)row[j] * row[j];
    }
    for (int j = 0; j < D; j++)
        out[j] = nk > 0 ? out[j] / nk : 0.0;
}

void kvb_sel_pool_mean(const double *x, size_t stride, int nh, int D, double *out)
{
    for (int j = 0; j < D; j++) {
        double s = 0.0;
        for (int h = 0; h < nh; h++)
            s += x[(size_t)h * stride + j];
        out[j] = s / nh;
    }
}

void kvb_sel_channel_sqmean(const float *x, int n, int row0, int n_heads, int h, int D,
                            double *out)
{
    kvb_sel_rows_sqmean(x + ((size_t)row0 * n_heads + h) * D, (size_t)n_heads * D, NULL, n - row0,
                        D, out);
}

void kvb_sel_think_scores(const double *qsq, const float *k, int k_stride, const int *idx, int nk,
                          int D, double *score)
{
    kvb_sel_rows_sqmean(k, (size_t)k_stride, idx, nk, D, score);
    for (int j = 0; j < D; j++)
        score[j] *= qsq[j];
}
