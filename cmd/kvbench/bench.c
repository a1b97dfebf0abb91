/* kvbench bench: prefill tokens/s, decode ms/token, peak RSS, and the fraction of the physical
 * floor reached, for one cache method or several (--type A,B: one model load, every method at
 * every context, decode against full's at the same context when full is listed): decode = (weights + KV bytes per step) / measured read bandwidth, prefill =
 * (matmul + attention FLOPs) / the CPU's FMA peak from its clock and vector width
 * (kvb_cpu_fma_peak, for the arithmetic the prefill uses: f32 or bf16 dot products) and / a
 * measured sgemm. On --device cuda the floors are the GPU's (kvb_cuda_info: HBM bandwidth from
 * the memory clock and bus width, the dense bf16 tensor-core peak). Prompts are seeded random
 * token ids. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner/generate.h"
#include "modelcli.h"
#include "options.h"
#include "verbs.h"

typedef struct bench_run {
    const char *method;
    int context, gen;
    double prefill_s, decode_s;
    size_t kv_bytes, step_bytes;
} bench_run;

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Streaming hook: the decode bytes per step halfway through (the mean cache size over the steps). */
typedef struct half_way {
    kvb_model *m;
    kvb_cache *c;
    int at;
    size_t bytes;
} half_way;

static int on_token(void *arg, int32_t id, int step, kvb_error *e)
{
    (void)id, (void)e;
    half_way *h = arg;
    if (step == h->at)
        h->bytes = kvb_model_decode_bytes(h->m, h->c);
    return 0;
}

static int run_one(kvb_model *m, const char *method, const char *cparams, int shared, int ctx,
                   int gen, bench_run *r, kvb_error *e)
{
    const kvb_model_config *cf = kvb_model_get_config(m);
    kvb_cache *c = NULL;
    int rc = kvb_cli_open_cache(m, method, cparams, shared, ctx + gen, &c, e);
    if (rc)
        return rc;
    int32_t *ids = kvb_calloc((size_t)ctx, sizeof(int32_t));
    uint64_t s = 0x9e3779b97f4a7c15ull ^ (uint64_t)ctx;
    for (int i = 0; i < ctx; i++)
        ids[i] = (int32_t)(rng(&s) % (uint64_t)cf->vocab);
    r->method = method;
    r->context = ctx;
    r->gen = gen;
    /* gen decode steps: gen + 1 tokens chosen, no stop token */
    half_way h = { m, c, gen / 2, 0 };
    kvb_gen_opts go = { .max_new_tokens = gen + 1, .on_token = on_token, .arg = &h };
    kvb_gen_result g;
    rc = kvb_generate(m, c, ids, ctx, &go, &g, e);
    r->prefill_s = g.t_prefill;
    r->decode_s = g.t_decode;
    r->step_bytes = h.bytes;
    r->kv_bytes = kvb_cache_bytes(c);
    kvb_gen_result_release(&g);
    free(ids);
    kvb_cache_free(c);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    kvb_model_flags f = { .weights = "bf16" };
    const char *contexts = "512,2048,8192", *method = "full", *cparams = NULL;
    long gen = 32;
    int json = 0;
    const struct kvb_option opts[] = {
        KVB_OPT_STR_("model", &f.model, "M", "model name, HF directory or .gguf file"),
        KVB_OPT_STR_("context", &contexts, "LIST", "prompt lengths (default 512,2048,8192)"),
        KVB_OPT_INT_("gen", &gen, "N", "decode steps per prompt (default 32)", 1, 1 << 16),
        KVB_OPT_INT_("threads", &f.threads, "N", "threads (default: all cores)", 0, 1024),
        KVB_OPT_STR_("type", &method, "LIST", "cache method, or a comma list of them (default full)"),
        KVB_OPT_STR_("cache-param", &cparams, "LIST", "cache parameters name=value,... (with "
                     "several methods each takes those it knows)"),
        KVB_OPT_FLAG_("json", &json, "print JSON"),
        KVB_MODEL_WEIGHT_OPTS(&f.random_weights, &f.seed, &f.weights, &f.device),
        KVB_OPT_END_,
    };
    int rc = kvb_parse_options(argc, argv, opts,
                               "kvbench bench --model M [--context 512,2048,8192] [--gen 32] "
                               "[--type full,SnapKV,...] [--json]",
                               NULL, NULL);
    if (rc)
        return rc > 0 ? 0 : 2;
    f.method = method;
    f.cache_params = cparams;
    kvb_error e = { 0 };
    char **cl = NULL, **ms = NULL;
    int ncl = 0, nm = 0;
    if (kvb_split_csv(contexts, &cl, &ncl) || ncl < 1) {
        kvb_errorf(&e, KVB_EINVAL, "--context '%s': not a list", contexts);
        return kvb_die(&e);
    }
    if (kvb_split_csv(method, &ms, &nm) || nm < 1) {
        kvb_free_strv(cl, ncl);
        kvb_errorf(&e, KVB_EINVAL, "--type '%s': not a method or a list of them", method);
        return kvb_die(&e);
    }
    long *ctx = kvb_calloc((size_t)ncl, sizeof(long));
    for (int i = 0; i < ncl && !rc; i++)
        if (kvb_parse_long(cl[i], 1, 1 << 22, &ctx[i]))
            rc = kvb_errorf(&e, KVB_EINVAL, "--context: '%s' is not a length in [1, 4194304]", cl[i]);
    kvb_free_strv(cl, ncl);
    /* a GPU cache is allocated once: it holds the longest context and its decode steps (the CPU
     * cache grows as it goes); past the driver's limit the device refuses with one line */
    long longest = 0;
    for (int i = 0; i < ncl; i++) longest = ctx[i] > longest ? ctx[i] : longest;
    f.device_tokens = (int)KVB_MIN(longest + gen + 1, (long)INT_MAX);
    kvb_model *m = NULL;
    if (rc || (rc = kvb_cli_open_model(&f, &m, &e))) {
        free(ctx);
        kvb_free_strv(ms, nm);
        return kvb_die(&e);
    }
    const kvb_model_config *cf = kvb_model_get_config(m);
    kvb_pool *pool = kvb_model_pool(m);
    kvb_device_info di;
    kvb_model_device_info(m, &di);
    const int gpu = di.device == KVB_DEVICE_CUDA;
    double bw, peak, fma;
    char fma_desc[256];
    if (gpu) { /* the GPU's floors (kvb_cuda_info): HBM bandwidth and the bf16 tensor-core peak */
        bw = di.hbm_gbs * 1e9;
        peak = fma = di.bf16_tflops * 1e12;
        snprintf(fma_desc, sizeof(fma_desc), "bf16 tensor cores %.0f TFLOP/s (%.60s)",
                 di.bf16_tflops, di.gpu);
    } else {
        bw = kvb_measure_read_bandwidth(pool);
        peak = kvb_measure_gemm_peak(pool);
        fma = kvb_cpu_fma_peak(kvb_pool_size(pool), kvb_model_prefill_is_bf16(m), fma_desc,
                               sizeof(fma_desc));
    }
    for (int k = 0; k < nm && !rc; k++) { /* every method's parameters, before any run */
        kvb_cache *c = NULL;
        rc = kvb_cli_open_cache(m, ms[k], cparams, nm > 1, (int)(longest + gen), &c, &e);
        kvb_cache_free(c);
    }
    const int nr = nm * ncl; /* methods outer, contexts inner */
    bench_run *runs = kvb_calloc((size_t)nr, sizeof(*runs));
    for (int i = 0; i < nr && !rc; i++)
        rc = run_one(m, ms[i / ncl], cparams, nm > 1, (int)ctx[i % ncl], (int)gen, &runs[i], &e);
    if (rc) {
        free(runs), free(ctx);
        kvb_free_strv(ms, nm);
        kvb_model_free(m);
        return kvb_die(&e);
    }
    int full = -1; /* the row block of `full`, the reference of decode_vs_full */
    for (int k = 0; k < nm && full < 0; k++)
        if (!strcmp(runs[k * ncl].method, "full"))
            full = k;
    kvb_model_info in;
    kvb_model_get_info(m, &in);
    char cpu[256], ts[64];
    kvb_cpu_name(cpu, sizeof(cpu));
    kvb_timestamp(ts, sizeof(ts));
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "tool", "kvbench " KVB_VERSION);
    cJSON_AddStringToObject(j, "git_commit", KVB_GIT_COMMIT);
    cJSON_AddStringToObject(j, "timestamp", ts);
    cJSON_AddStringToObject(j, "model", cf->name);
    cJSON_AddStringToObject(j, "source", in.source);
    cJSON_AddStringToObject(j, "weights_dtype", in.held_dtype);
    cJSON_AddNumberToObject(j, "weight_bytes", (double)kvb_model_weight_bytes(m));
    cJSON_AddStringToObject(j, "method", method);
    cJSON_AddNumberToObject(j, "threads", kvb_pool_size(pool));
    cJSON_AddStringToObject(j, "gemv_kernels", in.isa);
    cJSON_AddStringToObject(j, "cpu", cpu);
    cJSON_AddStringToObject(j, "device", kvb_device_name(di.device));
    cJSON_AddStringToObject(j, "gpu", di.gpu);
    cJSON_AddNumberToObject(j, "device_bytes", (double)di.peak_bytes);
    cJSON_AddNumberToObject(j, "read_bandwidth_gbs", bw / 1e9);
    cJSON_AddNumberToObject(j, "sgemm_peak_gflops", peak / 1e9);
    cJSON_AddStringToObject(j, "prefill_arithmetic", in.prefill);
    cJSON_AddNumberToObject(j, "fma_peak_gflops", fma / 1e9);
    cJSON_AddStringToObject(j, "fma_peak_formula", fma_desc);
    cJSON *arr = cJSON_AddArrayToObject(j, "runs");
    if (!json && gpu)
        printf("%s (%s weights, %s) on %s (cuda): HBM %.0f GB/s, bf16 peak %.0f TFLOP/s, %.2f GiB "
               "on the device\n", cf->name, in.held_dtype, method, di.gpu, bw / 1e9, peak / 1e12,
               di.peak_bytes / 1073741824.0);
    else if (!json)
        printf("%s (%s weights, %s) on %s, %d threads: read %.1f GB/s, sgemm %.1f GFLOP/s\n"
               "prefill %s; FMA peak %s\n", cf->name, in.held_dtype, method, cpu,
               kvb_pool_size(pool), bw / 1e9, peak / 1e9, in.prefill, fma_desc);
    if (!json)
        printf("%*s%8s %12s %10s %10s %12s %10s %10s %10s%s\n", nm > 1 ? -16 : 0,
               nm > 1 ? "method" : "", "context", "prefill t/s", gpu ? "of peak" : "of FMA",
               gpu ? "of peak" : "of sgemm", "decode ms/t", "decode t/s", "of floor", "KV MB",
               full >= 0 && nm > 1 ? "     x full" : "");
    for (int i = 0; i < nr; i++) {
        bench_run *r = &runs[i];
        double ptps = r->context / r->prefill_s, ms = 1e3 * r->decode_s / r->gen;
        double pfrac = peak > 0 ? kvb_model_prefill_flops(cf, r->context) / r->prefill_s / peak : 0;
        double ffrac = fma > 0 ? kvb_model_prefill_flops(cf, r->context) / r->prefill_s / fma : 0;
        double dfrac = (double)r->step_bytes / bw / (r->decode_s / r->gen);
        /* decode time against full's at this context (1.0 = as fast; below: faster) */
        const bench_run *rf = full >= 0 ? &runs[full * ncl + i % ncl] : NULL;
        const double vs_full = rf ? (r->decode_s / r->gen) / (rf->decode_s / rf->gen) : 0;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "method", r->method);
        cJSON_AddNumberToObject(o, "context", r->context);
        cJSON_AddNumberToObject(o, "gen", r->gen);
        cJSON_AddNumberToObject(o, "prefill_s", r->prefill_s);
        cJSON_AddNumberToObject(o, "prefill_tok_s", ptps);
        cJSON_AddNumberToObject(o, "prefill_gflops", kvb_model_prefill_flops(cf, r->context) / r->prefill_s / 1e9);
        cJSON_AddNumberToObject(o, "prefill_peak_fraction", pfrac);
        cJSON_AddNumberToObject(o, "prefill_fma_fraction", ffrac);
        cJSON_AddNumberToObject(o, "decode_ms_per_token", ms);
        cJSON_AddNumberToObject(o, "decode_tok_s", 1e3 / ms);
        cJSON_AddNumberToObject(o, "decode_bytes_per_step", (double)r->step_bytes);
        cJSON_AddNumberToObject(o, "decode_floor_fraction", dfrac);
        cJSON_AddNumberToObject(o, "kv_bytes", (double)r->kv_bytes);
        if (rf)
            cJSON_AddNumberToObject(o, "decode_vs_full", vs_full);
        cJSON_AddItemToArray(arr, o);
        if (json)
            continue;
        if (nm > 1)
            printf("%-16s", r->method);
        printf("%8d %12.1f %9.0f%% %9.0f%% %12.2f %10.1f %9.0f%% %10.1f", r->context, ptps,
               100 * ffrac, 100 * pfrac, ms, 1e3 / ms, 100 * dfrac, (double)r->kv_bytes / 1e6);
        if (rf && nm > 1)
            printf(" %10.2f", vs_full);
        printf("\n");
    }
    cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)kvb_peak_rss());
    if (json) {
        char *s = cJSON_Print(j);
        printf("%s\n", s);
        free(s);
    } else
        printf("peak RSS %.1f MB\n", (double)kvb_peak_rss() / 1e6);
    cJSON_Delete(j);
    free(runs);
    free(ctx);
    kvb_free_strv(ms, nm);
    kvb_model_free(m);
    return 0;
}
