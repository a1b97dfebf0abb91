/* The CUDA backend of lib/model (backend.h): the weights kvb_model_open loaded on the host
 * (bf16: HF safetensors as they are, GGUF dequantized, random weights generated on the host from
 * the CPU path's seed, so both devices run the same model) are uploaded once into a
 * kvb_cuda_model (kernels/kvb_cuda.h), which keeps a full bf16 K/V cache and runs prefill and
 * decode; logits come back to the host. Compiled only by `make cuda` (kernels/Makefile): the CPU
 * build never sees a CUDA symbol. */
#include "model_impl.h"

#include <stdlib.h>
#include <string.h>

#include "kvb_cuda.h"

typedef struct cuda_ctx {
    kvb_cuda *c;
    kvb_cuda_model *m;
    size_t model_bytes;
    int max_tokens;
    kvb_model_config cfg; /* the shapes of the statistics arrays */
} cuda_ctx;

static int cuda_probe(int index, kvb_error *e) { return kvb_cuda_probe(index, e); }

static void version_str(char *out, size_t n, int v)
{
    if (v > 0)
        snprintf(out, n, "%d.%d", v / 1000, v % 1000 / 10);
    else
        snprintf(out, n, "unknown");
}

static void fill_info(const kvb_cuda_info *ci, kvb_device_info *out)
{
    out->device = KVB_DEVICE_CUDA;
    out->index = ci->device;
    snprintf(out->gpu, sizeof(out->gpu), "%s", ci->name);
    version_str(out->driver, sizeof(out->driver), ci->driver_version);
    version_str(out->runtime, sizeof(out->runtime), ci->runtime_version);
    out->mem_free = ci->mem_free;
    out->mem_total = ci->mem_total;
    out->hbm_gbs = ci->hbm_gbs;
    out->bf16_tflops = ci->bf16_tflops;
}

/* "needs X GiB, has Y free": the same words as kvb_cuda_model_create's refusal */
static int refuse_fit(const kvb_device_info *d, kvb_error *e)
{
    return kvb_errorf(e, KVB_ENOMEM, "cuda: the model needs %.2f GiB on the device (+%.2f GiB "
                      "margin), %s has %.2f GiB free of %.2f GiB", d->model_bytes / 1073741824.0,
                      KVB_CUDA_MARGIN_BYTES / 1073741824.0, d->gpu, d->mem_free / 1073741824.0,
                      d->mem_total / 1073741824.0);
}

static int cuda_plan(const kvb_model_config *cf, int max_tokens, int index, kvb_device_info *out,
                     kvb_error *e)
{
    kvb_cuda_model_desc d;
    kvb_cuda_desc_from_config(cf, max_tokens, &d);
    size_t need = kvb_cuda_model_bytes(&d);
    if (!need)
        return kvb_errorf(e, KVB_EUNSUP, "cuda: %s: shape not supported by the device model "
                          "(head_dim %d <= 128 and even, <= 8 query heads per kv head)", cf->name,
                          cf->head_dim);
    kvb_cuda *c;
    kvb_cuda_info ci;
    int rc = kvb_cuda_open(&c, index, e);
    if (rc)
        return rc;
    rc = kvb_cuda_info_get(c, &ci, e);
    kvb_cuda_close(c);
    if (rc)
        return rc;
    fill_info(&ci, out);
    out->model_bytes = need;
    out->max_tokens = max_tokens;
    return need + KVB_CUDA_MARGIN_BYTES > out->mem_free ? refuse_fit(out, e) : 0;
}

/* ---- host weights as bf16 ------------------------------------------------------------------- */
/* Conversions made for the upload, freed once it is done. */
typedef struct tmp_list {
    void **p;
    int n, cap;
} tmp_list;

static void *tmp_alloc(tmp_list *t, size_t bytes)
{
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 64;
        void **np = realloc(t->p, sizeof(void *) * (size_t)cap);
        if (!np)
            return NULL;
        t->p = np;
        t->cap = cap;
    }
    void *q = kvb_malloc(bytes);
    if (q)
        t->p[t->n++] = q;
    return q;
}

static void tmp_free(tmp_list *t)
{
    for (int i = 0; i < t->n; i++)
        free(t->p[i]);
    free(t->p);
}

/* A weight matrix as bf16 rows: the held bf16 data itself (the mmap of a bf16 safetensors file
 * or the loader's conversion), else converted row by row (f32 views, GGUF blocks kept). */
static const kvb_bf16 *wt_bf16(const kvb_wt *w, tmp_list *t)
{
    if (w->type == KVB_WT_BF16)
        return w->data;
    kvb_bf16 *o = tmp_alloc(t, (size_t)w->rows * w->cols * sizeof(kvb_bf16));
    float *row = kvb_malloc(sizeof(float) * (size_t)w->cols);
    if (o && row)
        for (int r = 0; r < w->rows; r++) {
            kvb_wt_row(w, r, row);
            for (int i = 0; i < w->cols; i++)
                o[(size_t)r * w->cols + i] = kvb_f32_to_bf16(row[i]);
        }
    free(row);
    return o && row ? o : NULL;
}

/* Norm weights are f32 on the host (exact bf16 values for bf16 files; GGUF's f32 norms round
 * once here, as every other weight of the device model is bf16). */
static const kvb_bf16 *vec_bf16(const float *x, int n, tmp_list *t)
{
    kvb_bf16 *o = tmp_alloc(t, sizeof(kvb_bf16) * (size_t)n);
    for (int i = 0; o && i < n; i++)
        o[i] = kvb_f32_to_bf16(x[i]);
    return o;
}

static int fill_weights(const kvb_model *m, kvb_cuda_model_desc *d, kvb_cuda_layer_w *lw,
                        tmp_list *t)
{
    const kvb_model_config *cf = &m->cfg;
    int ok = (d->embed = wt_bf16(&m->embed, t)) && (d->final_norm = vec_bf16(m->final_norm,
                                                                             cf->hidden, t));
    int tied = cf->tie_embeddings || m->lm_head.data == m->embed.data;
    d->lm_head = NULL;
    if (ok && !tied)
        ok = (d->lm_head = wt_bf16(&m->lm_head, t)) != NULL;
    for (int l = 0; ok && l < cf->n_layers; l++) {
        const kvb_layer_w *L = &m->layers[l];
        kvb_cuda_layer_w *o = &lw[l];
        ok = (o->attn_norm = vec_bf16(L->attn_norm, cf->hidden, t)) &&
             (o->ffn_norm = vec_bf16(L->ffn_norm, cf->hidden, t)) &&
             (o->wq = wt_bf16(&L->wq, t)) && (o->wk = wt_bf16(&L->wk, t)) &&
             (o->wv = wt_bf16(&L->wv, t)) && (o->wo = wt_bf16(&L->wo, t)) &&
             (o->w_gate = wt_bf16(&L->w_gate, t)) && (o->w_up = wt_bf16(&L->w_up, t)) &&
             (o->w_down = wt_bf16(&L->w_down, t));
    }
    d->layers = lw;
    return ok ? 0 : KVB_ENOMEM;
}

/* ---- the backend ----------------------------------------------------------------------------- */
static void cuda_close(void *p)
{
    cuda_ctx *x = p;
    if (!x)
        return;
    kvb_cuda_model_free(x->m);
    kvb_cuda_close(x->c);
    free(x);
}

/* The host side of a desc: the layer table and the conversions its pointers may point into. */
typedef struct host_desc {
    kvb_cuda_layer_w *layers;
    tmp_list t;
} host_desc;

void kvb_cuda_desc_release(void *keep)
{
    host_desc *h = keep;
    if (!h)
        return;
    tmp_free(&h->t);
    free(h->layers);
    free(h);
}

int kvb_cuda_desc_host(const kvb_model *m, int max_tokens, kvb_cuda_model_desc *d, void **keep,
                       kvb_error *e)
{
    kvb_cuda_desc_from_config(&m->cfg, max_tokens, d);
    host_desc *h = kvb_calloc(1, sizeof(*h));
    *keep = h;
    if (!h || !(h->layers = kvb_calloc((size_t)m->cfg.n_layers, sizeof(*h->layers))) ||
        fill_weights(m, d, h->layers, &h->t))
        return kvb_errorf(e, KVB_ENOMEM, "cuda: out of host memory converting the weights to bf16");
    return 0;
}

static int cuda_open(kvb_model *m, int max_tokens, void **out, kvb_error *e)
{
    *out = NULL;
    cuda_ctx *x = kvb_calloc(1, sizeof(*x));
    kvb_cuda_model_desc d;
    void *keep = NULL;
    int rc = x ? kvb_cuda_desc_host(m, max_tokens, &d, &keep, e)
               : kvb_errorf(e, KVB_ENOMEM, "out of memory");
    if (!rc && !(rc = kvb_cuda_open(&x->c, m->opts.device_index, e)) &&
        !(rc = kvb_cuda_model_create(x->c, &x->m, &d, e)))
        rc = kvb_cuda_sync(x->c, e); /* uploads done before the host copies go */
    kvb_cuda_desc_release(keep);
    if (rc) {
        cuda_close(x);
        return rc;
    }
    x->model_bytes = kvb_cuda_model_bytes(&d);
    x->max_tokens = max_tokens;
    x->cfg = m->cfg;
    *out = x;
    return 0;
}

/* n floats from the device widened into the cache's doubles */
static void widen(double *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i];
}

static int cuda_prefill(void *p, const int32_t *ids, int n, float *logits,
                        const kvb_prefill_stats *st, kvb_error *e)
{
    cuda_ctx *x = p;
    if (!st)
        return kvb_cuda_model_prefill(x->m, ids, n, logits, NULL, e);
    const size_t nq = (size_t)x->cfg.n_layers * x->cfg.n_heads * x->cfg.head_dim;
    kvb_cuda_prefill_stats cs = { st->colsum, st->window_attn, st->window, NULL, st->qwindow };
    if (st->q_sqmean && !(cs.q_sqmean = kvb_malloc(nq * sizeof(float))))
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    int rc = kvb_cuda_model_prefill_stats(x->m, ids, n, logits, NULL, &cs, e);
    if (!rc && cs.q_sqmean)
        widen(st->q_sqmean, cs.q_sqmean, nq);
    free(cs.q_sqmean);
    return rc;
}

static int cuda_channel_sqmean(void *p, double *out, kvb_error *e)
{
    cuda_ctx *x = p;
    const size_t nk = (size_t)x->cfg.n_layers * x->cfg.n_kv_heads * x->cfg.head_dim;
    float *f = kvb_malloc(nk * sizeof(float));
    int rc = f ? kvb_cuda_model_channel_sqmean(x->m, f, e)
               : kvb_errorf(e, KVB_ENOMEM, "out of memory");
    if (!rc)
        widen(out, f, nk);
    free(f);
    return rc;
}

static int cuda_thin(void *p, int layer, int n_thin, int n_ch, const int32_t *ch, kvb_error *e)
{
    cuda_ctx *x = p;
    return kvb_cuda_model_thin(x->m, layer, n_thin, n_ch, ch, e);
}

static int cuda_keep(void *p, const int32_t *idx, const int32_t *count, int stride, kvb_error *e)
{
    cuda_ctx *x = p;
    return kvb_cuda_model_keep(x->m, idx, count, stride, e);
}

static int cuda_kivi(void *p, int layer, int bits, int group, int residual, const int counts[4],
                     kvb_error *e)
{
    cuda_ctx *x = p;
    const kvb_cuda_kivi_counts k = { counts[0], counts[1], counts[2], counts[3] };
    return kvb_cuda_model_kivi(x->m, layer, bits, group, residual, &k, e);
}

static int cuda_decode(void *p, int32_t id, int pos, float *logits, const kvb_decode_stats *ds,
                       kvb_error *e)
{
    cuda_ctx *x = p;
    if (!ds)
        return kvb_cuda_model_decode(x->m, id, pos, logits, NULL, e);
    kvb_cuda_decode_stats cs = { ds->sink_mass, ds->sink, ds->recent };
    return kvb_cuda_model_decode_stats(x->m, id, pos, logits, NULL, &cs, e);
}

static void cuda_info(const void *p, kvb_device_info *out)
{
    const cuda_ctx *x = p;
    kvb_cuda_info ci;
    if (!kvb_cuda_info_get(x->c, &ci, NULL))
        fill_info(&ci, out);
    out->model_bytes = x->model_bytes;
    out->peak_bytes = kvb_cuda_peak_bytes(x->c);
    out->kv_bytes = kvb_cuda_model_kv_bytes(x->m);
    out->max_tokens = x->max_tokens;
}

const kvb_backend kvb_backend_cuda = {
    .name = "cuda",
    .probe = cuda_probe,
    .plan = cuda_plan,
    .open = cuda_open,
    .prefill = cuda_prefill,
    .keep = cuda_keep,
    .kivi = cuda_kivi,
    .channel_sqmean = cuda_channel_sqmean,
    .thin = cuda_thin,
    .decode = cuda_decode,
    .info = cuda_info,
    .close = cuda_close,
};
