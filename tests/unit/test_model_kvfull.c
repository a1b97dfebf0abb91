/* The `full` cache and the cache dispatcher: decode attention against a naive reference. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

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

static void run_case(const char *dtype, float tol)
{
    kvb_cache_shape sh = { .n_layers = 2, .n_heads = 6, .n_kv_heads = 2, .head_dim = 20,
                           .max_tokens = 40, .model_family = "llama3" };
    kvb_cache_param p[] = { { "dtype", dtype } };
    kvb_cache *c;
    kvb_error e;
    cr_assert_eq(kvb_cache_create(&c, "FULL", &sh, p, 1, NULL, &e), 0, "%s", e.msg);
    int np = 30, nkv = 2, hd = 20, nh = 6;
    unsigned seed = 7;
    float *k = malloc(sizeof(float) * 40 * nkv * hd), *v = malloc(sizeof(float) * 40 * nkv * hd);
    float *q = malloc(sizeof(float) * 40 * nh * hd);
    for (int i = 0; i < 40 * nkv * hd; i++) {
        k[i] = 3 * frand(&seed);
        v[i] = frand(&seed);
    }
    for (int i = 0; i < 40 * nh * hd; i++)
        q[i] = 3 * frand(&seed);
    cr_assert_eq(kvb_cache_reset(c, np, &e), 0);
    for (int l = 0; l < 2; l++) {
        kvb_prefill_layer pl = { .layer = l, .n_tokens = np, .q = q, .k = k, .v = v };
        cr_assert_eq(kvb_cache_prefill_layer(c, &pl, &e), 0, "%s", e.msg);
    }
    cr_assert_eq(kvb_cache_prefill_end(c, &e), 0);
    for (int l = 0; l < 2; l++)
        cr_assert_eq(kvb_cache_append(c, l, k + np * nkv * hd, v + np * nkv * hd, &e), 0);
    float *scratch = malloc(sizeof(float) * kvb_cache_scratch_floats(c));
    float out[6 * 20], ref[20];
    kvb_cache_attend(c, 1, q, out, 0, 3, scratch);
    kvb_cache_attend(c, 1, q, out, 3, 6, scratch);
    for (int h = 0; h < nh; h++) {
        int kvh = h / 3;
        ref_attend(q + h * hd, k + kvh * hd, v + kvh * hd, np + 1, hd, nkv * hd, ref);
        for (int i = 0; i < hd; i++)
            cr_assert(fabsf(out[h * hd + i] - ref[i]) <= tol, "%s h%d d%d: %g vs %g", dtype, h, i,
                      out[h * hd + i], ref[i]);
    }
    size_t elt = dtype[1] == '1' ? 2 : 4;
    cr_assert_eq(kvb_cache_bytes(c), 2 * 2 * (size_t)(np + 1) * nkv * hd * elt);
    cr_assert_eq(kvb_cache_full16_bytes(c), 2 * 2 * (size_t)(np + 1) * nkv * hd * 2);
    kvb_cache_layer_stats st;
    kvb_cache_layer_stats_get(c, 0, &st);
    cr_assert_eq(st.tokens, (np + 1) * nkv);
    cr_assert_eq(st.tokens_full, (np + 1) * nkv);
    free(scratch);
    free(q);
    free(k);
    free(v);
    kvb_cache_free(c);
}

/* f32: the reference differs only by float summation order (~1e-6) */
Test(kvfull, f32_matches_reference) { run_case("f32", 1e-5f); }
/* f16: K and V rounded to 11 significant bits: relative 2^-11 on |k| <= 1.5 with d = 20 terms
 * moves the scores by < 1e-2 and the output by less than that times |v| <= 0.5 */
Test(kvfull, f16_matches_reference) { run_case("f16", 5e-3f); }

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
    kvb_cache_shape bad = { 1, 3, 2, 8, 16, "llama2" };
    cr_assert_eq(kvb_cache_create(&c, "full", &bad, NULL, 0, NULL, &e), KVB_EINVAL);
    cr_assert_eq(kvb_cache_create(&c, "full", &sh, NULL, 0, NULL, &e), 0);
    cr_assert_eq(kvb_cache_reset(c, 17, &e), KVB_EINVAL);
    cr_assert_eq(kvb_cache_method_count() >= 1, 1);
    cr_assert_str_eq(kvb_cache_method_at(0), "full");
    char *j = kvb_cache_params_json(c);
    cr_assert(strstr(j, "f32"));
    free(j);
    kvb_cache_free(c);
}
