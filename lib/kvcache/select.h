/* lib/kvcache/select.h (private to lib/kvcache): the scoring and selection kernels shared by the
 * eviction methods (SnapKV, PyramidKV, H2O, StreamingLLM, ZigZagKV, ThinK) and SimLayerKV.
 *
 * Everything here is pure: arrays in, arrays out, no allocation except where a function says so.
 * Tensors are row-major and token-major as in kvcache.h: q (n, n_heads, D), k (n, n_kv_heads, D).
 * Reference: ../shared/specs/pyramidkv-snapkv-zigzagkv-think-less.md §0.1 (SnapKV kernel), §1.1
 * (PyramidKV schedule), §2 (H2O, StreamingLLM), §3 (ZigZagKV), §4 (ThinK);
 * ../shared/specs/longbench-simlayerkv-kivi.md B.2 (SimLayerKV lazy score). */
#ifndef KVB_KVCACHE_SELECT_H
#define KVB_KVCACHE_SELECT_H

#include <stddef.h>

enum { KVB_POOL_MAX = 0, KVB_POOL_AVG = 1 };

/* ---- observation-window attention --------------------------------------------------------- */
/* For each query head h and key j in [0, n): out[h*n + j] = sum over the last w queries i of
 * softmax_j(q_i . k_j / sqrt(D)) with the causal mask (window query i sees keys 0..n-w+i, so the
 * window queries attend each other causally). Softmax and sums in fp32 (the references cast the
 * fp32 softmax back to fp16 before summing; see docs/kvcache.md). mean != 0 divides by w (kvpress,
 * ZigZagKV); the KVCache-Factory kernel sums. Never materialises more than w x n scores per head.
 * scratch: at least n floats. w is clamped to [1, n]. */
void kvb_sel_window_attn(const float *q, const float *k, int n, int n_heads, int n_kv_heads, int D,
                         int w, int mean, float *out, float *scratch);

/* One head of it (w already clamped to [1, n]): rows q_stride / k_stride floats apart. */
void kvb_sel_window_attn_head(const float *q, size_t q_stride, const float *k, size_t k_stride,
                              int n, int D, int w, int mean, float *out, float *scratch);

/* Column sums of the full causal attention of all n queries (H2O's accumulated attention):
 * out[h*n + j] = sum_{i >= j} softmax_i(q_i . k / sqrt(D))[j]. Two passes per row (max/logsumexp,
 * then accumulate), O(n^2 D) time, O(n) memory. scratch: at least n floats. */
void kvb_sel_colsum(const float *q, const float *k, int n, int n_heads, int n_kv_heads, int D,
                    float *out, float *scratch);

/* One head of it: query rows q_stride floats apart, key rows k_stride apart. */
void kvb_sel_colsum_head(const float *q, size_t q_stride, const float *k, size_t k_stride, int n,
                         int D, float *out, float *scratch);

/* ---- pooling and GQA reduction ------------------------------------------------------------ */
/* 1-D pooling with stride 1 and padding kernel/2 on both sides, as torch's F.max_pool1d (pads with
 * -inf) and F.avg_pool1d with count_include_pad=True (pads with 0, always divides by kernel).
 * kernel must be odd (output length n); kernel 1 copies. in and out must not alias. */
void kvb_sel_pool1d(const float *in, int n, int kernel, int type, float *out);

/* Mean of the scores of the query heads of each kv group: in (n_heads, n), rows ld >= n floats
 * apart -> out (n_kv_heads, n), rows n apart. Query head h belongs to kv head
 * h / (n_heads / n_kv_heads), as repeat_kv lays them out. */
void kvb_sel_group_mean(const float *in, size_t ld, int n_heads, int n_kv_heads, int n,
                        float *out);

/* ---- top-k -------------------------------------------------------------------------------- */
/* Indices of the k largest of s[0..n) in ascending position order (the cache keeps tokens in
 * position order; the references keep score order, which attention does not depend on).
 * Equal scores: the lower index wins (torch.topk leaves tie order unspecified; fixtures compare
 * index sets and avoid exact ties). k is clamped to [0, n]. Returns the number written.
 * work: at least n ints. */
int kvb_sel_topk(const float *s, int n, int k, int *idx, int *work);
/* Indices of the k smallest (ties: lower index first), ascending. */
int kvb_sel_bottomk(const float *s, int n, int k, int *idx, int *work);

/* ---- budgets ------------------------------------------------------------------------------ */
enum { KVB_PYR_FULL = 0, KVB_PYR_UNIFORM = 1, KVB_PYR_PYRAMID = 2 };
/* PyramidKV per-layer number of selected prefix tokens (window excluded), exactly as
 * KVCache-Factory's PyramidKVCluster at HEAD (integer floor arithmetic, clamp with >=, steps over
 * L-1). B = budget incl. window, w = window, L = layers, n = prompt length. Returns the mode;
 * caps[l] is filled in every mode (FULL: n - w, i.e. everything is kept). */
int kvb_sel_pyramid_caps(int B, int w, int L, int beta, int n, int *caps);

/* StreamingLLM: keep [0, sink) and the last budget - sink positions when n > budget.
 * Writes ascending indices into idx and returns how many. */
int kvb_sel_streaming(int n, int budget, int sink, int *idx);

/* ZigZagKV LMBA of one score vector: the number of largest entries whose cumulative sum first
 * reaches tau * total (1 + #{m : cumsum_desc[m] < tau * total}, clamped to n).
 * Negative scores are clamped to 0 first (as the flash revision of the only public code).
 * work: at least n floats. */
int kvb_sel_lmba(const float *s, int n, double tau, float *work);

/* ZigZagKV per-layer budgets (selected part) from per-layer LMBA values:
 * u_l = lmba_l / sum lmba; B_min = bmin_ratio * avg; B_l = B_min + (avg - B_min) * L * u_l,
 * rounded to nearest and clamped to [0, cap_max]. No redistribution of clamped excess (as the
 * public reconstruction). If sum lmba == 0 every layer gets avg. */
void kvb_sel_zigzag_budgets(const double *lmba, int L, int avg, double bmin_ratio, int cap_max,
                            int *budgets);

/* ---- SimLayerKV --------------------------------------------------------------------------- */
/* Lazy-layer score of one decode step: probs (n_heads, S) attention of the new query over all S
 * cached keys (new token included). score = sum_{j<sink} mean_h p + sum_{j>=S-recent} mean_h p;
 * overlapping windows count twice (as the reference's slices). */
double kvb_sel_simlayer_score(const float *probs, int n_heads, int S, int sink, int recent);
/* One head's share of it: mass of p (S floats) on the two windows. */
double kvb_sel_simlayer_head(const float *p, int S, int sink, int recent);

/* ---- ThinK -------------------------------------------------------------------------------- */
/* Mean over rows of x^2 per channel: out[j] = sum_s x[r_s][j]^2 / nk (0 when nk == 0), rows
 * r_s = idx[s] (idx NULL: s) `stride` floats apart; summed in double row by row. */
void kvb_sel_rows_sqmean(const float *x, size_t stride, const int *idx, int nk, int D, double *out);
/* Pool per-head channel means: out[j] = (sum_h x[h * stride + j]) / nh, heads in order. */
void kvb_sel_pool_mean(const double *x, size_t stride, int nh, int D, double *out);
/* Query channel magnitudes of head h: the mean over rows t in [row0, n) of x[t][h][j]^2
 * (kvb_sel_rows_sqmean), x (n, n_heads, D) f32 token-major (ThinK's qsq over the observation
 * window, per query head; a GQA group pools them with kvb_sel_pool_mean, whoever computed them). */
#define KVB_SEL_DMAX 1024
void kvb_sel_channel_sqmean(const float *x, int n, int row0, int n_heads, int h, int D,
                            double *out);
/* Channel scores of one stored head: score[j] = qsq[j] * mean_s k[idx[s]][j]^2, where qsq[j] is
 * the mean over the observation queries of q[t][j]^2 (averaged over the query heads of the group
 * in kv_head mode) and k rows are k_stride floats apart (idx NULL: rows 0..nk-1). */
void kvb_sel_think_scores(const double *qsq, const float *k, int k_stride, const int *idx, int nk,
                          int D, double *score);

#endif
