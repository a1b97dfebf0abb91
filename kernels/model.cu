/* kernels/model.cu: Llama-family forward pass on the device (prefill + decode with a bf16 KV
 * cache: every token, or per layer the tokens a cache method kept), random-weight generation, and
 * the benchmark against the physical floors. */
#include <stdlib.h>
#include <string.h>

#include "gemm.cuh"
#include "model.cuh"
#include "rope.cuh"

/* ---- small kernels ------------------------------------------------------------------------- */
__global__ void embed_kernel(float *x, const __nv_bfloat16 *emb, const int32_t *ids, int hidden)
{
    const __nv_bfloat16 *row = emb + (size_t)ids[blockIdx.x] * hidden;
    for (int i = threadIdx.x; i < hidden; i += blockDim.x)
        x[(size_t)blockIdx.x * hidden + i] = kvb_bf2f(row[i]);
}

/* src (n, Hkv, D) token-major -> dst (Hkv, cap, D) at token offset t0 (the decode layout). */
__global__ void kv_store_kernel(__nv_bfloat16 *dst, const __nv_bfloat16 *src, int Hkv, int D,
                                int cap, int t0)
{
    int t = blockIdx.x, g = blockIdx.y;
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        dst[((size_t)g * cap + t0 + t) * D + d] = src[((size_t)t * Hkv + g) * D + d];
}

/* Decode reads its token and position from the device (step = {id, pos}), so that one captured
 * graph serves every step. Head i of the (layer, kv head) table holds pos + 1 - drop[i] tokens
 * after the step: drop counts the prompt tokens its cache method did not keep. */
__global__ void decode_len_kernel(int32_t *len, const int32_t *drop, int n, const int32_t *step)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) len[i] = step[1] + 1 - drop[i];
}

/* After the fused q|k|v projection of the decode token (f32, qkv): block b < H rotates query head b
 * into qf (rounded to bf16 and back, as the prompt path's bf16 q), b < H + Hkv rotates key head
 * g = b - H (rotated by position step[1]) into row step[1] - kdrop[g] of its k_cap rows of kc,
 * the rest round value head g into row step[1] - vdrop[g] of its v_cap rows of vc. One launch
 * instead of rope(q), rope(k), to_bf16(v), the cache append and bf16_to_f32(q). */
__global__ void decode_qkv_post_kernel(float *qf, __nv_bfloat16 *kc, int k_cap, const int32_t *kdrop,
                                       __nv_bfloat16 *vc, int v_cap, const int32_t *vdrop,
                                       const float *qkv, int H, int Hkv, int D,
                                       const float *inv_freq, const int32_t *step)
{
    const int b = blockIdx.x, half = D / 2, pos = step[1];
    const float p = (float)pos;
    if (b < H + Hkv) {
        const float *x = qkv + (size_t)b * D; /* q heads, then k heads */
        for (int i = threadIdx.x; i < half; i += blockDim.x) {
            __nv_bfloat16 oa, ob;
            kvb_rope_pair(x[i], x[i + half], p, inv_freq[i], &oa, &ob);
            if (b < H) {
                qf[(size_t)b * D + i] = kvb_bf2f(oa);
                qf[(size_t)b * D + i + half] = kvb_bf2f(ob);
            } else {
                __nv_bfloat16 *row = kc + ((size_t)(b - H) * k_cap + pos - kdrop[b - H]) * D;
                row[i] = oa, row[i + half] = ob;
            }
        }
    } else {
        const int g = b - H - Hkv;
        const float *x = qkv + (size_t)(H + Hkv + g) * D;
        __nv_bfloat16 *row = vc + ((size_t)g * v_cap + pos - vdrop[g]) * D;
        for (int i = threadIdx.x; i < D; i += blockDim.x) row[i] = kvb_f2bf(x[i]);
    }
}

/* ThinK: thin keys of rows [0, n_thin) of every kv head of k (head stride hs rows of D) into
 * kt (kv head g's rows at g * n_thin * cp, cp channels each: the kept channels ch[g * cp + c],
 * c < n_ch, then zeros). */
__global__ void thin_keys_kernel(__nv_bfloat16 *kt, const __nv_bfloat16 *k, size_t hs, int D,
                                 int n_thin, int cp, int n_ch, const int32_t *ch)
{
    const int t = blockIdx.x, g = blockIdx.y;
    const __nv_bfloat16 *row = k + ((size_t)g * hs + t) * D;
    for (int c = threadIdx.x; c < cp; c += blockDim.x)
        kt[((size_t)g * n_thin + t) * cp + c] = c < n_ch ? row[ch[g * cp + c]] : kvb_f2bf(0.f);
}

__global__ void iota_kernel(int32_t *p, int n)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) p[i] = i;
}

/* Deterministic uniform weights in [offset - scale, offset + scale) from a counter hash. */
__global__ void random_kernel(__nv_bfloat16 *w, size_t n, uint64_t seed, float scale, float offset)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ULL;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        float u = (float)(z >> 40) * (2.f / 16777216.f) - 1.f;
        w[i] = kvb_f2bf(offset + scale * u);
    }
}

/* ---- model --------------------------------------------------------------------------------- */
/* A KIVI layer (the same for each of its kv heads): the counts lib/kvcache's rules reached
 * (kvb_cache_kivi_counts): key tokens quantized and in the 16-bit residual (R rows), value tokens
 * quantized and in the 16-bit window, which starts at row vstart of 2(R + 1) rows; pending: the
 * counts include the token the next decode step writes (the residuals' last rows). */
typedef struct kivi_state {
    int on, bits, G, R, pending;
    kvb_cuda_kivi_counts n;
    int vstart;
    size_t kq_hs, ks_hs, vq_hs, vs_hs; /* per-head strides (elements) */
} kivi_state;

typedef struct layer_dev {
    __nv_bfloat16 *attn_norm, *wqkv, *wo, *ffn_norm, *wgu, *wdown, *kc, *vc;
    /* the cache decode reads: kc/vc (every token, cap = max_tokens), or after
     * kvb_cuda_model_keep a compact copy of the kept tokens (own allocations, cap = the most any
     * head kept + the room left for decode) */
    __nv_bfloat16 *dk, *dv;
    int cap;  /* rows per kv head of dv (and of dk, but for thin keys) */
    /* ThinK (kvb_cuda_model_thin): the oldest n_thin rows' keys in tk (cp channels: the kept
     * ones, tch, zero-padded), dv's rows still all; dk holds the rest (kcap rows per head) */
    int kcap, n_thin, cp, n_ch;
    __nv_bfloat16 *tk;
    int32_t *tch;
    /* KIVI (kvb_cuda_model_kivi): the layer's codes, scales/minima and 16-bit residuals */
    uint32_t *kq, *vq;
    uint16_t *ks, *km, *vs, *vm;
    __nv_bfloat16 *kr, *vr;
    kivi_state kv;
} layer_dev;

struct kvb_cuda_model {
    kvb_cuda *c;
    kvb_cuda_model_desc d;
    int QKV, HD, KD, chunk;
    __nv_bfloat16 *embed, *final_norm, *lm_head;
    layer_dev *L;
    float *x, *qkv, *gu, *logits, *qf, *of, *lse, *work, *inv_freq;
    __nv_bfloat16 *xb, *qb, *kb, *vb, *att, *act;
    int32_t *pos, *ids, *len, *drop, *kidx, *next, *step;
    float *stat;  /* (n_heads, max_tokens): one layer's prefill statistics */
    float *chsq;  /* (n_layers, n_heads, head_dim): channel magnitudes (ThinK) */
    float *qt;    /* (n_heads, head_dim): the decode q's kept channels (ThinK) */
    float *sink;  /* (n_layers, n_heads): a decode step's window masses (SimLayerKV) */
    int held;     /* tokens held now: the prompt after prefill, + 1 per decode step */
    int n_kivi;      /* layers on KIVI */
    int32_t *kvdrop; /* (n_layers, 2, n_kv_heads): KIVI's append rows as drops, per step */
    int32_t *hkvdrop; /* host copy */
    int32_t *hdrop; /* host copy of drop */
    void **ptr;
    /* decode as one CUDA graph (captured at the first step): 0 not tried, 1 ready, -1 eager */
    int graph_state;
    cudaGraphExec_t graph;
    /* decode profile (bench): events recorded between parts while prof_ev is set */
    cudaEvent_t *prof_ev;
    int *prof_part, prof_n, prof_cap;
    size_t *size;
    int n_ptr, cap_ptr;
};

/* Every device buffer of the model, in one place: `visit` is called with (pointer slot, bytes).
 * Used once to count (kvb_cuda_model_bytes) and once to allocate, so the two cannot disagree. */
typedef int (*buf_fn)(void *ctx, void **slot, size_t bytes, kvb_error *e);

static int for_each_buffer(kvb_cuda_model *m, const kvb_cuda_model_desc *d, buf_fn fn, void *ctx,
                           kvb_error *e)
{
    const size_t Hd = d->hidden, F = d->intermediate, V = d->vocab, T = d->max_tokens;
    const size_t HD = (size_t)d->n_heads * d->head_dim, KD = (size_t)d->n_kv_heads * d->head_dim;
    const size_t QKV = HD + 2 * KD, CH = T < KVB_MODEL_CHUNK ? T : KVB_MODEL_CHUNK;
    kvb_cuda_model dummy;
    layer_dev ldummy;
    kvb_cuda_model *p = m ? m : &dummy;
    int rc = 0;
#define BUF(slot, bytes)                                                                           \
    do {                                                                                           \
        if ((rc = fn(ctx, (void **)&(slot), (bytes), e))) return rc;                               \
    } while (0)
    BUF(p->embed, V * Hd * 2);
    BUF(p->final_norm, Hd * 2);
    int tied = d->embed ? d->lm_head == NULL : d->tie_embeddings;
    if (!tied) BUF(p->lm_head, V * Hd * 2);
    for (int l = 0; l < d->n_layers; l++) {
        layer_dev *L = m ? &m->L[l] : &ldummy;
        BUF(L->attn_norm, Hd * 2);
        BUF(L->wqkv, QKV * Hd * 2);
        BUF(L->wo, Hd * HD * 2);
        BUF(L->ffn_norm, Hd * 2);
        BUF(L->wgu, 2 * F * Hd * 2);
        BUF(L->wdown, Hd * F * 2);
        BUF(L->kc, KD * T * 2);
        BUF(L->vc, KD * T * 2);
    }
    BUF(p->x, T * Hd * 4);
    BUF(p->xb, CH * Hd * 2);
    BUF(p->qkv, CH * QKV * 4);
    BUF(p->qb, T * HD * 2);
    BUF(p->kb, T * KD * 2);
    BUF(p->vb, T * KD * 2);
    BUF(p->att, T * HD * 2);
    BUF(p->lse, (size_t)d->n_heads * T * 4);
    BUF(p->gu, CH * 2 * F * 4);
    BUF(p->act, CH * F * 2);
    BUF(p->logits, V * 4);
    BUF(p->qf, HD * 4);
    BUF(p->of, HD * 4);
    BUF(p->work, kvb_cuda_decode_work_floats(d->n_heads, d->head_dim, (int)T) * 4);
    BUF(p->inv_freq, (size_t)d->head_dim / 2 * 4);
    BUF(p->pos, T * 4);
    BUF(p->ids, T * 4);
    BUF(p->len, (size_t)d->n_layers * d->n_kv_heads * 4);
    BUF(p->drop, (size_t)d->n_layers * d->n_kv_heads * 4);
    BUF(p->kidx, (size_t)d->n_kv_heads * T * 4);
    BUF(p->stat, (size_t)d->n_heads * T * 4);
    BUF(p->chsq, (size_t)d->n_layers * d->n_heads * d->head_dim * 4);
    BUF(p->qt, HD * 4);
    BUF(p->sink, (size_t)d->n_layers * d->n_heads * 4);
    BUF(p->kvdrop, (size_t)d->n_layers * 2 * d->n_kv_heads * 4);
    BUF(p->next, 4);
    BUF(p->step, 8);
#undef BUF
    if (tied) p->lm_head = p->embed;
    return 0;
}

static int count_fn(void *ctx, void **slot, size_t bytes, kvb_error *e)
{
    (void)slot, (void)e;
    *(size_t *)ctx += bytes;
    return 0;
}

static int alloc_fn(void *ctx, void **slot, size_t bytes, kvb_error *e)
{
    kvb_cuda_model *m = (kvb_cuda_model *)ctx;
    if (m->n_ptr == m->cap_ptr) {
        int cap = m->cap_ptr ? 2 * m->cap_ptr : 64;
        void **np = (void **)realloc(m->ptr, sizeof(void *) * cap);
        if (!np) return kvb_cu_err(e, KVB_ENOMEM, "cuda: out of host memory");
        m->ptr = np;
        size_t *ns = (size_t *)realloc(m->size, sizeof(size_t) * cap);
        if (!ns) return kvb_cu_err(e, KVB_ENOMEM, "cuda: out of host memory");
        m->size = ns;
        m->cap_ptr = cap;
    }
    int rc = kvb_cuda_alloc(m->c, slot, bytes, e);
    if (rc) return rc;
    m->ptr[m->n_ptr] = *slot;
    m->size[m->n_ptr++] = bytes;
    return 0;
}

static int desc_ok(const kvb_cuda_model_desc *d, kvb_error *e)
{
    KVB_CU_CHECK_ARG(d->n_layers > 0 && d->n_heads > 0 && d->n_kv_heads > 0 &&
                         d->n_heads % d->n_kv_heads == 0 && d->head_dim > 0 &&
                         d->head_dim <= 128 && d->head_dim % 2 == 0 && d->hidden > 0 &&
                         d->intermediate > 0 && d->vocab > 0 && d->max_tokens > 0 &&
                         d->max_tokens <= 65535 && d->n_heads / d->n_kv_heads <= KVB_AD_GMAX,
                     e, "cuda: model: unsupported shape (layers %d, heads %d/%d, head_dim %d, "
                        "hidden %d, max_tokens %d)",
                     d->n_layers, d->n_heads, d->n_kv_heads, d->head_dim, d->hidden, d->max_tokens);
    KVB_CU_CHECK_ARG(!d->embed || (d->final_norm && d->layers), e,
                     "cuda: model: host weights given without final_norm/layers");
    return 0;
}

size_t kvb_cuda_model_bytes(const kvb_cuda_model_desc *d)
{
    size_t n = 0;
    if (desc_ok(d, NULL)) return 0;
    for_each_buffer(NULL, d, count_fn, &n, NULL);
    return n;
}

static void drop_graph(kvb_cuda_model *m);
static void free_compact(kvb_cuda_model *m);
static void free_kivi(kvb_cuda_model *m);

void kvb_cuda_model_free(kvb_cuda_model *m)
{
    if (!m) return;
    drop_graph(m);
    if (m->L) free_compact(m), free_kivi(m);
    free(m->hdrop);
    free(m->hkvdrop);
    for (int i = 0; i < m->n_ptr; i++) kvb_cuda_free(m->c, m->ptr[i]);
    free(m->ptr);
    free(m->size);
    free(m->L);
    free(m);
}

static int fill_random(kvb_cuda_model *m, __nv_bfloat16 *w, size_t n, float scale, float offset,
                       kvb_error *e)
{
    m->d.seed = m->d.seed * 6364136223846793005ULL + 1442695040888963407ULL; /* next tensor */
    random_kernel<<<1024, 256, 0, m->c->stream>>>(w, n, m->d.seed, scale, offset);
    return kvb_cu_launch(e, "random weights");
}

static int upload_weights(kvb_cuda_model *m, kvb_error *e)
{
    const kvb_cuda_model_desc *d = &m->d;
    const size_t Hd = d->hidden, F = d->intermediate, V = d->vocab;
    const size_t HD = m->HD, KD = m->KD;
    int rc = 0;
    if (!d->embed) { /* random: uniform, matrices scaled 1/sqrt(fan-in), norms 1 */
        float sh = 1.f / sqrtf((float)Hd), sa = 1.f / sqrtf((float)HD), sf = 1.f / sqrtf((float)F);
        if ((rc = fill_random(m, m->embed, V * Hd, 1.f, 0.f, e))) return rc;
        if ((rc = fill_random(m, m->final_norm, Hd, 0.f, 1.f, e))) return rc;
        if (m->lm_head != m->embed && (rc = fill_random(m, m->lm_head, V * Hd, sh, 0.f, e))) return rc;
        for (int l = 0; l < d->n_layers; l++) {
            layer_dev *L = &m->L[l];
            if ((rc = fill_random(m, L->attn_norm, Hd, 0.f, 1.f, e)) ||
                (rc = fill_random(m, L->wqkv, (HD + 2 * KD) * Hd, sh, 0.f, e)) ||
                (rc = fill_random(m, L->wo, Hd * HD, sa, 0.f, e)) ||
                (rc = fill_random(m, L->ffn_norm, Hd, 0.f, 1.f, e)) ||
                (rc = fill_random(m, L->wgu, 2 * F * Hd, sh, 0.f, e)) ||
                (rc = fill_random(m, L->wdown, Hd * F, sf, 0.f, e)))
                return rc;
        }
        return kvb_cuda_sync(m->c, e);
    }
    kvb_cuda *c = m->c;
    if ((rc = kvb_cuda_upload(c, m->embed, d->embed, V * Hd * 2, e)) ||
        (rc = kvb_cuda_upload(c, m->final_norm, d->final_norm, Hd * 2, e)))
        return rc;
    if (m->lm_head != m->embed && (rc = kvb_cuda_upload(c, m->lm_head, d->lm_head, V * Hd * 2, e)))
        return rc;
    for (int l = 0; l < d->n_layers; l++) {
        const kvb_cuda_layer_w *w = &d->layers[l];
        layer_dev *L = &m->L[l];
        /* fused weights: rows of q, then k, then v (and gate, then up) */
        if ((rc = kvb_cuda_upload(c, L->attn_norm, w->attn_norm, Hd * 2, e)) ||
            (rc = kvb_cuda_upload(c, L->wqkv, w->wq, HD * Hd * 2, e)) ||
            (rc = kvb_cuda_upload(c, L->wqkv + HD * Hd, w->wk, KD * Hd * 2, e)) ||
            (rc = kvb_cuda_upload(c, L->wqkv + (HD + KD) * Hd, w->wv, KD * Hd * 2, e)) ||
            (rc = kvb_cuda_upload(c, L->wo, w->wo, Hd * HD * 2, e)) ||
            (rc = kvb_cuda_upload(c, L->ffn_norm, w->ffn_norm, Hd * 2, e)) ||
            (rc = kvb_cuda_upload(c, L->wgu, w->w_gate, F * Hd * 2, e)) ||
            (rc = kvb_cuda_upload(c, L->wgu + F * Hd, w->w_up, F * Hd * 2, e)) ||
            (rc = kvb_cuda_upload(c, L->wdown, w->w_down, Hd * F * 2, e)))
            return rc;
    }
    return 0;
}

int kvb_cuda_model_create(kvb_cuda *c, kvb_cuda_model **out, const kvb_cuda_model_desc *d,
                          kvb_error *e)
{
    *out = NULL;
    int rc = desc_ok(d, e);
    if (rc) return rc;
    size_t need = kvb_cuda_model_bytes(d);
    kvb_cuda_info info;
    if ((rc = kvb_cuda_info_get(c, &info, e))) return rc;
    const size_t margin = KVB_CUDA_MARGIN_BYTES;
    if (need + margin > info.mem_free)
        return kvb_cu_err(e, KVB_ENOMEM,
                          "cuda: the model needs %.2f GiB on the device (+0.25 GiB margin), %s has "
                          "%.2f GiB free of %.2f GiB",
                          need / 1073741824.0, info.name, info.mem_free / 1073741824.0,
                          info.mem_total / 1073741824.0);
    kvb_cuda_model *m = (kvb_cuda_model *)calloc(1, sizeof *m);
    if (!m || !(m->L = (layer_dev *)calloc(d->n_layers, sizeof(layer_dev))) ||
        !(m->hdrop = (int32_t *)calloc((size_t)d->n_layers * d->n_kv_heads, sizeof(int32_t))) ||
        !(m->hkvdrop = (int32_t *)calloc((size_t)d->n_layers * 2 * d->n_kv_heads, sizeof(int32_t)))) {
        if (m) free(m->hdrop);
        if (m) free(m->L);
        free(m);
        return kvb_cu_err(e, KVB_ENOMEM, "cuda: out of host memory");
    }
    m->c = c;
    m->d = *d;
    m->HD = d->n_heads * d->head_dim;
    m->KD = d->n_kv_heads * d->head_dim;
    m->QKV = m->HD + 2 * m->KD;
    m->chunk = d->max_tokens < KVB_MODEL_CHUNK ? d->max_tokens : KVB_MODEL_CHUNK;
    if ((rc = for_each_buffer(m, d, alloc_fn, m, e)) || (rc = upload_weights(m, e))) {
        kvb_cuda_model_free(m);
        return rc;
    }
    m->d.embed = m->d.final_norm = m->d.lm_head = NULL; /* host pointers are not kept */
    m->d.layers = NULL;
    float inv[64];
    kvb_rope_inv_freq(inv, d->head_dim, d->rope_theta, d->rope_factor, d->rope_low_freq_factor,
                      d->rope_high_freq_factor, d->rope_original_max_position);
    for (int l = 0; l < d->n_layers; l++)
        m->L[l].dk = m->L[l].kc, m->L[l].dv = m->L[l].vc, m->L[l].cap = m->L[l].kcap = d->max_tokens;
    iota_kernel<<<64, 256, 0, c->stream>>>(m->pos, d->max_tokens);
    if ((rc = kvb_cu_launch(e, "iota")) ||
        (rc = kvb_cuda_memset0(c, m->drop, sizeof(int32_t) * d->n_layers * d->n_kv_heads, e)) ||
        (rc = kvb_cuda_upload(c, m->inv_freq, inv, sizeof(float) * (d->head_dim / 2), e))) {
        kvb_cuda_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* ---- forward ------------------------------------------------------------------------------- */
/* each GEMV that follows an RMSNorm includes it (fused in decode) */
static const char *const PROF_NAMES[KVB_PROF_N] = {"norm_qkv", "rope_kv", "attention", "o_proj",
                                                   "norm_gate_up", "swiglu", "down", "head"};
const char *kvb_cuda_prof_name(int part)
{
    return part >= 0 && part < KVB_PROF_N ? PROF_NAMES[part] : "?";
}

/* Start of a part of the decode step (profiling only; a no-op otherwise). */
static void prof_mark(kvb_cuda_model *m, int part)
{
    if (!m->prof_ev || m->prof_n >= m->prof_cap) return;
    cudaEventRecord(m->prof_ev[m->prof_n], m->c->stream);
    m->prof_part[m->prof_n++] = part;
}

/* y (n, out) = bf16(RMSNorm(x) * norm_w) . W^T through xb; one fused GEMV for a single row. */
static int norm_gemm(kvb_cuda_model *m, float *y, const float *x, const __nv_bfloat16 *norm_w,
                     const __nv_bfloat16 *w, int n, int out, kvb_error *e)
{
    const kvb_cuda_model_desc *d = &m->d;
    kvb_cuda *c = m->c;
    if (n == 1) {
        kvb_error ignored;
        int rc = kvb_cu_gemv_rmsnorm(c, y, x, (const kvb_bf16 *)norm_w, d->rms_eps,
                                     (const kvb_bf16 *)w, d->hidden, out, 0, &ignored);
        if (rc != KVB_EUNSUP) return rc ? (*e = ignored, rc) : 0;
    }
    TRY(kvb_cuda_rmsnorm(c, (kvb_bf16 *)m->xb, x, (const kvb_bf16 *)norm_w, n, d->hidden,
                         d->rms_eps, e));
    return kvb_cuda_gemm(c, y, KVB_DT_F32, (kvb_bf16 *)m->xb, (const kvb_bf16 *)w, n, d->hidden,
                         out, 0, e);
}

/* Projections of tokens [t0, t0 + n): q, k (rotated) and v into qb/kb/vb at row t0. */
static int qkv_chunk(kvb_cuda_model *m, const layer_dev *L, int t0, int n, kvb_error *e)
{
    const kvb_cuda_model_desc *d = &m->d;
    kvb_cuda *c = m->c;
    TRY(norm_gemm(m, m->qkv, m->x + (size_t)t0 * d->hidden, L->attn_norm, L->wqkv, n, m->QKV, e));
    TRY(kvb_cuda_rope(c, (kvb_bf16 *)(m->qb + (size_t)t0 * m->HD), m->HD, m->qkv, m->QKV, n,
                      d->n_heads, d->head_dim, m->pos + t0, m->inv_freq, e));
    TRY(kvb_cuda_rope(c, (kvb_bf16 *)(m->kb + (size_t)t0 * m->KD), m->KD, m->qkv + m->HD, m->QKV, n,
                      d->n_kv_heads, d->head_dim, m->pos + t0, m->inv_freq, e));
    return kvb_cuda_to_bf16(c, (kvb_bf16 *)(m->vb + (size_t)t0 * m->KD), m->KD,
                            m->qkv + m->HD + m->KD, m->QKV, n, m->KD, e);
}

/* o_proj (+ residual) and the MLP (+ residual) of tokens [t0, t0 + n). */
static int out_mlp_chunk(kvb_cuda_model *m, const layer_dev *L, int t0, int n, kvb_error *e)
{
    const kvb_cuda_model_desc *d = &m->d;
    kvb_cuda *c = m->c;
    float *x = m->x + (size_t)t0 * d->hidden;
    prof_mark(m, KVB_PROF_O);
    TRY(kvb_cuda_gemm(c, x, KVB_DT_F32, (kvb_bf16 *)(m->att + (size_t)t0 * m->HD),
                      (kvb_bf16 *)L->wo, n, m->HD, d->hidden, 1, e));
    prof_mark(m, KVB_PROF_GATE_UP); /* with ffn_norm */
    TRY(norm_gemm(m, m->gu, x, L->ffn_norm, L->wgu, n, 2 * d->intermediate, e));
    prof_mark(m, KVB_PROF_SWIGLU);
    TRY(kvb_cuda_swiglu(c, (kvb_bf16 *)m->act, m->gu, m->gu + d->intermediate,
                        2 * d->intermediate, n, d->intermediate, e));
    prof_mark(m, KVB_PROF_DOWN);
    return kvb_cuda_gemm(c, x, KVB_DT_F32, (kvb_bf16 *)m->act, (kvb_bf16 *)L->wdown, n,
                         d->intermediate, d->hidden, 1, e);
}

static int kv_store(kvb_cuda_model *m, const layer_dev *L, int t0, int n, kvb_error *e)
{
    dim3 grid(n, m->d.n_kv_heads);
    kv_store_kernel<<<grid, 128, 0, m->c->stream>>>(L->kc, m->kb + (size_t)t0 * m->KD,
                                                    m->d.n_kv_heads, m->d.head_dim,
                                                    m->d.max_tokens, t0);
    kv_store_kernel<<<grid, 128, 0, m->c->stream>>>(L->vc, m->vb + (size_t)t0 * m->KD,
                                                    m->d.n_kv_heads, m->d.head_dim,
                                                    m->d.max_tokens, t0);
    return kvb_cu_launch(e, "kv_store");
}

/* Final norm of row `row` of x, logits and (want_next) their argmax, on the device. */
static int head_compute(kvb_cuda_model *m, int row, int want_next, kvb_error *e)
{
    const kvb_cuda_model_desc *d = &m->d;
    kvb_cuda *c = m->c;
    TRY(norm_gemm(m, m->logits, m->x + (size_t)row * d->hidden, m->final_norm, m->lm_head, 1,
                  d->vocab, e));
    return want_next ? kvb_cuda_topk(c, m->next, m->logits, 1, d->vocab, d->vocab, 1, e) : 0;
}

/* Download what the caller asked for (host pointers or NULL). */
static int head_fetch(kvb_cuda_model *m, float *logits, int32_t *next, kvb_error *e)
{
    kvb_cuda *c = m->c;
    if (next) TRY(kvb_cuda_download(c, next, m->next, 4, e));
    if (logits) TRY(kvb_cuda_download(c, logits, m->logits, sizeof(float) * m->d.vocab, e));
    return kvb_cuda_sync(c, e);
}

static int ids_ok(const kvb_cuda_model *m, const int32_t *ids, int n, kvb_error *e)
{
    for (int i = 0; i < n; i++)
        KVB_CU_CHECK_ARG(ids[i] >= 0 && ids[i] < m->d.vocab, e,
                         "cuda: model: token id %d at %d outside the vocabulary (%d)", (int)ids[i],
                         i, m->d.vocab);
    return 0;
}

/* ---- caches of the kept tokens (kvb_cuda_model_keep) ---------------------------------------- */
/* The decode graph holds the cache pointers: it is captured again after they change. */
static void drop_graph(kvb_cuda_model *m)
{
    if (m->graph_state == 1) cudaGraphExecDestroy(m->graph);
    if (m->graph_state == 1) m->graph_state = 0;
}

static void free_kivi(kvb_cuda_model *m)
{
    for (int l = 0; l < m->d.n_layers; l++) {
        layer_dev *L = &m->L[l];
        void *p[] = {L->kq, L->vq, L->ks, L->km, L->vs, L->vm, L->kr, L->vr};
        for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) kvb_cuda_free(m->c, p[i]);
        L->kq = L->vq = NULL, L->ks = L->km = L->vs = L->vm = NULL, L->kr = L->vr = NULL;
        memset(&L->kv, 0, sizeof L->kv);
    }
    m->n_kivi = 0;
}

static void free_compact(kvb_cuda_model *m)
{
    for (int l = 0; l < m->d.n_layers; l++) {
        layer_dev *L = &m->L[l];
        if (L->dk != L->kc) kvb_cuda_free(m->c, L->dk);
        if (L->dv != L->vc) kvb_cuda_free(m->c, L->dv);
        kvb_cuda_free(m->c, L->tk), kvb_cuda_free(m->c, L->tch);
        L->dk = L->kc, L->dv = L->vc, L->cap = L->kcap = m->d.max_tokens;
        L->tk = NULL, L->tch = NULL, L->n_thin = L->cp = L->n_ch = 0;
    }
}

/* Back to every token in kc/vc (a new prompt): compact caches and KIVI's freed, nothing dropped. */
static int restore_full(kvb_cuda_model *m, kvb_error *e)
{
    if (m->n_kivi) free_kivi(m);
    int compact = 0; /* a cut layer, or one cut and then quantized (its drops stay) */
    for (int l = 0; l < m->d.n_layers; l++)
        compact |= m->L[l].dk != m->L[l].kc || m->L[l].dv != m->L[l].vc || m->L[l].tk;
    for (int i = 0; i < m->d.n_layers * m->d.n_kv_heads; i++) compact |= m->hdrop[i] != 0;
    if (!compact) return 0;
    drop_graph(m);
    free_compact(m);
    memset(m->hdrop, 0, sizeof(int32_t) * m->d.n_layers * m->d.n_kv_heads);
    return kvb_cuda_memset0(m->c, m->drop, sizeof(int32_t) * m->d.n_layers * m->d.n_kv_heads, e);
}

/* Layer l keeps count[g] of the `held` tokens per kv head g (positions idx[g * stride + i]):
 * gathered from kc/vc (head-major, so one gather per head, seen as a one-head tensor) into
 * compact buffers with room for the rest of the device's tokens. */
static int keep_check(const kvb_cuda_model *m, int l, const int32_t *idx, const int32_t *count,
                      int stride, kvb_error *e)
{
    const int held = m->held;
    for (int g = 0; g < m->d.n_kv_heads; g++) {
        const int32_t *p = idx + (size_t)g * stride;
        KVB_CU_CHECK_ARG(count[g] >= 1 && count[g] <= held, e,
                         "cuda: keep: layer %d head %d keeps %d of %d tokens", l, g, count[g], held);
        for (int i = 0; i < count[g]; i++)
            KVB_CU_CHECK_ARG(p[i] >= 0 && p[i] < held && (i == 0 || p[i] > p[i - 1]), e,
                             "cuda: keep: layer %d head %d: positions not ascending in [0, %d)", l,
                             g, held);
    }
    return 0;
}

static int keep_layer(kvb_cuda_model *m, int l, const int32_t *idx, const int32_t *count,
                      int stride, kvb_error *e)
{
    const kvb_cuda_model_desc *d = &m->d;
    const int held = m->held, KV = d->n_kv_heads, D = d->head_dim, T = d->max_tokens;
    int32_t *drop = m->hdrop + (size_t)l * KV;
    layer_dev *L = &m->L[l];
    TRY(keep_check(m, l, idx, count, stride, e));
    int most = 0, all = 1, same = 1;
    for (int g = 0; g < KV; g++) {
        most = count[g] > most ? count[g] : most;
        all &= count[g] == held;
        same &= count[g] == held - drop[g] + L->n_thin; /* drop counts thin rows too */
    }
    if (L->kv.on) { /* quantized: every token it holds stays */
        const int rows = L->kv.n.nkq + L->kv.n.nkr - L->kv.pending;
        for (int g = 0; g < KV; g++)
            KVB_CU_CHECK_ARG(count[g] == rows, e, "cuda: keep: layer %d is quantized (KIVI)", l);
        return 0;
    }
    if (L->dk != L->kc) /* cut already: what it holds stays */
        return same ? 0 : kvb_cu_err(e, KVB_EINVAL, "cuda: keep: layer %d was cut already", l);
    if (all) return 0; /* every token kept: decode reads kc/vc */
    const int cap = most + (T - held);
    const size_t bytes = (size_t)KV * cap * D * 2;
    TRY(kvb_cuda_alloc(m->c, (void **)&L->dk, bytes, e));
    int rc = kvb_cuda_alloc(m->c, (void **)&L->dv, bytes, e);
    if (rc) {
        kvb_cuda_free(m->c, L->dk);
        L->dk = L->kc, L->dv = L->vc;
        return rc;
    }
    L->cap = L->kcap = cap;
    for (int g = 0; g < KV; g++) drop[g] = held - count[g];
    TRY(kvb_cuda_upload(m->c, m->kidx, idx, sizeof(int32_t) * KV * stride, e));
    TRY(kvb_cuda_upload(m->c, m->drop + (size_t)l * KV, drop, sizeof(int32_t) * KV, e));
    for (int g = 0; g < KV; g++) {
        const size_t src = (size_t)g * T * D, dst = (size_t)g * cap * D;
        const int32_t *gi = m->kidx + (size_t)g * stride;
        TRY(kvb_cuda_gather_kv(m->c, (kvb_bf16 *)(L->dk + dst), (size_t)cap * D,
                               (const kvb_bf16 *)(L->kc + src), held, 1, D, gi, stride, count[g],
                               NULL, e));
        TRY(kvb_cuda_gather_kv(m->c, (kvb_bf16 *)(L->dv + dst), (size_t)cap * D,
                               (const kvb_bf16 *)(L->vc + src), held, 1, D, gi, stride, count[g],
                               NULL, e));
    }
    return kvb_cuda_sync(m->c, e); /* kidx is reused by the next layer */
}

int kvb_cuda_model_keep(kvb_cuda_model *m, const int32_t *idx, const int32_t *count, int stride,
                        kvb_error *e)
{
    const kvb_cuda_model_desc *d = &m->d;
    KVB_CU_CHECK_ARG(m->held > 0 && stride == m->held, e,
                     "cuda: keep: the stride must be the %d tokens held (%d given)", m->held, stride);
    drop_graph(m);
    for (int l = 0; l < d->n_layers; l++) {
        const size_t at = (size_t)l * d->n_kv_heads;
        TRY(keep_layer(m, l, idx + at * stride, count + at, stride, e));
    }
    return 0;
}

/* rows [r0, r0 + rows) of every kv head of src (head stride src_hs rows) to rows [d0, ...) of
 * dst (head stride dst_hs rows), head_dim bf16 each */
static int copy_rows(kvb_cuda_model *m, __nv_bfloat16 *dst, size_t dst_hs, int d0,
                     const __nv_bfloat16 *src, size_t src_hs, int r0, int rows, kvb_error *e)
{
    const size_t D = m->d.head_dim;
    if (rows <= 0) return 0;
    cudaError_t st = cudaMemcpy2DAsync(dst + d0 * D, dst_hs * D * 2, src + r0 * D, src_hs * D * 2,
                                       rows * D * 2, m->d.n_kv_heads, cudaMemcpyDeviceToDevice,
                                       m->c->stream);
    return st == cudaSuccess ? 0 : kvb_cu_err(e, KVB_EIO, "cuda: copy: %s", cudaGetErrorString(st));
}

/* ---- ThinK's thin keys (kvb_cuda_model_channel_sqmean, kvb_cuda_model_thin) ----------------- */
/* Rows layer l holds per kv head (the same on every head, or -1), before any decode step. */
static int held_rows(const kvb_cuda_model *m, int l)
{
    const int KV = m->d.n_kv_heads;
    const int32_t *drop = m->hdrop + (size_t)l * KV;
    for (int g = 1; g < KV; g++)
        if (drop[g] != drop[0]) return -1;
    return m->held - drop[0];
}

int kvb_cuda_model_channel_sqmean(kvb_cuda_model *m, float *out, kvb_error *e)
{
    const kvb_cuda_model_desc *d = &m->d;
    const int KV = d->n_kv_heads, D = d->head_dim;
    for (int l = 0; l < d->n_layers; l++) {
        const layer_dev *L = &m->L[l];
        const int rows = held_rows(m, l);
        KVB_CU_CHECK_ARG(!L->kv.on && !L->tk && rows > 0, e,
                         "cuda: channel magnitudes: layer %d is quantized, thin or ragged", l);
        for (int g = 0; g < KV; g++) /* each head as a one-head tensor of `rows` tokens */
            TRY(kvb_cuda_channel_sqmean(m->c, m->chsq + ((size_t)l * KV + g) * D,
                                        (const kvb_bf16 *)(L->dk + (size_t)g * L->cap * D), rows,
                                        0, 1, D, e));
    }
    return kvb_cuda_download(m->c, out, m->chsq, sizeof(float) * d->n_layers * KV * D, e);
}

static int thin_check(const kvb_cuda_model *m, int l, int n_thin, int n_ch, const int32_t *ch,
                      kvb_error *e)
{
    const int KV = m->d.n_kv_heads, D = m->d.head_dim;
    KVB_CU_CHECK_ARG(l >= 0 && l < m->d.n_layers, e, "cuda: thin: layer %d", l);
    const layer_dev *L = &m->L[l];
    const int rows = held_rows(m, l);
    KVB_CU_CHECK_ARG(!L->kv.on && !L->tk && rows > 0 && n_thin >= 1 && n_thin <= rows &&
                         n_ch >= 1 && n_ch <= D,
                     e, "cuda: thin: layer %d: %d of %d rows, %d of %d channels", l, n_thin, rows,
                     n_ch, D);
    for (int g = 0; g < KV; g++)
        for (int c = 0; c < n_ch; c++) {
            const int32_t j = ch[(size_t)g * n_ch + c];
            KVB_CU_CHECK_ARG(j >= 0 && j < D && (c == 0 || j > ch[(size_t)g * n_ch + c - 1]), e,
                             "cuda: thin: layer %d head %d: channels not ascending in [0, %d)", l,
                             g, D);
        }
    return 0;
}

/* The layer's oldest n_thin rows keep channels ch: their keys move to tk, the other keys to a
 * K cache of their own (kcap = cap - n_thin rows per head); the values stay where they are. */
int kvb_cuda_model_thin(kvb_cuda_model *m, int l, int n_thin, int n_ch, const int32_t *ch,
                        kvb_error *e)
{
    TRY(thin_check(m, l, n_thin, n_ch, ch, e));
    const int KV = m->d.n_kv_heads, D = m->d.head_dim, cp = (n_ch + 7) / 8 * 8;
    layer_dev *L = &m->L[l];
    const int rows = held_rows(m, l), kcap = L->cap - n_thin;
    int32_t *hch = (int32_t *)malloc(sizeof(int32_t) * KV * cp);
    if (!hch) return kvb_cu_err(e, KVB_ENOMEM, "cuda: thin: out of host memory");
    for (int g = 0; g < KV; g++)
        for (int c = 0; c < cp; c++) hch[g * cp + c] = c < n_ch ? ch[(size_t)g * n_ch + c] : 0;
    drop_graph(m);
    __nv_bfloat16 *dk2 = NULL;
    int rc = kvb_cuda_alloc(m->c, (void **)&L->tk, (size_t)KV * n_thin * cp * 2, e);
    if (!rc) rc = kvb_cuda_alloc(m->c, (void **)&L->tch, sizeof(int32_t) * KV * cp, e);
    if (!rc) rc = kvb_cuda_alloc(m->c, (void **)&dk2, (size_t)KV * kcap * D * 2, e);
    if (!rc) rc = kvb_cuda_upload(m->c, L->tch, hch, sizeof(int32_t) * KV * cp, e);
    free(hch);
    if (!rc) {
        thin_keys_kernel<<<dim3(n_thin, KV), 64, 0, m->c->stream>>>(L->tk, L->dk, L->cap, D, n_thin,
                                                                    cp, n_ch, L->tch);
        rc = kvb_cu_launch(e, "thin keys");
    }
    if (!rc) rc = copy_rows(m, dk2, kcap, 0, L->dk, L->cap, n_thin, rows - n_thin, e);
    if (!rc) rc = kvb_cuda_sync(m->c, e);
    if (rc) { /* nothing changed but the buffers: the next prefill frees tk and tch */
        kvb_cuda_free(m->c, dk2);
        return rc;
    }
    if (L->dk != L->kc) kvb_cuda_free(m->c, L->dk);
    L->dk = dk2, L->kcap = kcap, L->n_thin = n_thin, L->cp = cp, L->n_ch = n_ch;
    int32_t *drop = m->hdrop + (size_t)l * KV; /* decode's rows and lengths count after tk */
    for (int g = 0; g < KV; g++) drop[g] += n_thin;
    return kvb_cuda_upload(m->c, m->drop + (size_t)l * KV, drop, sizeof(int32_t) * KV, e);
}

/* ---- KIVI on the device (kvb_cuda_model_kivi) ---------------------------------------------- */
/* Bytes of one layer's KIVI buffers: codes and f16 scale/min for every token the model can hold
 * (keys in blocks of G, one block more; values one token more, as the CPU store), the key residual
 * (R rows) and the value window (2(R + 1) rows: it slides, and moves back once per R + 1 steps). */
static size_t kivi_layer_bytes(const kvb_cuda_model *m, const kivi_state *k, size_t *kq, size_t *ks,
                               size_t *vq, size_t *vs, size_t *kr, size_t *vr)
{
    const size_t KV = m->d.n_kv_heads, D = m->d.head_dim, T = m->d.max_tokens;
    const size_t G = k->G, R = k->R, b = k->bits, blocks = T / G + 1, vcap = T + 1;
    *kq = KV * blocks * D * (G * b / 32) * 4;
    *ks = KV * blocks * D * 2;
    *vq = KV * vcap * (D * b / 32) * 4;
    *vs = KV * vcap * (D / G) * 2;
    *kr = KV * R * D * 2;
    *vr = KV * 2 * (R + 1) * D * 2;
    return *kq + 2 * *ks + *vq + 2 * *vs + *kr + *vr;
}

size_t kvb_cuda_model_kv_bytes(const kvb_cuda_model *m)
{
    size_t b = 0, kq, ks, vq, vs, kr, vr;
    for (int l = 0; l < m->d.n_layers; l++) {
        const layer_dev *L = &m->L[l];
        b += L->kv.on ? kivi_layer_bytes(m, &L->kv, &kq, &ks, &vq, &vs, &kr, &vr)
                      : (size_t)m->d.n_kv_heads *
                            (((size_t)L->kcap + L->cap) * m->d.head_dim + (size_t)L->n_thin * L->cp) * 2;
    }
    return b;
}

static kvb_kivi_fmt kivi_fmt(const kvb_cuda_model *m, const kivi_state *k)
{
    kvb_kivi_fmt f = {k->bits, k->G, m->d.head_dim, m->d.n_kv_heads};
    return f;
}

static int kivi_alloc(kvb_cuda_model *m, layer_dev *L, kvb_error *e)
{
    size_t kq, ks, vq, vs, kr, vr;
    kivi_layer_bytes(m, &L->kv, &kq, &ks, &vq, &vs, &kr, &vr);
    TRY(kvb_cuda_alloc(m->c, (void **)&L->kq, kq, e));
    TRY(kvb_cuda_alloc(m->c, (void **)&L->ks, ks, e));
    TRY(kvb_cuda_alloc(m->c, (void **)&L->km, ks, e));
    TRY(kvb_cuda_alloc(m->c, (void **)&L->vq, vq, e));
    TRY(kvb_cuda_alloc(m->c, (void **)&L->vs, vs, e));
    TRY(kvb_cuda_alloc(m->c, (void **)&L->vm, vs, e));
    TRY(kvb_cuda_alloc(m->c, (void **)&L->kr, kr, e));
    return kvb_cuda_alloc(m->c, (void **)&L->vr, vr, e);
}

/* Keys [k0, k1) of every head quantized from rows x (head stride hs rows), in groups of G. */
static int kivi_keys(kvb_cuda_model *m, layer_dev *L, int k0, int k1, const __nv_bfloat16 *x,
                     size_t hs, kvb_error *e)
{
    const kivi_state *k = &L->kv;
    const kvb_kivi_fmt f = kivi_fmt(m, k);
    const size_t D = m->d.head_dim, b = (size_t)(k0 / k->G);
    return kvb_cuda_kivi_quant_k(m->c, L->kq + b * D * (k->G * k->bits / 32), L->ks + b * D,
                                 L->km + b * D, k->kq_hs, k->ks_hs, (const kvb_bf16 *)x, hs * D,
                                 (int)D, k1 - k0, &f, e);
}

/* Values [v0, v1) of every head quantized from rows x (head stride hs rows), one per token. */
static int kivi_values(kvb_cuda_model *m, layer_dev *L, int v0, int v1, const __nv_bfloat16 *x,
                       size_t hs, kvb_error *e)
{
    const kivi_state *k = &L->kv;
    const kvb_kivi_fmt f = kivi_fmt(m, k);
    const size_t D = m->d.head_dim;
    return kvb_cuda_kivi_quant_v(m->c, L->vq + (size_t)v0 * (D * k->bits / 32),
                                 L->vs + (size_t)v0 * (D / k->G), L->vm + (size_t)v0 * (D / k->G),
                                 k->vq_hs, k->vs_hs, (const kvb_bf16 *)x, hs * D, (int)D, v1 - v0,
                                 &f, e);
}

/* The first time: the layer's rows (kc/vc, or the cut cache) quantized up to the counts, the rest
 * into the residual and the window; the cut cache is freed. */
static int kivi_start(kvb_cuda_model *m, layer_dev *L, int rows, kvb_error *e)
{
    kivi_state *k = &L->kv;
    const kvb_cuda_kivi_counts *n = &k->n;
    const size_t T = m->d.max_tokens, D = m->d.head_dim, R = k->R, hs = L->cap;
    const size_t blocks = T / k->G + 1;
    k->kq_hs = blocks * D * (k->G * k->bits / 32), k->ks_hs = blocks * D;
    k->vq_hs = (T + 1) * (D * k->bits / 32), k->vs_hs = (T + 1) * (D / k->G);
    k->vstart = 0;
    TRY(kivi_alloc(m, L, e));
    TRY(kivi_keys(m, L, 0, n->nkq, L->dk, hs, e));
    TRY(copy_rows(m, L->kr, R, 0, L->dk, hs, n->nkq, rows - n->nkq, e));
    TRY(kivi_values(m, L, 0, n->nvq, L->dv, hs, e));
    TRY(copy_rows(m, L->vr, 2 * (R + 1), 0, L->dv, hs, n->nvq, rows - n->nvq, e));
    if (L->dk != L->kc) { /* the rows live in KIVI's buffers now */
        TRY(kvb_cuda_sync(m->c, e));
        kvb_cuda_free(m->c, L->dk), kvb_cuda_free(m->c, L->dv);
        L->dk = L->kc, L->dv = L->vc, L->cap = L->kcap = (int)T;
    }
    return 0;
}

/* Later: the residual rows the new counts quantized (a full key residual, the window's oldest
 * values), then the window slid back when the next row would not fit. */
static int kivi_advance(kvb_cuda_model *m, layer_dev *L, const kvb_cuda_kivi_counts *to,
                        kvb_error *e)
{
    kivi_state *k = &L->kv;
    const size_t D = m->d.head_dim, R = k->R, W = 2 * (R + 1);
    const int keys = to->nkq - k->n.nkq, values = to->nvq - k->n.nvq;
    KVB_CU_CHECK_ARG(keys >= 0 && values >= 0 && (keys == 0 || keys == k->n.nkr), e,
                     "cuda: kivi: counts %d/%d -> %d/%d do not follow KIVI's rules", k->n.nkq,
                     k->n.nkr, to->nkq, to->nkr);
    if (keys) TRY(kivi_keys(m, L, k->n.nkq, to->nkq, L->kr, R, e));
    if (values) TRY(kivi_values(m, L, k->n.nvq, to->nvq, L->vr + k->vstart * D, W, e));
    k->vstart += values;
    const int present = to->nvr - 1; /* window rows already there */
    if (k->vstart + to->nvr > (int)W) { /* slide back: non-overlapping, vstart > R + 1 > present */
        TRY(copy_rows(m, L->vr, W, 0, L->vr, W, k->vstart, present, e));
        k->vstart = 0;
    }
    return 0;
}

int kvb_cuda_model_kivi(kvb_cuda_model *m, int layer, int bits, int group, int residual,
                        const kvb_cuda_kivi_counts *n, kvb_error *e)
{
    const kvb_cuda_model_desc *d = &m->d;
    const int D = d->head_dim;
    KVB_CU_CHECK_ARG(layer >= 0 && layer < d->n_layers && (bits == 2 || bits == 4) && group > 0 &&
                         group % (32 / bits) == 0 && D % group == 0 && residual > 0 &&
                         residual % group == 0,
                     e, "cuda: kivi: layer %d, bits %d, group %d, residual %d on head_dim %d",
                     layer, bits, group, residual, D);
    layer_dev *L = &m->L[layer];
    kivi_state *k = &L->kv;
    KVB_CU_CHECK_ARG(!L->tk, e, "cuda: kivi: layer %d holds thin keys (ThinK)", layer);
    /* rows the layer holds now: every token, or its cut cache's (the same count on every head) */
    const int rows = k->on ? k->n.nkq + k->n.nkr - k->pending
                           : m->held - (L->dk != L->kc ? m->hdrop[(size_t)layer * d->n_kv_heads] : 0);
    const int total = n->nkq + n->nkr, pending = total - rows;
    KVB_CU_CHECK_ARG(total == n->nvq + n->nvr && n->nkq % group == 0 && n->nkr >= 0 &&
                         n->nvr >= 0 && n->nkr <= residual && (pending == 0 || pending == 1) &&
                         (!k->on || (k->bits == bits && k->G == group && k->R == residual)),
                     e, "cuda: kivi: layer %d: counts keys %d+%d, values %d+%d for %d rows held",
                     layer, n->nkq, n->nkr, n->nvq, n->nvr, rows);
    if (!k->on) {
        k->bits = bits, k->G = group, k->R = residual, k->n = *n;
        drop_graph(m);
        m->n_kivi++;
        k->on = 1; /* free_kivi frees whatever this allocated, should it fail */
        TRY(kivi_start(m, L, rows, e));
    } else {
        TRY(kivi_advance(m, L, n, e));
        k->n = *n;
    }
    k->pending = pending;
    /* the step's rows for the new token: the residuals' last, as drops of decode_qkv_post_kernel */
    int32_t *drop = m->hkvdrop + (size_t)layer * 2 * d->n_kv_heads;
    for (int g = 0; g < d->n_kv_heads; g++)
        drop[g] = m->held - (n->nkr - 1), drop[d->n_kv_heads + g] = m->held - (k->vstart + n->nvr - 1);
    return 0;
}

/* One layer's decode attention on its KIVI codes (the new token already in the residuals). */
static int kivi_attend(kvb_cuda_model *m, const layer_dev *L, kvb_error *e)
{
    const kivi_state *k = &L->kv;
    const size_t D = m->d.head_dim;
    const kvb_kivi_fmt f = kivi_fmt(m, k);
    kvb_kivi_view v = {L->kq, L->ks, L->km, k->kq_hs, k->ks_hs, k->n.nkq,
                       (kvb_bf16 *)L->kr, (size_t)k->R * D, k->n.nkr,
                       L->vq, L->vs, L->vm, k->vq_hs, k->vs_hs, k->n.nvq,
                       (kvb_bf16 *)(L->vr + k->vstart * D), 2 * (size_t)(k->R + 1) * D, k->n.nvr};
    return kvb_cuda_kivi_attn_decode(m->c, m->of, m->qf, &v, &f, m->d.n_heads, m->work, e);
}

/* ThinK's layer: the thin rows scored with q's kept channels, the rest with all of q. */
static int thin_attend(kvb_cuda_model *m, const layer_dev *L, int l, kvb_error *e)
{
    const kvb_cuda_model_desc *d = &m->d;
    const kvb_thin_keys t = {(const kvb_bf16 *)L->tk, L->tch, L->n_ch, L->cp, L->n_thin};
    return kvb_cuda_attn_decode_thin(m->c, m->of, m->qf, &t, m->qt, (const kvb_bf16 *)L->dk,
                                     (size_t)L->kcap * d->head_dim, (const kvb_bf16 *)L->dv,
                                     (size_t)L->cap * d->head_dim,
                                     m->len + (size_t)l * d->n_kv_heads, L->cap, d->n_heads,
                                     d->n_kv_heads, d->head_dim, m->work, e);
}

/* One layer's statistics of the prompt's attention into the host arrays of st (row l). */
static int layer_stats(kvb_cuda_model *m, int l, int n, const kvb_cuda_prefill_stats *st,
                       kvb_error *e)
{
    const kvb_cuda_model_desc *d = &m->d;
    const size_t per = (size_t)d->n_heads * n, off = (size_t)l * per;
    float *host[2] = {st->colsum, st->window_attn};
    const int row0[2] = {0, n - (st->window < n ? st->window : n)};
    for (int i = 0; i < 2; i++) {
        if (!host[i]) continue;
        kvb_attn_stats s = {m->stat, NULL, NULL, row0[i], 0, 0};
        TRY(kvb_cuda_attn_prefill_stats(m->c, &s, m->lse, (kvb_bf16 *)m->qb, (kvb_bf16 *)m->kb, n,
                                        d->n_heads, d->n_kv_heads, d->head_dim, e));
        TRY(kvb_cuda_download(m->c, host[i] + off, m->stat, sizeof(float) * per, e));
    }
    if (st->q_sqmean) /* ThinK's window q^2, downloaded with every layer's after the prompt */
        TRY(kvb_cuda_channel_sqmean(m->c, m->chsq + (size_t)l * d->n_heads * d->head_dim,
                                    (const kvb_bf16 *)m->qb, n,
                                    n - (st->qwindow < n ? st->qwindow : n), d->n_heads,
                                    d->head_dim, e));
    return 0;
}

int kvb_cuda_model_prefill(kvb_cuda_model *m, const int32_t *ids, int n, float *logits,
                           int32_t *next, kvb_error *e)
{
    return kvb_cuda_model_prefill_stats(m, ids, n, logits, next, NULL, e);
}

int kvb_cuda_model_prefill_stats(kvb_cuda_model *m, const int32_t *ids, int n, float *logits,
                                 int32_t *next, const kvb_cuda_prefill_stats *st, kvb_error *e)
{
    const kvb_cuda_model_desc *d = &m->d;
    KVB_CU_CHECK_ARG(n > 0 && n <= d->max_tokens, e,
                     "cuda: model: prompt of %d tokens (the cache holds %d)", n, d->max_tokens);
    KVB_CU_CHECK_ARG(!st || (st->window >= 0 && (!st->q_sqmean || st->qwindow > 0)), e,
                     "cuda: model: bad statistics window");
    TRY(ids_ok(m, ids, n, e));
    TRY(restore_full(m, e));
    m->held = n;
    TRY(kvb_cuda_upload(m->c, m->ids, ids, sizeof(int32_t) * n, e));
    embed_kernel<<<n, 256, 0, m->c->stream>>>(m->x, m->embed, m->ids, d->hidden);
    TRY(kvb_cu_launch(e, "embed"));
    for (int l = 0; l < d->n_layers; l++) {
        const layer_dev *L = &m->L[l];
        for (int t0 = 0; t0 < n; t0 += m->chunk) TRY(qkv_chunk(m, L, t0, KVB_MIN(m->chunk, n - t0), e));
        TRY(kv_store(m, L, 0, n, e));
        TRY(kvb_cuda_attn_prefill(m->c, (kvb_bf16 *)m->att, m->lse, (kvb_bf16 *)m->qb,
                                  (kvb_bf16 *)m->kb, (kvb_bf16 *)m->vb, n, d->n_heads,
                                  d->n_kv_heads, d->head_dim, e));
        if (st) TRY(layer_stats(m, l, n, st, e));
        for (int t0 = 0; t0 < n; t0 += m->chunk) TRY(out_mlp_chunk(m, L, t0, KVB_MIN(m->chunk, n - t0), e));
    }
    if (st && st->q_sqmean)
        TRY(kvb_cuda_download(m->c, st->q_sqmean, m->chsq,
                              sizeof(float) * d->n_layers * d->n_heads * d->head_dim, e));
    TRY(head_compute(m, n - 1, next != NULL, e));
    return head_fetch(m, logits, next, e);
}

/* One decode step for the token and position in m->step, everything on the device: the body of the
 * decode graph. Attention is launched for the whole cache (max_tokens); chunks past len exit. */
static int decode_body(kvb_cuda_model *m, const kvb_cuda_decode_stats *ds, kvb_error *e)
{
    const kvb_cuda_model_desc *d = &m->d;
    kvb_cuda *c = m->c;
    const int heads = d->n_layers * d->n_kv_heads;
    embed_kernel<<<1, 256, 0, c->stream>>>(m->x, m->embed, m->step, d->hidden);
    decode_len_kernel<<<kvb_cdiv(heads, 256), 256, 0, c->stream>>>(m->len, m->drop, heads, m->step);
    TRY(kvb_cu_launch(e, "embed"));
    for (int l = 0; l < d->n_layers; l++) {
        const layer_dev *L = &m->L[l];
        prof_mark(m, KVB_PROF_QKV); /* with attn_norm */
        TRY(norm_gemm(m, m->qkv, m->x, L->attn_norm, L->wqkv, 1, m->QKV, e));
        prof_mark(m, KVB_PROF_ROPE_KV);
        const int32_t *drop = m->drop + (size_t)l * d->n_kv_heads;
        const int blocks = d->n_heads + 2 * d->n_kv_heads, W = 2 * (L->kv.R + 1);
        const int32_t *kvdrop = m->kvdrop + (size_t)l * 2 * d->n_kv_heads;
        if (L->kv.on) /* into the key residual and the value window (kvb_cuda_model_kivi's rows) */
            decode_qkv_post_kernel<<<blocks, 64, 0, c->stream>>>(
                m->qf, L->kr, L->kv.R, kvdrop, L->vr, W, kvdrop + d->n_kv_heads, m->qkv,
                d->n_heads, d->n_kv_heads, d->head_dim, m->inv_freq, m->step);
        else /* values after the thin rows' (ThinK), which drop counts for the keys */
            decode_qkv_post_kernel<<<blocks, 64, 0, c->stream>>>(
                m->qf, L->dk, L->kcap, drop, L->dv + (size_t)L->n_thin * d->head_dim, L->cap, drop,
                m->qkv, d->n_heads, d->n_kv_heads, d->head_dim, m->inv_freq, m->step);
        TRY(kvb_cu_launch(e, "decode q/k/v rotation and cache append"));
        prof_mark(m, KVB_PROF_ATTN);
        if (L->kv.on)
            TRY(kivi_attend(m, L, e));
        else if (L->tk)
            TRY(thin_attend(m, L, l, e));
        else
            TRY(kvb_cuda_attn_decode(c, m->of, m->qf, (kvb_bf16 *)L->dk, (kvb_bf16 *)L->dv,
                                     (size_t)L->cap * d->head_dim,
                                     m->len + (size_t)l * d->n_kv_heads, L->cap, d->n_heads,
                                     d->n_kv_heads, d->head_dim,
                                     ds ? m->sink + (size_t)l * d->n_heads : NULL,
                                     ds ? ds->sink : 0, ds ? ds->recent : 0, m->work, e));
        TRY(kvb_cuda_to_bf16(c, (kvb_bf16 *)m->att, m->HD, m->of, m->HD, 1, m->HD, e));
        TRY(out_mlp_chunk(m, L, 0, 1, e));
    }
    prof_mark(m, KVB_PROF_HEAD);
    return head_compute(m, 0, 1, e);
}

/* Capture decode_body once into a graph (about 15 launches per layer replayed without the host's
 * launch latency, which dominated decode); where capture fails, decode stays eager. */
static void decode_capture(kvb_cuda_model *m)
{
    cudaStream_t s = m->c->stream;
    cudaGraph_t g = NULL;
    kvb_error ignored;
    memset(&ignored, 0, sizeof ignored);
    m->graph_state = -1;
    if (cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed) != cudaSuccess) return;
    int rc = decode_body(m, NULL, &ignored);
    cudaError_t st = cudaStreamEndCapture(s, &g);
    if (!rc && st == cudaSuccess && cudaGraphInstantiate(&m->graph, g, 0) == cudaSuccess)
        m->graph_state = 1;
    if (g) cudaGraphDestroy(g);
    cudaGetLastError(); /* a failed capture leaves nothing behind: decode runs eagerly */
}

int kvb_cuda_model_decode(kvb_cuda_model *m, int32_t id, int pos, float *logits, int32_t *next,
                          kvb_error *e)
{
    return kvb_cuda_model_decode_stats(m, id, pos, logits, next, NULL, e);
}

int kvb_cuda_model_decode_stats(kvb_cuda_model *m, int32_t id, int pos, float *logits,
                                int32_t *next, const kvb_cuda_decode_stats *ds, kvb_error *e)
{
    const kvb_cuda_model_desc *d = &m->d;
    KVB_CU_CHECK_ARG(pos > 0 && pos < d->max_tokens, e,
                     "cuda: model: decode position %d outside (0, %d)", pos, d->max_tokens);
    KVB_CU_CHECK_ARG(!ds || (ds->sink_mass && ds->sink >= 0 && ds->recent >= 0), e,
                     "cuda: model: bad decode statistics request");
    TRY(ids_ok(m, &id, 1, e));
    int32_t step[2] = {id, pos};
    TRY(kvb_cuda_upload(m->c, m->step, step, sizeof step, e));
    /* KIVI's step depends on the host's counts: eager, never the graph */
    const int eager = ds || m->n_kivi;
    for (int l = 0; l < d->n_layers; l++)
        KVB_CU_CHECK_ARG(!m->L[l].kv.on || (m->L[l].kv.pending && pos == m->held), e,
                         "cuda: kivi: layer %d has no counts for the token at %d", l, pos);
    if (m->n_kivi)
        TRY(kvb_cuda_upload(m->c, m->kvdrop, m->hkvdrop,
                            sizeof(int32_t) * d->n_layers * 2 * d->n_kv_heads, e));
    if (m->graph_state == 0 && !eager) decode_capture(m);
    if (m->graph_state == 1 && !eager) {
        cudaError_t st = cudaGraphLaunch(m->graph, m->c->stream);
        if (st != cudaSuccess)
            return kvb_cu_err(e, KVB_EIO, "cuda: decode graph launch: %s", cudaGetErrorString(st));
    } else {
        TRY(decode_body(m, ds, e));
    }
    m->held = pos + 1;
    for (int l = 0; l < d->n_layers; l++) m->L[l].kv.pending = 0;
    if (ds)
        TRY(kvb_cuda_download(m->c, ds->sink_mass, m->sink,
                              sizeof(float) * d->n_layers * d->n_heads, e));
    return head_fetch(m, logits, next, e);
}

int kvb_cuda_model_decode_graph(const kvb_cuda_model *m) { return m->graph_state == 1; }

/* One eager decode step of token id at pos with events between its parts: part_ms[] gets the sums. */
static int decode_profile(kvb_cuda_model *m, int32_t id, int pos, double *part_ms, kvb_error *e)
{
    const int cap = m->d.n_layers * 12 + 8;
    m->prof_ev = (cudaEvent_t *)calloc(cap, sizeof(cudaEvent_t));
    m->prof_part = (int *)calloc(cap, sizeof(int));
    int rc = m->prof_ev && m->prof_part ? 0 : kvb_cu_err(e, KVB_ENOMEM, "cuda: out of host memory");
    int made = 0;
    for (; !rc && made < cap; made++)
        if (cudaEventCreate(&m->prof_ev[made]) != cudaSuccess)
            rc = kvb_cu_err(e, KVB_EIO, "cuda: bench: cannot create events");
    int32_t step[2] = {id, pos};
    m->prof_n = 0, m->prof_cap = cap - 1;
    if (!rc) rc = kvb_cuda_upload(m->c, m->step, step, sizeof step, e);
    if (!rc) rc = decode_body(m, NULL, e);
    m->prof_cap = cap;
    prof_mark(m, KVB_PROF_N); /* end */
    if (!rc) rc = kvb_cuda_sync(m->c, e);
    for (int i = 0; !rc && i + 1 < m->prof_n; i++) {
        float ms = 0;
        cudaEventElapsedTime(&ms, m->prof_ev[i], m->prof_ev[i + 1]);
        part_ms[m->prof_part[i]] += ms;
    }
    for (int i = 0; i < made; i++) cudaEventDestroy(m->prof_ev[i]);
    free(m->prof_ev), free(m->prof_part);
    m->prof_ev = NULL, m->prof_part = NULL, m->prof_n = m->prof_cap = 0;
    return rc;
}

/* ---- benchmark ----------------------------------------------------------------------------- */
int kvb_cuda_model_bench(kvb_cuda_model *m, int context, int decode_tokens, kvb_cuda_bench_row *r,
                         kvb_error *e)
{
    const kvb_cuda_model_desc *d = &m->d;
    memset(r, 0, sizeof *r);
    KVB_CU_CHECK_ARG(context > 0 && decode_tokens > 0 && context + decode_tokens <= d->max_tokens,
                     e, "cuda: bench: context %d + %d decode tokens exceed the cache (%d)",
                     context, decode_tokens, d->max_tokens);
    int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * context);
    if (!ids) return kvb_cu_err(e, KVB_ENOMEM, "cuda: out of host memory");
    for (int i = 0; i < context; i++) ids[i] = (int32_t)((i * 2654435761u) % (unsigned)d->vocab);
    kvb_cuda_info info;
    int32_t next = 0;
    int rc = kvb_cuda_info_get(m->c, &info, e);
    cudaEvent_t a = NULL, b = NULL;
    if (!rc && (cudaEventCreate(&a) != cudaSuccess || cudaEventCreate(&b) != cudaSuccess))
        rc = kvb_cu_err(e, KVB_EIO, "cuda: bench: cannot create events");
    /* warm-up (cuBLAS heuristics, first-launch costs, the decode graph's capture), then one timed
     * prefill */
    const int warm = KVB_MIN(context, 256);
    if (!rc) rc = kvb_cuda_model_prefill(m, ids, warm, NULL, &next, e);
    if (!rc) rc = kvb_cuda_model_decode(m, next, warm, NULL, &next, e);
    float ms = 0;
    if (!rc) {
        cudaEventRecord(a, m->c->stream);
        rc = kvb_cuda_model_prefill(m, ids, context, NULL, &next, e);
        cudaEventRecord(b, m->c->stream);
        cudaEventSynchronize(b);
        cudaEventElapsedTime(&ms, a, b);
        r->prefill_s = ms / 1e3;
    }
    if (!rc) {
        cudaEventRecord(a, m->c->stream);
        for (int t = 0; t < decode_tokens && !rc; t++)
            rc = kvb_cuda_model_decode(m, next, context + t, NULL, &next, e);
        cudaEventRecord(b, m->c->stream);
        cudaEventSynchronize(b);
        cudaEventElapsedTime(&ms, a, b);
        r->decode_ms = ms / decode_tokens;
    }
    if (!rc) rc = decode_profile(m, next, context + decode_tokens - 1, r->decode_part_ms, e);
    if (a) cudaEventDestroy(a);
    if (b) cudaEventDestroy(b);
    free(ids);
    if (rc) return rc;
    /* floors */
    const double Hd = d->hidden, F = d->intermediate, V = d->vocab, Ly = d->n_layers;
    const double HD = m->HD, KD = m->KD;
    double layer_params = (HD + 2 * KD) * Hd + Hd * HD + 3 * F * Hd;
    double n = context;
    double flops = 2 * n * layer_params * Ly + 2 * Hd * V + 2 * n * n * HD * Ly;
    double weight_bytes = 2 * (layer_params * Ly + V * Hd + Hd * (2 * Ly + 1));
    double kv_bytes = 2 * 2 * KD * Ly * (context + decode_tokens / 2.0);
    r->context = context;
    r->prefill_tok_s = context / r->prefill_s;
    r->prefill_floor_s = info.bf16_tflops > 0 ? flops / (info.bf16_tflops * 1e12) : 0;
    r->prefill_ratio = r->prefill_floor_s > 0 ? r->prefill_s / r->prefill_floor_s : 0;
    r->decode_floor_ms = info.hbm_gbs > 0 ? (weight_bytes + kv_bytes) / (info.hbm_gbs * 1e9) * 1e3 : 0;
    r->decode_ratio = r->decode_floor_ms > 0 ? r->decode_ms / r->decode_floor_ms : 0;
    return 0;
}
