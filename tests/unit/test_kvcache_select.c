/* Unit tests of lib/kvcache/select.c: budgets (PyramidKV golden table of the spec), pooling,
 * top-k, StreamingLLM, ZigZagKV, SimLayerKV and ThinK scores, window attention.
 *
 * Tolerances: the code under test has no run-time kernel choice and no BLAS (one AVX2+FMA build for
 * every CPU), so its arithmetic is the same on every machine; `make test-alt` also runs it on one
 * thread. Each tolerance below says which rounding it covers (f32 sums against an fp64 reference
 * over at most a few hundred terms, or f16 storage). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvcache/select.h"

/* Spec pyramidkv-snapkv-zigzagkv-think-less.md §1.1, table "B (w=8, L=32, long prompt)". */
Test(kvcache_select, pyramid_golden_table)
{
    static const struct {
        int B, cap0, cap31, step, sum;
    } g[] = {
        { 64, 110, 17, 3, 2032 },      { 96, 172, 17, 5, 3024 },     { 128, 234, 17, 7, 4016 },
        { 256, 484, 19, 15, 8048 },    { 512, 983, 53, 30, 16576 },  { 1024, 1982, 60, 62, 32672 },
        { 2048, 3978, 103, 125, 65296 },
    };
    int caps[32];
    for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
        int mode = kvb_sel_pyramid_caps(g[i].B, 8, 32, 20, 100000, caps);
        cr_assert_eq(mode, KVB_PYR_PYRAMID);
        cr_assert_eq(caps[0], g[i].cap0, "B=%d cap0 %d", g[i].B, caps[0]);
        cr_assert_eq(caps[31], g[i].cap31, "B=%d cap31 %d", g[i].B, caps[31]);
        cr_assert_eq(caps[0] - caps[1], g[i].step, "B=%d", g[i].B);
        int sum = 0;
        for (int l = 0; l < 32; l++)
            sum += caps[l];
        cr_assert_eq(sum, g[i].sum, "B=%d sum %d", g[i].B, sum);
    }
}

Test(kvcache_select, pyramid_modes_and_clamp)
{
    int caps[32];
    /* n < B: nothing compressed */
    cr_assert_eq(kvb_sel_pyramid_caps(512, 8, 32, 20, 400, caps), KVB_PYR_FULL);
    /* B <= n < 2 * (B - w): uniform B - w */
    cr_assert_eq(kvb_sel_pyramid_caps(512, 8, 32, 20, 600, caps), KVB_PYR_UNIFORM);
    cr_assert_eq(caps[0], 504);
    cr_assert_eq(caps[31], 504);
    /* clamp (B 64: avg 56, min 2, max 110 >= n - w = 107): max 107, min 112 - 107 = 5,
     * steps (107 - 5) // 31 = 3 */
    cr_assert_eq(kvb_sel_pyramid_caps(64, 8, 32, 20, 115, caps), KVB_PYR_PYRAMID);
    cr_assert_eq(caps[0], 107);
    cr_assert_eq(caps[1], 104);
    cr_assert_eq(caps[31], 107 - 31 * 3);
}

Test(kvcache_select, pool_max_and_avg_as_torch)
{
    const float x[6] = { 1, 5, 2, 0, 3, -1 };
    float o[6];
    kvb_sel_pool1d(x, 6, 3, KVB_POOL_MAX, o);
    const float em[6] = { 5, 5, 5, 3, 3, 3 };
    for (int i = 0; i < 6; i++)
        cr_assert_float_eq(o[i], em[i], 0);
    /* avg: zero padding, always / kernel (count_include_pad=True) */
    kvb_sel_pool1d(x, 6, 3, KVB_POOL_AVG, o);
    const float ea[6] = { 6.f / 3, 8.f / 3, 7.f / 3, 5.f / 3, 2.f / 3, 2.f / 3 };
    for (int i = 0; i < 6; i++)
        cr_assert_float_eq(o[i], ea[i], 1e-6);
    kvb_sel_pool1d(x, 6, 1, KVB_POOL_MAX, o);
    cr_assert(!memcmp(o, x, sizeof(x)));
}

Test(kvcache_select, topk_ascending_ties_low_index)
{
    const float s[8] = { 0.1f, 0.9f, 0.5f, 0.5f, 0.7f, 0.5f, 0.0f, 0.3f };
    int idx[8], work[8];
    int k = kvb_sel_topk(s, 8, 3, idx, work);
    cr_assert_eq(k, 3);
    /* 0.9 (1), 0.7 (4), then the tie at 0.5 goes to the lowest index (2) */
    cr_assert_eq(idx[0], 1);
    cr_assert_eq(idx[1], 2);
    cr_assert_eq(idx[2], 4);
    cr_assert_eq(kvb_sel_topk(s, 8, 20, idx, work), 8);
    cr_assert_eq(kvb_sel_topk(s, 8, 0, idx, work), 0);
    k = kvb_sel_bottomk(s, 8, 2, idx, work);
    cr_assert_eq(idx[0], 0);
    cr_assert_eq(idx[1], 6);
}

Test(kvcache_select, streaming_sink_plus_recent)
{
    int idx[100];
    int m = kvb_sel_streaming(100, 10, 4, idx);
    cr_assert_eq(m, 10);
    const int e[10] = { 0, 1, 2, 3, 94, 95, 96, 97, 98, 99 };
    cr_assert(!memcmp(idx, e, sizeof(e)));
    cr_assert_eq(kvb_sel_streaming(8, 10, 4, idx), 8);
}

Test(kvcache_select, lmba_counts_mass)
{
    const float s[5] = { 0.1f, 0.5f, 0.2f, 0.15f, 0.05f };
    float w[5];
    /* sorted 0.5 0.2 0.15 0.1 0.05; cumsum 0.5 0.7 0.85 0.95 1.0; tau .9: 3 below + 1 = 4 */
    cr_assert_eq(kvb_sel_lmba(s, 5, 0.9, w), 4);
    cr_assert_eq(kvb_sel_lmba(s, 5, 0.4, w), 1);
    cr_assert_eq(kvb_sel_lmba(s, 5, 1.0, w), 5);
}

Test(kvcache_select, zigzag_budgets_conserve_total)
{
    const double lmba[4] = { 10, 30, 20, 40 };
    int b[4];
    kvb_sel_zigzag_budgets(lmba, 4, 100, 0.2, 1000, b);
    /* B_l = 20 + 80 * 4 * u_l: u = .1 .3 .2 .4 -> 52 116 84 148 */
    cr_assert_eq(b[0], 52);
    cr_assert_eq(b[1], 116);
    cr_assert_eq(b[2], 84);
    cr_assert_eq(b[3], 148);
    cr_assert_eq(b[0] + b[1] + b[2] + b[3], 400);
    kvb_sel_zigzag_budgets(lmba, 4, 100, 0.2, 100, b); /* clamp, no redistribution */
    cr_assert_eq(b[3], 100);
}

Test(kvcache_select, simlayer_score_windows_overlap_twice)
{
    /* 2 heads, S = 6; sink 2, recent 3 */
    const float p[12] = { .4f, .1f, .1f, .1f, .1f, .2f, /* */ .2f, .2f, .2f, .2f, .1f, .1f };
    double s = kvb_sel_simlayer_score(p, 2, 6, 2, 3);
    /* head0: .5 + .4 = .9; head1: .4 + .4 = .8 -> .85 */
    cr_assert_float_eq(s, 0.85, 1e-6);
    /* overlap: recent 5 covers positions 1..5, position 1 counted twice */
    s = kvb_sel_simlayer_head(p, 6, 2, 5);
    cr_assert_float_eq(s, 0.5 + 0.6, 1e-6);
}

Test(kvcache_select, think_scores)
{
    const double qsq[2] = { 2.0, 0.5 };
    const float k[6] = { 1, 2, /* */ 3, 0, /* */ 1, 2 };
    double s[2];
    const int idx[2] = { 0, 2 };
    kvb_sel_think_scores(qsq, k, 2, idx, 2, 2, s);
    cr_assert_float_eq(s[0], 2.0 * 1.0, 1e-12);
    cr_assert_float_eq(s[1], 0.5 * 4.0, 1e-12);
    kvb_sel_think_scores(qsq, k, 2, NULL, 3, 2, s);
    cr_assert_float_eq(s[0], 2.0 * 11.0 / 3, 1e-12);
}

/* Window attention over all n queries equals the causal column sums; rows sum to one. */
Test(kvcache_select, window_attention_matches_colsum)
{
    enum { n = 37, H = 4, KV = 2, D = 8 };
    float *q = malloc(sizeof(float) * n * H * D), *k = malloc(sizeof(float) * n * KV * D);
    srand(3);
    for (int i = 0; i < n * H * D; i++)
        q[i] = (float)rand() / RAND_MAX * 4 - 2;
    for (int i = 0; i < n * KV * D; i++)
        k[i] = (float)rand() / RAND_MAX * 4 - 2;
    float a[H * n], c[H * n], scratch[n];
    kvb_sel_window_attn(q, k, n, H, KV, D, n, 0, a, scratch);
    kvb_sel_colsum(q, k, n, H, KV, D, c, scratch);
    for (int i = 0; i < H * n; i++)
        cr_assert_float_eq(a[i], c[i], 1e-5);
    kvb_sel_window_attn(q, k, n, H, KV, D, 5, 0, a, scratch);
    for (int h = 0; h < H; h++) {
        double s = 0;
        for (int j = 0; j < n; j++)
            s += a[h * n + j];
        cr_assert_float_eq(s, 5.0, 1e-4);
        /* the first window query (position n-5) sees no later key */
        cr_assert(a[h * n + n - 1] > 0);
    }
    kvb_sel_window_attn(q, k, n, H, KV, D, 5, 1, a, scratch);
    double s = 0;
    for (int j = 0; j < n; j++)
        s += a[j];
    cr_assert_float_eq(s, 1.0, 1e-5);
    float g[KV * n];
    kvb_sel_group_mean(a, n, H, KV, n, g);
    cr_assert_float_eq(g[3], (a[3] + a[n + 3]) / 2, 1e-7);
    free(q);
    free(k);
}
