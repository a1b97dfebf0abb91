/* Physical floors for `kvbench bench`: the machine's read bandwidth and GEMM throughput measured
 * here (same threads as the model), and what one decode step / one prefill must move or compute. */
#include "model_impl.h"

#include <cblas.h>
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bw_task {
    const float *buf;
    size_t n;
    double sums[1024];
} bw_task;

static void bw_worker(void *arg, int ith, int nth)
{
    bw_task *t = arg;
    size_t per = t->n / (size_t)nth / 32 * 32, i0 = per * (size_t)ith;
    __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;
    for (size_t i = i0; i < i0 + per; i += 32) {
        a = _mm256_add_ps(a, _mm256_load_ps(t->buf + i));
        b = _mm256_add_ps(b, _mm256_load_ps(t->buf + i + 8));
        c = _mm256_add_ps(c, _mm256_load_ps(t->buf + i + 16));
        d = _mm256_add_ps(d, _mm256_load_ps(t->buf + i + 24));
    }
    float v[8];
    _mm256_storeu_ps(v, _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
    t->sums[ith % 1024] = v[0] + v[7]; /* keeps the loads alive */
}

double kvb_measure_read_bandwidth(kvb_pool *p)
{
    size_t bytes = (size_t)256 << 20; /* far beyond any L3 */
    float *buf = NULL;
    if (posix_memalign((void **)&buf, 64, bytes))
        return 0;
    memset(buf, 0, bytes); /* touch every page before timing */
    bw_task t = { .buf = buf, .n = bytes / sizeof(float) };
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = kvb_now();
        kvb_pool_run(p, bw_worker, &t);
        double dt = kvb_now() - t0;
        size_t per = t.n / (size_t)kvb_pool_size(p) / 32 * 32 * (size_t)kvb_pool_size(p);
        if (dt > 0 && per * 4 / dt > best)
            best = (double)per * 4 / dt;
    }
    free(buf);
    return best;
}

typedef struct gemm_peak_task {
    float *a, *b, *c; /* per thread (S x S) each */
    int S, reps;
} gemm_peak_task;

static void gemm_peak_worker(void *arg, int ith, int nth)
{
    (void)nth;
    gemm_peak_task *t = arg;
    size_t sz = (size_t)t->S * t->S;
    for (int r = 0; r < t->reps; r++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t->S, t->S, t->S, 1.0f,
                    t->a + sz * ith, t->S, t->b + sz * ith, t->S, 0.0f, t->c + sz * ith, t->S);
}

double kvb_measure_gemm_peak(kvb_pool *p)
{
    int nth = kvb_pool_size(p), S = 512;
    size_t sz = (size_t)S * S * nth;
    gemm_peak_task t = { kvb_calloc(sz, 4), kvb_calloc(sz, 4), kvb_calloc(sz, 4), S, 4 };
    double best = 0;
    for (int rep = 0; rep < 3 && t.a && t.b && t.c; rep++) {
        double t0 = kvb_now();
        kvb_pool_run(p, gemm_peak_worker, &t);
        double dt = kvb_now() - t0;
        double fl = 2.0 * S * S * S * t.reps * nth / dt;
        if (fl > best)
            best = fl;
    }
    free(t.a), free(t.b), free(t.c);
    return best;
}

/* clock in MHz: sysfs max frequency, else the first "cpu MHz" of /proc/cpuinfo; family: cpu family */
static double cpu_mhz(const char **src, int *family)
{
    double mhz = 0;
    *family = 0;
    FILE *f = fopen("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "r");
    if (f) {
        long khz = 0;
        if (fscanf(f, "%ld", &khz) == 1 && khz > 0)
            mhz = khz / 1e3, *src = "cpuinfo_max_freq";
        fclose(f);
    }
    if (!(f = fopen("/proc/cpuinfo", "r")))
        return mhz;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        double v;
        int fam;
        if (!mhz && sscanf(line, "cpu MHz : %lf", &v) == 1 && v > 0)
            mhz = v, *src = "/proc/cpuinfo cpu MHz";
        if (!*family && sscanf(line, "cpu family : %d", &fam) == 1)
            *family = fam;
    }
    fclose(f);
    return mhz;
}

double kvb_cpu_fma_peak(int threads, int bf16, char *desc, size_t n)
{
    const char *src = "?";
    int family;
    double mhz = cpu_mhz(&src, &family);
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f");
    int is_amd = __builtin_cpu_is("amd");
    /* f32 FMA lanes per cycle per core: two FMA pipes of 256 bits, or of 512 bits */
    int lanes = avx512 && !(is_amd && family <= 0x19) ? 32 : 16;
    int dot = bf16 ? 2 : 1;
    double peak = threads * mhz * 1e6 * lanes * 2 * dot;
    if (desc)
        snprintf(desc, n, "%d threads x %.0f MHz (%s) x %d f32 FMA lanes/cycle x 2%s = %.0f GFLOP/s",
                 threads, mhz, src, lanes, bf16 ? " x 2 (bf16 dot products)" : "", peak / 1e9);
    return mhz > 0 ? peak : 0;
}

/* Matmul FLOPs of a prefill of n tokens (lm_head for the last position only) plus causal
 * attention (QK^T and PV over n(n+1)/2 query-key pairs per head). */
double kvb_model_prefill_flops(const kvb_model_config *c, int n)
{
    double H = c->hidden, qd = (double)c->n_heads * c->head_dim, kd = (double)c->n_kv_heads * c->head_dim;
    double per_tok = c->n_layers * (H * (qd + 2 * kd) + qd * H + 3 * H * c->intermediate);
    double attn = c->n_layers * (double)c->n_heads * c->head_dim * 2.0 * 2.0 * n * (n + 1) / 2.0;
    return 2.0 * per_tok * n + attn + 2.0 * H * c->vocab;
}

/* Bytes one decode step must read: every weight matrix once (of the embedding only one row
 * unless it is also the lm_head) plus everything the cache holds. */
size_t kvb_model_decode_bytes(const kvb_model *m, const kvb_cache *c)
{
    size_t w = m->weight_bytes;
    if (!m->cfg.tie_embeddings)
        w -= (size_t)m->embed.rows * kvb_wt_row_bytes(&m->embed);
    return w + kvb_cache_bytes(c);
}
