/* The bf16 prefill (--weights bf16 / gguf-q8 on AVX-512 BF16 CPUs): the flash attention of attn.c
 * and the GEMM of gemm_bf16.c, each kernel against its scalar twin and both against double
 * references with derived bounds, on the bf16-rounded inputs (the kernels' own arithmetic) and on
 * the f32 inputs (what the bf16 path costs against the exact f32 path). The AVX-512 kernels run
 * only where the CPU has AVX-512 BF16 (noted in KVBENCH_ISA_LOG); the twins run everywhere.
 *
 * Attention bound. With q^ = bf16(q * scale), k^, v^ the kernel's inputs, s_j = q^.k^_j and
 * w_j = softmax(s)_j in exact arithmetic, O = sum_j w_j v^_j:
 *   - a score sums hd exact products (bf16 x bf16 fits f32) in f32: |ds_j| <= gamma_hd sum|q^ k^|;
 *   - each unnormalized weight exp(s_j - m) is then off by a factor exp(ds_j) (1 + e_j),
 *     |e_j| <= 2^-9 (its bf16 rounding) + 4u (exp, ~2 ulp, and the online rescaling, <= 2u);
 *     the running max m is common to all j and cancels;
 *   - weights off by factors within [1 - eta, 1 + eta] change the normalized w_j by at most
 *     w_j 2 eta / (1 - eta), so |O - O~| <= 2 eta / (1 - eta) sum_j w_j |v^_j| plus the f32 sums
 *     of n terms (the output's and the normalizer's, a common factor) and one division or
 *     multiplication, 2 gamma_(n+2) sum_j w_j |v^_j|,
 * with eta = exp(max_j |ds_j|) - 1 + 2^-9 + 5u. The f32 path (sgemm) meets the same bound without
 * the bf16 terms, its scale applied in the score's sum (gamma_(hd+1)). Against the f32 inputs, the roundings of q*scale
 * and k add 2^-9 + 2^-9 + 2^-18 relative to each product (so to ds_j: (2^-8 + 2^-18) scale
 * sum|q k|) and v's rounding adds 2^-9 sum_j w_j |v_j|. lse = m + log l is off by at most
 * max|ds| + log(1 + eta) + gamma_2.
 *
 * GEMM bound: products exact, f32 sum of k: |C - C^| <= gamma_k sum|a^ w^|; against f32 inputs
 * add (2^-9 + 2^-9 + 2^-18) sum|a w| when W is rounded too (f32 or GGUF weights), 2^-9 when W is
 * bf16 already. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvcache/kvcache.h"
#include "model/model_impl.h"
#include "numeric_paths.h"

#define U ldexp(1.0, -24)
#define UB ldexp(1.0, -9) /* unit roundoff of bf16 (8 significand bits) */

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 9) & 0xffff) / 32768.0f - 1.0f;
}

static double bfr(float x) { return kvb_bf16_to_f32(kvb_f32_to_bf16(x)); }

/* ---- attention --------------------------------------------------------------------------------------- */
typedef struct attn_case {
    int n, nh, nkv, hd;
    float *q, *k, *v;    /* (n, nh*hd), (n, nkv*hd) x 2 */
    uint16_t *kp, *vp;   /* packed per kv head */
    size_t per;
} attn_case;

static attn_case attn_make(int n, int nh, int nkv, int hd, unsigned seed)
{
    attn_case c = { n, nh, nkv, hd, NULL, NULL, NULL, NULL, NULL, kvb_fa_packed_elems(n, hd) };
    c.q = malloc(sizeof(float) * (size_t)n * nh * hd);
    c.k = malloc(sizeof(float) * (size_t)n * nkv * hd);
    c.v = malloc(sizeof(float) * (size_t)n * nkv * hd);
    for (size_t i = 0; i < (size_t)n * nh * hd; i++)
        c.q[i] = 2 * frand(&seed);
    for (size_t i = 0; i < (size_t)n * nkv * hd; i++)
        c.k[i] = 2 * frand(&seed), c.v[i] = frand(&seed);
    c.kp = malloc(2 * c.per * nkv);
    c.vp = malloc(2 * c.per * nkv);
    for (int h = 0; h < nkv; h++) /* in two ranges, as the threads of the forward pass do */
        for (int j0 = 0; j0 < n; j0 += 2 * KVB_ATTN_B)
            kvb_fa_pack(c.kp + c.per * h, c.vp + c.per * h, c.k + (size_t)h * hd, c.v + (size_t)h * hd,
                        nkv * hd, n, hd, j0, KVB_MIN(n, j0 + 2 * KVB_ATTN_B));
    return c;
}

static void attn_free(attn_case *c)
{
    free(c->q), free(c->k), free(c->v), free(c->kp), free(c->vp);
}

/* the whole attention through one block kernel; every query block holds all heads of a kv head */
static void attn_run(const attn_case *c, int avx512, float *out, float *lse)
{
    int G = c->nh / c->nkv, qs = c->nh * c->hd;
    float *scratch = malloc(sizeof(float) * kvb_fa_scratch_floats(G, c->hd));
    for (int r0 = 0; r0 < c->n; r0 += KVB_ATTN_B)
        for (int h = 0; h < c->nkv; h++) {
            kvb_fa_item t = { .q = c->q + (size_t)r0 * qs + (size_t)h * G * c->hd, .q_stride = qs,
                              .kp = c->kp + c->per * h, .vp = c->vp + c->per * h,
                              .out = out + (size_t)r0 * qs + (size_t)h * G * c->hd, .out_stride = qs,
                              .lse = lse + (size_t)h * G * c->n + r0, .lse_stride = c->n, .r0 = r0,
                              .rows = KVB_MIN(KVB_ATTN_B, c->n - r0), .gn = G, .hd = c->hd,
                              .scale = 1.0f / sqrtf((float)c->hd) };
            if (avx512)
                kvb_fa_block_avx512(&t, scratch);
            else
                kvb_fa_block_ref(&t, scratch);
        }
    free(scratch);
}

/* Checks out/lse against the double reference of query i of head h, on bf16-rounded inputs
 * (rounded = 1: the kernel's own arithmetic) or the f32 inputs (rounded = 0), or the f32 path on
 * the f32 inputs (rounded = 2: the same bound without the bf16 roundings; the scale multiplies
 * the f32 score once more: gamma_(hd+1)); returns the worst error as a fraction of its bound. */
static double attn_check(const attn_case *c, const float *out, const float *lse, int rounded)
{
    int G = c->nh / c->nkv, hd = c->hd, n = c->n;
    float scale = 1.0f / sqrtf((float)hd);
    double *s = malloc(sizeof(double) * n), *sa = malloc(sizeof(double) * n), worst = 0;
    for (int h = 0; h < c->nh; h++)
        for (int i = 0; i < n; i++) {
            const float *q = c->q + ((size_t)i * c->nh + h) * hd;
            double mx = -INFINITY, dmax = 0;
            for (int j = 0; j <= i; j++) {
                const float *k = c->k + ((size_t)j * c->nkv + h / G) * hd;
                double a = 0, aa = 0;
                for (int d = 0; d < hd; d++) {
                    double qq = rounded == 1 ? bfr(q[d] * scale) : (double)q[d] * scale;
                    double kk = rounded == 1 ? bfr(k[d]) : k[d];
                    a += qq * kk;
                    aa += fabs(qq * kk);
                }
                s[j] = a, sa[j] = aa;
                mx = fmax(mx, a);
                double ds = gamma_f32(hd + 1) * aa + (rounded == 0 ? (ldexp(1, -8) + ldexp(1, -18)) * aa : 0);
                dmax = fmax(dmax, ds);
            }
            double l = 0;
            for (int j = 0; j <= i; j++)
                l += exp(s[j] - mx);
            double eta = expm1(dmax) + (rounded == 2 ? 0 : UB) + 5 * U;
            double fac = 2 * eta / (1 - eta) + 2 * gamma_f32(n + 2);
            for (int d = 0; d < hd; d++) {
                double o = 0, wv = 0;
                for (int j = 0; j <= i; j++) {
                    float vf = c->v[((size_t)j * c->nkv + h / G) * hd + d];
                    double vv = rounded == 1 ? bfr(vf) : vf, w = exp(s[j] - mx) / l;
                    o += w * vv;
                    wv += w * fabs(vv);
                }
                double tol = fac * wv + (rounded == 0 ? UB * wv : 0) + 1e-30;
                double err = fabs(out[((size_t)i * c->nh + h) * hd + d] - o);
                worst = fmax(worst, err / tol);
            }
            double lerr = fabs(lse[(size_t)h * n + i] - (mx + log(l)));
            worst = fmax(worst, lerr / (dmax + log1p(eta) + gamma_f32(2) * fabs(mx + log(l)) + 1e-30));
        }
    free(s), free(sa);
    return worst;
}

static void attn_shape(int n, int nh, int nkv, int hd)
{
    attn_case c = attn_make(n, nh, nkv, hd, (unsigned)(n * 31 + hd));
    size_t no = (size_t)n * nh * hd;
    float *o[2] = { malloc(sizeof(float) * no), malloc(sizeof(float) * no) };
    float *l[2] = { malloc(sizeof(float) * (size_t)nh * n), malloc(sizeof(float) * (size_t)nh * n) };
    int have = kvb_fa_available();
    for (int k = 0; k < 1 + have; k++) {
        attn_run(&c, k, o[k], l[k]);
        double own = attn_check(&c, o[k], l[k], 1), f32 = attn_check(&c, o[k], l[k], 0);
        cr_log_info("attn %s n=%d heads %d/%d hd=%d: worst error / bound %.3f (bf16 inputs), %.3f (f32 inputs)",
                    k ? "avx512_bf16" : "scalar twin", n, nh, nkv, hd, own, f32);
        cr_assert(own <= 1, "%s n=%d hd=%d: error %.3f x its bound on bf16 inputs",
                  k ? "avx512" : "twin", n, hd, own);
        cr_assert(f32 <= 1, "%s n=%d hd=%d: error %.3f x its bound against f32 attention",
                  k ? "avx512" : "twin", n, hd, f32);
    }
    test_isa_note("avx512_bf16", "attn_prefill", have);
    /* the exported op (model/ops.h, the CUDA tests' oracle): bf16 = the kernel run above, bit for
     * bit; f32 = the exact path, within the f32 bound (eta without the bf16 terms) */
    cr_assert_eq(kvb_attn_prefill(o[0], l[0], c.q, c.k, c.v, n, nh, nkv, hd, 1), 0);
    cr_assert(!memcmp(o[0], o[have], sizeof(float) * no) && !memcmp(l[0], l[have], sizeof(float) * nh * n),
              "kvb_attn_prefill(bf16) differs from its block kernel");
    cr_assert_eq(kvb_attn_prefill(o[0], l[0], c.q, c.k, c.v, n, nh, nkv, hd, 0), 0);
    double f32 = attn_check(&c, o[0], l[0], 2);
    cr_log_info("attn f32 n=%d hd=%d: worst error / bound %.3f", n, hd, f32);
    cr_assert(f32 <= 1, "f32 attention n=%d hd=%d: error %.3f x its bound", n, hd, f32);
    free(o[0]), free(o[1]), free(l[0]), free(l[1]);
    attn_free(&c);
}

/* tails everywhere: 1 query, a partial block, exactly one block, one past it, several blocks;
 * GQA groups of 3 (SmolLM2), 1 and 4; head_dim 64, 128 and 96 (a 32-dim tail in the PV tile) */
Test(prefill_bf16, attn_smollm2_shapes) { attn_shape(1, 9, 3, 64); attn_shape(17, 9, 3, 64); attn_shape(64, 9, 3, 64); attn_shape(65, 9, 3, 64); attn_shape(200, 9, 3, 64); }
Test(prefill_bf16, attn_other_shapes) { attn_shape(130, 4, 4, 128); attn_shape(100, 8, 2, 96); attn_shape(70, 4, 1, 32); }

/* Large scores: the running max grows block after block (rescaling) and most weights vanish. */
Test(prefill_bf16, attn_peaked)
{
    attn_case c = attn_make(300, 3, 1, 64, 9);
    for (size_t i = 0; i < (size_t)300 * 3 * 64; i++)
        c.q[i] *= 4;
    float *o = malloc(sizeof(float) * 300 * 3 * 64), *l = malloc(sizeof(float) * 3 * 300);
    for (int k = 0; k < 1 + kvb_fa_available(); k++) {
        attn_run(&c, k, o, l);
        double own = attn_check(&c, o, l, 1);
        cr_log_info("attn peaked %s: worst error / bound %.3f", k ? "avx512_bf16" : "twin", own);
        cr_assert(own <= 1, "error %.3f x its bound", own);
    }
    free(o), free(l);
    attn_free(&c);
}

/* ---- GEMM --------------------------------------------------------------------------------------------- */
static kvb_wt make_w(enum kvb_wt_type type, int rows, int cols, unsigned seed)
{
    kvb_wt w = { .type = type, .rows = rows, .cols = cols };
    w.owned = malloc((size_t)rows * cols * 4);
    for (size_t i = 0; i < (size_t)rows * cols; i++) {
        float v = frand(&seed);
        if (type == KVB_WT_BF16)
            ((uint16_t *)w.owned)[i] = kvb_f32_to_bf16(v);
        else
            ((float *)w.owned)[i] = v;
    }
    w.data = w.owned;
    return w;
}

static double gemm_check(const kvb_wt *w, const float *a, int n, const float *c)
{
    int k = w->cols, wround = w->type != KVB_WT_BF16;
    float *row = malloc(sizeof(float) * k);
    double worst = 0;
    for (int j = 0; j < w->rows; j++) {
        kvb_wt_row(w, j, row);
        for (int i = 0; i < n; i++) {
            double s = 0, sa = 0, sr = 0, sra = 0;
            for (int p = 0; p < k; p++) {
                double x = a[(size_t)i * k + p], y = row[p];
                double xr = bfr((float)x), yr = wround ? bfr((float)y) : y;
                s += x * y, sa += fabs(x * y), sr += xr * yr, sra += fabs(xr * yr);
            }
            double got = c[(size_t)i * w->rows + j];
            double own = fabs(got - sr) / (gamma_f32(k) * sra + 1e-30);
            double f32 = fabs(got - s) / (gamma_f32(k) * sra + (wround ? 2 * UB + UB * UB : UB) * sa + 1e-30);
            worst = fmax(worst, fmax(own, f32));
        }
    }
    free(row);
    return worst;
}

static void gemm_shape(enum kvb_wt_type type, int n, int rows, int k)
{
    kvb_wt w = make_w(type, rows, k, (unsigned)(n + rows + k));
    unsigned seed = 3;
    float *a = malloc(sizeof(float) * (size_t)n * k), *c = malloc(sizeof(float) * (size_t)n * rows);
    for (size_t i = 0; i < (size_t)n * k; i++)
        a[i] = frand(&seed);
    uint16_t *ap = malloc(2 * kvb_gemm_packed_a_elems(n, k));
    uint16_t *wbuf = malloc(2 * (size_t)KVB_GEMM_NC * k + 4 * (size_t)k);
    int nb = (n + 15) / 16;
    kvb_gemm_pack_a_bf16(ap, a, n, k, 0, nb / 2); /* in two calls, as two threads would */
    kvb_gemm_pack_a_bf16(ap, a, n, k, nb / 2, nb);
    int have = kvb_fa_available();
    for (int v = 0; v < 1 + have; v++) {
        memset(c, 0xff, sizeof(float) * (size_t)n * rows); /* NaN: every element must be written */
        /* two column ranges, as split() gives two threads */
        int mid = rows / 32 * 16;
        if (v) {
            kvb_gemm_rows_bf16(&w, ap, n, c, rows, 0, mid, wbuf);
            kvb_gemm_rows_bf16(&w, ap, n, c, rows, mid, rows, wbuf);
        } else {
            kvb_gemm_rows_bf16_ref(&w, ap, n, c, rows, 0, mid, wbuf);
            kvb_gemm_rows_bf16_ref(&w, ap, n, c, rows, mid, rows, wbuf);
        }
        double worst = gemm_check(&w, a, n, c);
        cr_log_info("gemm %s %s n=%d rows=%d k=%d: worst error / bound %.3f", v ? "avx512_bf16" : "twin",
                    type == KVB_WT_BF16 ? "bf16" : "f32", n, rows, k, worst);
        cr_assert(worst <= 1, "gemm n=%d rows=%d k=%d: error %.3f x its bound", n, rows, k, worst);
    }
    test_isa_note("avx512_bf16", "gemm_prefill", have);
    free(a), free(c), free(ap), free(wbuf), free(w.owned);
}

/* rows of A: 1, a 16-row tail, 3 vectors + 2 + 1 (every tile height); W rows: 8-row tiles + a
 * tail, more than one NC panel; k: SmolLM2's 576, and odd multiples of 2 */
Test(prefill_bf16, gemm_bf16_weights) { gemm_shape(KVB_WT_BF16, 1, 40, 576); gemm_shape(KVB_WT_BF16, 21, 150, 98); gemm_shape(KVB_WT_BF16, 100, 77, 64); }
Test(prefill_bf16, gemm_f32_weights) { gemm_shape(KVB_WT_F32, 47, 136, 126); gemm_shape(KVB_WT_F32, 80, 19, 576); }

/* ---- the model ---------------------------------------------------------------------------------------- */
/* SmolLM2 (make model), --weights gguf-q8 vs gguf on one prompt of 300 tokens (5 attention blocks)
 * through the whole forward pass: the bf16 prefill moves the last logits by a measured
 * 0.06-0.15 (max |diff|, logits up to ~28) on 2026-12-04 (AMD EPYC Zen 4, 2 threads; 0.146 at 2048
 * tokens), a whole forward pass having no useful closed-form bound; held to 0.5, and to the same
 * greedy token. Where the CPU lacks AVX-512 BF16 the two runs are the same f32 prefill. */
#define SMOL "models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf"
Test(prefill_bf16, smollm2_logits, .timeout = 900)
{
    FILE *f = fopen(SMOL, "rb");
    cr_assert(f, "%s missing: run `make model` first", SMOL);
    fclose(f);
    enum { N = 300 };
    float *lg[2];
    int vocab = 0;
    kvb_error e;
    for (int k = 0; k < 2; k++) {
        kvb_model_opts o = { .threads = test_threads(2), .weights_gguf = 1, .prefill_bf16 = k };
        kvb_model *m;
        cr_assert_eq(kvb_model_open(&m, SMOL, &o, &e), 0, "%s", e.msg);
        const kvb_model_config *cf = kvb_model_get_config(m);
        vocab = cf->vocab;
        kvb_cache_shape sh = { cf->n_layers, cf->n_heads, cf->n_kv_heads, cf->head_dim, N, "smollm2" };
        kvb_cache_param p[] = { { "dtype", "f16" } };
        kvb_cache *c;
        cr_assert_eq(kvb_cache_create(&c, "full", &sh, p, 1, kvb_model_pool(m), &e), 0, "%s", e.msg);
        cr_assert_eq(kvb_cache_reset(c, N, &e), 0);
        int32_t ids[N];
        unsigned s = 7;
        for (int i = 0; i < N; i++)
            ids[i] = (int32_t)(frand(&s) * 0.5f * cf->vocab + 0.5f * cf->vocab) % cf->vocab;
        lg[k] = malloc(sizeof(float) * (size_t)vocab);
        cr_assert_eq(kvb_model_prefill(m, c, ids, N, lg[k], &e), 0, "%s", e.msg);
        cr_assert_eq(kvb_model_prefill_is_bf16(m), k && kvb_fa_available() &&
                     kvb_isa_parse(getenv("KVBENCH_ISA")) == KVB_ISA_AVX512,
                     "prefill arithmetic not as asked");
        kvb_cache_free(c);
        kvb_model_free(m);
    }
    double mx = 0;
    for (int i = 0; i < vocab; i++)
        mx = fmax(mx, fabs((double)lg[0][i] - lg[1][i]));
    cr_log_info("smollm2 300 tokens, bf16 vs f32 prefill: max |logit diff| %g", mx);
    cr_assert(mx <= 0.5, "max |logit diff| %g", mx);
    cr_assert_eq(kvb_argmax(lg[0], vocab), kvb_argmax(lg[1], vocab));
    free(lg[0]), free(lg[1]);
}

/* SwiGLU of the bf16 prefill against double: silu(x) u = x u / (1 + exp(-x)); exp within ~3 ulp,
 * then one add, one divide, one multiply, each u: 8u relative covers it. Below x = -88.38 the exp
 * argument is clamped (exp(88.38) ~ 2.4e38, f32's range), so the result is x u / 2.4e38 instead of
 * ~0: absolute 8e-39 |x u| (twice that) covers it. x over [-100, 100] reaches the clamp both ways;
 * the 21-element tail runs the scalar kvb_silu. */
Test(prefill_bf16, swiglu)
{
    enum { N = 4096 + 21 };
    static float g[N], u[N], x0[N];
    unsigned s = 11;
    for (int i = 0; i < N; i++)
        x0[i] = g[i] = i < 4096 ? (float)(i - 2048) / 20.48f : frand(&s) * 30, u[i] = frand(&s) * 2;
    int have = kvb_fa_available();
    if (have)
        kvb_swiglu_avx512(g, u, N);
    test_isa_note("avx512_bf16", "swiglu", have);
    if (!have)
        return;
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double ref = (double)x0[i] / (1 + exp(-(double)x0[i])) * u[i];
        double tol = 8 * U * fabs(ref) + 8e-39 * fabs((double)x0[i] * u[i]) + 1e-45;
        worst = fmax(worst, fabs(g[i] - ref) / tol);
    }
    cr_log_info("swiglu avx512: worst error / bound %.3f", worst);
    cr_assert(worst <= 1, "swiglu: error %.3f x its bound", worst);
}
