/* The compressing methods through the public kvb_cache API: invariants (a budget covering the
 * prompt gives attention bit-identical to `full --dtype f16`; bytes add up; the dry-run plan
 * equals what is really held; reset really resets), SimLayerKV lazy layers, KIVI accounting,
 * GQA layouts, parameter errors, and configs/methods/<name>.json equal to the built-in defaults.
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
#include "kvcache/kvcache.h"
#include "kvcache/select.h"

enum { L = 3, H = 4, KV = 2, D = 64, MAXT = 200 };

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((float)((*s >> 8) & 0xffff) / 65535.0f) * 2.0f - 1.0f;
}

/* One synthetic record: per layer q (n, H, D), k, v (n, KV, D), colsum (H, n); decode tokens. */
typedef struct rec {
    int n, steps;
    float *q[L], *k[L], *v[L], *cs[L];
    float *dq, *dk, *dv; /* (steps, L, H|KV, D) */
} rec;

static void rec_make(rec *r, int n, int steps, unsigned seed)
{
    r->n = n, r->steps = steps;
    float scratch[MAXT];
    for (int l = 0; l < L; l++) {
        r->q[l] = malloc(sizeof(float) * n * H * D);
        r->k[l] = malloc(sizeof(float) * n * KV * D);
        r->v[l] = malloc(sizeof(float) * n * KV * D);
        r->cs[l] = malloc(sizeof(float) * n * H);
        for (int i = 0; i < n * H * D; i++)
            r->q[l][i] = frand(&seed) * 2.0f;
        for (int i = 0; i < n * KV * D; i++) {
            r->k[l][i] = frand(&seed) * 2.0f;
            r->v[l][i] = frand(&seed);
        }
        kvb_sel_colsum(r->q[l], r->k[l], n, H, KV, D, r->cs[l], scratch);
    }
    r->dq = malloc(sizeof(float) * steps * L * H * D);
    r->dk = malloc(sizeof(float) * steps * L * KV * D);
    r->dv = malloc(sizeof(float) * steps * L * KV * D);
    for (int i = 0; i < steps * L * H * D; i++)
        r->dq[i] = frand(&seed) * 2.0f;
    for (int i = 0; i < steps * L * KV * D; i++) {
        r->dk[i] = frand(&seed) * 2.0f;
        r->dv[i] = frand(&seed);
    }
}

static void rec_free(rec *r)
{
    for (int l = 0; l < L; l++)
        free(r->q[l]), free(r->k[l]), free(r->v[l]), free(r->cs[l]);
    free(r->dq), free(r->dk), free(r->dv);
}

static kvb_cache *mk(const char *method, const kvb_cache_param *p, int np)
{
    const kvb_cache_shape sh = { L, H, KV, D, MAXT, "llama3" };
    kvb_cache *c;
    kvb_error e;
    cr_assert_eq(kvb_cache_create(&c, method, &sh, p, np, NULL, &e), 0, "%s: %s", method, e.msg);
    return c;
}

static void prefill(kvb_cache *c, const rec *r)
{
    kvb_error e;
    cr_assert_eq(kvb_cache_reset(c, r->n, &e), 0, "%s", e.msg);
    for (int l = 0; l < L; l++) {
        kvb_prefill_layer pl = { l, r->n, r->q[l], r->k[l], r->v[l], r->cs[l], NULL, NULL };
        cr_assert_eq(kvb_cache_prefill_layer(c, &pl, &e), 0, "%s", e.msg);
    }
    cr_assert_eq(kvb_cache_prefill_end(c, &e), 0, "%s", e.msg);
}

/* Decode `steps` tokens; out: (steps, L, H, D) attention outputs. */
static void decode(kvb_cache *c, const rec *r, int steps, float *out)
{
    kvb_error e;
    float *scratch = malloc(sizeof(float) * kvb_cache_scratch_floats(c));
    for (int s = 0; s < steps; s++)
        for (int l = 0; l < L; l++) {
            const size_t i = (size_t)s * L + l;
            cr_assert_eq(kvb_cache_append(c, l, r->dk + i * KV * D, r->dv + i * KV * D, &e), 0,
                         "%s", e.msg);
            /* two calls over disjoint head ranges, as two threads would */
            kvb_cache_attend(c, l, r->dq + i * H * D, out + i * H * D, 0, 1, scratch);
            kvb_cache_attend(c, l, r->dq + i * H * D, out + i * H * D, 1, H, scratch);
        }
    free(scratch);
}

/* ---- invariants ----------------------------------------------------------------------------- */

Test(kvcache_methods, budget_covering_prompt_is_full)
{
    rec r;
    rec_make(&r, 150, 4, 11);
    const int steps = 4, no = steps * L * H * D;
    float *full = malloc(sizeof(float) * no), *ref = malloc(sizeof(float) * no);
    float *out = malloc(sizeof(float) * no);
    const kvb_cache_param f16[] = { { "dtype", "f16" } };
    kvb_cache *c = mk("full", f16, 1);
    prefill(c, &r);
    decode(c, &r, steps, full);
    kvb_cache_free(c);
    /* the default full cache is that f16 cache, so a method keeping every token equals the
     * baseline a run gets without flags */
    c = mk("full", NULL, 0);
    prefill(c, &r);
    decode(c, &r, steps, ref);
    cr_assert(!memcmp(ref, full, sizeof(float) * no), "default full is not full --dtype f16");
    cr_assert_eq(kvb_cache_bytes(c), kvb_cache_full16_bytes(c), "default full must read 1.00x");
    kvb_cache_free(c);
    const struct {
        const char *m;
        kvb_cache_param p[2];
        int np;
    } cases[] = {
        { "SnapKV", { { "budget", "151" } }, 1 },
        { "SnapKV", { { "budget", "1000" }, { "gqa", "query_head" } }, 2 },
        { "PyramidKV", { { "budget", "151" } }, 1 },
        { "H2O", { { "budget", "151" } }, 1 },
        { "StreamingLLM", { { "budget", "150" } }, 1 },
        { "ZigZagKV", { { "budget", "151" } }, 1 },
        { "ThinK", { { "budget", "151" }, { "ratio", "0" } }, 2 },
        { "SimLayerKV", { { "threshold", "5" } }, 1 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        c = mk(cases[i].m, cases[i].p, cases[i].np);
        prefill(c, &r);
        decode(c, &r, i == 0 ? steps : steps, i == 0 ? ref : out);
        /* every method that keeps everything holds the same fp16 tokens and runs the same kernel:
         * bit-identical among themselves */
        if (i > 0)
            cr_assert(!memcmp(out, ref, sizeof(float) * no), "%s (case %zu) differs from SnapKV "
                      "keeping everything", cases[i].m, i);
        kvb_cache_layer_stats st;
        kvb_cache_layer_stats_get(c, 1, &st);
        cr_assert_eq(st.tokens, st.tokens_full, "%s keeps everything", cases[i].m);
        cr_assert_eq(kvb_cache_bytes(c), kvb_cache_full16_bytes(c) *
                                             (strstr(cases[i].p[cases[i].np - 1].value, "query") ? 2 : 1),
                     "%s bytes", cases[i].m);
        kvb_cache_free(c);
    }
    /* and identical to `full --dtype f16`: the same fp16 values through the same operation order
     * (store.c follows full.c: 8-wide FMA dots, kvb_hsum256, core/simd.h's exp). If full.c's
     * kernel changes, the 1e-5 check says by how much, then the bitwise check fails. */
    for (int j = 0; j < no; j++)
        cr_assert_float_eq(ref[j], full[j], 1e-5, "output %d: %g vs full %g", j, ref[j], full[j]);
    cr_assert(!memcmp(ref, full, sizeof(float) * no), "not bit-identical to full --dtype f16");
    free(full), free(ref), free(out);
    rec_free(&r);
}

static const struct {
    const char *m;
    kvb_cache_param p[3];
    int np;
} compressing[] = {
    { "SnapKV", { { "budget", "40" } }, 1 },
    { "SnapKV", { { "budget", "40" }, { "gqa", "query_head" } }, 2 },
    { "PyramidKV", { { "budget", "40" } }, 1 },
    { "H2O", { { "budget", "40" } }, 1 },
    { "StreamingLLM", { { "budget", "40" } }, 1 },
    { "ZigZagKV", { { "budget", "40" } }, 1 },
    { "ThinK", { { "budget", "40" }, { "recent", "8" } }, 2 },
    { "ThinK", { { "budget", "40" }, { "gqa", "query_head" } }, 2 },
    { "SimLayerKV", { { "threshold", "0" }, { "recent", "16" } }, 2 },
    { "KIVI", { { "bits", "2" } }, 1 },
    { "KIVI", { { "bits", "4" }, { "group", "16" }, { "residual", "48" } }, 3 },
    { "kivi_SimLayerKV", { { "threshold", "0" }, { "recent", "16" } }, 2 },
};

Test(kvcache_methods, bytes_add_up_and_plan_matches)
{
    rec r;
    rec_make(&r, 150, 3, 5);
    float *out = malloc(sizeof(float) * 3 * L * H * D);
    for (size_t i = 0; i < sizeof(compressing) / sizeof(compressing[0]); i++) {
        const char *m = compressing[i].m;
        kvb_cache *c = mk(m, compressing[i].p, compressing[i].np);
        prefill(c, &r);
        /* the plan, where the method has one, is exactly what prefill kept */
        const kvb_cache_shape sh = { L, H, KV, D, MAXT, "llama3" };
        kvb_cache_plan_layer plan[L];
        char why[256];
        kvb_error e;
        int rc = kvb_cache_plan(m, &sh, compressing[i].p, compressing[i].np, r.n, plan, why,
                                sizeof(why), &e);
        const int plannable = !strstr(m, "SimLayer") && !strstr(m, "ZigZag");
        cr_assert_eq(rc, plannable ? 0 : KVB_EUNSUP, "%s plan rc %d", m, rc);
        if (!plannable)
            cr_assert(strlen(why) > 10);
        size_t sum = 0;
        for (int l = 0; l < L; l++) {
            kvb_cache_layer_stats st;
            kvb_cache_layer_stats_get(c, l, &st);
            sum += st.k_bytes + st.v_bytes + st.meta_bytes + st.residual_bytes;
            if (plannable) {
                cr_assert_eq(st.tokens, plan[l].tokens, "%s l%d tokens %ld vs plan %ld", m, l,
                             st.tokens, plan[l].tokens);
                cr_assert_eq(st.tokens_full, plan[l].tokens_full, "%s", m);
                cr_assert_eq(st.k_bytes, plan[l].k_bytes, "%s l%d k %zu vs %zu", m, l, st.k_bytes,
                             plan[l].k_bytes);
                cr_assert_eq(st.v_bytes, plan[l].v_bytes, "%s l%d v", m, l);
                cr_assert_eq(st.meta_bytes, plan[l].meta_bytes, "%s l%d meta", m, l);
                cr_assert_eq(st.residual_bytes, plan[l].residual_bytes, "%s l%d residual", m, l);
            }
            /* kept counts add up to the bytes: 2 bytes x D for K and for V per stored token */
            if (!strstr(m, "KIVI") && !strstr(m, "kivi") && !strstr(m, "ThinK")) {
                const int copies = compressing[i].np > 1 &&
                                   !strcmp(compressing[i].p[1].value, "query_head") ? H / KV : 1;
                cr_assert_eq(st.k_bytes, (size_t)st.tokens * copies * D * 2, "%s l%d", m, l);
                cr_assert_eq(st.v_bytes, st.k_bytes, "%s", m);
                cr_assert(st.tokens < st.tokens_full || strstr(m, "SimLayer"), "%s compresses", m);
            }
            long per[H];
            kvb_cache_head_tokens(c, l, per);
            long tot = 0;
            for (int h = 0; h < kvb_cache_stored_heads(c); h++)
                tot += per[h];
            cr_assert_eq(tot / (kvb_cache_stored_heads(c) / KV), st.tokens, "%s head tokens", m);
        }
        cr_assert_eq(sum, kvb_cache_bytes(c), "%s", m);
        decode(c, &r, 3, out);
        for (int j = 0; j < 3 * L * H * D; j++)
            cr_assert(isfinite(out[j]), "%s output finite", m);
        cr_assert_geq(kvb_cache_peak_bytes(c), kvb_cache_bytes(c));
        cr_assert_eq(kvb_cache_full16_bytes(c), (size_t)(150 + 3) * KV * D * 4 * L);
        char *js = kvb_cache_params_json(c);
        cJSON *j = cJSON_Parse(js);
        cr_assert_not_null(j, "%s params json: %s", m, js);
        cJSON_Delete(j);
        free(js);
        kvb_cache_free(c);
    }
    free(out);
    rec_free(&r);
}

/* The prefill peak is measured after every prefill call, for every method: a method that only
 * keeps what it selected peaks at the end of prefill; ZigZagKV holds every layer in full (fp16)
 * until prefill_end trims them; full holds the f16 prompt (its default). Decoding does not move it; a reset
 * forgets it. */
Test(kvcache_methods, prefill_peak_for_every_method)
{
    rec r, r2;
    rec_make(&r, 150, 3, 11);
    rec_make(&r2, 60, 1, 12);
    float *out = malloc(sizeof(float) * 3 * L * H * D);
    const size_t n = sizeof(compressing) / sizeof(compressing[0]);
    for (size_t i = 0; i <= n; i++) {
        const char *m = i < n ? compressing[i].m : "full";
        kvb_cache *c = i < n ? mk(m, compressing[i].p, compressing[i].np) : mk("full", NULL, 0);
        prefill(c, &r);
        const size_t end = kvb_cache_bytes(c), peak = kvb_cache_prefill_peak_bytes(c);
        if (!strcmp(m, "ZigZagKV")) {
            cr_assert_eq(peak, (size_t)150 * KV * D * 2 * 2 * L, "%s peak %zu", m, peak);
            cr_assert_gt(peak, end, "%s: %zu vs %zu", m, peak, end);
        } else {
            cr_assert_eq(peak, end, "%s: peak %zu, end of prefill %zu", m, peak, end);
        }
        if (!strcmp(m, "full"))
            cr_assert_eq(peak, (size_t)150 * KV * D * 2 * 2 * L); /* f16 K and V */
        decode(c, &r, 3, out);
        cr_assert_eq(kvb_cache_prefill_peak_bytes(c), peak, "%s: decode moved the prefill peak", m);
        cr_assert_geq(kvb_cache_peak_bytes(c), peak, "%s", m);
        /* a shorter record: its own peak, not the previous one's */
        prefill(c, &r2);
        cr_assert_eq(kvb_cache_prefill_peak_bytes(c),
                     !strcmp(m, "ZigZagKV") ? (size_t)60 * KV * D * 2 * 2 * L : kvb_cache_bytes(c),
                     "%s after reset", m);
        if (!strcmp(m, "ZigZagKV") || !strcmp(m, "full"))
            cr_assert_lt(kvb_cache_prefill_peak_bytes(c), peak, "%s after reset", m);
        kvb_cache_free(c);
    }
    free(out);
    rec_free(&r);
    rec_free(&r2);
}

/* A known peer bug compressed only the first record: the second record must be compressed and
 * behave exactly like a fresh cache that only saw it. */
Test(kvcache_methods, reset_really_resets)
{
    rec a, b;
    rec_make(&a, 170, 3, 1);
    rec_make(&b, 120, 3, 2);
    const int no = 3 * L * H * D;
    float *o1 = malloc(sizeof(float) * no), *o2 = malloc(sizeof(float) * no);
    for (size_t i = 0; i < sizeof(compressing) / sizeof(compressing[0]); i++) {
        const char *m = compressing[i].m;
        kvb_cache *c = mk(m, compressing[i].p, compressing[i].np);
        prefill(c, &a);
        decode(c, &a, 3, o1);
        prefill(c, &b);
        kvb_cache_layer_stats st_b;
        kvb_cache_layer_stats_get(c, 0, &st_b);
        cr_assert_eq(st_b.tokens_full, 120 * KV, "%s: token count restarted", m);
        const size_t bytes_b = kvb_cache_bytes(c);
        decode(c, &b, 3, o1);
        kvb_cache *f = mk(m, compressing[i].p, compressing[i].np);
        prefill(f, &b);
        cr_assert_eq(kvb_cache_bytes(f), bytes_b, "%s: second record held %zu bytes, fresh %zu", m,
                     bytes_b, kvb_cache_bytes(f));
        decode(f, &b, 3, o2);
        cr_assert(!memcmp(o1, o2, sizeof(float) * no), "%s: second record differs from fresh", m);
        cr_assert_eq(kvb_cache_bytes(c), kvb_cache_bytes(f), "%s", m);
        cr_assert_eq(kvb_cache_peak_bytes(c), kvb_cache_peak_bytes(f), "%s peak", m);
        kvb_cache_free(c);
        kvb_cache_free(f);
    }
    free(o1), free(o2);
    rec_free(&a), rec_free(&b);
}

/* ---- method behaviour ----------------------------------------------------------------------- */

Test(kvcache_methods, simlayerkv_lazy_layers)
{
    rec r;
    rec_make(&r, 150, 3, 9);
    float *out = malloc(sizeof(float) * 3 * L * H * D);
    /* threshold 0: every layer lazy (score > 0) -> sink 4 + recent 16 after the first step */
    const kvb_cache_param lazy[] = { { "threshold", "0" }, { "recent", "16" } };
    kvb_cache *c = mk("SimLayerKV", lazy, 2);
    prefill(c, &r);
    decode(c, &r, 1, out);
    kvb_cache_layer_stats st;
    kvb_cache_layer_stats_get(c, 0, &st);
    cr_assert_eq(st.lazy, 1);
    /* decided on step 1, trimmed at the next append; reported as trimmed already */
    cr_assert_eq(st.tokens, 20 * KV);
    cr_assert_eq(st.k_bytes, (size_t)20 * KV * D * 2);
    decode(c, &r, 2, out);
    kvb_cache_layer_stats_get(c, 2, &st);
    cr_assert_eq(st.tokens, (20 + 2) * KV);
    cr_assert_eq(st.lazy, 1);
    cr_assert_eq(kvb_cache_peak_bytes(c), (size_t)151 * KV * D * 4 * L);
    kvb_cache_free(c);
    /* threshold 1.99 with windows covering everything (sink 4 + recent 1024 > S): the score is
     * (mass on 0..3, counted twice) + 1 <= 2, lazy only if the first four tokens carry > .99 */
    const kvb_cache_param never[] = { { "threshold", "1.99" } };
    c = mk("SimLayerKV", never, 1);
    prefill(c, &r);
    decode(c, &r, 3, out);
    kvb_cache_layer_stats_get(c, 1, &st);
    cr_assert_eq(st.lazy, 0);
    cr_assert_eq(st.tokens, 153 * KV);
    kvb_cache_free(c);
    /* SimLayerKV+KIVI: lazy layers cut the prompt to 4 + 16 and quantize (4 bits, R = 32: the 20
     * prompt tokens stay fp16, then decode appends) */
    c = mk("SimLayerKV+KIVI", lazy, 2);
    prefill(c, &r);
    decode(c, &r, 3, out);
    kvb_cache_layer_stats_get(c, 0, &st);
    cr_assert_eq(st.lazy, 1);
    cr_assert_eq(st.tokens, (20 + 3) * KV);
    kvb_cache_free(c);
    /* not lazy: the whole prompt quantized: keys 128 (150 - 150 % 32), values 118 */
    const kvb_cache_param nl[] = { { "threshold", "1.999" }, { "recent", "4" } };
    c = mk("SimLayerKV+KIVI", nl, 2);
    prefill(c, &r);
    decode(c, &r, 2, out);
    kvb_cache_layer_stats_get(c, 0, &st);
    cr_assert_eq(st.lazy, 0);
    cr_assert_eq(st.tokens, 152 * KV);
    cr_assert_eq(st.k_bytes, (size_t)KV * 128 * D * 4 / 8);
    kvb_cache_free(c);
    free(out);
    rec_free(&r);
}

Test(kvcache_methods, kivi_compresses_and_stays_close)
{
    rec r;
    rec_make(&r, 150, 2, 4);
    const int no = 2 * L * H * D;
    float *ref = malloc(sizeof(float) * no), *out = malloc(sizeof(float) * no);
    const kvb_cache_param f32[] = { { "dtype", "f32" } }; /* the exact reference */
    kvb_cache *c = mk("full", f32, 1);
    prefill(c, &r);
    decode(c, &r, 2, ref);
    kvb_cache_free(c);
    const kvb_cache_param p4[] = { { "bits", "4" } };
    c = mk("KIVI", p4, 1);
    prefill(c, &r);
    /* 4 bits + (scale, zero) fp16 per 32 -> 5 bits per element on the quantized part */
    cr_assert_lt(kvb_cache_bytes(c) * 2, kvb_cache_full16_bytes(c));
    decode(c, &r, 2, out);
    /* 4-bit quantization error on uniform [-2, 2] keys and [-1, 1] values: outputs within 0.05
     * (a loose sanity bound; exactness is tested in test_kvcache_kivi.c) */
    double err = 0;
    for (int i = 0; i < no; i++)
        err = fmax(err, fabs(out[i] - ref[i]));
    cr_assert_lt(err, 0.05, "max |KIVI4 - full| = %g", err);
    kvb_cache_free(c);
    free(ref), free(out);
    rec_free(&r);
}

Test(kvcache_methods, think_holds_thin_keys)
{
    rec r;
    rec_make(&r, 150, 1, 6);
    const kvb_cache_param sp[] = { { "budget", "64" } };
    const kvb_cache_param tp[] = { { "budget", "64" }, { "ratio", "0.5" }, { "recent", "8" } };
    kvb_cache *s = mk("SnapKV", sp, 1), *t = mk("ThinK", tp, 3);
    prefill(s, &r);
    prefill(t, &r);
    kvb_cache_layer_stats a, b;
    kvb_cache_layer_stats_get(s, 0, &a);
    kvb_cache_layer_stats_get(t, 0, &b);
    cr_assert_eq(a.tokens, b.tokens);
    /* 56 thin tokens x 32 channels + 8 full x 64, per kv head */
    cr_assert_eq(b.k_bytes, (size_t)KV * (56 * 32 + 8 * 64) * 2);
    cr_assert_eq(b.v_bytes, a.v_bytes);
    cr_assert_eq(b.meta_bytes, (size_t)KV * 32 * 2);
    kvb_cache_free(s);
    kvb_cache_free(t);
    rec_free(&r);
}

Test(kvcache_methods, zigzag_peak_is_full_prompt)
{
    rec r;
    rec_make(&r, 150, 1, 8);
    const kvb_cache_param p[] = { { "budget", "40" } };
    kvb_cache *c = mk("ZigZagKV", p, 1);
    prefill(c, &r);
    cr_assert_eq(kvb_cache_peak_bytes(c), (size_t)150 * KV * D * 4 * L);
    cr_assert_lt(kvb_cache_bytes(c), kvb_cache_peak_bytes(c));
    cr_assert_eq(kvb_cache_prefill_peak_bytes(c), kvb_cache_peak_bytes(c));
    long total = 0;
    for (int l = 0; l < L; l++) {
        kvb_cache_layer_stats st;
        kvb_cache_layer_stats_get(c, l, &st);
        total += st.tokens;
    }
    /* budgets conserve L * (B - w) up to rounding, + the window per layer */
    cr_assert(labs(total - (long)L * KV * 40) <= L * KV, "total %ld", total);
    kvb_cache_free(c);
    rec_free(&r);
}

/* ---- parameters ----------------------------------------------------------------------------- */

static void expect_error(const char *method, const kvb_cache_param *p, int np, const char *needle)
{
    const kvb_cache_shape sh = { L, H, KV, D, MAXT, "llama3" };
    kvb_cache *c = NULL;
    kvb_error e;
    cr_assert_eq(kvb_cache_create(&c, method, &sh, p, np, NULL, &e), KVB_EINVAL, "%s accepted",
                 method);
    cr_assert_null(c);
    cr_assert(strstr(e.msg, needle), "%s: '%s' lacks '%s'", method, e.msg, needle);
    cr_assert(!strchr(e.msg, '\n'));
}

Test(kvcache_methods, bad_parameters_name_the_choices)
{
    expect_error("snapKV2", NULL, 0, "SimLayerKV+KIVI");
    const kvb_cache_param b3[] = { { "bits", "3" } };
    expect_error("KIVI", b3, 1, "2 or 4");
    const kvb_cache_param g48[] = { { "group", "48" } };
    expect_error("KIVI", g48, 1, "does not divide head_dim");
    const kvb_cache_param g64[] = { { "group", "64" } };
    expect_error("KIVI", g64, 1, "does not divide residual");
    const kvb_cache_param b0[] = { { "budget", "0" } };
    expect_error("SnapKV", b0, 1, "budget");
    const kvb_cache_param r15[] = { { "ratio", "1.5" } };
    expect_error("ThinK", r15, 1, "[0, 1]");
    const kvb_cache_param nb[] = { { "bits", "2" } };
    expect_error("SnapKV", nb, 1, "takes: budget, window, kernel, pool, gqa");
    const kvb_cache_param unk[] = { { "foo", "2" } };
    expect_error("PyramidKV", unk, 1, "unknown parameter 'foo'");
    const kvb_cache_param pool[] = { { "pool", "median" } };
    expect_error("SnapKV", pool, 1, "maxpool or avgpool");
    const kvb_cache_param ker[] = { { "kernel", "6" } };
    expect_error("SnapKV", ker, 1, "odd");
    const kvb_cache_param gqa[] = { { "gqa", "both" } };
    expect_error("H2O", gqa, 1, "kv_head or query_head");
    const kvb_cache_param win[] = { { "budget", "8" } };
    expect_error("SnapKV", win, 1, "must exceed window");
    /* the plan validates the same way, and knows full's dtype */
    const kvb_cache_shape sh = { L, H, KV, D, 0, "llama3" };
    kvb_cache_plan_layer pl[L];
    kvb_error e;
    cr_assert_eq(kvb_cache_plan("KIVI", &sh, b3, 1, 100, pl, NULL, 0, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "cache method KIVI"));
    const kvb_cache_param f16[] = { { "dtype", "f16" } };
    cr_assert_eq(kvb_cache_plan("full", &sh, f16, 1, 100, pl, NULL, 0, &e), 0);
    cr_assert_eq(pl[0].k_bytes, (size_t)100 * KV * D * 2);
    cr_assert_eq(pl[0].k_bytes, pl[0].full16_bytes / 2);
    const kvb_cache_param f32[] = { { "dtype", "f32" } };
    cr_assert_eq(kvb_cache_plan("full", &sh, f32, 1, 100, pl, NULL, 0, &e), 0);
    cr_assert_eq(pl[0].k_bytes, (size_t)100 * KV * D * 4);
    /* no dtype: the f16 cache, 1.00x of the 16-bit reference */
    cr_assert_eq(kvb_cache_plan("full", &sh, NULL, 0, 100, pl, NULL, 0, &e), 0);
    cr_assert_eq(pl[0].k_bytes, (size_t)100 * KV * D * 2);
}

Test(kvcache_methods, threshold_defaults_by_family)
{
    const char *fam[] = { "llama2", "llama3", "mistral", "smollm2" };
    const double thr[] = { 0.65, 0.9, 0.8, 0.9 };
    for (int i = 0; i < 4; i++) {
        const kvb_cache_shape sh = { L, H, KV, D, MAXT, fam[i] };
        kvb_cache *c;
        kvb_error e;
        cr_assert_eq(kvb_cache_create(&c, "SimLayerKV", &sh, NULL, 0, NULL, &e), 0);
        char *js = kvb_cache_params_json(c);
        cJSON *j = cJSON_Parse(js);
        cr_assert_float_eq(cJSON_GetObjectItem(j, "threshold")->valuedouble, thr[i], 1e-12);
        cJSON_Delete(j);
        free(js);
        kvb_cache_free(c);
    }
}

/* configs/methods/<name>.json (read by people and the harness) equal the built-in defaults. */
Test(kvcache_methods, config_files_match_builtin_defaults)
{
    for (int i = 0; i < kvb_cache_method_count(); i++) {
        const char *m = kvb_cache_method_at(i);
        if (!strcmp(m, "full"))
            continue;
        char path[256];
        snprintf(path, sizeof(path), "configs/methods/%s.json", m);
        cJSON *cfg;
        kvb_error e;
        cr_assert_eq(kvb_json_load(path, 1 << 20, &cfg, &e), 0, "%s", e.msg);
        const cJSON *fams = cJSON_GetObjectItem(cfg, "threshold_by_family");
        const char *family = fams ? fams->child->string : "llama3";
        const kvb_cache_shape sh = { L, H, KV, D, MAXT, family };
        kvb_cache *c;
        cr_assert_eq(kvb_cache_create(&c, m, &sh, NULL, 0, NULL, &e), 0, "%s", e.msg);
        char *js = kvb_cache_params_json(c);
        cJSON *got = cJSON_Parse(js);
        const cJSON *it;
        int n = 0;
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(cfg, "defaults")) {
            const cJSON *g = cJSON_GetObjectItem(got, it->string);
            cr_assert_not_null(g, "%s: %s missing from params json", m, it->string);
            if (cJSON_IsString(it))
                cr_assert_str_eq(g->valuestring, it->valuestring, "%s.%s", m, it->string);
            else
                cr_assert_float_eq(g->valuedouble, it->valuedouble, 1e-12, "%s.%s", m, it->string);
            n++;
        }
        if (fams) {
            cr_assert_float_eq(cJSON_GetObjectItem(got, "threshold")->valuedouble,
                               fams->child->valuedouble, 1e-12);
            n++;
        }
        /* every effective parameter is in the file ("method" is the extra key) */
        cr_assert_eq(n + 1, cJSON_GetArraySize(got), "%s: %s", m, js);
        cJSON_Delete(got);
        free(js);
        kvb_cache_free(c);
        cJSON_Delete(cfg);
    }
}

/* The prefill scoring runs on the pool's threads: same result as single-threaded. */
Test(kvcache_methods, pool_gives_the_same_selection)
{
    rec r;
    rec_make(&r, 150, 2, 21);
    kvb_pool *pool;
    kvb_error e;
    cr_assert_eq(kvb_pool_create(&pool, 2, &e), 0);
    const kvb_cache_shape sh = { L, H, KV, D, MAXT, "llama3" };
    const kvb_cache_param p[] = { { "budget", "40" } };
    const char *ms[] = { "SnapKV", "PyramidKV", "ZigZagKV", "ThinK" };
    const int no = 2 * L * H * D;
    float *o1 = malloc(sizeof(float) * no), *o2 = malloc(sizeof(float) * no);
    for (int i = 0; i < 4; i++) {
        kvb_cache *a, *b;
        cr_assert_eq(kvb_cache_create(&a, ms[i], &sh, p, 1, pool, &e), 0);
        cr_assert_eq(kvb_cache_create(&b, ms[i], &sh, p, 1, NULL, &e), 0);
        prefill(a, &r);
        prefill(b, &r);
        decode(a, &r, 2, o1);
        decode(b, &r, 2, o2);
        cr_assert(!memcmp(o1, o2, sizeof(float) * no), "%s", ms[i]);
        kvb_cache_free(a);
        kvb_cache_free(b);
    }
    free(o1), free(o2);
    kvb_pool_free(pool);
    rec_free(&r);
}

/* KIVI attends the query heads of a kv group in one pass over the codes (kv_head layout); the
 * query_head layout holds one copy per query head and attends head by head: same numbers. */
Test(kvcache_methods, kivi_group_pass_equals_per_head)
{
    rec r;
    rec_make(&r, 150, 40, 13);
    const int no = 40 * L * H * D;
    float *o1 = malloc(sizeof(float) * no), *o2 = malloc(sizeof(float) * no);
    const kvb_cache_param a[] = { { "bits", "2" } }, b[] = { { "bits", "2" }, { "gqa", "query_head" } };
    kvb_cache *ca = mk("KIVI", a, 1), *cb = mk("KIVI", b, 2);
    prefill(ca, &r);
    prefill(cb, &r);
    decode(ca, &r, 40, o1); /* 40 steps: keys flushed once, values slide */
    decode(cb, &r, 40, o2);
    cr_assert(!memcmp(o1, o2, sizeof(float) * no));
    cr_assert_eq(kvb_cache_bytes(cb), kvb_cache_bytes(ca) * (H / KV));
    kvb_cache_free(ca);
    kvb_cache_free(cb);
    free(o1), free(o2);
    rec_free(&r);
}

/* ZigZagKV's LMBA on unpooled scores (lmba=raw) is a different allocation with the same total. */
Test(kvcache_methods, zigzag_raw_lmba_option)
{
    rec r;
    rec_make(&r, 150, 1, 17);
    const kvb_cache_param a[] = { { "budget", "40" }, { "lmba", "raw" }, { "tau", "0.5" } };
    kvb_cache *c = mk("ZigZagKV", a, 3);
    prefill(c, &r);
    long total = 0;
    for (int l = 0; l < L; l++) {
        kvb_cache_layer_stats st;
        kvb_cache_layer_stats_get(c, l, &st);
        total += st.tokens;
    }
    cr_assert(labs(total - (long)L * KV * 40) <= L * KV, "total %ld", total);
    char *js = kvb_cache_params_json(c);
    cr_assert(strstr(js, "\"lmba\": \"raw\"") && strstr(js, "\"tau\": 0.5"), "%s", js);
    free(js);
    kvb_cache_free(c);
    rec_free(&r);
}
