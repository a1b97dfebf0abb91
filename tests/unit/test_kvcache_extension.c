/* An 11th method is one descriptor: "EveryOther", defined here and nowhere in lib/, keeps every
 * `stride`-th prompt token (positions 0, stride, 2*stride, ...) and every generated token. It is
 * registered through the same descriptor API as the built-in methods (kvcache_impl.h) and runs
 * through kvb_cache_create / prefill / decode on the shared store; its parameter (a definition
 * of its own) becomes a `kvbench run` flag name, its parameters are validated and printed from
 * its table, its plan equals the bytes held, and the bytes add up. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "kvcache/engine.h"
#include "kvcache/half.h"

enum { L = 2, H = 4, KV = 2, D = 32, N = 37, STEPS = 3, MAXT = N + STEPS };

/* ---- the method: one params struct, one table, one hook, one plan ------------------------ */
typedef struct every_other_params {
    kvb_kv_params kv; /* first: the shared store's GQA layout */
    int stride;
} every_other_params;

static const kvb_param_def stride_def = { "stride", KVB_PARAM_INT, 1, 64, NULL, 0,
                                          "an integer in [1, 64]", "EveryOther: keep 1 in N" };

static const kvb_method_param every_other_table[] = {
    { &stride_def, offsetof(every_other_params, stride), 2, NULL },
    KVB_PARAM(every_other_params, gqa, kv.gqa_query, 0),
};

static int kept_of(int n, int stride)
{
    return (n + stride - 1) / stride;
}

static int every_other_prefill(kvb_kv *kv, const kvb_prefill_layer *pl, kvb_error *e)
{
    const every_other_params *p = kv->params;
    int m = 0;
    for (int t = 0; t < pl->n_tokens; t += p->stride)
        kv->sc_idx[m++] = t;
    return kvb_kv_fill_all(kv, pl, kv->sc_idx, m, e);
}

static int every_other_plan(const void *params, const kvb_cache_shape *s, int n,
                            kvb_cache_plan_layer *out, char *why, size_t whylen)
{
    (void)why, (void)whylen;
    return kvb_kv_plan_fp16(params, s, kept_of(n, ((const every_other_params *)params)->stride),
                            out);
}

static const char *const every_other_aliases[] = { "keep_every_other", NULL, NULL };

static const struct kvb_cache_method every_other = {
    .name = "EveryOther",
    .aliases = every_other_aliases,
    .params = every_other_table,
    .n_params = KVB_ARRAY_SIZE(every_other_table),
    .params_size = sizeof(every_other_params),
    .ops = &kvb_store_ops,
    .plan = every_other_plan,
    .prefill_layer = every_other_prefill,
};

/* ---- the test ------------------------------------------------------------------------------ */
/* The reference: out[d] = sum_t softmax(scale * q.k_t) v_t over n token rows with row stride
 * `stride` floats (K and V row-major (n, stride), first head_dim floats used); scores: n floats
 * of scratch. */
static void attend_f32(const float *q, const float *k, const float *v, int n, int head_dim,
                       size_t stride, float scale, float *scores, float *out)
{
    float mx = -INFINITY;
    for (int t = 0; t < n; t++) {
        const float *kt = k + (size_t)t * stride;
        float s = 0;
        for (int d = 0; d < head_dim; d++)
            s += q[d] * kt[d];
        s *= scale;
        scores[t] = s;
        if (s > mx)
            mx = s;
    }
    float sum = 0;
    for (int t = 0; t < n; t++) {
        scores[t] = expf(scores[t] - mx);
        sum += scores[t];
    }
    float inv = n > 0 ? 1.0f / sum : 0.0f;
    for (int d = 0; d < head_dim; d++)
        out[d] = 0;
    for (int t = 0; t < n; t++) {
        const float *vt = v + (size_t)t * stride;
        float w = scores[t] * inv;
        for (int d = 0; d < head_dim; d++)
            out[d] += w * vt[d];
    }
}

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((float)((*s >> 8) & 0xffff) / 65535.0f) * 2.0f - 1.0f;
}

static float *rnd(size_t n, unsigned *seed)
{
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        x[i] = frand(seed);
    return x;
}

static void setup(void)
{
    static int done;
    if (!done)
        cr_assert_eq(kvb_cache_method_register(&every_other), 0);
    done = 1;
}

TestSuite(kvcache_extension, .init = setup);

Test(kvcache_extension, registered_like_a_builtin)
{
    cr_assert_eq(kvb_cache_method_count(), 11);
    cr_assert_str_eq(kvb_cache_method_at(10), "EveryOther");
    cr_assert_eq(kvb_cache_method_find("KEEP_EVERY_OTHER"), &every_other);
    cr_assert_neq(kvb_cache_method_register(&every_other), 0, "registered twice");
    /* its own parameter is a run flag, after the 18 shared ones */
    cr_assert_eq(kvb_cache_param_count(), 19);
    cr_assert_str_eq(kvb_cache_param_name(18), "stride");
    cr_assert_str_eq(kvb_cache_param_help(18), "EveryOther: keep 1 in N");
}

static void expect_error(const kvb_cache_param *p, int np, const char *needle)
{
    const kvb_cache_shape sh = { L, H, KV, D, MAXT, "llama3" };
    kvb_cache *c = NULL;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_cache_create(&c, "EveryOther", &sh, p, np, NULL, &e), KVB_EINVAL);
    cr_assert_null(c);
    cr_assert(strstr(e.msg, needle), "'%s' lacks '%s'", e.msg, needle);
}

Test(kvcache_extension, parameters_from_the_table)
{
    const kvb_cache_param s0[] = { { "stride", "0" } };
    expect_error(s0, 1, "cache method EveryOther: invalid stride '0' (expected an integer in [1, 64])");
    const kvb_cache_param b[] = { { "budget", "8" } };
    expect_error(b, 1, "EveryOther does not take parameter 'budget' (takes: stride, gqa)");
    const kvb_cache_param f[] = { { "foo", "8" } };
    expect_error(f, 1, "unknown parameter 'foo' for EveryOther (takes: stride, gqa)");
    /* and a built-in method knows the new name as some method's parameter */
    const kvb_cache_shape sh = { L, H, KV, D, MAXT, "llama3" };
    kvb_cache *c = NULL;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_cache_create(&c, "SnapKV", &sh, s0, 1, NULL, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "SnapKV does not take parameter 'stride'"), "%s", e.msg);
}

static void run_stride(int stride, const char *gqa)
{
    char sv[8];
    snprintf(sv, sizeof(sv), "%d", stride);
    const kvb_cache_param p[] = { { "stride", sv }, { "gqa", gqa } };
    const kvb_cache_shape sh = { L, H, KV, D, MAXT, "llama3" };
    const int query = !strcmp(gqa, "query_head"), S = query ? H : KV, group = H / KV;
    kvb_cache *c;
    kvb_error e;
    cr_assert_eq(kvb_cache_create(&c, "keep_every_other", &sh, p, 2, NULL, &e), 0, "%s", e.msg);
    cr_assert_str_eq(kvb_cache_method_name(c), "EveryOther");
    cr_assert_eq(kvb_cache_needs(c), 0u);
    cr_assert_eq(kvb_cache_stored_heads(c), S);
    char *js = kvb_cache_params_json(c);
    char want[128];
    snprintf(want, sizeof(want), "{\"method\": \"EveryOther\", \"stride\": %d, \"gqa\": \"%s\"}",
             stride, gqa);
    cr_assert_str_eq(js, want);
    free(js);

    unsigned seed = 7u + (unsigned)stride;
    float *q[L], *k[L], *v[L];
    for (int l = 0; l < L; l++) {
        q[l] = rnd((size_t)N * H * D, &seed);
        k[l] = rnd((size_t)N * KV * D, &seed);
        v[l] = rnd((size_t)N * KV * D, &seed);
    }
    cr_assert_eq(kvb_cache_reset(c, N, &e), 0, "%s", e.msg);
    for (int l = 0; l < L; l++) {
        kvb_prefill_layer pl = { l, N, q[l], k[l], v[l], NULL, NULL, NULL };
        cr_assert_eq(kvb_cache_prefill_layer(c, &pl, &e), 0, "%s", e.msg);
    }
    cr_assert_eq(kvb_cache_prefill_end(c, &e), 0, "%s", e.msg);

    /* the plan is what the cache holds at the end of prefill, layer by layer */
    const int kept = kept_of(N, stride);
    kvb_cache_plan_layer plan[L];
    char why[128];
    cr_assert_eq(kvb_cache_plan("EveryOther", &sh, p, 2, N, plan, why, sizeof(why), &e), 0,
                 "%s", e.msg);
    size_t planned = 0;
    for (int l = 0; l < L; l++) {
        kvb_cache_layer_stats st;
        kvb_cache_layer_stats_get(c, l, &st);
        cr_assert_eq(st.k_bytes, plan[l].k_bytes);
        cr_assert_eq(st.v_bytes, plan[l].v_bytes);
        cr_assert_eq(st.tokens, plan[l].tokens);
        cr_assert_eq(st.tokens, (long)KV * kept);
        cr_assert_eq(st.tokens_full, (long)KV * N);
        planned += plan[l].k_bytes + plan[l].v_bytes + plan[l].meta_bytes + plan[l].residual_bytes;
    }
    cr_assert_eq(kvb_cache_bytes(c), planned);
    cr_assert_eq(kvb_cache_prefill_peak_bytes(c), planned);

    /* decode: every new token is kept; attention is over the kept positions only, checked
     * against the f32 reference kernel on the same f16-rounded rows */
    float *scratch = malloc(sizeof(float) * kvb_cache_scratch_floats(c));
    float *dk = rnd((size_t)STEPS * L * KV * D, &seed), *dv = rnd((size_t)STEPS * L * KV * D, &seed);
    float *dq = rnd((size_t)STEPS * H * D, &seed);
    float kk[MAXT * D], vv[MAXT * D], sc[MAXT], out[H * D], ref[D];
#define F16(x) kvb_h2f(kvb_f2h(x))
    for (int step = 0; step < STEPS; step++)
        for (int l = 0; l < L; l++) {
            const size_t i = (size_t)step * L + l;
            cr_assert_eq(kvb_cache_append(c, l, dk + i * KV * D, dv + i * KV * D, &e), 0, "%s",
                         e.msg);
            kvb_cache_attend(c, l, dq + (size_t)step * H * D, out, 0, H, scratch);
            for (int h = 0; h < H; h++) {
                const int kvh = h / group;
                int n = 0;
                for (int t = 0; t < N; t += stride, n++)
                    for (int d = 0; d < D; d++) {
                        kk[n * D + d] = F16(k[l][((size_t)t * KV + kvh) * D + d]);
                        vv[n * D + d] = F16(v[l][((size_t)t * KV + kvh) * D + d]);
                    }
                for (int s2 = 0; s2 <= step; s2++, n++)
                    for (int d = 0; d < D; d++) {
                        kk[n * D + d] = F16(dk[((size_t)s2 * L + l) * KV * D + kvh * D + d]);
                        vv[n * D + d] = F16(dv[((size_t)s2 * L + l) * KV * D + kvh * D + d]);
                    }
                cr_assert_eq(n, kept + step + 1);
                attend_f32(dq + ((size_t)step * H + h) * D, kk, vv, n, D, D,
                           1.0f / sqrtf((float)D), sc, ref);
                /* f32 sums over <= 40 probabilities and products of f16-exact rows: 1e-5 */
                for (int d = 0; d < D; d++)
                    cr_assert_float_eq(out[h * D + d], ref[d], 1e-5, "step %d l%d h%d d%d", step,
                                       l, h, d);
            }
        }
#undef F16
    free(dk), free(dv), free(dq);
    /* bytes add up: (kept prompt + generated) fp16 K and V per stored head, layer by layer */
    size_t sum = 0;
    for (int l = 0; l < L; l++) {
        kvb_cache_layer_stats st;
        kvb_cache_layer_stats_get(c, l, &st);
        cr_assert_eq(st.k_bytes, (size_t)S * (kept + STEPS) * D * 2);
        cr_assert_eq(st.v_bytes, (size_t)S * (kept + STEPS) * D * 2);
        cr_assert_eq(st.meta_bytes + st.residual_bytes, 0);
        cr_assert_eq(st.tokens, (long)KV * (kept + STEPS));
        cr_assert_eq(st.tokens_full, (long)KV * (N + STEPS));
        long per_head[H];
        kvb_cache_head_tokens(c, l, per_head);
        for (int h = 0; h < S; h++)
            cr_assert_eq(per_head[h], kept + STEPS);
        sum += st.k_bytes + st.v_bytes;
    }
    cr_assert_eq(kvb_cache_bytes(c), sum);
    cr_assert_eq(kvb_cache_peak_bytes(c), sum);
    cr_assert_eq(kvb_cache_full16_bytes(c), (size_t)L * KV * (N + STEPS) * D * 2 * 2);
    free(scratch);
    for (int l = 0; l < L; l++)
        free(q[l]), free(k[l]), free(v[l]);
    kvb_cache_free(c);
}

Test(kvcache_extension, runs_on_the_shared_store)
{
    run_stride(2, "kv_head");
    run_stride(3, "query_head");
    run_stride(1, "kv_head");
}
