/* lib/model private header: the compute backends behind kvb_model_prefill / kvb_model_decode
 * (ggml's backend idea). The CPU forward pass (forward.c) is the default and needs no entry; a
 * device backend is a table of function pointers the model calls instead, so the verbs, the
 * runner and lib/longbench never know which one runs.
 *
 * The CUDA backend (backend_cuda.c) is compiled only by `make cuda` (kernels/Makefile) and
 * linked only into bin/kvbench-cuda and the tests/cuda programs; device.c refers to it weakly,
 * so the CPU build has no CUDA symbol and `&kvb_backend_cuda == NULL` there. */
#ifndef KVB_MODEL_BACKEND_H
#define KVB_MODEL_BACKEND_H

#include "model/model.h"

struct kvb_model;

/* The statistics of a prompt's attention a selecting cache method decides with
 * (kvb_cache_device_stats), (n_layers, n_heads, n) host floats each, NULL when not wanted:
 * colsum[l][h][j] sums the causal softmax P[h, i, j] over every query i, window_attn over the
 * last min(window, n) queries. */
typedef struct kvb_prefill_stats {
    float *colsum;
    float *window_attn;
    int window;
    /* ThinK (KVB_NEED_QSQ): (n_layers, n_heads, head_dim), per query head and channel the mean
     * of q^2 over the last min(qwindow, n) queries, or NULL */
    double *q_sqmean;
    int qwindow;
} kvb_prefill_stats;

/* A decode step's statistic (kvb_cache_device_decode_stats): SimLayerKV's window mass. */
typedef struct kvb_decode_stats {
    float *sink_mass;
    int sink, recent;
} kvb_decode_stats;

typedef struct kvb_backend {
    const char *name; /* "cuda" */
    /* 0 when GPU `index` is usable, else KVB_EUNSUP/KVB_EINVAL with "no CUDA device: ..." */
    int (*probe)(int index, kvb_error *e);
    /* Bytes a model of config c holding max_tokens tokens needs on GPU `index`, the free and
     * total memory there, and its name and versions (out->model_bytes etc.); nothing allocated. */
    int (*plan)(const kvb_model_config *c, int max_tokens, int index, kvb_device_info *out,
                kvb_error *e);
    /* Upload the weights m holds on the host (loaded as bf16) into a device model of
     * max_tokens tokens; *ctx is the backend's state. Refuses a model that does not fit before
     * allocating anything. */
    int (*open)(struct kvb_model *m, int max_tokens, void **ctx, kvb_error *e);
    /* Prompt at positions 0..n-1 / one token at pos: logits of the last position (host). The
     * backend holds the K/V itself (bf16): every token after prefill; with st (not NULL) it also
     * writes each layer's statistics of the prompt's attention into st's host arrays, for the
     * cache method to decide with (lib/kvcache). */
    int (*prefill)(void *ctx, const int32_t *ids, int n, float *logits,
                   const struct kvb_prefill_stats *st, kvb_error *e);
    /* Of the `stride` tokens held now (after a prefill or a decode step), layer l, kv head g
     * keeps positions idx[(l * n_kv_heads + g) * stride + 0 .. count[l * n_kv_heads + g])
     * (ascending); decode appends after them. A layer keeping every token is unchanged; a layer
     * already cut keeps what it holds. */
    int (*keep)(void *ctx, const int32_t *idx, const int32_t *count, int stride, kvb_error *e);
    /* Bring `layer` to the KIVI counts the cache reached (kvb_cache_kivi_counts, after its
     * latest append): the first time, quantize the rows the layer holds; later, quantize the
     * rows that left the 16-bit residual and window. When the counts hold one token more than
     * the layer, the next decode step writes it as the residuals' last row, and attends on the
     * codes from then on. */
    int (*kivi)(void *ctx, int layer, int bits, int group, int residual, const int counts[4],
                kvb_error *e);
    /* ThinK's second round (KVB_NEED_KSQ), after the prompt's keep: per layer, kv head and
     * channel the mean of k^2 over the rows the layer holds, into k_sqmean (n_layers, n_kv_heads,
     * head_dim); then per layer `thin`: the oldest n_thin rows of every kv head keep only the
     * channels ch[g * n_ch + 0 .. n_ch) (ascending); decode scores them with those channels of q
     * (the full head_dim's scale). */
    int (*channel_sqmean)(void *ctx, double *k_sqmean, kvb_error *e);
    int (*thin)(void *ctx, int layer, int n_thin, int n_ch, const int32_t *ch, kvb_error *e);
    /* ds (not NULL): the step's attention also reports each layer's per-query-head mass on the
     * first ds->sink and last ds->recent held tokens into ds->sink_mass (n_layers, n_heads). */
    int (*decode)(void *ctx, int32_t id, int pos, float *logits,
                  const struct kvb_decode_stats *ds, kvb_error *e);
    void (*info)(const void *ctx, kvb_device_info *out);
    void (*close)(void *ctx);
} kvb_backend;

extern const kvb_backend kvb_backend_cuda __attribute__((weak));

/* device.c: after the weights are loaded (kvb_model_open), move the model onto its device when
 * that is not the CPU: upload, then free the host copy of the weights nothing needs any more. */
int kvb_model_attach_device(struct kvb_model *m, kvb_error *e);
void kvb_model_detach_device(struct kvb_model *m);
/* The forward entry points of a model on a device (model.c dispatches here when m->be). */
int kvb_device_prefill(struct kvb_model *m, kvb_cache *c, const int32_t *ids, int n,
                       float *logits, kvb_error *e);
int kvb_device_decode(struct kvb_model *m, kvb_cache *c, int32_t id, int pos, float *logits,
                      kvb_error *e);

/* cuda_desc.c (CPU library: the struct only, no CUDA symbol): the device model's shapes from a
 * config; weight pointers NULL. Tokens the device cache holds for a config: its context, capped
 * at the driver's limit (KVB_CUDA_MAX_TOKENS). */
#define KVB_CUDA_MAX_TOKENS 65535
int kvb_cuda_max_tokens(const kvb_model_config *c);
struct kvb_cuda_model_desc;
void kvb_cuda_desc_from_config(const kvb_model_config *c, int max_tokens,
                               struct kvb_cuda_model_desc *d);

/* backend_cuda.c (make cuda only): the device model's description with m's weights as host
 * bf16 arrays (m's own where it holds bf16, else converted), as the backend uploads them; the
 * conversions live in *keep until kvb_cuda_desc_release(keep) (also after an error). Used by the
 * upload and by tests/cuda/test_device.c, which runs the driver's CPU twin on the same desc. */
int kvb_cuda_desc_host(const struct kvb_model *m, int max_tokens, struct kvb_cuda_model_desc *d,
                       void **keep, kvb_error *e);
void kvb_cuda_desc_release(void *keep);

#endif
