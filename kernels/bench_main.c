/* kernels/bench_main.c: build/cuda/kvb_cuda_bench, the GPU benchmark until `kvbench bench
 * --device cuda` exists (the model verbs call the same kvb_cuda_model_bench).
 *
 *   kvb_cuda_bench [--model llama3-8b|llama2-7b|mistral-7b|smollm2-135m] [--context 2048,8192,32768]
 *                  [--decode-tokens 64] [--device 0]
 *
 * Random weights generated on the device (shapes of the named model), one JSON object on stdout:
 * device, floors, and per context prefill tok/s, decode ms/token and their ratio to the floors.
 * Without a usable GPU: "kvb_cuda_bench: error: no CUDA device: ..." on stderr, exit 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvb_cuda.h"

typedef struct {
    const char *name;
    kvb_cuda_model_desc d;
} shape;

/* HF config.json values of each model (bf16). */
static const shape SHAPES[] = {
    {"llama2-7b", {32, 32, 32, 128, 4096, 11008, 32000, 0, 1e-5f, 10000.0, 0, 0, 0, 0,
                   NULL, NULL, NULL, NULL, 0, 1}},
    {"llama3-8b", {32, 32, 8, 128, 4096, 14336, 128256, 0, 1e-5f, 500000.0, 0, 0, 0, 0,
                   NULL, NULL, NULL, NULL, 0, 1}},
    {"mistral-7b", {32, 32, 8, 128, 4096, 14336, 32768, 0, 1e-5f, 1000000.0, 0, 0, 0, 0,
                    NULL, NULL, NULL, NULL, 0, 1}},
    {"smollm2-135m", {30, 9, 3, 64, 576, 1536, 49152, 0, 1e-5f, 100000.0, 0, 0, 0, 0,
                      NULL, NULL, NULL, NULL, 1, 1}},
};

static int usage(void)
{
    fprintf(stderr, "usage: kvb_cuda_bench [--model NAME] [--context N,N,...] [--decode-tokens N] "
                    "[--device N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *model = "llama3-8b", *ctx_list = "2048,8192,32768";
    int decode_tokens = 64, device = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--model")) model = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--context")) ctx_list = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--decode-tokens")) decode_tokens = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--device")) device = atoi(argv[++i]);
        else return usage();
    }
    const shape *sh = NULL;
    for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++)
        if (!strcmp(SHAPES[i].name, model)) sh = &SHAPES[i];
    if (!sh) {
        fprintf(stderr, "kvb_cuda_bench: error: unknown model '%s'\n", model);
        return 2;
    }
    int ctx[16], n_ctx = 0, max_ctx = 0;
    for (const char *p = ctx_list; *p && n_ctx < 16;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v <= 0 || v > 60000 || (*end && *end != ',')) {
            fprintf(stderr, "kvb_cuda_bench: error: bad --context '%s'\n", ctx_list);
            return 2;
        }
        ctx[n_ctx++] = (int)v;
        max_ctx = v > max_ctx ? (int)v : max_ctx;
        p = *end ? end + 1 : end;
    }
    if (decode_tokens <= 0 || decode_tokens > 4096) return usage();
    kvb_error e = {0};
    kvb_cuda *c = NULL;
    if (kvb_cuda_open(&c, device, &e)) {
        fprintf(stderr, "kvb_cuda_bench: error: %s\n", e.msg);
        return 2;
    }
    kvb_cuda_info info;
    kvb_cuda_model_desc d = sh->d;
    d.max_tokens = max_ctx + decode_tokens;
    kvb_cuda_model *m = NULL;
    if (kvb_cuda_info_get(c, &info, &e) || kvb_cuda_model_create(c, &m, &d, &e)) {
        fprintf(stderr, "kvb_cuda_bench: error: %s\n", e.msg);
        kvb_cuda_close(c);
        return e.code == KVB_ENOMEM ? 2 : 1;
    }
    printf("{\"model\": \"%s\", \"random_weights\": true, \"device\": {\"name\": \"%s\", "
           "\"cc\": \"%d.%d\", \"sms\": %d, \"mem_total\": %zu, \"hbm_gbs_floor\": %.1f, "
           "\"bf16_tflops_floor\": %.1f}, \"model_device_bytes\": %zu, \"decode_tokens\": %d, "
           "\"rows\": [",
           model, info.name, info.cc_major, info.cc_minor, info.sm_count, info.mem_total,
           info.hbm_gbs, info.bf16_tflops, kvb_cuda_peak_bytes(c), decode_tokens);
    int rc = 0;
    for (int i = 0; i < n_ctx && !rc; i++) {
        kvb_cuda_bench_row r;
        rc = kvb_cuda_model_bench(m, ctx[i], decode_tokens, &r, &e);
        if (rc) break;
        printf("%s\n  {\"context\": %d, \"prefill_s\": %.4f, \"prefill_tok_s\": %.1f, "
               "\"prefill_floor_s\": %.4f, \"prefill_x_floor\": %.2f, \"decode_ms\": %.3f, "
               "\"decode_floor_ms\": %.3f, \"decode_x_floor\": %.2f",
               i ? "," : "", r.context, r.prefill_s, r.prefill_tok_s, r.prefill_floor_s,
               r.prefill_ratio, r.decode_ms, r.decode_floor_ms, r.decode_ratio);
        printf(", \"decode_parts_ms\": {");
        for (int p = 0; p < KVB_PROF_N; p++)
            printf("%s\"%s\": %.3f", p ? ", " : "", kvb_cuda_prof_name(p), r.decode_part_ms[p]);
        printf("}}");
        fflush(stdout);
    }
    printf("\n], \"decode_graph\": %s}\n", kvb_cuda_model_decode_graph(m) ? "true" : "false");
    kvb_cuda_model_free(m);
    kvb_cuda_close(c);
    if (rc) fprintf(stderr, "kvb_cuda_bench: error: %s\n", e.msg);
    return rc ? 1 : 0;
}
