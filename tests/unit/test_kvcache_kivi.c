/* Unit tests of KIVI (lib/kvcache/kivi_quant.c, store.c): codes, scales and zero points
 * bit-identical to the numpy float16 oracle (tests/fixtures/kvcache/kivi.json, made by
 * scripts/oracle/kvcache_fixtures.py), fused attention against dequantize-then-attend, and the
 * residual flushing rules of spec C.2.
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
#include "kvcache/kivi_quant.h"
#include "kvcache/store.h"

static cJSON *load(const char *path)
{
    cJSON *j = NULL;
    kvb_error e;
    cr_assert_eq(kvb_json_load(path, 64u << 20, &j, &e), 0, "%s", e.msg);
    return j;
}

static long num(const cJSON *a, int i)
{
    return (long)cJSON_GetArrayItem(a, i)->valuedouble;
}

/* Spec D.17: 4-bit group [0..31]: mn 0, scale fp16(31/15), x = 16 -> code 8 -> 16.53 */
Test(kvcache_kivi, spec_example_group)
{
    kvb_half x[32];
    uint8_t codes[32];
    kvb_half s, m;
    for (int i = 0; i < 32; i++)
        x[i] = kvb_f2h((float)i);
    kvb_kivi_quant_group(x, 32, 1, 4, codes, &s, &m);
    cr_assert_float_eq(kvb_h2f(m), 0.0f, 0);
    cr_assert_float_eq(kvb_h2f(s), 2.0664062f, 1e-7);
    cr_assert_eq(codes[16], 8);
    cr_assert_float_eq(codes[16] * kvb_h2f(s) + kvb_h2f(m), 16.53125f, 1e-4);
    cr_assert_eq(codes[31], 15);
    cr_assert_eq(codes[0], 0);
    uint32_t w[4];
    kvb_kivi_pack(codes, 32, 4, w);
    for (int i = 0; i < 32; i++)
        cr_assert_eq(kvb_kivi_code(w, i, 4), codes[i]);
    cr_assert_eq(w[0] & 0xF, codes[0]); /* little end first */
    cr_assert_eq((w[0] >> 4) & 0xF, codes[1]);
}

Test(kvcache_kivi, bit_identical_to_numpy_and_fused_attention)
{
    cJSON *j = load("tests/fixtures/kvcache/kivi.json");
    const cJSON *cases = cJSON_GetObjectItem(j, "cases");
    cr_assert_eq(cJSON_GetArraySize(cases), 2);
    for (int ci = 0; ci < 2; ci++) {
        const cJSON *c = cJSON_GetArrayItem(cases, ci);
        const int bits = cJSON_GetObjectItem(c, "bits")->valueint;
        const int G = cJSON_GetObjectItem(c, "group")->valueint;
        const int D = cJSON_GetObjectItem(c, "head_dim")->valueint;
        const int T = cJSON_GetObjectItem(c, "tokens")->valueint;
        kvb_half *k = malloc(sizeof(kvb_half) * T * D), *v = malloc(sizeof(kvb_half) * T * D);
        const cJSON *kj = cJSON_GetObjectItem(c, "keys_f16"), *vj = cJSON_GetObjectItem(c, "values_f16");
        for (int i = 0; i < T * D; i++) {
            k[i] = (kvb_half)num(kj, i);
            v[i] = (kvb_half)num(vj, i);
        }
        /* keys: per channel over groups of G tokens */
        const int wpb = D * G * bits / 32;
        uint32_t *kw = malloc(sizeof(uint32_t) * wpb * (T / G));
        kvb_half ks[1024], km[1024];
        for (int b = 0; b < T / G; b++)
            kvb_kivi_quant_keys(k + (size_t)b * G * D, D, G, D, bits, kw + b * wpb, ks + b * D,
                                km + b * D);
        const cJSON *ekw = cJSON_GetObjectItem(c, "key_words");
        cr_assert_eq(cJSON_GetArraySize(ekw), wpb * (T / G));
        for (int i = 0; i < wpb * (T / G); i++)
            cr_assert_eq(kw[i], (uint32_t)num(ekw, i), "bits %d key word %d", bits, i);
        for (int i = 0; i < D * (T / G); i++) {
            cr_assert_eq(ks[i], num(cJSON_GetObjectItem(c, "key_scale_f16"), i), "key scale %d", i);
            cr_assert_eq(km[i], num(cJSON_GetObjectItem(c, "key_mn_f16"), i), "key mn %d", i);
        }
        /* values: per token over groups of G channels */
        const int wpv = D * bits / 32, ng = D / G;
        uint32_t *vw = malloc(sizeof(uint32_t) * wpv * T);
        kvb_half *vs = malloc(sizeof(kvb_half) * ng * T), *vm = malloc(sizeof(kvb_half) * ng * T);
        for (int t = 0; t < T; t++)
            kvb_kivi_quant_value(v + (size_t)t * D, D, G, bits, vw + t * wpv, vs + t * ng,
                                 vm + t * ng);
        for (int i = 0; i < wpv * T; i++)
            cr_assert_eq(vw[i], (uint32_t)num(cJSON_GetObjectItem(c, "value_words"), i),
                         "bits %d value word %d", bits, i);
        for (int i = 0; i < ng * T; i++) {
            cr_assert_eq(vs[i], num(cJSON_GetObjectItem(c, "value_scale_f16"), i));
            cr_assert_eq(vm[i], num(cJSON_GetObjectItem(c, "value_mn_f16"), i));
        }
        /* fused attention over a store holding exactly these quantized tokens (T multiple of
         * R: keys all quantized; values: T - R quantized, R fp16) vs the oracle's
         * dequantize-then-attend of fully quantized K and V. Compare only where both quantize:
         * build a store with R = G, then quantize its fp16 values too by checking against a
         * local dequantize-then-attend of the same store layout. */
        float q[1024], out[1024], ref[1024], scores[4096];
        const cJSON *qj = cJSON_GetObjectItem(c, "q");
        for (int d = 0; d < D; d++)
            q[d] = (float)cJSON_GetArrayItem(qj, d)->valuedouble;
        /* (a) oracle: all tokens quantized, attention in fp64 */
        float *kd = malloc(sizeof(float) * T * D), vdq[1024];
        for (int b = 0; b < T / G; b++)
            kvb_kivi_dequant_keys(kw + b * wpb, ks + b * D, km + b * D, G, D, bits,
                                  kd + (size_t)b * G * D);
        double lg[4096], mx = -INFINITY, sum = 0;
        for (int t = 0; t < T; t++) {
            float sc[4096];
            kvb_kivi_kernels_pick(NULL)->keys(q, 1, (size_t)D, kw + (t / G) * wpb, ks + (t / G) * D,
                                              km + (t / G) * D, 1, G, D, bits, sc, (size_t)G);
            double dot = 0;
            for (int d = 0; d < D; d++)
                dot += (double)q[d] * kd[(size_t)t * D + d];
            /* fused key scores equal dequantize-then-dot (fp32 vs fp64 accumulation) */
            cr_assert_float_eq(sc[t % G], dot, 1e-4 * (1 + fabs(dot)));
            lg[t] = dot / sqrt((double)D);
            mx = fmax(mx, lg[t]);
        }
        for (int t = 0; t < T; t++)
            sum += exp(lg[t] - mx);
        for (int d = 0; d < D; d++)
            ref[d] = 0;
        for (int t = 0; t < T; t++) {
            kvb_kivi_dequant_value(vw + t * wpv, vs + t * ng, vm + t * ng, D, G, bits, vdq);
            for (int d = 0; d < D; d++)
                ref[d] += (float)(exp(lg[t] - mx) / sum) * vdq[d];
        }
        const cJSON *att = cJSON_GetObjectItem(c, "attention_dequantized");
        for (int d = 0; d < D; d++)
            cr_assert_float_eq(ref[d], cJSON_GetArrayItem(att, d)->valuedouble, 1e-5,
                               "oracle attention d=%d", d);
        /* (b) the store's fused attention: R = G and one more token pushes the last value
         * window out, so with T + 0 tokens: keys all quantized, values T - R quantized */
        kvb_qseq s;
        cr_assert_eq(kvb_qseq_init(&s, D, bits, G, G, T), 0);
        kvb_qseq_prefill(&s, k, v, D, T);
        cr_assert_eq(s.nkq, T);
        cr_assert_eq(s.nkr, 0);
        cr_assert_eq(s.nvq, T - G);
        cr_assert_eq(s.nvr, G);
        kvb_qseq_attend(&s, q, out, scores);
        /* reference of the same layout: quantized values except the last G in fp16 */
        for (int d = 0; d < D; d++)
            ref[d] = 0;
        for (int t = 0; t < T; t++) {
            if (t < T - G)
                kvb_kivi_dequant_value(vw + t * wpv, vs + t * ng, vm + t * ng, D, G, bits, vdq);
            else
                for (int d = 0; d < D; d++)
                    vdq[d] = kvb_h2f(v[(size_t)t * D + d]);
            for (int d = 0; d < D; d++)
                ref[d] += (float)(exp(lg[t] - mx) / sum) * vdq[d];
        }
        /* tolerance: fp32 fused accumulation vs fp64 reference over 64 tokens */
        for (int d = 0; d < D; d++)
            cr_assert_float_eq(out[d], ref[d], 2e-5 * (1 + fabsf(ref[d])), "fused d=%d", d);
        kvb_qseq_release(&s);
        free(k), free(v), free(kw), free(vw), free(vs), free(vm), free(kd);
    }
    cJSON_Delete(j);
}

/* Spec C.2: prefill T = 70, R = 32, G = 32: keys quantize 64 (residual 6), values 38 (window
 * 32); decode flushes keys 32 at a time once the residual reaches R (after that step's
 * attention), and quantizes the oldest value once the window exceeds R. */
Test(kvcache_kivi, residual_flushing_rules)
{
    enum { D = 64, T = 70, R = 32, G = 32 };
    kvb_half k[T * D], v[T * D];
    for (int i = 0; i < T * D; i++) {
        k[i] = kvb_f2h(sinf((float)i));
        v[i] = kvb_f2h(cosf((float)i));
    }
    kvb_qseq s;
    cr_assert_eq(kvb_qseq_init(&s, D, 2, G, R, T + 40), 0);
    kvb_qseq_prefill(&s, k, v, D, T);
    cr_assert_eq(s.nkq, 64);
    cr_assert_eq(s.nkr, 6);
    cr_assert_eq(s.nvq, 38);
    cr_assert_eq(s.nvr, 32);
    float kf[D], vf[D];
    for (int d = 0; d < D; d++)
        kf[d] = vf[d] = 0.5f;
    for (int step = 1; step <= 26; step++) {
        cr_assert_eq(kvb_qseq_append(&s, kf, vf), 0);
        /* after the append (before the next): key residual 6 + step, values window R + 1 */
        cr_assert_eq(s.nkr, 6 + step);
        cr_assert_eq(s.nvr, 33);
        cr_assert_eq(s.nvq, 38 + step - 1);
    }
    cr_assert_eq(s.nkr, 32); /* full; flushed on the next append */
    cr_assert_eq(kvb_qseq_append(&s, kf, vf), 0);
    cr_assert_eq(s.nkq, 96);
    cr_assert_eq(s.nkr, 1);
    cr_assert_eq(kvb_qseq_tokens(&s), T + 27);
    size_t kb, vb, mb, rb;
    kvb_qseq_bytes(&s, &kb, &vb, &mb, &rb);
    cr_assert_eq(kb, (size_t)96 * D * 2 / 8);
    cr_assert_eq(vb, (size_t)s.nvq * D * 2 / 8);
    cr_assert_eq(mb, (size_t)(96 / G * D + s.nvq * (D / G)) * 4);
    cr_assert_eq(rb, (size_t)(1 + s.nvr) * D * 2);
    /* capacity is enforced */
    while (kvb_qseq_tokens(&s) < T + 40)
        cr_assert_eq(kvb_qseq_append(&s, kf, vf), 0);
    cr_assert_eq(kvb_qseq_append(&s, kf, vf), -1);
    kvb_qseq_release(&s);
}

Test(kvcache_kivi, short_prompt_stays_fp16)
{
    enum { D = 32 };
    kvb_half k[10 * D], v[10 * D];
    for (int i = 0; i < 10 * D; i++)
        k[i] = v[i] = kvb_f2h((float)i / 100);
    kvb_qseq s;
    cr_assert_eq(kvb_qseq_init(&s, D, 4, 32, 32, 20), 0);
    kvb_qseq_prefill(&s, k, v, D, 10);
    cr_assert_eq(s.nkq + s.nvq, 0);
    cr_assert_eq(s.nkr, 10);
    cr_assert_eq(s.nvr, 10);
    kvb_qseq_release(&s);
}
