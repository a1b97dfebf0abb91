/* The `full` cache and the cache dispatcher: decode attention against a naive reference.
 *
 * Tolerances: the code under test has no run-time kernel choice and no BLAS (one AVX2+FMA build for
 * every CPU), so its arithmetic is the same on every machine; `make test-alt` also runs it on one
 * thread. Each tolerance below says which rounding it covers (f32 sums against an fp64 reference
 * over at most a few hundred terms, or f16 storage). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvcache/kvcache.h"

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((float)((*s >> 8) & 0xffff) / 65535.0f) - 0.5f;
}

/* naive: out = softmax(q.k / sqrt(d)) v over n tokens */
static void ref_attend(const float *q, const float *k, const float *v, int n, int d, int stride,
                       float *out)
{
    double *w = calloc((size_t)n, sizeof(double)), mx = -1e300, sum = 0;
    for (int t = 0; t < n; t++) {
        double s = 0;
        for (int i = 0; i < d; i++)
            s += (double)q[i] * k[(size_t)t * stride + i];
        w[t] = s / sqrt((double)d);
        if (w[t] > mx)
            mx = w[t];
    }
    for (int t = 0; t < n; t++)
        sum += (w[t] = exp(w[t] - mx));
    for (int i = 0; i < d; i++) {
        double o = 0;
        for (int t = 0; t < n; t++)
            o += w[t] / sum * v[(size_t)t * stride + i];
        out[i] = (float)o;
    }
    free(w);
}

/* Prefill np tokens into 2 layers, append one, then check layer 1's decode attention three ways
 * against the naive reference: by heads (two ranges), and split over tokens into 1, 2, 3 and 7
 * parts merged (kvb_attend_merge: the flash-decoding path the forward pass takes with threads;
 * 7 parts of >= 8 tokens leave some parts empty on short prompts). */
static void run_case(const char *dtype, int nh, int nkv, int hd, int np, float tol)
{
    kvb_cache_shape sh = { .n_layers = 2, .n_heads = nh, .n_kv_heads = nkv, .head_dim = hd,
                           .max_tokens = np + 1, .model_family = "llama3" };
    kvb_cache_param p[] = { { "dtype", dtype } };
    kvb_cache *c;
    kvb_error e;
    cr_assert_eq(kvb_cache_create(&c, "FULL", &sh, p, 1, NULL, &e), 0, "%s", e.msg);
    int T = np + 1, group = nh / nkv;
    unsigned seed = 7;
    float *k = malloc(sizeof(float) * T * nkv * hd), *v = malloc(sizeof(float) * T * nkv * hd);
    float *q = malloc(sizeof(float) * T * nh * hd);
    for (int i = 0; i < T * nkv * hd; i++) {
        k[i] = 3 * frand(&seed);
        v[i] = frand(&seed);
    }
    for (int i = 0; i < T * nh * hd; i++)
        q[i] = 3 * frand(&seed);
    cr_assert_eq(kvb_cache_reset(c, np, &e), 0);
    for (int l = 0; l < 2; l++) {
        kvb_prefill_layer pl = { .layer = l, .n_tokens = np, .q = q, .k = k, .v = v };
        cr_assert_eq(kvb_cache_prefill_layer(c, &pl, &e), 0, "%s", e.msg);
    }
    cr_assert_eq(kvb_cache_prefill_end(c, &e), 0);
    for (int l = 0; l < 2; l++)
        cr_assert_eq(kvb_cache_append(c, l, k + np * nkv * hd, v + np * nkv * hd, &e), 0);
    cr_assert(kvb_cache_can_split(c));
    float *scratch = malloc(sizeof(float) * kvb_cache_scratch_floats(c));
    size_t qd = (size_t)nh * hd;
    float *out = malloc(sizeof(float) * qd), *ref = malloc(sizeof(float) * qd);
    float *part = malloc(sizeof(float) * qd * 7), *mx = malloc(sizeof(float) * nh * 7);
    float *sum = malloc(sizeof(float) * nh * 7);
    for (int h = 0; h < nh; h++)
        ref_attend(q + h * hd, k + (h / group) * hd, v + (h / group) * hd, T, hd, nkv * hd,
                   ref + h * hd);
    const int parts[] = { 0, 1, 2, 3, 7 }; /* 0: by heads */
    for (size_t pi = 0; pi < sizeof(parts) / sizeof(parts[0]); pi++) {
        int n_parts = parts[pi];
        if (!n_parts) {
            kvb_cache_attend(c, 1, q, out, 0, nh / 2, scratch);
            kvb_cache_attend(c, 1, q, out, nh / 2, nh, scratch);
        } else {
            for (int pt = 0; pt < n_parts; pt++)
                kvb_cache_attend_part(c, 1, q, pt, n_parts, part + qd * pt, mx + nh * pt,
                                      sum + nh * pt, scratch);
            kvb_attend_merge(part, mx, sum, n_parts, nh, hd, out);
        }
        for (size_t i = 0; i < qd; i++)
            cr_assert(fabsf(out[i] - ref[i]) <= tol, "%s hd %d G %d np %d parts %d: [%zu] %g vs %g",
                      dtype, hd, group, np, n_parts, i, out[i], ref[i]);
    }
    size_t elt = dtype[1] == '1' ? 2 : 4;
    cr_assert_eq(kvb_cache_bytes(c), 2 * 2 * (size_t)T * nkv * hd * elt);
    cr_assert_eq(kvb_cache_full16_bytes(c), 2 * 2 * (size_t)T * nkv * hd * 2);
    kvb_cache_layer_stats st;
    kvb_cache_layer_stats_get(c, 0, &st);
    cr_assert_eq(st.tokens, T * nkv);
    cr_assert_eq(st.tokens_full, T * nkv);
    free(scratch), free(out), free(ref), free(part), free(mx), free(sum);
    free(q), free(k), free(v);
    kvb_cache_free(c);
}

/* f32: the reference differs only by float summation order (~1e-6) */
Test(kvfull, f32_matches_reference)
{
    run_case("f32", 6, 2, 20, 30, 1e-5f);
    run_case("f32", 9, 3, 64, 77, 1e-5f);
}
/* f16: K and V rounded to 11 significant bits: relative 2^-11 on |k| <= 1.5 with d = 20 terms
 * moves the scores by < 1e-2 and the output by less than that times |v| <= 0.5. Larger head_dim
 * sums more rounded terms (sqrt growth): 64 and 128 get 1e-2. The shapes cover the generic
 * kernel (head_dim 20) and the 8-token f16 kernel with 1, 3 and 4 heads per kv head, token
 * counts with and without a tail of n % 8 rows. */
Test(kvfull, f16_matches_reference)
{
    run_case("f16", 6, 2, 20, 30, 5e-3f);
    run_case("f16", 9, 3, 64, 37, 1e-2f);
    run_case("f16", 9, 3, 64, 300, 1e-2f);
    run_case("f16", 4, 4, 64, 63, 1e-2f);
    run_case("f16", 8, 2, 128, 129, 1e-2f);
}

Test(kvfull, rejects_unknown_method_and_params)
{
    kvb_cache_shape sh = { 1, 2, 1, 8, 16, "llama2" };
    kvb_cache *c;
    kvb_error e;
    cr_assert_eq(kvb_cache_create(&c, "nope", &sh, NULL, 0, NULL, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "full"));
    kvb_cache_param p[] = { { "budget", "10" } };
    cr_assert_eq(kvb_cache_create(&c, "full", &sh, p, 1, NULL, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "budget"), "%s", e.msg);
    kvb_cache_param d[] = { { "dtype", "int3" } };
    cr_assert_eq(kvb_cache_create(&c, "full", &sh, d, 1, NULL, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "dtype") && strstr(e.msg, "f16 or f32"), "%s", e.msg);
    kvb_cache_shape bad = { 1, 3, 2, 8, 16, "llama2" };
    cr_assert_eq(kvb_cache_create(&c, "full", &bad, NULL, 0, NULL, &e), KVB_EINVAL);
    cr_assert_eq(kvb_cache_create(&c, "full", &sh, NULL, 0, NULL, &e), 0);
    cr_assert_eq(kvb_cache_reset(c, 17, &e), KVB_EINVAL);
    cr_assert_eq(kvb_cache_method_count() >= 1, 1);
    cr_assert_str_eq(kvb_cache_method_at(0), "full");
    char *j = kvb_cache_params_json(c); /* the default: a 16-bit cache */
    cr_assert_str_eq(j, "{\"dtype\": \"f16\"}");
    free(j);
    kvb_cache_free(c);
}
