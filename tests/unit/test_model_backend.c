/* The dispatch of lib/model to a device backend (device.c), rehearsed on the CPU: this test
 * defines kvb_backend_cuda itself (the weak symbol the CPU library refers to) as a "device" that
 * runs a second CPU model of the same weights. So everything but the CUDA kernels runs here:
 * --device resolution, attach (upload, then the host weights dropped), prefill/decode through
 * kvb_model_* and kvb_generate, the cache's accounting of K/V the device holds, the refusals
 * (another method, a position the device does not hold, logits of every position) and the
 * device info. Greedy tokens and logits must equal the CPU model's bit for bit (same
 * arithmetic).
 *
 * The selecting methods (SnapKV, PyramidKV, H2O, StreamingLLM, ZigZagKV) run through the same
 * protocol as on the GPU: the fake device computes the statistics (with lib/kvcache's own
 * scorers over its q and k, as kernels/ does with kvb_cuda_attn_prefill_stats), the host cache
 * decides from them alone, and the device keeps the positions it is told. Its storage is a test
 * method ("DeviceTwin") that holds every prompt token in fp16 like the methods do and drops
 * what keep() says; so the device's kept sets, bytes and logits must equal the CPU method's.
 * ThinK's second round runs too: the twin keeps the prompt's f32 keys to report the kept rows'
 * channel magnitudes (as lib/kvcache computes them), and thins its rows as told. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvcache/engine.h"
#include "kvcache/select.h"
#include "model/model_impl.h"
#include "runner/generate.h"

#define TINY "tests/fixtures/model/llama3/f32"

typedef struct fake {
    kvb_model *inner;
    kvb_cache *cache;  /* full: the device holds every token */
    kvb_cache *twin[2]; /* DeviceTwin (window statistics), DeviceTwinColsum (column sums) */
    kvb_cache *cur;     /* the one the last prefill used */
    int max_tokens;
} fake;

/* ---- the device's storage for the selecting methods ------------------------------------------ */
static const kvb_prefill_stats *g_stats; /* what the running prefill must compute */
static const kvb_decode_stats *g_dstats; /* what the running decode step must report */
static float *g_prompt_k[64];             /* ThinK: each layer's prompt keys (n, n_kv_heads, D) */

static int twin_prefill(kvb_kv *kv, const kvb_prefill_layer *pl, kvb_error *e)
{
    const int n = pl->n_tokens, H = kv->shape.n_heads, D = kv->shape.head_dim;
    const size_t at = (size_t)pl->layer * H * n;
    if (g_stats->q_sqmean) {
        const int row0 = n - KVB_MIN(g_stats->qwindow, n);
        for (int h = 0; h < H; h++)
            kvb_sel_channel_sqmean(pl->q, n, row0, H, h, D,
                                   g_stats->q_sqmean + ((size_t)pl->layer * H + h) * D);
        const size_t kn = (size_t)n * kv->shape.n_kv_heads * D;
        free(g_prompt_k[pl->layer]);
        g_prompt_k[pl->layer] = malloc(sizeof(float) * kn);
        memcpy(g_prompt_k[pl->layer], pl->k, sizeof(float) * kn);
    }
    if (g_stats->window_attn) {
        float *scratch = malloc(sizeof(float) * n);
        kvb_sel_window_attn(pl->q, pl->k, n, H, kv->shape.n_kv_heads, D, g_stats->window, 0,
                            g_stats->window_attn + at, scratch);
        free(scratch);
    }
    if (g_stats->colsum)
        memcpy(g_stats->colsum + at, pl->colsum, sizeof(float) * H * n);
    return kvb_kv_fill_all(kv, pl, NULL, n, e);
}

/* SimLayerKV's decode statistic, from the probabilities the step's attention computed */
static void twin_attended(kvb_kv *kv, int layer, int head, const float *probs, int n)
{
    if (g_dstats)
        g_dstats->sink_mass[(size_t)layer * kv->shape.n_heads + head] =
            (float)kvb_sel_simlayer_head(probs, n, g_dstats->sink, g_dstats->recent);
}

static const kvb_method_param twin_table[] = { KVB_PARAM(kvb_kv_params, gqa, gqa_query, 0) };

static const struct kvb_cache_method twin_window = {
    .name = "DeviceTwin", .params = twin_table, .n_params = 1,
    .params_size = sizeof(kvb_kv_params), .ops = &kvb_store_ops, .prefill_layer = twin_prefill,
    .attended = twin_attended,
};
static const struct kvb_cache_method twin_colsum = {
    .name = "DeviceTwinColsum", .params = twin_table, .n_params = 1,
    .params_size = sizeof(kvb_kv_params), .needs = KVB_NEED_COLSUM, .ops = &kvb_store_ops,
    .prefill_layer = twin_prefill, .attended = twin_attended,
};

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
    if (!kvb_cache_method_find("DeviceTwin")) {
        kvb_cache_method_register(&twin_window);
        kvb_cache_method_register(&twin_colsum);
    }
    if (!rc)
        rc = kvb_cache_create(&f->twin[0], "DeviceTwin", &sh, NULL, 0, NULL, e);
    if (!rc)
        rc = kvb_cache_create(&f->twin[1], "DeviceTwinColsum", &sh, NULL, 0, NULL, e);
    f->max_tokens = max_tokens;
    *ctx = f;
    return rc;
}

static int g_keep_calls;

static int fake_prefill(void *p, const int32_t *ids, int n, float *logits,
                        const kvb_prefill_stats *st, kvb_error *e)
{
    fake *f = p;
    f->cur = !st ? f->cache : f->twin[st->colsum != NULL];
    cr_assert(!st || !st->colsum || !st->window_attn, "no method needs both");
    g_stats = st;
    int rc = kvb_cache_reset(f->cur, n, e);
    return rc ? rc : kvb_model_prefill(f->inner, f->cur, ids, n, logits, e);
}

/* Layer l, kv head g keeps the listed positions of the `stride` tokens it holds: found among
 * the positions its store holds (both ascending). */
static int fake_keep(void *p, const int32_t *idx, const int32_t *count, int stride, kvb_error *e)
{
    fake *f = p;
    kvb_kv *kv = f->cur->priv;
    g_keep_calls++;
    int *slot = malloc(sizeof(int) * stride);
    for (int l = 0; l < kv->L; l++)
        for (int g = 0; g < kv->S; g++) {
            const size_t row = (size_t)l * kv->S + g;
            kvb_seq *sq = kvb_kv_seq(kv, l, g);
            cr_assert_eq(kvb_seq_tokens(sq), (int)(kv->n_prompt + kv->appended[l]));
            int j = 0;
            for (int i = 0; i < count[row]; i++) {
                while (j < sq->n && sq->pos[j] < idx[row * stride + i])
                    j++;
                cr_assert(j < sq->n && sq->pos[j] == idx[row * stride + i],
                          "keep: position %d is not held", idx[row * stride + i]);
                slot[i] = j;
            }
            kvb_seq_keep(sq, slot, count[row]);
        }
    free(slot);
    (void)e;
    return 0;
}

/* KIVI: the first time a layer is named, the twin's fp16 rows are quantized as the CPU store does
 * (the prompt rows it holds by the prefill rule, the later ones by the decode rule); from then on
 * the twin's own appends follow the decode rule, as the host's counts do. */
static int g_kivi_calls;
static int fake_kivi(void *p, int layer, int bits, int group, int residual, const int counts[4],
                     kvb_error *e)
{
    fake *f = p;
    kvb_kv *kv = f->cur->priv;
    const kvb_quant_params qp = { bits, group, residual };
    g_kivi_calls++;
    cr_assert_eq(counts[0] + counts[1], counts[2] + counts[3]);
    if (kv->layer_quant[layer])
        return 0;
    const kvb_seq *s = kvb_kv_seq(kv, layer, 0);
    int np = 0;
    while (np < s->n && s->pos[np] < kv->n_prompt)
        np++;
    return kvb_kv_quantize_layer(kv, layer, np, &qp, e);
}

/* ThinK: the mean of k^2 over the rows each head holds, from the prompt's f32 keys */
static int fake_channel_sqmean(void *p, double *out, kvb_error *e)
{
    fake *f = p;
    kvb_kv *kv = f->cur->priv;
    const int D = kv->shape.head_dim, KV = kv->shape.n_kv_heads;
    for (int l = 0; l < kv->L; l++)
        for (int g = 0; g < KV; g++) {
            const kvb_seq *s = kvb_kv_seq(kv, l, g);
            cr_assert_eq(s->n_thin, 0);
            kvb_sel_rows_sqmean(g_prompt_k[l] + (size_t)g * D, (size_t)KV * D, s->pos, s->n, D,
                                out + ((size_t)l * KV + g) * D);
        }
    (void)e;
    return 0;
}

/* ThinK: the oldest n_thin rows of each head of a layer keep the channels ch[g * n_ch ..] */
static int g_thin_calls;
static int fake_thin(void *p, int layer, int n_thin, int n_ch, const int32_t *ch, kvb_error *e)
{
    fake *f = p;
    kvb_kv *kv = f->cur->priv;
    const int D = kv->shape.head_dim;
    g_thin_calls++;
    for (int g = 0; g < kv->S; g++) {
        kvb_seq *s = kvb_kv_seq(kv, layer, g), t;
        cr_assert(n_thin > 0 && n_thin <= s->n && s->n_thin == 0);
        cr_assert_eq(kvb_seq_init(&t, D, n_thin, n_ch, s->cap - n_thin), 0);
        for (int c = 0; c < n_ch; c++)
            t.ch[c] = ch[(size_t)g * n_ch + c];
        for (int i = 0; i < s->n; i++) {
            if (i < n_thin)
                for (int c = 0; c < n_ch; c++)
                    t.kthin[(size_t)i * n_ch + c] = s->k[(size_t)i * D + t.ch[c]];
            else
                memcpy(t.k + (size_t)(i - n_thin) * D, s->k + (size_t)i * D, sizeof(kvb_half) * D);
            memcpy(t.v + (size_t)i * D, s->v + (size_t)i * D, sizeof(kvb_half) * D);
            t.pos[i] = s->pos[i];
        }
        t.n = s->n - n_thin;
        kvb_seq_release(s);
        *s = t;
    }
    (void)e;
    return 0;
}

static int fake_decode(void *p, int32_t id, int pos, float *logits, const kvb_decode_stats *ds,
                       kvb_error *e)
{
    fake *f = p;
    g_dstats = ds;
    int rc = kvb_model_decode(f->inner, f->cur, id, pos, logits, e);
    g_dstats = NULL;
    return rc;
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
    kvb_cache_free(f->twin[0]);
    kvb_cache_free(f->twin[1]);
    kvb_model_free(f->inner);
    free(f);
    for (size_t l = 0; l < KVB_ARRAY_SIZE(g_prompt_k); l++) {
        free(g_prompt_k[l]);
        g_prompt_k[l] = NULL;
    }
}

const kvb_backend kvb_backend_cuda = {
    .name = "cuda", .probe = fake_probe, .plan = fake_plan, .open = fake_open,
    .prefill = fake_prefill, .keep = fake_keep, .kivi = fake_kivi, .decode = fake_decode,
    .channel_sqmean = fake_channel_sqmean, .thin = fake_thin,
    .info = fake_info,
    .close = fake_close,
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

static kvb_cache *method_cache(kvb_model *m, const char *method, const kvb_cache_param *p, int np,
                               int max_tokens)
{
    const kvb_model_config *c = kvb_model_get_config(m);
    kvb_cache_shape sh = { c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, max_tokens,
                           c->family };
    kvb_cache *k;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_cache_create(&k, method, &sh, p, np, NULL, &e), 0, "%s", e.msg);
    return k;
}

static kvb_cache *full_cache(kvb_model *m, const char *method, int max_tokens)
{
    return method_cache(m, method, NULL, 0, max_tokens);
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
    const char *not_yet[] = { "DeviceTwin" }; /* a method without on_device (every real one has it) */
    for (size_t i = 0; i < KVB_ARRAY_SIZE(not_yet); i++) {
        kvb_cache *k = full_cache(g, not_yet[i], 16);
        cr_assert_eq(kvb_cache_reset(k, 4, &e), 0);
        cr_assert_eq(kvb_model_prefill(g, k, ids, 4, lg, &e), KVB_EUNSUP);
        cr_assert(strstr(e.msg, "is not on the GPU yet"), "%s: %s", not_yet[i], e.msg);
        kvb_cache_free(k);
    }
    const kvb_cache_param qh = { "gqa", "query_head" };
    kvb_cache *k = method_cache(g, "SnapKV", &qh, 1, 16);
    cr_assert_eq(kvb_cache_reset(k, 4, &e), 0);
    cr_assert_eq(kvb_model_prefill(g, k, ids, 4, lg, &e), KVB_EUNSUP);
    cr_assert(strstr(e.msg, "gqa=query_head is not on the GPU"), "%s", e.msg);
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

/* Every selecting method on the device: the host decides from the device's statistics alone and
 * must keep what the CPU method keeps from the tensors, layer by layer and head by head; bytes,
 * tokens and greedy logits equal the CPU run's bit for bit. Prompts longer than the budget, so
 * every method compresses (PyramidKV and ZigZagKV with per-layer budgets). */
static long same_positions(const char *method, const kvb_cache *kg, const kvb_cache *kc,
                           const kvb_model_config *cfg)
{
    long kept = 0;
    int pg[256], pc[256];
    for (int l = 0; l < cfg->n_layers; l++)
        for (int h = 0; h < cfg->n_kv_heads; h++) {
            int ng = kvb_cache_kept_positions(kg, l, h, pg, 256);
            int nc = kvb_cache_kept_positions(kc, l, h, pc, 256);
            if (nc == 0 && ng > 0) { /* a KIVI layer: the CPU store keeps no positions */
                long t[64];
                kvb_cache_head_tokens(kc, l, t);
                cr_assert_eq(ng, t[h], "%s: layer %d head %d holds %d vs %ld", method, l, h, ng,
                             t[h]);
                nc = ng;
                memcpy(pc, pg, sizeof(int) * ng);
            }
            cr_assert_eq(ng, nc, "%s: layer %d head %d keeps %d vs %d", method, l, h, ng, nc);
            cr_assert_eq(memcmp(pg, pc, sizeof(int) * nc), 0, "%s: layer %d head %d", method, l,
                         h);
            kept += nc;
        }
    return kept;
}

static void check_same_as_cpu(const char *method, const kvb_cache_param *p, int np)
{
    kvb_model *g = open_on(KVB_DEVICE_CUDA, 0), *c = open_on(KVB_DEVICE_CPU, 0);
    enum { N = 41, GEN = 10 };
    int32_t ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = (int32_t)((i * 2654435761u) % 251u) + 3;
    kvb_cache *kg = method_cache(g, method, p, np, N + GEN), *kc = method_cache(c, method, p, np,
                                                                               N + GEN);
    const kvb_model_config *cfg = kvb_model_get_config(c);
    const int V = cfg->vocab;
    float *lg = malloc(sizeof(float) * V), *lc = malloc(sizeof(float) * V);
    kvb_error e = { 0 };
    const int keeps = g_keep_calls, kivis = g_kivi_calls, kivi = !strcmp(method, "KIVI");
    const int thins = g_thin_calls, think = !strcmp(method, "ThinK");
    cr_assert_eq(kvb_cache_reset(kg, N, &e), 0);
    cr_assert_eq(kvb_cache_reset(kc, N, &e), 0);
    cr_assert_eq(kvb_model_prefill(g, kg, ids, N, lg, &e), 0, "%s: %s", method, e.msg);
    cr_assert_eq(kvb_model_prefill(c, kc, ids, N, lc, &e), 0, "%s: %s", method, e.msg);
    cr_assert_eq(g_keep_calls, keeps + 1, "%s: the device was told what to keep", method);
    cr_assert_eq(g_kivi_calls, kivis + (kivi ? cfg->n_layers : 0), "%s: quantize", method);
    cr_assert_eq(g_thin_calls, thins + (think ? cfg->n_layers : 0), "%s: thin keys", method);
    cr_assert_eq(memcmp(lg, lc, sizeof(float) * V), 0, "%s: prefill logits", method);
    same_positions(method, kg, kc, cfg);
    cr_assert_eq(kvb_cache_bytes(kg), kvb_cache_bytes(kc), "%s: bytes", method);
    int32_t next = 0;
    for (int v = 1; v < V; v++)
        next = lc[v] > lc[next] ? v : next;
    for (int t = 0; t < GEN; t++) {
        cr_assert_eq(kvb_model_decode(g, kg, next, N + t, lg, &e), 0, "%s: %s", method, e.msg);
        cr_assert_eq(kvb_model_decode(c, kc, next, N + t, lc, &e), 0, "%s: %s", method, e.msg);
        cr_assert_eq(memcmp(lg, lc, sizeof(float) * V), 0, "%s: decode step %d", method, t);
        cr_assert_eq(kvb_cache_bytes(kg), kvb_cache_bytes(kc), "%s: bytes at step %d", method, t);
        for (int v = 1; v < V; v++)
            next = lc[v] > lc[next] ? v : next;
    }
    same_positions(method, kg, kc, cfg);
    cr_assert_lt(kvb_cache_bytes(kg), kvb_cache_full16_bytes(kg), "%s compressed", method);
    kvb_cache_layer_stats sg, sc;
    kvb_cache_layer_stats_get(kg, 1, &sg);
    kvb_cache_layer_stats_get(kc, 1, &sc);
    cr_assert_eq(memcmp(&sg, &sc, sizeof(sg)), 0, "%s: layer stats", method);
    cr_assert_eq(kvb_cache_peak_bytes(kg), kvb_cache_peak_bytes(kc), "%s: peak", method);
    /* the host cache holds no K/V of its own there: its attention is refused loudly */
    float q[1024], o[1024];
    const int D = cfg->head_dim;
    for (int i = 0; i < D * cfg->n_heads; i++)
        q[i] = 0.5f;
    float *scratch = malloc(sizeof(float) * kvb_cache_scratch_floats(kg));
    kvb_cache_attend(kg, 0, q, o, 0, 1, scratch);
    cr_assert(isnan(o[0]), "%s: attention over positions only must not give a number", method);
    free(scratch);
    free(lg);
    free(lc);
    kvb_cache_free(kg);
    kvb_cache_free(kc);
    kvb_model_free(g);
    kvb_model_free(c);
}

Test(backend, selecting_methods_equal_the_cpu)
{
    const kvb_cache_param snap[] = { { "budget", "16" }, { "window", "4" }, { "kernel", "3" } };
    check_same_as_cpu("SnapKV", snap, 3);
    check_same_as_cpu("PyramidKV", snap, 3);
    check_same_as_cpu("ZigZagKV", snap, 3);
    const kvb_cache_param h2o[] = { { "budget", "16" }, { "window", "4" } };
    check_same_as_cpu("H2O", h2o, 2);
    const kvb_cache_param stream[] = { { "budget", "16" }, { "sink", "4" } };
    check_same_as_cpu("StreamingLLM", stream, 2);
    /* lazy layers decided from the device's first decode step, cut at the second */
    const kvb_cache_param sim[] = { { "threshold", "0.05" }, { "sink", "4" }, { "recent", "8" } };
    check_same_as_cpu("SimLayerKV", sim, 3);
    /* KIVI: 41 prompt tokens -> 40 keys quantized, 1 in the residual; 10 steps flush the key
     * residual once (at 8) and quantize a value per step past the 8-token window */
    const kvb_cache_param kivi[] = { { "bits", "4" }, { "group", "8" }, { "residual", "8" } };
    check_same_as_cpu("KIVI", kivi, 3);
    /* SimLayerKV+KIVI: the lazy layers cut and every layer quantized at the second step */
    const kvb_cache_param skivi[] = { { "threshold", "0.05" }, { "sink", "4" }, { "recent", "8" },
                                      { "bits", "4" }, { "group", "8" }, { "residual", "8" } };
    check_same_as_cpu("SimLayerKV+KIVI", skivi, 6);
    /* ThinK: 16 of 41 tokens, the oldest 12 with 40% of the key channels pruned; and a budget
     * over the prompt (every token kept, 33 of them thin) */
    const kvb_cache_param think[] = { { "budget", "16" }, { "window", "4" }, { "kernel", "3" },
                                      { "recent", "4" }, { "qwindow", "8" } };
    check_same_as_cpu("ThinK", think, 5);
    const kvb_cache_param think_all[] = { { "budget", "64" }, { "recent", "8" } };
    check_same_as_cpu("ThinK", think_all, 2);
}

/* What the device must compute comes from the method (window = its observation window), and a
 * selecting cache on the device refuses a prefill call without those statistics. */
Test(backend, device_protocol_of_the_cache)
{
    kvb_model *g = open_on(KVB_DEVICE_CPU, 0);
    const kvb_cache_param snap[] = { { "window", "6" } };
    kvb_cache *k = method_cache(g, "SnapKV", snap, 1, 64);
    kvb_error e = { 0 };
    int w = -1, qw = -1;
    cr_assert_eq(kvb_cache_device_stats(k, &w, &qw), 0u, "nothing before the device mode is set");
    cr_assert_eq(kvb_cache_device_mode(k, &e), KVB_DEVICE_HOLDS_SELECTED, "%s", e.msg);
    cr_assert_eq(kvb_cache_device_stats(k, &w, &qw), (unsigned)KVB_NEED_WINDOW);
    cr_assert_eq(w, 6);
    cr_assert_eq(qw, 0);
    cr_assert_eq(kvb_cache_reset(k, 10, &e), 0);
    kvb_prefill_layer pl = { .layer = 0, .n_tokens = 10 };
    cr_assert_eq(kvb_cache_prefill_layer(k, &pl, &e), KVB_EINVAL);
    float k1[64] = { 0 };
    cr_assert_eq(kvb_cache_append(k, 0, k1, k1, &e), KVB_EINVAL, "the device appends, not us");
    kvb_cache_free(k);
    k = full_cache(g, "H2O", 64);
    cr_assert_eq(kvb_cache_device_mode(k, &e), KVB_DEVICE_HOLDS_SELECTED, "%s", e.msg);
    cr_assert_eq(kvb_cache_device_stats(k, &w, &qw), (unsigned)KVB_NEED_COLSUM);
    cr_assert_eq(kvb_cache_channel_stats(k, 0, (const double[1]){ 0 }, &e), KVB_EINVAL,
                 "only ThinK takes channel statistics");
    kvb_cache_free(k);
    /* ThinK: the window's q^2 at prefill, the kept keys' k^2 after the keep */
    const kvb_cache_param tk[] = { { "window", "6" }, { "qwindow", "12" }, { "recent", "2" } };
    k = method_cache(g, "ThinK", tk, 3, 64);
    cr_assert_eq(kvb_cache_device_mode(k, &e), KVB_DEVICE_HOLDS_SELECTED, "%s", e.msg);
    cr_assert_eq(kvb_cache_device_stats(k, &w, &qw),
                 (unsigned)(KVB_NEED_WINDOW | KVB_NEED_QSQ | KVB_NEED_KSQ));
    cr_assert(w == 6 && qw == 12);
    cr_assert_eq(kvb_cache_reset(k, 10, &e), 0);
    float wa[4096] = { 0 };
    kvb_prefill_layer tl = { .layer = 0, .n_tokens = 10, .window_attn = wa };
    cr_assert_eq(kvb_cache_prefill_layer(k, &tl, &e), KVB_EINVAL, "q^2 statistics missing");
    const kvb_model_config *cf = kvb_model_get_config(g);
    double qs[4096] = { 0 }, ks[4096] = { 0 };
    for (int i = 0; i < cf->n_heads * cf->head_dim; i++)
        qs[i] = 1 + i % cf->head_dim; /* channel j scores j + 1: the lowest ones are pruned */
    for (int i = 0; i < cf->n_kv_heads * cf->head_dim; i++)
        ks[i] = 1;
    tl.q_sqmean = qs;
    for (int l = 0; l < cf->n_layers; l++) {
        tl.layer = l;
        cr_assert_eq(kvb_cache_prefill_layer(k, &tl, &e), 0, "%s", e.msg);
    }
    cr_assert_eq(kvb_cache_prefill_end(k, &e), 0, "%s", e.msg);
    int ch[1024], n_thin = -1;
    cr_assert_eq(kvb_cache_thin_keys(k, 0, 0, ch, &n_thin), cf->head_dim);
    cr_assert_eq(n_thin, 0, "nothing thin before the key magnitudes");
    cr_assert_eq(kvb_cache_channel_stats(k, 0, ks, &e), 0, "%s", e.msg);
    const int pruned = (int)floor(0.4 * cf->head_dim);
    cr_assert_eq(kvb_cache_thin_keys(k, 0, 0, ch, &n_thin), cf->head_dim - pruned);
    cr_assert_eq(n_thin, 10 - 2, "every kept token but the 2 most recent");
    cr_assert_eq(ch[0], pruned, "the %d lowest-scoring channels pruned", pruned);
    cr_assert_eq(kvb_cache_channel_stats(k, 0, ks, &e), KVB_EINVAL, "a layer is thinned once");
    kvb_cache_free(k);
    k = full_cache(g, "full", 64);
    cr_assert_eq(kvb_cache_device_mode(k, &e), KVB_DEVICE_HOLDS_ALL, "%s", e.msg);
    kvb_cache_free(k);
    kvb_model_free(g);
}
