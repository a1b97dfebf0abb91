/* Unit tests of KIVI's packed-code attention kernels (lib/kvcache/kivi_attn.c): every SIMD kernel
 * against its scalar twin on seeded random codes, scales and zero points, over shapes that reach
 * every code path (GQA tiles of 1-4 heads and more, 8/16/32-token passes, 16/32/64-token table
 * passes of 2-bit keys, 8-16-64-channel passes, group counts that are and are not powers of two,
 * value-chunk tails), the softmax of each path, and the whole store
 * (kvb_qseq_attend_multi) on each path against dequantize-then-attend in fp64.
 *
 * Tolerances, derived (tests/unit/numeric_paths.h): both twins form the same rounded terms (the
 * folded query q*s and the weights p*s are one IEEE multiply on every path) and differ only in
 * the order of the sums. A float sum of n products lies within gamma_n * sum|terms| of the exact
 * sum in any order (Higham 3.5), so two orders differ by at most 2 gamma_{n+1} (sum|code terms| +
 * sum|zero-point terms|), the +1 for the final addition of the two sums. The AVX-512 kernels run
 * where the CPU has AVX-512F (the ISA log says whether they did). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvcache/kivi_quant.h"
#include "kvcache/store.h"
#include "numeric_paths.h"

static unsigned rng = 12345u;

static float frand(void) /* [-1, 1) */
{
    rng = rng * 1103515245u + 12345u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static unsigned urand(unsigned n)
{
    rng = rng * 1103515245u + 12345u;
    return (rng >> 8) % n;
}

static void fill_words(uint32_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (urand(1u << 16) << 16) ^ urand(1u << 16);
}

static void fill_meta(kvb_half *s, kvb_half *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        s[i] = kvb_f2h(0.05f + 0.5f * (frand() + 1.0f)); /* scales > 0, zero points either sign */
        m[i] = kvb_f2h(2.0f * frand());
    }
}

/* The SIMD kernel sets this CPU runs (avx2 always; avx512 where present), noted in the ISA log. */
static int simd_paths(const kvb_kivi_kernels **out, const char *kernel)
{
    int n = 0;
    out[n++] = &kvb_kivi_avx2;
    test_isa_note("avx2", kernel, 1);
    const int has512 = kvb_kivi_has_avx512();
    test_isa_note("avx512", kernel, has512);
    if (has512)
        out[n++] = &kvb_kivi_avx512;
    return n;
}

/* ---- keys ------------------------------------------------------------------------------------ */

static void check_keys(int bits, int G, int D, int nq, int nb)
{
    const kvb_kivi_kernels *paths[2];
    const int np = simd_paths(paths, "kivi_keys");
    const int wpc = G * bits / 32;
    const size_t wpb = (size_t)D * wpc, T = (size_t)nb * G;
    const size_t qst = (size_t)D + 3, ost = T + 5; /* strides that are not the packed ones */
    uint32_t *w = malloc(sizeof(uint32_t) * wpb * nb);
    kvb_half *s = malloc(sizeof(kvb_half) * D * nb), *m = malloc(sizeof(kvb_half) * D * nb);
    float *q = malloc(sizeof(float) * qst * nq), *ref = malloc(sizeof(float) * ost * nq);
    float *got = malloc(sizeof(float) * ost * nq);
    fill_words(w, wpb * nb);
    fill_meta(s, m, (size_t)D * nb);
    for (size_t i = 0; i < qst * nq; i++)
        q[i] = 3.0f * frand();
    kvb_kivi_scalar.keys(q, nq, qst, w, s, m, nb, G, D, bits, ref, ost);
    for (int k = 0; k < np; k++) {
        memset(got, 0xff, sizeof(float) * ost * nq); /* NaN: every output must be written */
        paths[k]->keys(q, nq, qst, w, s, m, nb, G, D, bits, got, ost);
        for (int i = 0; i < nq; i++)
            for (size_t t = 0; t < T; t++) {
                const size_t b = t / G;
                double a = 0, bb = 0;
                for (int c = 0; c < D; c++) {
                    const float qc = q[i * qst + c], qs = qc * kvb_h2f(s[b * D + c]);
                    a += fabs((double)qs * kvb_kivi_code(w + b * wpb + (size_t)c * wpc, (int)(t % G), bits));
                    bb += fabs((double)qc * kvb_h2f(m[b * D + c]));
                }
                const double tol = 2 * gamma_f32(D + 1) * (a + bb);
                cr_assert(fabs((double)got[i * ost + t] - ref[i * ost + t]) <= tol,
                          "%s keys bits %d G %d D %d nq %d: head %d token %zu: %.9g vs scalar %.9g "
                          "(bound %.3g)", paths[k]->isa, bits, G, D, nq, i, t, got[i * ost + t],
                          ref[i * ost + t], tol);
            }
    }
    free(w), free(s), free(m), free(q), free(ref), free(got);
}

Test(kivi_kernels, keys_match_scalar_twin)
{
    static const int shapes[][3] = {
        /* bits, G, D: G 32 (16-token passes), 64/128 (32-token passes), 8 and 24 (8-token tail,
         * 4 bits), D 32..128 and 48, 96 */
        { 2, 32, 64 }, { 4, 32, 64 }, { 2, 16, 32 }, { 4, 8, 48 }, { 4, 24, 48 },
        { 2, 64, 128 }, { 4, 128, 128 }, { 2, 32, 96 }, { 4, 16, 16 },
    };
    for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++)
        for (int nq = 1; nq <= 9; nq += (nq < 5 ? 1 : 4)) /* 1..5 and 9: tiles of 4 and a rest */
            check_keys(shapes[k][0], shapes[k][1], shapes[k][2], nq, 1 + (int)(k % 3));
}

/* ---- values ---------------------------------------------------------------------------------- */

static void check_values(int bits, int G, int D, int nq, int n)
{
    const kvb_kivi_kernels *paths[2];
    const int np = simd_paths(paths, "kivi_values");
    const int wpt = D * bits / 32, ng = D / G;
    const size_t pst = (size_t)n + 7, ost = (size_t)D + 5;
    const size_t nn = n > 0 ? (size_t)n : 1;
    uint32_t *w = malloc(sizeof(uint32_t) * nn * wpt);
    kvb_half *s = malloc(sizeof(kvb_half) * nn * ng), *m = malloc(sizeof(kvb_half) * nn * ng);
    float *p = malloc(sizeof(float) * pst * nq), *ref = malloc(sizeof(float) * ost * nq);
    float *got = malloc(sizeof(float) * ost * nq);
    fill_words(w, (size_t)n * wpt);
    fill_meta(s, m, (size_t)n * ng);
    for (size_t i = 0; i < pst * nq; i++)
        p[i] = (frand() + 1.0f) / (float)(n + 1); /* probabilities' scale */
    kvb_kivi_scalar.values(p, pst, nq, w, s, m, n, D, G, bits, ref, ost);
    for (int k = 0; k < np; k++) {
        memset(got, 0xff, sizeof(float) * ost * nq);
        paths[k]->values(p, pst, nq, w, s, m, n, D, G, bits, got, ost);
        for (int i = 0; i < nq; i++)
            for (int d = 0; d < D; d++) {
                double a = 0, b = 0;
                for (int t = 0; t < n; t++) {
                    const float pt = p[i * pst + t], wt = pt * kvb_h2f(s[(size_t)t * ng + d / G]);
                    a += fabs((double)wt * kvb_kivi_code(w + (size_t)t * wpt, d, bits));
                    b += fabs((double)pt * kvb_h2f(m[(size_t)t * ng + d / G]));
                }
                const double tol = 2 * gamma_f32(n + 1) * (a + b);
                cr_assert(fabs((double)got[i * ost + d] - ref[i * ost + d]) <= tol,
                          "%s values bits %d G %d D %d nq %d n %d: head %d channel %d: %.9g vs "
                          "scalar %.9g (bound %.3g)", paths[k]->isa, bits, G, D, nq, n, i, d,
                          got[i * ost + d], ref[i * ost + d], tol);
            }
    }
    free(w), free(s), free(m), free(p), free(ref), free(got);
}

Test(kivi_kernels, values_match_scalar_twin)
{
    static const int shapes[][3] = {
        /* bits, G, D: groups per token 2 (D 64, G 32), 1, 4, 8 (vector weights), 3 and 16
         * (scalar weights), G 8 (AVX-512 falls back to AVX2), D 48 (an 8-channel pass) */
        { 2, 32, 64 }, { 4, 32, 64 }, { 2, 64, 64 }, { 4, 16, 64 }, { 2, 16, 128 },
        { 2, 32, 96 }, { 4, 8, 128 }, { 4, 8, 48 }, { 4, 16, 48 },
    };
    static const int lengths[] = { 0, 1, 15, 16, 17, 31, 32, 33, 100, 1000 }; /* chunks of 32 */
    for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++)
        for (size_t l = 0; l < sizeof(lengths) / sizeof(lengths[0]); l++)
            for (int nq = 1; nq <= 9; nq += (nq < 5 ? 1 : 4))
                check_values(shapes[k][0], shapes[k][1], shapes[k][2], nq, lengths[l]);
}

/* ---- softmax --------------------------------------------------------------------------------- */

/* Each path's exponentials against exp in fp64 of the same float argument (fl(fl(x s) - fl(max s)),
 * what every path computes): core/simd.h's exp is ~2 ulp, bound 4 ulp (2^-21 relative); the
 * AVX-512 ones bit for bit equal to the AVX2 baseline's (the same operations lane by lane); the
 * returned sum of n positive terms within gamma_n of the exact sum (Higham 3.5). */
static void check_softmax(const kvb_kivi_kernels *k, int n, float scale)
{
    float *x = malloc(sizeof(float) * (size_t)n), *e = malloc(sizeof(float) * (size_t)n);
    float *base = malloc(sizeof(float) * (size_t)n);
    for (int t = 0; t < n; t++)
        x[t] = 40.0f * frand(); /* exponents down to ~ -10 at scale 1/8: no underflow */
    float mx = x[0];
    for (int t = 1; t < n; t++)
        mx = x[t] > mx ? x[t] : mx;
    memcpy(e, x, sizeof(float) * (size_t)n);
    memcpy(base, x, sizeof(float) * (size_t)n);
    const float sum = k->softmax(e, n, scale);
    kvb_kivi_avx2.softmax(base, n, scale);
    double exact = 0;
    for (int t = 0; t < n; t++) {
        const float arg = x[t] * scale - mx * scale;
        const double ref = exp((double)arg);
        exact += e[t];
        cr_assert(fabs(e[t] - ref) <= ldexp(ref, -21), "%s softmax n %d: e[%d] %.9g vs exp %.9g",
                  k->isa, n, t, e[t], ref);
        cr_assert(e[t] == base[t], "%s softmax n %d: e[%d] %.9g vs avx2 %.9g", k->isa, n, t, e[t],
                  base[t]);
    }
    cr_assert(fabs(sum - exact) <= gamma_f32(n) * exact, "%s softmax n %d: sum %.9g vs %.9g",
              k->isa, n, sum, exact);
    free(x), free(e), free(base);
}

Test(kivi_kernels, softmax_exps_equal_on_every_path)
{
    static const int lengths[] = { 1, 5, 15, 16, 17, 100, 1000 };
    const kvb_kivi_kernels *paths[3] = { &kvb_kivi_scalar };
    const int np = 1 + simd_paths(paths + 1, "kivi_softmax");
    for (int p = 0; p < np; p++)
        for (size_t l = 0; l < sizeof(lengths) / sizeof(lengths[0]); l++) {
            check_softmax(paths[p], lengths[l], 0.125f);
            check_softmax(paths[p], lengths[l], 1.0f / sqrtf(96.0f));
        }
}

/* ---- the store on every path: fused attention vs dequantize-then-attend in fp64 ------------- */

/* out(nq, D) of fp64 attention over the store's tokens: keys and values dequantized where they are
 * quantized, fp16 where they are in the residual. */
static void attend_fp64(const kvb_qseq *s, const float *q, int nq, double *out)
{
    const int D = s->D, G = s->G, b = s->bits, T = s->nkq + s->nkr, ng = D / G;
    const size_t wpb = (size_t)D * G * b / 32, wpt = (size_t)D * b / 32;
    float *k = malloc(sizeof(float) * (size_t)(T + G) * D), *v = malloc(sizeof(float) * D);
    double *lg = malloc(sizeof(double) * T);
    for (int blk = 0; blk < s->nkq / G; blk++)
        kvb_kivi_dequant_keys(s->kw + blk * wpb, s->ks + (size_t)blk * D, s->km + (size_t)blk * D,
                              G, D, b, k + (size_t)blk * G * D);
    for (int t = 0; t < s->nkr; t++)
        for (int c = 0; c < D; c++)
            k[(size_t)(s->nkq + t) * D + c] = kvb_h2f(s->kr[(size_t)t * D + c]);
    for (int i = 0; i < nq; i++) {
        double mx = -INFINITY, sum = 0;
        for (int t = 0; t < T; t++) {
            double dot = 0;
            for (int c = 0; c < D; c++)
                dot += (double)q[i * D + c] * k[(size_t)t * D + c];
            lg[t] = dot / sqrt((double)D);
            mx = fmax(mx, lg[t]);
        }
        for (int t = 0; t < T; t++)
            sum += exp(lg[t] - mx);
        for (int d = 0; d < D; d++)
            out[i * D + d] = 0;
        for (int t = 0; t < T; t++) {
            if (t < s->nvq)
                kvb_kivi_dequant_value(s->vw + t * wpt, s->vs + (size_t)t * ng,
                                       s->vm + (size_t)t * ng, D, G, b, v);
            else
                for (int d = 0; d < D; d++)
                    v[d] = kvb_h2f(s->vr[(size_t)(t - s->nvq) * D + d]);
            for (int d = 0; d < D; d++)
                out[i * D + d] += exp(lg[t] - mx) / sum * v[d];
        }
    }
    free(k), free(v), free(lg);
}

Test(kivi_kernels, store_attention_on_every_path)
{
    /* The existing fused-vs-dequantized tolerance of test_kvcache_kivi.c, 2e-5 (1 + |ref|): f32
     * sums of a few hundred terms (scores, softmax, values) against fp64. Measured worst case on
     * these shapes: ~1e-7 on every path. */
    enum { T = 600 };
    static const int shapes[][4] = { { 2, 32, 64, 3 }, { 4, 32, 64, 3 }, { 2, 16, 128, 4 },
                                     { 4, 8, 48, 1 }, { 2, 32, 96, 5 } };
    const kvb_kivi_kernels *paths[3] = { &kvb_kivi_scalar };
    const int np = 1 + simd_paths(paths + 1, "kivi_store");
    for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
        const int bits = shapes[k][0], G = shapes[k][1], D = shapes[k][2], nq = shapes[k][3];
        kvb_half *kh = malloc(sizeof(kvb_half) * T * D), *vh = malloc(sizeof(kvb_half) * T * D);
        for (int i = 0; i < T * D; i++) {
            kh[i] = kvb_f2h(2.0f * frand() + 0.5f * (float)(i % D) / D);
            vh[i] = kvb_f2h(frand());
        }
        float q[5 * 128], out[5 * 128], kf[128], vf[128];
        double ref[5 * 128];
        for (int i = 0; i < nq * D; i++)
            q[i] = frand();
        kvb_qseq s;
        cr_assert_eq(kvb_qseq_init(&s, D, bits, G, 32, T + 40), 0);
        kvb_qseq_prefill(&s, kh, vh, D, T - 20); /* then 20 decode appends: both residuals used */
        for (int t = T - 20; t < T; t++) {
            kvb_h2f_row(kf, kh + (size_t)t * D, D);
            kvb_h2f_row(vf, vh + (size_t)t * D, D);
            cr_assert_eq(kvb_qseq_append(&s, kf, vf), 0);
        }
        attend_fp64(&s, q, nq, ref);
        float *scores = malloc(sizeof(float) * (size_t)nq * (T + 1));
        for (int p = 0; p < np; p++) {
            s.kern = paths[p];
            kvb_qseq_attend_multi(&s, q, nq, out, scores, T + 1);
            for (int i = 0; i < nq * D; i++)
                cr_assert(fabs(out[i] - ref[i]) <= 2e-5 * (1 + fabs(ref[i])),
                          "%s store bits %d G %d D %d: out[%d] %.9g vs fp64 %.9g", paths[p]->isa,
                          bits, G, D, i, out[i], ref[i]);
        }
        kvb_qseq_release(&s);
        free(kh), free(vh), free(scores);
    }
}

Test(kivi_kernels, pick_honours_the_override)
{
    cr_assert_eq(kvb_kivi_kernels_pick("scalar"), &kvb_kivi_scalar);
    cr_assert_eq(kvb_kivi_kernels_pick("avx2"), &kvb_kivi_avx2);
    cr_assert_eq(kvb_kivi_kernels_pick(NULL),
                 kvb_kivi_has_avx512() ? &kvb_kivi_avx512 : &kvb_kivi_avx2);
    cr_assert_eq(kvb_kivi_kernels_pick("avx512"), kvb_kivi_kernels_pick(NULL));
}
