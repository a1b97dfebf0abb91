/* The dispatch of lib/model to a device backend (device.c), rehearsed on the CPU: this test
 * defines kvb_backend_cuda itself (the weak symbol the CPU library refers to) as a "device" that
 * runs a second CPU model of the same weights. So everything but the CUDA kernels runs here:
 * --device resolution, attach (upload, then the host weights dropped), prefill/decode through
 * kvb_model_* and kvb_generate, the cache's accounting of K/V the device holds, the refusals
 * (another method, a position the device does not hold, logits of every position) and the
 * device info. Greedy tokens and logits must equal the CPU model's bit for bit (same
 * arithmetic). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_impl.h"
#include "runner/generate.h"

#define TINY "tests/fixtures/model/llama3/f32"

typedef struct fake {
    kvb_model *inner;
    kvb_cache *cache;
    int max_tokens;
} fake;

static int g_open_saw_weights; /* the host weights were there when the backend uploaded */

static int fake_probe(int index, kvb_error *e)
{
    return index == 0 ? 0 : kvb_errorf(e, KVB_EUNSUP, "no CUDA device %d: 1 GPU(s) present", index);
}

static int fake_plan(const kvb_model_config *c, int max_tokens, int index, kvb_device_info *out,
                     kvb_error *e)
{
    (void)e;
    out->device = KVB_DEVICE_CUDA;
    out->index = index;
    snprintf(out->gpu, sizeof(out->gpu), "fake");
    out->model_bytes = kvb_model_kv_bytes_per_token(c) * (size_t)max_tokens;
    out->max_tokens = max_tokens;
    return 0;
}

static int fake_open(kvb_model *m, int max_tokens, void **ctx, kvb_error *e)
{
    g_open_saw_weights = m->embed.data != NULL && m->layers[0].wq.data != NULL;
    fake *f = calloc(1, sizeof(*f));
    kvb_model_opts o = m->opts;
    o.device = KVB_DEVICE_CPU;
    int rc = kvb_model_open(&f->inner, TINY, &o, e);
    const kvb_model_config *c = &m->cfg;
    kvb_cache_shape sh = { c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, max_tokens,
                           c->family };
    if (!rc)
        rc = kvb_cache_create(&f->cache, "full", &sh, NULL, 0, NULL, e);
    f->max_tokens = max_tokens;
    *ctx = f;
    return rc;
}

static int fake_prefill(void *p, const int32_t *ids, int n, float *logits, kvb_error *e)
{
    fake *f = p;
    int rc = kvb_cache_reset(f->cache, n, e);
    return rc ? rc : kvb_model_prefill(f->inner, f->cache, ids, n, logits, e);
}

static int fake_decode(void *p, int32_t id, int pos, float *logits, kvb_error *e)
{
    fake *f = p;
    return kvb_model_decode(f->inner, f->cache, id, pos, logits, e);
}

static void fake_info(const void *p, kvb_device_info *out)
{
    const fake *f = p;
    snprintf(out->gpu, sizeof(out->gpu), "fake");
    snprintf(out->driver, sizeof(out->driver), "12.8");
    snprintf(out->runtime, sizeof(out->runtime), "13.0");
    out->max_tokens = f->max_tokens;
    out->peak_bytes = 4096;
}

static void fake_close(void *p)
{
    fake *f = p;
    if (!f)
        return;
    kvb_cache_free(f->cache);
    kvb_model_free(f->inner);
    free(f);
}

const kvb_backend kvb_backend_cuda = {
    .name = "cuda", .probe = fake_probe, .plan = fake_plan, .open = fake_open,
    .prefill = fake_prefill, .decode = fake_decode, .info = fake_info, .close = fake_close,
};

static kvb_model *open_on(int device, int index)
{
    kvb_model *m = NULL;
    kvb_error e = { 0 };
    kvb_model_opts o = { .device = device, .device_index = index, .threads = 1,
                         .weights_bf16 = 1 };
    cr_assert_eq(kvb_model_open(&m, TINY, &o, &e), 0, "%s", e.msg);
    return m;
}

static kvb_cache *full_cache(kvb_model *m, const char *method, int max_tokens)
{
    const kvb_model_config *c = kvb_model_get_config(m);
    kvb_cache_shape sh = { c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, max_tokens,
                           c->family };
    kvb_cache *k;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_cache_create(&k, method, &sh, NULL, 0, NULL, &e), 0, "%s", e.msg);
    return k;
}

Test(backend, device_tokens_size_the_gpu_cache)
{
    kvb_model *m = NULL;
    kvb_error e = { 0 };
    kvb_model_opts o = { .device = KVB_DEVICE_CUDA, .threads = 1, .weights_bf16 = 1,
                         .device_tokens = 8225 };
    cr_assert_eq(kvb_model_open(&m, TINY, &o, &e), 0, "%s", e.msg);
    kvb_device_info di;
    kvb_model_device_info(m, &di);
    cr_assert_eq(di.max_tokens, 8225, "bench asks for its longest context + steps");
    kvb_model_free(m);
    o.device_tokens = 65536;
    cr_assert_eq(kvb_model_open(&m, TINY, &o, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "at most 65535 tokens (65536 asked)"), "%s", e.msg);
}

Test(backend, auto_resolves_to_the_backend_and_drops_host_weights)
{
    g_open_saw_weights = 0;
    kvb_model *m = open_on(KVB_DEVICE_AUTO, 0);
    cr_assert(g_open_saw_weights, "the backend uploads from the host weights");
    kvb_device_info di;
    kvb_model_device_info(m, &di);
    cr_assert_eq(di.device, KVB_DEVICE_CUDA);
    cr_assert_str_eq(di.gpu, "fake");
    cr_assert_eq(di.max_tokens, 65535); /* the fixture's 131072 positions, capped */
    cr_assert_null(m->embed.data);
    cr_assert_null(m->layers[0].w_down.data);
    cr_assert_null(m->st);
    cr_assert_gt(kvb_model_weight_bytes(m), 0); /* what the file held is still reported */
    kvb_model_info in;
    kvb_model_get_info(m, &in);
    cr_assert_str_eq(in.isa, "cuda");
    cr_assert(!strncmp(in.prefill, "bf16 (cuda", 10), "%s", in.prefill);
    kvb_model_free(m);
    kvb_error e = { 0 };
    cr_assert_eq(kvb_device_probe(KVB_DEVICE_CUDA, 1, &e), KVB_EUNSUP);
    cr_assert_str_eq(e.msg, "--device cuda: no CUDA device 1: 1 GPU(s) present");
    kvb_model *c = open_on(KVB_DEVICE_CPU, 0); /* an explicit cpu stays on the cpu */
    kvb_model_device_info(c, &di);
    cr_assert_eq(di.device, KVB_DEVICE_CPU);
    cr_assert_not_null(c->embed.data);
    kvb_model_free(c);
}

Test(backend, generate_equals_the_cpu)
{
    kvb_model *g = open_on(KVB_DEVICE_CUDA, 0), *c = open_on(KVB_DEVICE_CPU, 0);
    const int32_t ids[] = { 1, 17, 33, 250, 7, 99, 3, 64 };
    const int n = 8, gen = 12;
    kvb_cache *kg = full_cache(g, "full", n + gen), *kc = full_cache(c, "full", n + gen);
    kvb_gen_opts go = { .max_new_tokens = gen };
    kvb_gen_result rg, rc;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_generate(g, kg, ids, n, &go, &rg, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_generate(c, kc, ids, n, &go, &rc, &e), 0, "%s", e.msg);
    cr_assert_eq(rg.out.n, rc.out.n);
    cr_assert_eq(memcmp(rg.out.ids, rc.out.ids, rg.out.n * sizeof(int32_t)), 0);
    /* the device's K/V counted as the CPU cache counts its own (2-byte elements both) */
    cr_assert_eq(rg.peak_bytes, rc.peak_bytes);
    cr_assert_eq(rg.prefill.bytes, rc.prefill.bytes);
    cr_assert_eq(rg.end.bytes, rc.end.bytes);
    cr_assert_eq(kvb_cache_bytes(kg), kvb_cache_bytes(kc));
    cr_assert_gt(kvb_cache_bytes(kg), 0);
    kvb_gen_result_release(&rg);
    kvb_gen_result_release(&rc);

    /* logits of the prefill and of one decode step, bit for bit */
    const int V = kvb_model_get_config(c)->vocab;
    float *lg = malloc(sizeof(float) * V), *lc = malloc(sizeof(float) * V);
    cr_assert_eq(kvb_cache_reset(kg, n, &e), 0);
    cr_assert_eq(kvb_cache_reset(kc, n, &e), 0);
    cr_assert_eq(kvb_model_prefill(g, kg, ids, n, lg, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_model_prefill(c, kc, ids, n, lc, &e), 0, "%s", e.msg);
    cr_assert_eq(memcmp(lg, lc, sizeof(float) * V), 0);
    cr_assert_eq(kvb_model_decode(g, kg, 5, n, lg, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_model_decode(c, kc, 5, n, lc, &e), 0, "%s", e.msg);
    cr_assert_eq(memcmp(lg, lc, sizeof(float) * V), 0);
    /* the device appends at the end of what it holds */
    cr_assert_eq(kvb_model_decode(g, kg, 5, n + 5, lg, &e), KVB_EINVAL);
    cr_assert_eq(kvb_model_decode(g, kg, V, n + 1, lg, &e), KVB_EINVAL);
    cr_assert_eq(kvb_model_prefill_all(g, kg, ids, n, lg, &e), KVB_EUNSUP);
    free(lg);
    free(lc);
    kvb_cache_free(kg);
    kvb_cache_free(kc);
    kvb_model_free(g);
    kvb_model_free(c);
}

Test(backend, refusals)
{
    kvb_model *g = open_on(KVB_DEVICE_CUDA, 0);
    const int32_t ids[] = { 1, 2, 3, 4 };
    float *lg = malloc(sizeof(float) * kvb_model_get_config(g)->vocab);
    kvb_error e = { 0 };
    kvb_cache *k = full_cache(g, "SnapKV", 16);
    cr_assert_eq(kvb_cache_reset(k, 4, &e), 0);
    cr_assert_eq(kvb_model_prefill(g, k, ids, 4, lg, &e), KVB_EUNSUP);
    cr_assert(strstr(e.msg, "SnapKV is not on the GPU yet"), "%s", e.msg);
    kvb_cache_free(k);
    k = full_cache(g, "full", 16);
    cr_assert_eq(kvb_model_decode(g, k, 1, 0, lg, &e), KVB_EINVAL); /* no prefill yet */
    const int32_t bad[] = { 1, -2 };
    cr_assert_eq(kvb_cache_reset(k, 2, &e), 0);
    cr_assert_eq(kvb_model_prefill(g, k, bad, 2, lg, &e), KVB_EINVAL);
    kvb_cache_free(k);
    free(lg);
    kvb_model_free(g);
    kvb_model_opts o = { .device = KVB_DEVICE_CUDA, .threads = 1, .weights_bf16 = 0 };
    kvb_model *m = NULL;
    cr_assert_eq(kvb_model_open(&m, TINY, &o, &e), KVB_EUNSUP);
    cr_assert(strstr(e.msg, "bf16 weights only"), "%s", e.msg);
}
