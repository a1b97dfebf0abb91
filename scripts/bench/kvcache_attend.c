/* Cache-level benchmark (built and run by scripts/bench/kvcache.sh; not part of the library):
 * for every method, the time its prefill hooks take on an n-token prompt (the compression
 * overhead: scoring, selection, copies) and the decode attention time per token (append + attend
 * over every layer and head), on SmolLM2-135M's cache shape (30 layers, 9 query heads, 3 kv
 * heads, head_dim 64) with seeded random post-RoPE Q/K/V. One JSON object per line.
 * H2O's column sums normally come from the forward pass; here they are random (not timed).
 * Usage: kvcache_attend [prompt_tokens] [budget] [label,label,...]  (the labels below; default
 * all), so scripts/bench/kvcache.sh can alternate single methods between processes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "kvcache/kvcache.h"

enum { L = 30, H = 9, KV = 3, D = 64, STEPS = 32 };

/* process CPU seconds: robust to other jobs sharing the machine (the bench is single-threaded) */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((float)((*s >> 8) & 0xffff) / 65535.0f) * 2.0f - 1.0f;
}

/* label is one of the comma-separated names in list */
static int label_listed(const char *list, const char *label)
{
    const size_t n = strlen(label);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        const size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, label, n))
            return 1;
        p += len + (e ? 1 : 0);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const int n = argc > 1 ? atoi(argv[1]) : 8192;
    const char *budget = argc > 2 ? argv[2] : "512";
    const char *only = argc > 3 ? argv[3] : NULL;
    if (n < 64 || n > 65536) {
        fprintf(stderr, "kvcache_attend: prompt_tokens %d out of range [64, 65536]\n", n);
        return 2;
    }
    unsigned seed = 42;
    float *q = malloc(sizeof(float) * n * H * D), *k = malloc(sizeof(float) * n * KV * D);
    float *v = malloc(sizeof(float) * n * KV * D), *cs = malloc(sizeof(float) * n * H);
    float *dq = malloc(sizeof(float) * H * D), *dk = malloc(sizeof(float) * KV * D);
    float *dv = malloc(sizeof(float) * KV * D), *out = malloc(sizeof(float) * H * D);
    if (!q || !k || !v || !cs || !dq || !dk || !dv || !out)
        return 1;
    for (long i = 0; i < (long)n * H * D; i++)
        q[i] = frand(&seed) * 2;
    for (long i = 0; i < (long)n * KV * D; i++)
        k[i] = frand(&seed) * 2, v[i] = frand(&seed);
    for (long i = 0; i < (long)n * H; i++)
        cs[i] = frand(&seed) + 1.0f;
    for (int i = 0; i < H * D; i++)
        dq[i] = frand(&seed);
    for (int i = 0; i < KV * D; i++)
        dk[i] = frand(&seed), dv[i] = frand(&seed);
    const struct {
        const char *label, *method;
        kvb_cache_param p[2];
        int np;
    } runs[] = {
        { "full-f32", "full", { { "dtype", "f32" } }, 1 },
        { "full-f16", "full", { { "dtype", "f16" } }, 1 },
        { "SnapKV", "SnapKV", { { "budget", budget } }, 1 },
        { "PyramidKV", "PyramidKV", { { "budget", budget } }, 1 },
        { "StreamingLLM", "StreamingLLM", { { "budget", budget } }, 1 },
        { "H2O", "H2O", { { "budget", budget } }, 1 },
        { "ZigZagKV", "ZigZagKV", { { "budget", budget } }, 1 },
        { "ThinK", "ThinK", { { "budget", budget } }, 1 },
        { "SnapKV-query_head", "SnapKV", { { "budget", budget }, { "gqa", "query_head" } }, 2 },
        { "KIVI-2", "KIVI", { { "bits", "2" } }, 1 },
        { "KIVI-4", "KIVI", { { "bits", "4" } }, 1 },
        { "SimLayerKV", "SimLayerKV", { { "threshold", "0" } }, 1 },
        { "SimLayerKV+KIVI", "SimLayerKV+KIVI", { { "threshold", "0" } }, 1 },
    };
    const kvb_cache_shape sh = { L, H, KV, D, n + STEPS + 8, "smollm2" };
    int ran = 0;
    for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
        if (only && !label_listed(only, runs[r].label))
            continue;
        ran++;
        kvb_cache *c;
        kvb_error e;
        if (kvb_cache_create(&c, runs[r].method, &sh, runs[r].p, runs[r].np, NULL, &e)) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        float *scratch = malloc(sizeof(float) * kvb_cache_scratch_floats(c));
        double t0 = kvb_now(), c0 = cpu_now();
        kvb_cache_reset(c, n, &e);
        for (int l = 0; l < L; l++) {
            kvb_prefill_layer pl = { l, n, q, k, v, cs, NULL, NULL };
            if (kvb_cache_prefill_layer(c, &pl, &e))
                return fprintf(stderr, "%s\n", e.msg), 1;
        }
        kvb_cache_prefill_end(c, &e);
        const double t_prefill = kvb_now() - t0, c_prefill = cpu_now() - c0;
        const size_t prefill_bytes = kvb_cache_bytes(c);
        /* the first steps carry SimLayerKV's decision: warm up 2, then time */
        double t_dec = 0, c_dec = 0;
        for (int s = 0; s < STEPS; s++) {
            double t1 = kvb_now(), c1 = cpu_now();
            for (int l = 0; l < L; l++) {
                kvb_cache_append(c, l, dk, dv, &e);
                kvb_cache_attend(c, l, dq, out, 0, H, scratch);
            }
            if (s >= 2)
                t_dec += kvb_now() - t1, c_dec += cpu_now() - c1;
        }
        printf("{\"bench\": \"kvcache\", \"method\": \"%s\", \"prompt\": %d, \"budget\": %s, "
               "\"prefill_hook_ms\": %.2f, \"prefill_hook_cpu_ms\": %.2f, "
               "\"decode_attn_ms_per_token\": %.3f, \"decode_attn_cpu_ms_per_token\": %.3f, "
               "\"bytes_after_prefill\": %zu, \"bytes_end\": %zu, \"peak_bytes\": %zu, "
               "\"full16_bytes\": %zu, \"compression\": %.3f}\n",
               runs[r].label, n, budget, t_prefill * 1e3, c_prefill * 1e3, t_dec * 1e3 / (STEPS - 2),
               c_dec * 1e3 / (STEPS - 2), prefill_bytes,
               kvb_cache_bytes(c), kvb_cache_peak_bytes(c), kvb_cache_full16_bytes(c),
               (double)kvb_cache_full16_bytes(c) / (double)kvb_cache_bytes(c));
        fflush(stdout);
        free(scratch);
        kvb_cache_free(c);
    }
    free(q), free(k), free(v), free(cs), free(dq), free(dk), free(dv), free(out);
    if (only && !ran) {
        fprintf(stderr, "kvcache_attend: no method labelled '%s'\n", only);
        return 2;
    }
    return 0;
}
