/* --device without a GPU (lib/model/device.c, cuda_desc.c): parsing, the CPU library's refusal
 * of cuda, the methods a device runs, the device model's shapes from real configs, the cache's
 * accounting of K/V a device holds (kvb_cache_hold_external), and the run directory's refusal to
 * resume across devices. The dispatch to a backend is test_model_backend.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../kernels/kvb_cuda.h"
#include "kvcache/kvcache.h"
#include "model/backend.h"
#include "model/model.h"
#include "results/results.h"

Test(device, parse)
{
    int d, i;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_device_parse("cpu", &d, &i, &e), 0);
    cr_assert_eq(d, KVB_DEVICE_CPU);
    cr_assert_eq(kvb_device_parse("cuda", &d, &i, &e), 0);
    cr_assert(d == KVB_DEVICE_CUDA && i == 0);
    cr_assert_eq(kvb_device_parse("cuda:3", &d, &i, &e), 0);
    cr_assert(d == KVB_DEVICE_CUDA && i == 3);
    cr_assert_eq(kvb_device_parse("auto", &d, &i, &e), 0);
    cr_assert_eq(d, KVB_DEVICE_AUTO);
    const char *bad[] = { "", "gpu", "cuda:", "cuda:x", "cuda:-1", "cuda:256", "CPU", "cpu:0" };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        cr_assert_eq(kvb_device_parse(bad[k], &d, &i, &e), KVB_EINVAL, "%s", bad[k]);
        cr_assert(strstr(e.msg, "use cpu, cuda, cuda:N or auto"), "%s", e.msg);
    }
}

/* This test binary links the CPU library alone: no CUDA backend. */
Test(device, cpu_library_refuses_cuda)
{
    kvb_error e = { 0 };
    cr_assert_eq(kvb_device_probe(KVB_DEVICE_CPU, 0, &e), 0);
    cr_assert_eq(kvb_device_probe(KVB_DEVICE_CUDA, 0, &e), KVB_EUNSUP);
    cr_assert_str_eq(e.msg, "--device cuda: this binary has no CUDA backend (build it with make "
                            "cuda)");
    cr_assert_eq(kvb_device_resolve(KVB_DEVICE_AUTO, 0), KVB_DEVICE_CPU);
    cr_assert_eq(kvb_device_resolve(KVB_DEVICE_CUDA, 0), KVB_DEVICE_CUDA); /* not probed */
    kvb_model *m = NULL;
    kvb_model_opts o = { .device = KVB_DEVICE_CUDA, .random_weights = 1, .weights_bf16 = 1,
                         .threads = 1 };
    cr_assert_eq(kvb_model_open(&m, "smollm2-135m", &o, &e), KVB_EUNSUP);
    cr_assert_null(m);
    kvb_model_config c;
    kvb_device_info di;
    cr_assert_eq(kvb_model_config_by_name("smollm2-135m", &c, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_device_plan(&c, KVB_DEVICE_CUDA, 0, &di, &e), KVB_EUNSUP);
    cr_assert_eq(kvb_device_plan(&c, KVB_DEVICE_CPU, 0, &di, &e), 0);
    cr_assert_eq(di.device, KVB_DEVICE_CPU);
}

Test(device, methods)
{
    kvb_error e = { 0 };
    kvb_cache_param f32 = { "dtype", "f32" }, f16 = { "dtype", "f16" };
    cr_assert_eq(kvb_device_check_method(KVB_DEVICE_CUDA, "full", NULL, 0, &e), 0);
    cr_assert_eq(kvb_device_check_method(KVB_DEVICE_CUDA, "FULL", &f16, 1, &e), 0);
    const char *on_gpu[] = { "SnapKV", "PyramidKV", "H2O", "StreamingLLM", "ZigZagKV",
                             "SimLayerKV", "KIVI", "kivi_SimLayerKV", "ThinK" };
    for (size_t k = 0; k < sizeof(on_gpu) / sizeof(on_gpu[0]); k++)
        cr_assert_eq(kvb_device_check_method(KVB_DEVICE_CUDA, on_gpu[k], NULL, 0, &e), 0, "%s",
                     e.msg);
    kvb_cache_param qh = { "gqa", "query_head" }, bad = { "budget", "-3" };
    cr_assert_eq(kvb_device_check_method(KVB_DEVICE_CUDA, "SnapKV", &qh, 1, &e), KVB_EUNSUP);
    cr_assert(strstr(e.msg, "gqa=query_head is not on the GPU"), "%s", e.msg);
    cr_assert_eq(kvb_device_check_method(KVB_DEVICE_CUDA, "SnapKV", &bad, 1, &e), KVB_EINVAL);
    /* per query head stores: the CPU only, refused by name before any model loads */
    cr_assert_eq(kvb_device_check_method(KVB_DEVICE_CUDA, "ThinK", &qh, 1, &e), KVB_EUNSUP);
    cr_assert(strstr(e.msg, "--type ThinK: cache method ThinK with gqa=query_head"), "%s", e.msg);
    cr_assert_eq(kvb_device_check_method(KVB_DEVICE_CPU, "ThinK", &qh, 1, &e), 0);
    cr_assert_eq(kvb_device_check_method(KVB_DEVICE_CUDA, "full", &f32, 1, &e), KVB_EUNSUP);
    cr_assert(strstr(e.msg, "bf16"), "%s", e.msg);
}

/* The device model's shapes are the config's, llama3 rope scaling included. */
static void check_desc(const char *name, int L, int H, int KV, int hd, int hidden, int F, int V,
                       int max_tokens, double theta, double factor, int tied)
{
    kvb_model_config c;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_model_config_by_name(name, &c, &e), 0, "%s", e.msg);
    kvb_cuda_model_desc d;
    kvb_cuda_desc_from_config(&c, kvb_cuda_max_tokens(&c), &d);
    cr_assert(d.n_layers == L && d.n_heads == H && d.n_kv_heads == KV && d.head_dim == hd, "%s",
              name);
    cr_assert(d.hidden == hidden && d.intermediate == F && d.vocab == V, "%s", name);
    cr_assert_eq(d.max_tokens, max_tokens, "%s: %d", name, d.max_tokens);
    cr_assert_float_eq(d.rope_theta, theta, 1e-9 * theta, "%s", name);
    cr_assert_float_eq(d.rope_factor, factor, 1e-12, "%s", name);
    cr_assert_float_eq(d.rms_eps, (float)c.rms_eps, 0, "%s", name);
    cr_assert_eq(d.tie_embeddings, tied, "%s", name);
    cr_assert(!d.embed && !d.layers && !d.lm_head, "%s: weight pointers are the backend's", name);
}

Test(device, desc_from_named_configs)
{
    check_desc("llama3-8b", 32, 32, 8, 128, 4096, 14336, 128256, 8192, 500000, 0, 0);
    check_desc("mistral-7b", 32, 32, 8, 128, 4096, 14336, 32768, 32768, 1e6, 0, 0);
    check_desc("smollm2-135m", 30, 9, 3, 64, 576, 1536, 49152, 8192, 100000, 0, 1);
}

/* A llama3-scaled config (the tiny fixture, max_position 131072): scaling carried over, the
 * cache capped at the driver's 65535 tokens. */
Test(device, desc_llama3_scaling)
{
    kvb_model *m = NULL;
    kvb_error e = { 0 };
    kvb_model_opts o = { .device = KVB_DEVICE_CPU, .threads = 1, .weights_bf16 = 1 };
    cr_assert_eq(kvb_model_open(&m, "tests/fixtures/model/llama3/f32", &o, &e), 0, "%s", e.msg);
    const kvb_model_config *c = kvb_model_get_config(m);
    kvb_cuda_model_desc d;
    kvb_cuda_desc_from_config(c, kvb_cuda_max_tokens(c), &d);
    cr_assert_eq(d.max_tokens, KVB_CUDA_MAX_TOKENS);
    cr_assert_float_eq(d.rope_factor, 8.0, 0);
    cr_assert_float_eq(d.rope_low_freq_factor, 1.0, 0);
    cr_assert_float_eq(d.rope_high_freq_factor, 4.0, 0);
    cr_assert_eq(d.rope_original_max_position, 8192);
    cr_assert(d.n_heads == 8 && d.n_kv_heads == 2 && d.head_dim == 8);
    kvb_device_info di;
    kvb_model_device_info(m, &di);
    cr_assert_eq(di.device, KVB_DEVICE_CPU);
    kvb_model_free(m);
}

/* K/V a device holds: the cache counts them as its own (bytes, layer stats, prefill peak). */
Test(device, hold_external_accounting)
{
    kvb_cache_shape sh = { 3, 4, 2, 16, 64, "llama" };
    kvb_cache *c;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_cache_create(&c, "full", &sh, NULL, 0, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_cache_reset(c, 10, &e), 0);
    cr_assert_eq(kvb_cache_hold_external(c, 0, &e), 0); /* the check alone */
    cr_assert_eq(kvb_cache_bytes(c), 0);
    cr_assert_eq(kvb_cache_hold_external(c, 9, &e), KVB_EINVAL); /* fewer than the prompt */
    cr_assert_eq(kvb_cache_hold_external(c, 10, &e), 0, "%s", e.msg);
    const size_t per_token = 2 * 3 * 2 * 16 * 2; /* K,V x layers x kv heads x head_dim x 2 bytes */
    cr_assert_eq(kvb_cache_bytes(c), 10 * per_token);
    cr_assert_eq(kvb_cache_prefill_peak_bytes(c), 10 * per_token);
    cr_assert_eq(kvb_cache_hold_external(c, 11, &e), 0);
    cr_assert_eq(kvb_cache_bytes(c), 11 * per_token);
    cr_assert_eq(kvb_cache_full16_bytes(c), 11 * per_token);
    kvb_cache_layer_stats st;
    kvb_cache_layer_stats_get(c, 2, &st);
    cr_assert(st.tokens == 22 && st.tokens_full == 22 && st.k_bytes == 11 * 2 * 16 * 2);
    cr_assert_eq(kvb_cache_hold_external(c, 65, &e), KVB_EINVAL); /* beyond max_tokens */
    cr_assert_eq(kvb_cache_reset(c, 5, &e), 0);
    cr_assert_eq(kvb_cache_bytes(c), 0);
    kvb_cache_free(c);

    kvb_cache_param f32 = { "dtype", "f32" };
    cr_assert_eq(kvb_cache_create(&c, "full", &sh, &f32, 1, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_cache_reset(c, 4, &e), 0);
    cr_assert_eq(kvb_cache_hold_external(c, 0, &e), KVB_EUNSUP);
    kvb_cache_free(c);
    cr_assert_eq(kvb_cache_create(&c, "SnapKV", &sh, NULL, 0, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_cache_reset(c, 4, &e), 0);
    cr_assert_eq(kvb_cache_hold_external(c, 4, &e), KVB_EUNSUP);
    cr_assert(strstr(e.msg, "SnapKV is not on the GPU yet"), "%s", e.msg);
    kvb_cache_free(c);
}

/* fingerprint.json and the device: a new key for old directories counts as "cpu". */
Test(device, resume_refuses_device_change)
{
    char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/kvb_device_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char sub[96];
    snprintf(sub, sizeof(sub), "%s/run", dir);
    kvb_rundir *d;
    kvb_error e = { 0 };
    /* a directory as kvbench wrote it before --device: other keys, no device */
    cr_assert_eq(kvb_rundir_open(&d, sub, 0, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_rundir_fp_check(d, "model", "smollm2-135m", &e), 0);
    cr_assert_eq(kvb_rundir_fp_save(d, &e), 0);
    kvb_rundir_free(d);
    cr_assert_eq(kvb_rundir_open(&d, sub, 1, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_rundir_fp_check_since(d, "device", "cuda", "cpu", &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "made with device = cpu, this run has cuda"), "%s", e.msg);
    cr_assert_eq(kvb_rundir_fp_check_since(d, "device", "cpu", "cpu", &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_rundir_fp_save(d, &e), 0);
    kvb_rundir_free(d);
    /* now recorded: a cuda resume is refused, a cpu one accepted */
    cr_assert_eq(kvb_rundir_open(&d, sub, 1, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_rundir_fp_check_since(d, "device", "cuda", "cpu", &e), KVB_EINVAL);
    cr_assert_eq(kvb_rundir_fp_check_since(d, "device", "cpu", "cpu", &e), 0);
    kvb_rundir_free(d);
    /* a fresh directory records whatever device runs first */
    snprintf(sub, sizeof(sub), "%s/fresh", dir);
    cr_assert_eq(kvb_rundir_open(&d, sub, 0, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_rundir_fp_check_since(d, "device", "cuda", "cpu", &e), 0, "%s", e.msg);
    kvb_rundir_free(d);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}
