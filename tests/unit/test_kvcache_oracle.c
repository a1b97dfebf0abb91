/* Kept tokens of the eviction methods against the oracles of scripts/oracle/kvcache_fixtures.py:
 * kvpress (SnapKV, StreamingLLM, ThinK, SimLayerKV score, eager attention column sums) and numpy
 * references of KVCache-Factory's SnapKV/PyramidKV/H2O and of our ZigZagKV reconstruction, all
 * on the post-RoPE Q/K/V of a tiny random Llama (tests/fixtures/kvcache/tiny_llama*.{json,bin}).
 * Kept sets are compared tie-aware: every index strictly above the top-k boundary must be kept,
 * the rest of the kept indices must come from the exact ties at the boundary (maxpool creates
 * them; torch.topk orders them arbitrarily).
 *
 * Tolerances: the code under test has no run-time kernel choice and no BLAS (one AVX2+FMA build for
 * every CPU), so its arithmetic is the same on every machine; `make test-alt` also runs it on one
 * thread. Each tolerance below says which rounding it covers (f32 sums against an fp64 reference
 * over at most a few hundred terms, or f16 storage). */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "kvcache/engine.h"
#include "kvcache/select.h"

enum { L = 3, H = 4, KV = 2, D = 16, N = 96 };

static float *qs[L], *ks[L], *vs[L], *cs[L];
static cJSON *fx;

static void setup(void)
{
    char *data;
    size_t len;
    kvb_error e;
    cr_assert_eq(kvb_read_file("tests/fixtures/kvcache/tiny_llama_qkv.bin", 1 << 24, &data, &len,
                               &e), 0, "%s", e.msg);
    const size_t per = (size_t)N * (H + KV + KV) * D + (size_t)H * N;
    cr_assert_eq(len, per * L * sizeof(float));
    for (int l = 0; l < L; l++) {
        float *base = malloc(per * sizeof(float));
        memcpy(base, data + l * per * sizeof(float), per * sizeof(float));
        qs[l] = base;
        ks[l] = qs[l] + (size_t)N * H * D;
        vs[l] = ks[l] + (size_t)N * KV * D;
        cs[l] = vs[l] + (size_t)N * KV * D;
    }
    free(data);
    cr_assert_eq(kvb_json_load("tests/fixtures/kvcache/tiny_llama.json", 1 << 24, &fx, &e), 0,
                 "%s", e.msg);
}

static void teardown(void)
{
    for (int l = 0; l < L; l++)
        free(qs[l]);
    cJSON_Delete(fx);
}

TestSuite(kvcache_oracle, .init = setup, .fini = teardown);

static kvb_kv *run(const char *method, const kvb_cache_param *p, int np, int with_colsum)
{
    const kvb_cache_shape shape = { L, H, KV, D, N + 8, "llama3" };
    kvb_kv *kv;
    kvb_error e;
    cr_assert_eq(kvb_kv_create(&kv, method, &shape, p, np, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_kv_reset(kv, N, &e), 0, "%s", e.msg);
    for (int l = 0; l < L; l++) {
        kvb_prefill_layer pl = { l, N, qs[l], ks[l], vs[l], with_colsum ? cs[l] : NULL, NULL, NULL };
        cr_assert_eq(kvb_kv_prefill_layer(kv, &pl, &e), 0, "%s", e.msg);
    }
    cr_assert_eq(kvb_kv_prefill_end(kv, &e), 0, "%s", e.msg);
    return kv;
}

static int in(const cJSON *arr, int x)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
        if (it->valueint == x)
            return 1;
    return 0;
}

/* kept: [layer][head] {must, tied, k} */
static void check_kept(const kvb_kv *kv, const cJSON *kept, const char *what)
{
    cr_assert_eq(cJSON_GetArraySize(kept), L);
    for (int l = 0; l < L; l++) {
        const cJSON *heads = cJSON_GetArrayItem(kept, l);
        cr_assert_eq(cJSON_GetArraySize(heads), kv->S, "%s: heads", what);
        for (int h = 0; h < kv->S; h++) {
            const cJSON *o = cJSON_GetArrayItem(heads, h);
            const cJSON *must = cJSON_GetObjectItem(o, "must"), *tied = cJSON_GetObjectItem(o, "tied");
            int pos[N + 8];
            int m = kvb_kv_kept_positions(kv, l, h, pos, N + 8);
            cr_assert_eq(m, cJSON_GetObjectItem(o, "k")->valueint, "%s l%d h%d: kept %d", what, l, h, m);
            const cJSON *it;
            cJSON_ArrayForEach(it, must) {
                int found = 0;
                for (int i = 0; i < m; i++)
                    found |= pos[i] == it->valueint;
                cr_assert(found, "%s l%d h%d: position %d not kept", what, l, h, it->valueint);
            }
            for (int i = 0; i < m; i++)
                cr_assert(in(must, pos[i]) || in(tied, pos[i]),
                          "%s l%d h%d: position %d kept but not in the oracle's top-k", what, l, h,
                          pos[i]);
            for (int i = 1; i < m; i++)
                cr_assert_lt(pos[i - 1], pos[i], "positions ascending");
        }
    }
}

Test(kvcache_oracle, snapkv_vs_kvpress)
{
    const cJSON *o = cJSON_GetObjectItem(fx, "kvpress_snapkv");
    char budget[16];
    snprintf(budget, sizeof(budget), "%d",
             cJSON_GetObjectItem(cJSON_GetObjectItem(o, "params"), "budget")->valueint);
    const kvb_cache_param p[] = { { "budget", budget }, { "window", "8" }, { "kernel", "7" },
                                  { "pool", "avgpool" } };
    kvb_kv *kv = run("SnapKV", p, 4, 0);
    check_kept(kv, cJSON_GetObjectItem(o, "kept"), "kvpress SnapKV");
    kvb_kv_free(kv);
}

Test(kvcache_oracle, streamingllm_vs_kvpress)
{
    const cJSON *o = cJSON_GetObjectItem(fx, "kvpress_streamingllm");
    char budget[16];
    snprintf(budget, sizeof(budget), "%d",
             cJSON_GetObjectItem(cJSON_GetObjectItem(o, "params"), "budget")->valueint);
    const kvb_cache_param p[] = { { "budget", budget }, { "sink", "4" } };
    kvb_kv *kv = run("StreamingLLM", p, 2, 0);
    check_kept(kv, cJSON_GetObjectItem(o, "kept"), "kvpress StreamingLLM");
    kvb_kv_free(kv);
}

static kvb_kv *run_ref(const char *key, int with_colsum)
{
    const cJSON *o = cJSON_GetObjectItem(cJSON_GetObjectItem(fx, "numpy_refs"), key);
    const char *method = cJSON_GetObjectItem(o, "method")->valuestring;
    kvb_cache_param p[16];
    char vals[16][32];
    int np = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(o, "params")) {
        if (cJSON_IsString(it))
            snprintf(vals[np], 32, "%s", it->valuestring);
        else
            snprintf(vals[np], 32, "%.17g", it->valuedouble);
        p[np].name = it->string;
        p[np].value = vals[np];
        np++;
    }
    return run(method, p, np, with_colsum);
}

Test(kvcache_oracle, factory_snapkv_both_layouts)
{
    kvb_kv *kv = run_ref("snapkv_kv_head", 0);
    check_kept(kv, cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(fx, "numpy_refs"),
                                                           "snapkv_kv_head"), "kept"), "SnapKV kv_head");
    kvb_kv_free(kv);
    kv = run_ref("snapkv_query_head", 0);
    cr_assert_eq(kv->S, H);
    check_kept(kv, cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(fx, "numpy_refs"),
                                                           "snapkv_query_head"), "kept"), "SnapKV query_head");
    kvb_kv_free(kv);
}

Test(kvcache_oracle, pyramidkv_schedule_and_selection)
{
    const cJSON *o = cJSON_GetObjectItem(cJSON_GetObjectItem(fx, "numpy_refs"), "pyramidkv");
    kvb_kv *kv = run_ref("pyramidkv", 0);
    for (int l = 0; l < L; l++)
        cr_assert_eq(kv->budgets[l], cJSON_GetArrayItem(cJSON_GetObjectItem(o, "caps"), l)->valueint);
    check_kept(kv, cJSON_GetObjectItem(o, "kept"), "PyramidKV");
    kvb_kv_free(kv);
}

Test(kvcache_oracle, h2o_given_or_computed_colsum)
{
    const cJSON *o = cJSON_GetObjectItem(cJSON_GetObjectItem(fx, "numpy_refs"), "h2o");
    kvb_kv *kv = run_ref("h2o", 1);
    cr_assert_eq(kvb_kv_needs(kv), KVB_NEED_COLSUM);
    check_kept(kv, cJSON_GetObjectItem(o, "kept"), "H2O (colsum given)");
    kvb_kv_free(kv);
    kv = run_ref("h2o", 0);
    check_kept(kv, cJSON_GetObjectItem(o, "kept"), "H2O (colsum computed)");
    kvb_kv_free(kv);
}

Test(kvcache_oracle, zigzagkv_reconstruction)
{
    const cJSON *o = cJSON_GetObjectItem(cJSON_GetObjectItem(fx, "numpy_refs"), "zigzagkv");
    kvb_kv *kv = run_ref("zigzagkv", 0);
    for (int l = 0; l < L; l++) {
        cr_assert_float_eq(kvb_kv_layer_score(kv, l), cJSON_GetArrayItem(cJSON_GetObjectItem(o, "lmba"), l)->valuedouble,
                           1e-9, "lmba l%d", l);
        cr_assert_eq(kv->budgets[l], cJSON_GetArrayItem(cJSON_GetObjectItem(o, "budgets"), l)->valueint);
    }
    check_kept(kv, cJSON_GetObjectItem(o, "kept"), "ZigZagKV");
    kvb_kv_free(kv);
}

Test(kvcache_oracle, think_channels_vs_kvpress)
{
    const cJSON *o = cJSON_GetObjectItem(fx, "kvpress_think");
    const kvb_cache_param p[] = { { "budget", "1000" }, { "ratio", "0.5" }, { "qwindow", "32" },
                                  { "recent", "8" } };
    kvb_kv *kv = run("ThinK", p, 4, 0);
    const cJSON *pr = cJSON_GetObjectItem(o, "pruned_channels");
    for (int l = 0; l < L; l++)
        for (int h = 0; h < KV; h++) {
            const kvb_seq *s = &kv->seq[l * KV + h];
            const cJSON *pruned = cJSON_GetArrayItem(cJSON_GetArrayItem(pr, l), h);
            cr_assert_eq(s->n_thin, N - 8);
            cr_assert_eq(s->n_ch, D - cJSON_GetArraySize(pruned));
            for (int c = 0; c < s->n_ch; c++)
                cr_assert(!in(pruned, s->ch[c]), "l%d h%d: channel %d kept but pruned by kvpress",
                          l, h, s->ch[c]);
            /* thin keys really hold only the kept channels */
            cr_assert_eq(kvb_seq_k_bytes(s), (size_t)((N - 8) * s->n_ch + 8 * D) * 2);
        }
    kvb_kv_free(kv);
}

Test(kvcache_oracle, simlayerkv_score_vs_kvpress)
{
    const cJSON *sc = cJSON_GetObjectItem(cJSON_GetObjectItem(fx, "kvpress_simlayerkv"), "scores");
    float a[H * N], scratch[N], p[H * (N - 1)];
    for (int l = 0; l < L; l++) {
        /* the last prompt query's probabilities = window attention with w = 1 */
        kvb_sel_window_attn(qs[l], ks[l], N, H, KV, D, 1, 0, a, scratch);
        /* kvpress drops the query's own key from the slice it scores */
        for (int h = 0; h < H; h++)
            memcpy(p + h * (N - 1), a + h * N, sizeof(float) * (N - 1));
        double s = kvb_sel_simlayer_score(p, H, N - 1, 4, 16);
        cr_assert_float_eq(s, cJSON_GetArrayItem(sc, l)->valuedouble, 1e-5, "l%d %g", l, s);
    }
}

Test(kvcache_oracle, colsum_vs_eager_attention)
{
    float c[H * N], scratch[N];
    for (int l = 0; l < L; l++) {
        kvb_sel_colsum(qs[l], ks[l], N, H, KV, D, c, scratch);
        /* sums of up to 96 fp32 probabilities: 1e-4 absolute */
        for (int i = 0; i < H * N; i++)
            cr_assert_float_eq(c[i], cs[l][i], 1e-4, "l%d i%d", l, i);
    }
}
