/* kernels/kvb_cuda.h: the CUDA backend as a C API, callable from lib/ and cmd/ code.
 *
 * Every function returns 0 or a negative KVB_E* status (lib/core/core.h) and fills the
 * caller-owned kvb_error; none of them exits or aborts. Kernels are launched on the context's
 * stream and are asynchronous: a launch error is returned at once, an execution error by the next
 * kvb_cuda_sync(). All tensor pointers passed to kernel functions are DEVICE pointers unless the
 * comment says host; shapes are row-major, token-major, as in lib/model.
 *
 * Each kernel has a CPU twin kvb_ref_<op> in kernels/cpu_ref.h with the same arguments minus the
 * context and the error (host pointers), and a test in tests/cuda/ that compares the two.
 *
 * Without a usable GPU or driver, kvb_cuda_probe() and kvb_cuda_open() return KVB_EUNSUP with one
 * clear line ("no CUDA device: ..."); nothing crashes. */
#ifndef KVB_CUDA_H
#define KVB_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Storage types as seen from C: raw 16-bit patterns. */
typedef uint16_t kvb_bf16; /* bfloat16 */
typedef uint16_t kvb_f16;  /* IEEE half (KIVI scales and zero points, as in the KIVI reference) */

enum { KVB_DT_F32 = 0, KVB_DT_BF16 = 1 };

/* ---- device and context ------------------------------------------------------------------- */
typedef struct kvb_cuda kvb_cuda; /* device, stream, cuBLAS handle, allocation accounting */

typedef struct kvb_cuda_info {
    char name[256];
    int device, cc_major, cc_minor, sm_count;
    size_t mem_total, mem_free;  /* bytes, cudaMemGetInfo at the time of the call */
    int mem_clock_khz, bus_width_bits;
    double hbm_gbs;      /* floor: 2 (DDR) * memory clock * bus width / 8 */
    double bf16_tflops;  /* floor: dense bf16 tensor-core peak, SMs * per-SM rate * clock */
    int sm_clock_khz;
    int driver_version;  /* cudaDriverGetVersion: 1000 * major + 10 * minor (12080 = 12.8) */
    int runtime_version; /* cudaRuntimeGetVersion, same encoding */
} kvb_cuda_info;

/* 0 when device `device` is usable (driver, runtime and a GPU of compute capability >= 8.0),
 * else KVB_EUNSUP with the reason in e ("no CUDA device: ..."). Never crashes. */
int kvb_cuda_probe(int device, kvb_error *e);
int kvb_cuda_open(kvb_cuda **c, int device, kvb_error *e);
void kvb_cuda_close(kvb_cuda *c);
int kvb_cuda_info_get(kvb_cuda *c, kvb_cuda_info *out, kvb_error *e);
int kvb_cuda_sync(kvb_cuda *c, kvb_error *e);

/* Device memory with accounting: the context records the size of every allocation, so
 * kvb_cuda_bytes() is exactly what it holds right now (cross-check with
 * kvb_cuda_info_get().mem_free) and kvb_cuda_peak_bytes() its maximum. */
int kvb_cuda_alloc(kvb_cuda *c, void **p, size_t bytes, kvb_error *e);
void kvb_cuda_free(kvb_cuda *c, void *p); /* NULL is a no-op */
size_t kvb_cuda_bytes(const kvb_cuda *c);
size_t kvb_cuda_peak_bytes(const kvb_cuda *c);
int kvb_cuda_upload(kvb_cuda *c, void *dst, const void *src_host, size_t bytes, kvb_error *e);
int kvb_cuda_download(kvb_cuda *c, void *dst_host, const void *src, size_t bytes, kvb_error *e);
int kvb_cuda_memset0(kvb_cuda *c, void *p, size_t bytes, kvb_error *e);

/* ---- dense ops ---------------------------------------------------------------------------- */
/* y (n, out) = x (n, in) . W^T with W (out, in) row-major as an HF Linear weight; bf16 inputs,
 * fp32 accumulation (cuBLAS, CUBLAS_COMPUTE_32F). y_dtype KVB_DT_F32 or KVB_DT_BF16;
 * accumulate = 1 adds into y (fp32 only: the residual add of o_proj/down_proj). */
int kvb_cuda_gemm(kvb_cuda *c, void *y, int y_dtype, const kvb_bf16 *x, const kvb_bf16 *w, int n,
                  int in, int out, int accumulate, kvb_error *e);

/* o (n, d) = bf16(w * (x * rsqrt(mean(x^2) + eps))), statistics in fp32. x (n, d) fp32. */
int kvb_cuda_rmsnorm(kvb_cuda *c, kvb_bf16 *o, const float *x, const kvb_bf16 *w, int n, int d,
                     float eps, kvb_error *e);

/* RoPE, HF rotate_half layout (channel i pairs with i + head_dim/2), fp32 math, bf16 output.
 * x: token t, head h at x[t*x_stride + h*head_dim]; o likewise with o_stride. pos (n) int32
 * absolute positions; inv_freq (head_dim/2) from kvb_rope_inv_freq (llama3 scaling included). */
int kvb_cuda_rope(kvb_cuda *c, kvb_bf16 *o, int o_stride, const float *x, int x_stride, int n,
                  int n_heads, int head_dim, const int32_t *pos, const float *inv_freq,
                  kvb_error *e);

/* o (n, f) = bf16(silu(gate) * up); gate/up rows at stride `stride` floats (fused gate|up GEMM
 * output: up = gate + f, stride = 2f). */
int kvb_cuda_swiglu(kvb_cuda *c, kvb_bf16 *o, const float *gate, const float *up, int stride, int n,
                    int f, kvb_error *e);

/* o (n, d) bf16 <- x (n, d) fp32 with row strides (V out of a fused QKV projection). */
int kvb_cuda_to_bf16(kvb_cuda *c, kvb_bf16 *o, int o_stride, const float *x, int x_stride, int n,
                     int d, kvb_error *e);

/* ---- prefill attention -------------------------------------------------------------------- */
/* Causal attention of a whole prompt, tiled (flash-style online softmax, no n x n matrix), GQA
 * (query head h reads kv head h / (n_heads / n_kv_heads)), scale 1/sqrt(head_dim), head_dim <= 128.
 * q (n, n_heads, head_dim), k and v (n, n_kv_heads, head_dim) bf16, after RoPE;
 * o (n, n_heads, head_dim) bf16; lse (n_heads, n) fp32: log-sum-exp of each query row's scaled
 * scores, consumed by kvb_cuda_attn_prefill_stats. */
int kvb_cuda_attn_prefill(kvb_cuda *c, kvb_bf16 *o, float *lse, const kvb_bf16 *q,
                          const kvb_bf16 *k, const kvb_bf16 *v, int n, int n_heads, int n_kv_heads,
                          int head_dim, kvb_error *e);

/* Which kernel kvb_cuda_attn_prefill runs: AUTO (default) = tensor cores (bf16 WMMA, P rounded
 * to bf16 before P.V as in FlashAttention-2) for head_dim 64 and 128, the fp32 CUDA-core kernel
 * otherwise; the two others force one (tensor cores: KVB_EUNSUP for other head sizes). */
enum { KVB_ATTN_AUTO = 0, KVB_ATTN_CUDA_CORES = 1, KVB_ATTN_TENSOR_CORES = 2 };
int kvb_cuda_set_attn_impl(kvb_cuda *c, int impl, kvb_error *e);

/* Statistics the cache methods need, recomputed tile by tile from q, k and lse (no n x n matrix).
 * With P[h, i, j] the softmax probabilities of the prefill attention (0 for j > i) and rows
 * [row0, n) the observation window (row0 = n - w; row0 = 0 for H2O's all-query sums):
 *   colsum    (n_heads, n): sum over i in [row0, n) of P[h, i, j]          (SnapKV/PyramidKV/H2O)
 *   rows      (n_heads, n - row0, n): P[h, i, j] for i in [row0, n)        (window attention)
 *   sink_mass (n_heads, n - row0): per window row i, mass on j < n_init plus on
 *             n_init <= j with 0 < i - j <= n_recent (SimLayerKV's prefill score)
 * Any output may be NULL (skipped). */
typedef struct kvb_attn_stats {
    float *colsum;
    float *rows;
    float *sink_mass;
    int row0;
    int n_init, n_recent;
} kvb_attn_stats;
int kvb_cuda_attn_prefill_stats(kvb_cuda *c, const kvb_attn_stats *s, const float *lse,
                                const kvb_bf16 *q, const kvb_bf16 *k, int n, int n_heads,
                                int n_kv_heads, int head_dim, kvb_error *e);

/* out (n_heads, head_dim) = mean over rows [row0, n) of x^2 per head and channel; x (n, n_heads,
 * head_dim) bf16 (ThinK's query/key channel magnitudes). */
int kvb_cuda_channel_sqmean(kvb_cuda *c, float *out, const kvb_bf16 *x, int n, int row0,
                            int n_heads, int head_dim, kvb_error *e);

/* ---- decode attention over ragged compressed caches --------------------------------------- */
/* One query token against a cache whose kv heads hold different numbers of tokens (per-head
 * selection); one call per layer, so layers are ragged too. kv head g holds len[g] tokens at
 * k[g*head_stride + t*head_dim] (and v alike), bf16, already rotated. q (n_heads, head_dim) fp32,
 * o (n_heads, head_dim) fp32; len (n_kv_heads) int32 on the device; max_len >= every len[g].
 * sink_mass (n_heads) or NULL: SimLayerKV's decode score per head, the probability mass on the
 * first n_init and the last n_recent held tokens (overlap counted twice, as in the reference).
 * work: kvb_cuda_decode_work_floats() floats of device scratch. */
size_t kvb_cuda_decode_work_floats(int n_heads, int head_dim, int max_len);
int kvb_cuda_attn_decode(kvb_cuda *c, float *o, const float *q, const kvb_bf16 *k,
                         const kvb_bf16 *v, size_t head_stride, const int32_t *len, int max_len,
                         int n_heads, int n_kv_heads, int head_dim, float *sink_mass, int n_init,
                         int n_recent, float *work, kvb_error *e);
/* ThinK's thin keys: each kv head g's first n_thin tokens keep n_ch key channels, ch[g*cp + c]
 * (device, ascending; cp = n_ch rounded up to 8), stored at k[(g*n_thin + t)*cp + c] (zeros past
 * n_ch). */
typedef struct kvb_thin_keys {
    const kvb_bf16 *k;
    const int32_t *ch;
    int n_ch, cp, n_thin;
} kvb_thin_keys;
/* Decode attention over thin keys then full-width ones: kv head g's next len[g] tokens have keys
 * at k[g*k_head_stride + t*head_dim]; values of all n_thin + len[g] tokens at
 * v[g*v_head_stride + t*head_dim]. Thin tokens are scored with q's kept channels (gathered into
 * qt, n_heads * head_dim floats of scratch), all with the full head_dim's scale and one softmax,
 * as the CPU cache's kvb_seq_attend. max_len >= n_thin + every len[g]. */
int kvb_cuda_attn_decode_thin(kvb_cuda *c, float *o, const float *q, const kvb_thin_keys *t,
                              float *qt, const kvb_bf16 *k, size_t k_head_stride,
                              const kvb_bf16 *v, size_t v_head_stride, const int32_t *len,
                              int max_len, int n_heads, int n_kv_heads, int head_dim, float *work,
                              kvb_error *e);

/* Compress a prefill K or V (n, n_kv_heads, head_dim), token-major, into the decode layout:
 * kv head g keeps rows idx[g*idx_stride + 0 .. count_g) (ascending, e.g. from kvb_cuda_topk, or
 * any order: attention does not depend on it), written to dst[g*dst_head_stride + t*head_dim].
 * counts (n_kv_heads, device) gives per-head counts <= count, or NULL for `count` everywhere.
 * Indices outside [0, n) are skipped (no write): callers pass indices from kvb_cuda_topk. */
int kvb_cuda_gather_kv(kvb_cuda *c, kvb_bf16 *dst, size_t dst_head_stride, const kvb_bf16 *src,
                       int n, int n_kv_heads, int head_dim, const int32_t *idx, int idx_stride,
                       int count, const int32_t *counts, kvb_error *e);

/* ---- KIVI (specs/longbench-simlayerkv-kivi.md part C) ------------------------------------- */
/* Asymmetric min-max quantization, b in {2, 4}, as the CPU cache (lib/kvcache/kivi_quant.c): x is
 * rounded to fp16 first, then each fp16 op of the reference is rounded to fp16 (h):
 * mn = min, scale = h(h(max - mn) / (2^b - 1)), both stored as fp16;
 * q = rint(clamp(h(h(x - mn) / scale), 0, 2^b - 1)) (half to even, as torch.round);
 * dequant q * scale + mn; a constant group (scale 0) codes 0. 32/b codes per uint32, first code
 * in the low bits.
 * Keys, per channel: tokens in groups of G (n_tokens % G == 0, G % (32/b) == 0). Group g of head h:
 *   codes kq[h*kq_head_stride + (g*head_dim + ch)*(G*b/32) + word], token g*G + word*(32/b) + j
 *   at bits b*j; scale/min ks, km [h*ks_head_stride + g*head_dim + ch].
 * Values, per token: channels in groups of G (head_dim % G == 0):
 *   codes vq[h*vq_head_stride + t*(head_dim*b/32) + word], channel word*(32/b) + j at bits b*j;
 *   scale/min vs, vm [h*vs_head_stride + t*(head_dim/G) + ch/G].
 * Input x: head h, token t at x[h*x_head_stride + t*x_tok_stride + ch] (bf16), so both the prefill
 * K (n, n_kv, D) and a residual buffer (n_kv, R, D) can be quantized in place. */
typedef struct kvb_kivi_fmt {
    int bits, group, head_dim, n_kv_heads;
} kvb_kivi_fmt;
int kvb_cuda_kivi_quant_k(kvb_cuda *c, uint32_t *kq, kvb_f16 *ks, kvb_f16 *km,
                          size_t kq_head_stride, size_t ks_head_stride, const kvb_bf16 *x,
                          size_t x_head_stride, int x_tok_stride, int n_tokens,
                          const kvb_kivi_fmt *f, kvb_error *e);
int kvb_cuda_kivi_quant_v(kvb_cuda *c, uint32_t *vq, kvb_f16 *vs, kvb_f16 *vm,
                          size_t vq_head_stride, size_t vs_head_stride, const kvb_bf16 *x,
                          size_t x_head_stride, int x_tok_stride, int n_tokens,
                          const kvb_kivi_fmt *f, kvb_error *e);

/* A layer's KIVI cache: logical token j has its key in the quantized part when j < nk_q (else
 * kr row j - nk_q) and its value quantized when j < nv_q (else vr row j - nv_q);
 * nk_q + nk_r == nv_q + nv_r. Residual rows are bf16 (n_kv, *, head_dim) at *_head_stride. */
typedef struct kvb_kivi_view {
    const uint32_t *kq; const kvb_f16 *ks, *km; size_t kq_head_stride, ks_head_stride; int nk_q;
    const kvb_bf16 *kr; size_t kr_head_stride; int nk_r;
    const uint32_t *vq; const kvb_f16 *vs, *vm; size_t vq_head_stride, vs_head_stride; int nv_q;
    const kvb_bf16 *vr; size_t vr_head_stride; int nv_r;
} kvb_kivi_view;
/* Fused dequantize-attention of one query token (dequantization happens in registers, nothing is
 * expanded in memory). q, o (n_heads, head_dim) fp32; work as kvb_cuda_decode_work_floats with
 * max_len = nk_q + nk_r. */
int kvb_cuda_kivi_attn_decode(kvb_cuda *c, float *o, const float *q, const kvb_kivi_view *v,
                              const kvb_kivi_fmt *f, int n_heads, float *work, kvb_error *e);

/* ---- selection ---------------------------------------------------------------------------- */
/* Per row r of x (rows, n) at row stride ld: the k largest entries (ties to the lower index, as a
 * stable sort), written as ascending indices idx[r*k + 0..k). Entries must not be NaN. */
int kvb_cuda_topk(kvb_cuda *c, int32_t *idx, const float *x, int rows, int n, int ld, int k,
                  kvb_error *e);
/* Per row of non-negative x: the smallest number of largest entries whose sum reaches
 * tau * (row sum), clamped to [1, n] (ZigZagKV's LMBA per head). count (rows) int32. */
int kvb_cuda_mass_count(kvb_cuda *c, int32_t *count, const float *x, int rows, int n, int ld,
                        float tau, kvb_error *e);

/* ---- forward-pass driver ------------------------------------------------------------------ */
/* A Llama-family model on the device: weights uploaded once (q|k|v and gate|up fused into one
 * GEMM each), a full bf16 KV cache of max_tokens per layer in the decode layout
 * (n_kv_heads, max_tokens, head_dim), activations allocated once for max_tokens; prefill and
 * decode allocate nothing. Host weight pointers are bf16, row-major HF layouts:
 * wq (n_heads*head_dim, hidden), wk/wv (n_kv_heads*head_dim, hidden), wo (hidden,
 * n_heads*head_dim), w_gate/w_up (intermediate, hidden), w_down (hidden, intermediate),
 * embed (vocab, hidden), lm_head (vocab, hidden) or NULL when tied to embed. */
typedef struct kvb_cuda_layer_w {
    const kvb_bf16 *attn_norm, *wq, *wk, *wv, *wo, *ffn_norm, *w_gate, *w_up, *w_down;
} kvb_cuda_layer_w;

typedef struct kvb_cuda_model_desc {
    int n_layers, n_heads, n_kv_heads, head_dim, hidden, intermediate, vocab;
    int max_tokens; /* prompt + generated tokens the cache holds */
    float rms_eps;
    double rope_theta, rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_original_max_position;
    /* host weights; all NULL = random weights generated on the device from `seed` */
    const kvb_bf16 *embed, *final_norm, *lm_head;
    const kvb_cuda_layer_w *layers; /* n_layers entries */
    int tie_embeddings;             /* random weights: lm_head = embed */
    uint64_t seed;
} kvb_cuda_model_desc;

typedef struct kvb_cuda_model kvb_cuda_model;

/* Device memory kvb_cuda_model_create leaves free beyond the model's own bytes (cuBLAS
 * workspaces, the CUDA context's own allocations): a model fits when bytes + margin <= free. */
#define KVB_CUDA_MARGIN_BYTES ((size_t)256 << 20)
/* Bytes the model needs on the device (weights, cache, activations, scratch). */
size_t kvb_cuda_model_bytes(const kvb_cuda_model_desc *d);
/* Refuses, before allocating anything, a model that does not fit: "needs X GiB, Y GiB free". */
int kvb_cuda_model_create(kvb_cuda *c, kvb_cuda_model **m, const kvb_cuda_model_desc *d,
                          kvb_error *e);
void kvb_cuda_model_free(kvb_cuda_model *m);
/* Prompt ids (host) at positions 0..n-1; logits of the last position into the host array
 * `logits` (vocab floats) when not NULL; *next (when not NULL) gets the argmax token. */
int kvb_cuda_model_prefill(kvb_cuda_model *m, const int32_t *ids, int n, float *logits,
                           int32_t *next, kvb_error *e);
/* The same, and each layer's statistics of the prompt's attention (the cache methods' inputs,
 * lib/kvcache) into host arrays (n_layers, n_heads, n), each NULL when not wanted: colsum[l][h][j]
 * = sum over every query i of P[h, i, j] (kvb_cuda_attn_prefill_stats with row0 = 0),
 * window_attn the same over the last min(window, n) queries. */
typedef struct kvb_cuda_prefill_stats {
    float *colsum, *window_attn;
    int window;
    /* ThinK: (n_layers, n_heads, head_dim), per query head the mean of q^2 over the last
     * min(qwindow, n) queries (kvb_cuda_channel_sqmean), or NULL */
    float *q_sqmean;
    int qwindow;
} kvb_cuda_prefill_stats;
int kvb_cuda_model_prefill_stats(kvb_cuda_model *m, const int32_t *ids, int n, float *logits,
                                 int32_t *next, const kvb_cuda_prefill_stats *st, kvb_error *e);
/* Of the `stride` tokens the model holds now (after a prefill or a decode step: exactly that
 * many), layer l, kv head g keeps positions idx[(l * n_kv_heads + g) * stride + 0 ..
 * count[l * n_kv_heads + g]) (host arrays; ascending, in [0, stride), count >= 1). A layer whose
 * heads keep fewer than all gets a cache of its own (n_kv_heads x (its largest count +
 * max_tokens - stride) rows: room for every later token), the kept rows gathered into it; decode
 * appends each head after its kept rows and attends over them. A layer that has its own cache
 * already must keep what it holds (a layer is cut once per prompt). The next prefill frees those
 * caches. */
int kvb_cuda_model_keep(kvb_cuda_model *m, const int32_t *idx, const int32_t *count, int stride,
                        kvb_error *e);
/* KIVI on the device, one layer at a time, driven by the counts lib/kvcache's store reached
 * (kvb_cache_kivi_counts: key tokens quantized / in the 16-bit residual, value tokens quantized /
 * in the 16-bit window; the rules run on the host only). The first call quantizes the rows the
 * layer holds (kc/vc, or its cut cache, which is then freed) up to the counts
 * (kvb_cuda_kivi_quant_k/_v) into buffers sized for max_tokens, the rest into the residual and the
 * window; later calls quantize the rows the new counts moved out of them. Counts one token beyond
 * what the layer holds mean the next decode step writes that token as the residuals' last row;
 * every KIVI layer needs its call before each step, which then runs eagerly (not the graph) and
 * attends on the codes (kvb_cuda_kivi_attn_decode). The next prefill frees them. */
typedef struct kvb_cuda_kivi_counts {
    int nkq, nkr, nvq, nvr;
} kvb_cuda_kivi_counts;
int kvb_cuda_model_kivi(kvb_cuda_model *m, int layer, int bits, int group, int residual,
                        const kvb_cuda_kivi_counts *n, kvb_error *e);
/* ThinK on the device, after the prompt's keep (every layer holding the same number of rows on
 * each kv head, none quantized): per layer and kv head the mean of k^2 over its rows per channel
 * into the host array out (n_layers, n_kv_heads, head_dim); then per layer kvb_cuda_model_thin:
 * the oldest n_thin rows of every kv head keep only the channels ch[g * n_ch + 0 .. n_ch)
 * (ascending): their keys move to a thin buffer (n_ch rounded up to 8 channels), the other keys
 * to a K cache of their own; values stay. Decode scores thin rows with q's kept channels and the
 * full head_dim's scale (kvb_cuda_attn_decode_thin), as the CPU cache. */
int kvb_cuda_model_channel_sqmean(kvb_cuda_model *m, float *out, kvb_error *e);
int kvb_cuda_model_thin(kvb_cuda_model *m, int layer, int n_thin, int n_ch, const int32_t *ch,
                        kvb_error *e);
/* Bytes of the K/V decode reads now: the full cache's (n_kv_heads x max_tokens per layer), the
 * kept caches (kvb_cuda_model_keep) or KIVI's buffers, K and V. */
size_t kvb_cuda_model_kv_bytes(const kvb_cuda_model *m);
/* One token at absolute position pos (== tokens already cached). */
int kvb_cuda_model_decode(kvb_cuda_model *m, int32_t id, int pos, float *logits, int32_t *next,
                          kvb_error *e);
/* The same, and each layer's per-query-head attention mass on the first `sink` and the last
 * `recent` held tokens (kvb_cuda_attn_decode's sink_mass) into the host array sink_mass
 * (n_layers, n_heads): SimLayerKV's decode score. Runs eagerly (not the captured graph). */
typedef struct kvb_cuda_decode_stats {
    float *sink_mass;
    int sink, recent;
} kvb_cuda_decode_stats;
int kvb_cuda_model_decode_stats(kvb_cuda_model *m, int32_t id, int pos, float *logits,
                                int32_t *next, const kvb_cuda_decode_stats *ds, kvb_error *e);

/* 1 when decode runs as one captured CUDA graph per step (after the first decode), 0 when it
 * runs eagerly (before the first step, or where capture failed). */
int kvb_cuda_model_decode_graph(const kvb_cuda_model *m);

/* Throughput against the physical floors of the detected GPU, random weights or not.
 * prefill floor: FLOPs (2 * matmul params * n + causal attention 2 * n^2 * n_heads * head_dim
 * per layer) / bf16 peak; decode floor: bytes read per token (weights + K/V cache at that
 * context) / HBM bandwidth. Ratios are measured time / floor (1.0 = at the floor). */
/* Where one decode step's time goes (one eager step timed with events between the parts, after
 * the timed steps): KVB_PROF_N parts named by kvb_cuda_prof_name(). */
enum { KVB_PROF_QKV, KVB_PROF_ROPE_KV, KVB_PROF_ATTN, KVB_PROF_O, KVB_PROF_GATE_UP,
       KVB_PROF_SWIGLU, KVB_PROF_DOWN, KVB_PROF_HEAD, KVB_PROF_N };
const char *kvb_cuda_prof_name(int part);

typedef struct kvb_cuda_bench_row {
    int context;
    double prefill_s, prefill_tok_s, prefill_floor_s, prefill_ratio;
    double decode_ms, decode_floor_ms, decode_ratio;
    double decode_part_ms[KVB_PROF_N]; /* sums over the layers of one eager step */
} kvb_cuda_bench_row;
int kvb_cuda_model_bench(kvb_cuda_model *m, int context, int decode_tokens, kvb_cuda_bench_row *out,
                         kvb_error *e);

/* ---- helpers shared with the CPU side ----------------------------------------------------- */
/* inv_freq (head_dim/2) as the CPU forward computes them (lib/model/ops.h: HF's default
 * frequencies in f32, llama3 scaling in double rounded once; factor 0 = no scaling). Host
 * function, defined in lib/model (build/libkvbench.a), so both paths rotate by the same angles. */
void kvb_rope_inv_freq(float *inv_freq, int head_dim, double theta, double factor,
                       double low_freq_factor, double high_freq_factor, int original_max_pos);

#ifdef __cplusplus
}
#endif

#endif
