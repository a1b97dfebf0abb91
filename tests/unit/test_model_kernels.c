/* Model kernels against plain references: GEMV per ISA (scalar / AVX2 / AVX-512 where the CPU has
 * it), the prefill GEMM with bf16 and f32 weights, bf16 rounding, RMSNorm, GGUF dequantization. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/simd.h"
#include "model/model_impl.h"
#include "numeric_paths.h"

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 9) & 0xffff) / 32768.0f - 1.0f;
}

static kvb_wt make_wt(int rows, int cols, int bf16, unsigned seed)
{
    kvb_wt w = { .type = bf16 ? KVB_WT_BF16 : KVB_WT_F32, .rows = rows, .cols = cols };
    w.owned = malloc((size_t)rows * cols * (bf16 ? 2 : 4));
    for (size_t i = 0; i < (size_t)rows * cols; i++) {
        float v = frand(&seed);
        if (bf16)
            ((uint16_t *)w.owned)[i] = kvb_f32_to_bf16(v);
        else
            ((float *)w.owned)[i] = v;
    }
    w.data = w.owned;
    return w;
}

/* double-precision reference of row r; *abs_sum gets sum |w_i x_i| for the rounding bound */
static double ref_dot_abs(const kvb_wt *w, const float *x, int r, double *abs_sum)
{
    float row[2048];
    kvb_wt_row(w, r, row);
    double s = 0, a = 0;
    for (int i = 0; i < w->cols; i++) {
        s += (double)row[i] * x[i];
        a += fabs((double)row[i] * x[i]);
    }
    if (abs_sum)
        *abs_sum = a;
    return s;
}

static double ref_dot(const kvb_wt *w, const float *x, int r)
{
    return ref_dot_abs(w, x, r, NULL);
}

/* y = W x on the kernel `isa` selects; every row within the derived bound gamma_cols * sum |w x|
 * of the exact dot (bf16 weights widen to f32 exactly, so the only error is f32 summation). */
static void gemv_case(const char *isa, int bf16, float *y)
{
    /* odd sizes: row and column tails */
    kvb_wt w = make_wt(37, 1000, bf16, 5);
    kvb_wt_bind(&w, kvb_isa_parse(isa));
    float x[1000];
    unsigned s = 9;
    for (int i = 0; i < 1000; i++)
        x[i] = frand(&s);
    kvb_gemv(&w, x, y, 0, 37);
    for (int r = 0; r < 37; r++) {
        double abs_sum, ref = ref_dot_abs(&w, x, r, &abs_sum);
        double tol = gamma_f32(w.cols) * abs_sum;
        cr_assert(fabs(y[r] - ref) <= tol, "%s bf16=%d row %d: %g vs %g (bound %g)", isa, bf16, r,
                  y[r], ref, tol);
    }
    free(w.owned);
}

Test(kernels, gemv_scalar)
{
    float y[37];
    gemv_case("scalar", 1, y);
    gemv_case("scalar", 0, y);
    test_isa_note("scalar", "gemv_bf16+f32", 1);
}

Test(kernels, gemv_avx2)
{
    float y[37];
    gemv_case("avx2", 1, y);
    gemv_case("avx2", 0, y);
    test_isa_note("avx2", "gemv_bf16+f32", 1);
}

/* The AVX-512 bf16 GEMV against its scalar twin (kvb_gemv_ref): each is within gamma_n sum|w x|
 * of the exact dot, so they are within twice that of each other. Runs wherever the CPU has
 * AVX-512F+BW; elsewhere it says so (and the summary of `make test` lists it as not run). */
Test(kernels, gemv_avx512_twin)
{
    if (!cpu_has_avx512()) {
        test_isa_note("avx512", "gemv_bf16", 0);
        cr_log_warn("avx512: not on this CPU, the AVX-512 GEMV was not tested");
        return;
    }
    float y512[37], yref[37];
    kvb_wt probe = make_wt(1, 32, 1, 1);
    cr_assert_eq(kvb_wt_bind(&probe, kvb_isa_parse("avx512")), KVB_ISA_AVX512,
                 "the AVX-512 kernel was not selected");
    free(probe.owned);
    gemv_case("avx512", 1, y512);
    gemv_case("scalar", 1, yref);
    kvb_wt w = make_wt(37, 1000, 1, 5);
    float x[1000];
    unsigned s = 9;
    for (int i = 0; i < 1000; i++)
        x[i] = frand(&s);
    int differ = 0;
    for (int r = 0; r < 37; r++) {
        double abs_sum;
        ref_dot_abs(&w, x, r, &abs_sum);
        cr_assert(fabs(y512[r] - yref[r]) <= 2 * gamma_f32(w.cols) * abs_sum,
                  "row %d: avx512 %g vs scalar %g", r, y512[r], yref[r]);
        differ += y512[r] != yref[r];
    }
    free(w.owned);
    test_isa_note("avx512", "gemv_bf16", 1);
    cr_log_info("avx512 GEMV vs scalar twin: %d of 37 rows differ in the last bits", differ);
}

Test(kernels, gemm_rows)
{
    for (int bf16 = 0; bf16 < 2; bf16++) {
        kvb_wt w = make_wt(150, 70, bf16, 3);
        int n = 5;
        float a[5 * 70], c[5 * 150];
        unsigned s = 11;
        for (int i = 0; i < n * 70; i++)
            a[i] = frand(&s);
        float *wbuf = malloc(sizeof(float) * KVB_GEMM_NC * 70);
        memset(c, 0, sizeof(c));
        kvb_gemm_rows(&w, a, n, c, 150, 0, 100, wbuf);
        kvb_gemm_rows(&w, a, n, c, 150, 100, 150, wbuf);
        /* any OpenBLAS blocking is one order of summation: the gamma_k bound holds */
        for (int i = 0; i < n; i++)
            for (int r = 0; r < 150; r++) {
                double abs_sum, ref = ref_dot_abs(&w, a + i * 70, r, &abs_sum);
                cr_assert(fabs(c[i * 150 + r] - ref) <= gamma_f32(70) * abs_sum);
            }
        free(wbuf);
        free(w.owned);
    }
}

Test(kernels, bf16_round_to_nearest_even)
{
    cr_assert_eq(kvb_f32_to_bf16(1.0f), 0x3f80);
    /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0) */
    cr_assert_eq(kvb_f32_to_bf16(1.00390625f), 0x3f80);
    /* 1 + 3*2^-8: halfway, rounds up to the even 1 + 2^-6 */
    cr_assert_eq(kvb_f32_to_bf16(1.01171875f), 0x3f82);
    cr_assert_eq(kvb_bf16_to_f32(0xc000), -2.0f);
    cr_assert(isnan(kvb_bf16_to_f32(kvb_f32_to_bf16(NAN))));
}

Test(kernels, rmsnorm)
{
    float x[19], w[19], o[19];
    double ss = 0;
    for (int i = 0; i < 19; i++) {
        x[i] = (float)(i - 7);
        w[i] = 0.5f + 0.1f * i;
        ss += x[i] * x[i];
    }
    kvb_rmsnorm(o, x, w, 19, 1e-5f);
    double r = 1.0 / sqrt(ss / 19 + (double)1e-5f);
    /* relative error: gamma_19 in the sum of squares (positive terms), halved by the square root,
     * plus one rounding each for / n, + eps, sqrt, 1 / ., x * r and w * (.): gamma_19 / 2 + 6u */
    double rel = gamma_f32(19) / 2 + 6 * ldexp(1.0, -24);
    for (int i = 0; i < 19; i++) {
        double want = w[i] * x[i] * r;
        cr_assert(fabs(o[i] - want) <= rel * fabs(want), "%d: %g vs %g", i, o[i], want);
    }
}

/* GGUF blocks written by hand: Q8_0 (f16 scale + 32 int8), Q4_0 (f16 scale + 16 bytes, value
 * (q - 8) * d, low nibbles are elements 0..15), Q4_1 (f16 d, f16 m, value q * d + m). */
Test(kernels, gguf_dequantize)
{
    unsigned char q8[34];
    uint16_t h = 0x3800; /* 0.5 in f16 */
    memcpy(q8, &h, 2);
    for (int i = 0; i < 32; i++)
        q8[2 + i] = (unsigned char)(int8_t)(i - 16);
    float out[32];
    cr_assert_eq(kvb_ggml_dequantize(KVB_GGML_Q8_0, q8, out, 32), 0);
    for (int i = 0; i < 32; i++)
        cr_assert_eq(out[i], 0.5f * (i - 16));
    unsigned char q4[18];
    memcpy(q4, &h, 2);
    for (int i = 0; i < 16; i++)
        q4[2 + i] = (unsigned char)((i & 15) | ((15 - i) << 4));
    cr_assert_eq(kvb_ggml_dequantize(KVB_GGML_Q4_0, q4, out, 32), 0);
    for (int i = 0; i < 16; i++) {
        cr_assert_eq(out[i], 0.5f * (i - 8));
        cr_assert_eq(out[16 + i], 0.5f * (15 - i - 8));
    }
    unsigned char q41[20];
    uint16_t m = 0xbc00; /* -1.0 */
    memcpy(q41, &h, 2);
    memcpy(q41 + 2, &m, 2);
    for (int i = 0; i < 16; i++)
        q41[4 + i] = (unsigned char)((i & 15) | ((15 - i) << 4));
    cr_assert_eq(kvb_ggml_dequantize(KVB_GGML_Q4_1, q41, out, 32), 0);
    for (int i = 0; i < 16; i++) {
        cr_assert_eq(out[i], 0.5f * i - 1.0f);
        cr_assert_eq(out[16 + i], 0.5f * (15 - i) - 1.0f);
    }
}

/* Quantized GGUF rows (--weights gguf-q8) meet 8-bit activations, one scale per group of 4
 * (lib/model/kernels_q8.c). Both bounds are derived, per row, from the terms the kernels sum:
 *  - group g of block b contributes d_b d_g sum_{j in g} q_j qx_j (+ m_b sx_b per block for
 *    Q4_1): integer sums are exact, each f32 term takes at most 3 roundings, and the 9 nb terms
 *    are summed in f32 in any order, so each kernel is within (gamma_9nb + 3u) T of the exact
 *    quantized dot, where T = sum_j (|w_j - m_b| + |m_b|) |xq_j| bounds the terms' magnitudes;
 *    AVX2 vs its scalar twin: twice that;
 *  - against the f32 dot of dequantized weights: rounding moves each x_j by at most
 *    h_g = max_g|x| / 254, so |error| <= sum_g h_g sum_{j in g} |w_j| on top of the above. */
static void quant_case(enum kvb_wt_type type, int rows, int cols, int with_tail)
{
    int bb = type == KVB_WT_Q4_1 ? 20 : 34, nb = cols / 32;
    unsigned char *blocks = malloc((size_t)rows * nb * bb);
    unsigned s = 21;
    for (int i = 0; i < rows * nb; i++) {
        unsigned char *b = blocks + (size_t)i * bb;
        uint16_t d = 0x2e66 + (uint16_t)(i % 7), m = 0xae00 + (uint16_t)(i % 5); /* ~0.1, ~-0.09 */
        memcpy(b, &d, 2);
        if (type == KVB_WT_Q4_1)
            memcpy(b + 2, &m, 2);
        for (int k = type == KVB_WT_Q4_1 ? 4 : 2; k < bb; k++)
            b[k] = (unsigned char)(frand(&s) * 127);
        if (type == KVB_WT_Q8_0) /* zero weights meet the outlier group (elements 4..7), so */
            memset(b + 2 + 4, 0, 4); /* only a per-group scale meets the bound of the others */
        if (type == KVB_WT_Q8_0 && i == 0)
            b[2] = 0x80; /* -128: the one code whose |w| needs the unsigned operand */
    }
    kvb_wt w = { .type = type, .rows = rows, .cols = cols, .data = blocks, .act_q8 = 1 };
    float *x = malloc(sizeof(float) * cols), *y = malloc(sizeof(float) * rows);
    float *ref = malloc(sizeof(float) * rows), *row = malloc(sizeof(float) * cols);
    for (int i = 0; i < cols; i++)
        x[i] = frand(&s) * (i % 32 == 5 ? 100.0f : 1.0f); /* an outlier per block: one scale per
                                                            * 32 would break the group bound */
    if (with_tail)
        for (int i = 32; i < 64; i++)
            x[i] = 0; /* an all-zero block: scale 0, no division by zero */
    cr_assert_eq(kvb_wt_bind(&w, KVB_ISA_AVX2), KVB_ISA_AVX2);
    kvb_gemv(&w, x, y, 0, rows);
    kvb_wt_bind(&w, KVB_ISA_SCALAR);
    kvb_gemv(&w, x, ref, 0, rows);
    const double u = ldexp(1.0, -24), f32_rel = gamma_f32(9 * nb) + 3 * u;
    int moved = 0;
    for (int r = 0; r < rows; r++) {
        kvb_wt_row(&w, r, row);
        double terms = 0, act = 0;
        for (int b = 0; b < nb; b++) {
            const unsigned char *blk = blocks + ((size_t)r * nb + b) * bb;
            double m = type == KVB_WT_Q4_1 ? kvb_f16_at(blk + 2) : 0;
            for (int g = b * 32; g < b * 32 + 32; g += 4) {
                double h = fmax(fmax(fabs(x[g]), fabs(x[g + 1])),
                                fmax(fabs(x[g + 2]), fabs(x[g + 3]))) / 254;
                for (int j = g; j < g + 4; j++) {
                    terms += (fabs(row[j] - m) + fabs(m)) * (fabs(x[j]) + h);
                    act += h * fabs(row[j]);
                }
            }
        }
        cr_assert(fabs(y[r] - ref[r]) <= 2 * f32_rel * terms, "type %d row %d: avx2 %g vs scalar %g",
                  type, r, y[r], ref[r]);
        double exact = ref_dot(&w, x, r), bound = act + f32_rel * terms;
        cr_assert(fabs(ref[r] - exact) <= bound, "type %d row %d: %g vs f32 %g (bound %g)", type,
                  r, ref[r], exact, bound);
        moved += fabs(ref[r] - exact) > 1e-6 * (1 + fabs(exact));
    }
    /* the activations really are quantized (a route back to f32 activations would fail here) */
    cr_assert(moved > 0, "type %d: every row equals the f32 dot", type);
    test_isa_note("avx2", type == KVB_WT_Q4_1 ? "gemv_q4_1_q8" : "gemv_q8_0_q8", 1);
    free(blocks);
    free(x);
    free(y);
    free(ref);
    free(row);
}

/* Kernel choice: each weight gets its kernel at bind time from its type and the ISA; nothing
 * global, so two weights bound to different ISAs coexist (threads only read them). */
Test(kernels, bind_per_weight)
{
    kvb_wt a = make_wt(4, 64, 1, 1), b = make_wt(4, 64, 1, 1), f = make_wt(4, 64, 0, 1);
    cr_assert_eq(kvb_wt_bind(&a, KVB_ISA_SCALAR), KVB_ISA_SCALAR);
    cr_assert_eq(a.gemv, kvb_gemv_ref);
    cr_assert_eq(kvb_wt_bind(&b, kvb_isa_parse("avx2")), KVB_ISA_AVX2);
    cr_assert_eq(a.gemv, kvb_gemv_ref, "binding b changed a");
    /* no AVX-512 kernel for f32 rows: the AVX2 one, and the weight says so */
    cr_assert_eq(kvb_wt_bind(&f, KVB_ISA_AVX512), KVB_ISA_AVX2);
    cr_assert_str_eq(kvb_isa_name(f.isa), "avx2");
    /* never above the CPU; unknown names and NULL mean the best */
    cr_assert_eq(kvb_isa_parse("avx512"), kvb_isa_best());
    cr_assert_eq(kvb_isa_parse(NULL), kvb_isa_best());
    cr_assert_eq(kvb_isa_parse("scalar"), KVB_ISA_SCALAR);
    free(a.owned), free(b.owned), free(f.owned);
}

/* The model binds its weights for $KVBENCH_ISA, read once when it opens: under `make test-alt`
 * (KVBENCH_ISA=scalar) every GEMV of the model is the scalar one, and info reports it. */
Test(kernels, model_binds_env_isa)
{
    const char *env = getenv("KVBENCH_ISA");
    kvb_model *m = NULL;
    kvb_error e = { 0 };
    kvb_model_opts o = { .threads = 1, .weights_bf16 = 1 }; /* a tiny bf16 Llama (fixture) */
    cr_assert_eq(kvb_model_open(&m, "tests/fixtures/model/llama3/bf16", &o, &e), 0, "%s", e.msg);
    enum kvb_isa want = kvb_isa_parse(env);
    kvb_model_info in;
    kvb_model_get_info(m, &in);
    cr_assert_str_eq(in.isa, kvb_isa_name(want), "KVBENCH_ISA=%s", env ? env : "(unset)");
    const kvb_layer_w *L = &m->layers[0];
    cr_assert_eq(L->wq.isa, want);
    cr_assert_eq(m->lm_head.isa, want);
    if (want == KVB_ISA_SCALAR) {
        cr_assert_eq(L->w_down.gemv, kvb_gemv_ref, "KVBENCH_ISA=scalar did not bind the scalar GEMV");
        cr_log_info("KVBENCH_ISA=scalar: model GEMVs bound to %s", in.isa);
    }
    kvb_model_free(m);
}

Test(kernels, gemv_q4_1) { quant_case(KVB_WT_Q4_1, 7, 96, 0); quant_case(KVB_WT_Q4_1, 9, 576, 1); }
Test(kernels, gemv_q8_0) { quant_case(KVB_WT_Q8_0, 7, 96, 0); quant_case(KVB_WT_Q8_0, 9, 576, 1); }

/* The exact GGUF-block GEMVs (--weights gguf: f32 activations) against their scalar twin
 * (kvb_gemv_ref: dequantize, then an f32 dot) and the exact dot. Derivation of the bound: the
 * kernel evaluates sum_b d_b sum_j q_j x_j (+ m_b X_b for Q4_1) in f32; every exact term
 * d_b q_j x_j or m_b x_j passes through at most nb + 9 roundings (the product, 3 adds of a lane's
 * 4 terms, the FMA into the row accumulator, nb - 1 further blocks, 3 of the horizontal sum, the
 * final add; X_b: 7), so the error is within gamma_(nb + 9) T, T = sum_j (|d_b| q_j + |m_b|) |x_j|
 * (Higham 3.5). The twin rounds w = q d + m twice and sums cols terms: gamma_(cols + 2) T. A row
 * must also come out bit-identical whether it is done in a pass of KVB_GEMV_ROWS rows or alone
 * (the thread split changes that grouping). */
static void exact_blocks_case(enum kvb_wt_type type, int rows, int cols)
{
    int bb = type == KVB_WT_Q4_1 ? 20 : 34, nb = cols / 32;
    unsigned char *blocks = malloc((size_t)rows * nb * bb);
    unsigned s = 77;
    for (int i = 0; i < rows * nb; i++) {
        unsigned char *b = blocks + (size_t)i * bb;
        uint16_t d = 0x2e66 + (uint16_t)(i % 7), m = 0xae00 + (uint16_t)(i % 5);
        memcpy(b, &d, 2);
        if (type == KVB_WT_Q4_1)
            memcpy(b + 2, &m, 2);
        for (int k = type == KVB_WT_Q4_1 ? 4 : 2; k < bb; k++)
            b[k] = (unsigned char)(frand(&s) * 127);
    }
    kvb_wt w = { .type = type, .rows = rows, .cols = cols, .data = blocks };
    float *x = malloc(sizeof(float) * cols), *y = malloc(sizeof(float) * rows);
    float *y1 = malloc(sizeof(float) * rows), *ref = malloc(sizeof(float) * rows);
    for (int i = 0; i < cols; i++)
        x[i] = frand(&s) * (i % 29 == 3 ? 50.0f : 1.0f);
    cr_assert_eq(kvb_wt_bind(&w, KVB_ISA_AVX2), KVB_ISA_AVX2);
    kvb_gemv(&w, x, y, 0, rows);
    for (int r = 0; r < rows; r++) /* one row at a time: the tail path */
        kvb_gemv(&w, x, y1, r, r + 1);
    kvb_wt_bind(&w, KVB_ISA_SCALAR);
    cr_assert_eq(w.gemv, kvb_gemv_ref);
    kvb_gemv(&w, x, ref, 0, rows);
    for (int r = 0; r < rows; r++) {
        double exact = 0, T = 0;
        for (int b = 0; b < nb; b++) {
            const unsigned char *blk = blocks + ((size_t)r * nb + b) * bb;
            double d = kvb_f16_at(blk), m = type == KVB_WT_Q4_1 ? kvb_f16_at(blk + 2) : 0;
            for (int j = 0; j < 32; j++) {
                int q = type == KVB_WT_Q4_1 ? (j < 16 ? blk[4 + j] & 15 : blk[4 + j - 16] >> 4)
                                            : (int8_t)blk[2 + j];
                double xj = x[b * 32 + j];
                exact += (d * q + m) * xj;
                T += (fabs(d) * abs(q) + fabs(m)) * fabs(xj);
            }
        }
        cr_assert(fabs(y[r] - exact) <= gamma_f32(nb + 9) * T, "type %d row %d: %.9g vs exact %.9g",
                  type, r, y[r], exact);
        cr_assert(fabs(ref[r] - exact) <= gamma_f32(cols + 2) * T, "type %d row %d: twin %.9g vs "
                  "exact %.9g", type, r, ref[r], exact);
        cr_assert(y1[r] == y[r], "type %d row %d: alone %.9g, in a pass %.9g", type, r, y1[r], y[r]);
    }
    test_isa_note("avx2", type == KVB_WT_Q4_1 ? "gemv_q4_1" : "gemv_q8_0", 1);
    free(blocks), free(x), free(y), free(y1), free(ref);
}

Test(kernels, gemv_q4_1_exact) { exact_blocks_case(KVB_WT_Q4_1, 11, 96); exact_blocks_case(KVB_WT_Q4_1, 9, 1536); }
Test(kernels, gemv_q8_0_exact) { exact_blocks_case(KVB_WT_Q8_0, 11, 96); exact_blocks_case(KVB_WT_Q8_0, 9, 1536); }
