/* The Llama-family forward pass on the CPU, f32 compute.
 *
 * Prefill runs layer by layer over the whole prompt: projections in row blocks of KVB_PB rows
 * through a real GEMM (kernels.c), attention block-wise (attn.c: KVB_ATTN_B queries x the keys they see, never
 * an n x n matrix), then the whole layer's Q/K/V after RoPE go to the cache. Decode is one token:
 * one kvb_pool_run per step, phases separated by a spin barrier (a pool run per matmul would cost
 * more than the matmuls on a small model), attention by the cache over head ranges.
 * All buffers come from the model's arena, sized when a prefill starts: nothing is allocated in
 * the layer or decode loops. */
#include "model_impl.h"


#include <immintrin.h>
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define KVB_PB 512 /* prefill rows per GEMM block (Q4_1 weights are widened once per block) */
#define KVB_QG 4   /* at most this many query heads of one kv head share an attention block */

struct kvb_fwd_bufs {
    int cap;                 /* prompt tokens these buffers were carved for */
    int nth;
    /* prefill */
    float *x;                /* (n, hidden) residual stream */
    float *q, *k, *v;        /* (n, nh*hd), (n, nkv*hd), (n, nkv*hd) after RoPE */
    float *att;              /* (n, nh*hd) attention output */
    float *xn;               /* (PB, hidden) */
    float *gate, *up;        /* (PB, inter) */
    float *wbuf;             /* (nth, NC * max_k) widened weights */
    uint16_t *apack;         /* (PB, max_k) bf16 A of a GEMM packed by kvb_gemm_pack_a_bf16 */
    float *scores;           /* (nth, QG * QB * n), f32 attention only */
    float *qstack, *ostack;  /* (nth, QG * QB * hd) stacked queries / outputs of a head group */
    float *colsum_t;         /* (nth, nh * n) when the cache needs column sums */
    float *colsum;           /* (nh, n) */
    uint16_t *kp, *vp;       /* (nkv, kvb_fa_packed_elems) K, V of a layer packed as bf16 */
    float *fa_scratch;       /* (nth, kvb_fa_scratch_floats(QG, hd)) */
    float *cosv, *sinv;      /* (n, hd/2) RoPE tables */
    /* decode */
    float *dx, *dq, *dk, *dv, *datt, *dtmp, *dgate, *dup; /* one token */
    float *dxn;              /* (nth, hidden) private normed copies */
    float *dpart, *dmx, *dsum; /* (nth, nh*hd), (nth, nh), (nth, nh): token-split attention parts */
    float *datt_t;           /* (nth, nh*hd) each thread's merged attention output */
    float *dcos, *dsin;      /* (hd/2) */
    float *cscratch;         /* (nth, cache scratch) */
    size_t cscratch_n;
};

/* ---- arena layout --------------------------------------------------------------------------------- */
typedef struct carve {
    kvb_arena *a;
    size_t need; /* dry run: bytes needed */
    int fail;
} carve;

static float *take(carve *cv, size_t floats)
{
    size_t bytes = floats * sizeof(float);
    if (!cv->a) {
        cv->need += (bytes + 63) & ~(size_t)63;
        return NULL;
    }
    float *p = kvb_arena_alloc(cv->a, bytes ? bytes : 4);
    if (!p)
        cv->fail = 1;
    return p;
}

static void layout(const kvb_model *m, struct kvb_fwd_bufs *b, carve *cv, int n, int colsum,
                   size_t cscratch)
{
    int fa = m->prefill_bf16 && !colsum;
    const kvb_model_config *c = &m->cfg;
    size_t qd = (size_t)c->n_heads * c->head_dim, kd = (size_t)c->n_kv_heads * c->head_dim;
    size_t N = (size_t)n, nth = (size_t)m->nth, pb = (size_t)KVB_MIN(n, KVB_PB);
    size_t maxk = (size_t)KVB_MAX(KVB_MAX(c->hidden, c->intermediate), (int)qd);
    b->x = take(cv, N * c->hidden);
    b->q = take(cv, N * qd);
    b->k = take(cv, N * kd);
    b->v = take(cv, N * kd);
    b->att = take(cv, N * qd);
    b->xn = take(cv, pb * KVB_MAX((size_t)c->hidden, qd));
    b->gate = take(cv, pb * c->intermediate);
    b->up = take(cv, pb * c->intermediate);
    b->wbuf = take(cv, nth * KVB_GEMM_NC * maxk);
    b->apack = m->prefill_bf16 ? (uint16_t *)(void *)take(cv, kvb_gemm_packed_a_elems((int)pb, (int)maxk) / 2 + 1) : NULL;
    b->scores = fa ? NULL : take(cv, nth * KVB_QG * KVB_ATTN_B * N);
    b->qstack = take(cv, nth * KVB_QG * KVB_ATTN_B * c->head_dim);
    b->ostack = take(cv, nth * KVB_QG * KVB_ATTN_B * c->head_dim);
    b->colsum_t = colsum ? take(cv, nth * c->n_heads * N) : NULL;
    b->colsum = colsum ? take(cv, (size_t)c->n_heads * N) : NULL;
    size_t packed = fa ? (kvb_fa_packed_elems(n, c->head_dim) * c->n_kv_heads + 1) / 2 : 0;
    b->kp = fa ? (uint16_t *)(void *)take(cv, packed) : NULL;
    b->vp = fa ? (uint16_t *)(void *)take(cv, packed) : NULL;
    b->fa_scratch = fa ? take(cv, nth * kvb_fa_scratch_floats(KVB_QG, c->head_dim)) : NULL;
    b->cosv = take(cv, N * c->head_dim / 2);
    b->sinv = take(cv, N * c->head_dim / 2);
    b->dx = take(cv, c->hidden);
    b->dq = take(cv, qd);
    b->dk = take(cv, kd);
    b->dv = take(cv, kd);
    b->datt = take(cv, qd);
    b->dtmp = take(cv, c->hidden);
    b->dgate = take(cv, c->intermediate);
    b->dup = take(cv, c->intermediate);
    b->dxn = take(cv, nth * c->hidden);
    b->dpart = take(cv, nth * qd);
    b->dmx = take(cv, nth * c->n_heads);
    b->dsum = take(cv, nth * c->n_heads);
    b->datt_t = take(cv, nth * qd);
    b->dcos = take(cv, c->head_dim / 2);
    b->dsin = take(cv, c->head_dim / 2);
    b->cscratch = take(cv, nth * cscratch);
    b->cscratch_n = cscratch;
    b->cap = n;
    b->nth = m->nth;
}

/* Size the arena for a prompt of n tokens (grow only) and carve the buffers. */
static int prepare(kvb_model *m, const kvb_cache *c, int n, kvb_error *e)
{
    struct kvb_fwd_bufs dry;
    int colsum = (kvb_cache_needs(c) & KVB_NEED_COLSUM) != 0;
    size_t cs = kvb_cache_scratch_floats(c);
    carve cv = { NULL, 0, 0 };
    layout(m, &dry, &cv, n, colsum, cs);
    size_t need = cv.need + sizeof(struct kvb_fwd_bufs) + 128;
    if (m->arena.size < need) {
        kvb_arena_release(&m->arena);
        int rc = kvb_arena_init(&m->arena, need, e);
        if (rc)
            return kvb_error_prefix(e, "prefill of %d tokens", n);
    }
    kvb_arena_reset(&m->arena);
    struct kvb_fwd_bufs *b = kvb_arena_alloc(&m->arena, sizeof(*b));
    carve real = { &m->arena, 0, 0 };
    layout(m, b, &real, n, colsum, cs);
    if (real.fail)
        return kvb_errorf(e, KVB_ENOMEM, "prefill of %d tokens: arena too small", n);
    m->bufs = b;
    m->bufs_cache = c;
    return 0;
}

/* ---- helpers ---------------------------------------------------------------------------------------- */
static void split(int n, int ith, int nth, int align, int *r0, int *r1)
{
    int chunks = (n + align - 1) / align;
    int per = chunks / nth, extra = chunks % nth;
    int c0 = ith * per + KVB_MIN(ith, extra), c1 = c0 + per + (ith < extra);
    *r0 = KVB_MIN(n, c0 * align);
    *r1 = KVB_MIN(n, c1 * align);
}

void kvb_rope_rotate(float *x, int n_heads, int hd, const float *cosv, const float *sinv)
{
    int half = hd / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * hd;
        for (int i = 0; i < half; i++) {
            float a = v[i], b = v[i + half];
            v[i] = a * cosv[i] - b * sinv[i];
            v[i + half] = b * cosv[i] + a * sinv[i];
        }
    }
}

void kvb_rope_cos_sin(float *cosv, float *sinv, const float *inv_freq, int half, int pos)
{
    for (int i = 0; i < half; i++) {
        /* as transformers: the angle is an f32 product, cos/sin of it in f32 */
        float ang = (float)pos * inv_freq[i];
        cosv[i] = cosf(ang);
        sinv[i] = sinf(ang);
    }
}

static void rope_table(const kvb_model *m, int pos, float *cosv, float *sinv)
{
    kvb_rope_cos_sin(cosv, sinv, m->inv_freq, m->cfg.head_dim / 2, pos);
}

/* ---- prefill tasks ------------------------------------------------------------------------------------ */
typedef struct gemm_task {
    int nmat;
    const kvb_wt *w[3];
    const float *a[3];
    float *c[3];
    int n;                 /* rows of A */
    float *wbuf;
    size_t wbuf_stride;
    uint16_t *apack;       /* bf16 path: every a[i] is a[0], packed here */
} gemm_task;

static void gemm_worker(void *arg, int ith, int nth)
{
    gemm_task *t = arg;
    for (int i = 0; i < t->nmat; i++) {
        int c0, c1;
        split(t->w[i]->rows, ith, nth, 16, &c0, &c1);
        if (c0 >= c1)
            continue;
        if (t->apack)
            kvb_gemm_rows_bf16(t->w[i], t->apack, t->n, t->c[i], t->w[i]->rows, c0, c1,
                               (uint16_t *)(void *)(t->wbuf + (size_t)ith * t->wbuf_stride));
        else
            kvb_gemm_rows(t->w[i], t->a[i], t->n, t->c[i], t->w[i]->rows, c0, c1,
                          t->wbuf + (size_t)ith * t->wbuf_stride);
    }
}

static void pack_a_worker(void *arg, int ith, int nth)
{
    gemm_task *t = arg;
    int b0, b1;
    split((t->n + 15) / 16, ith, nth, 1, &b0, &b1);
    kvb_gemm_pack_a_bf16(t->apack, t->a[0], t->n, t->w[0]->cols, b0, b1);
}

static void gemm(kvb_model *m, int nmat, const kvb_wt **w, const float **a, float **c, int n)
{
    const kvb_model_config *cf = &m->cfg;
    int maxk = KVB_MAX(KVB_MAX(cf->hidden, cf->intermediate), cf->n_heads * cf->head_dim);
    gemm_task t = { .nmat = nmat, .n = n, .wbuf = m->bufs->wbuf,
                    .wbuf_stride = (size_t)KVB_GEMM_NC * maxk };
    int bf16 = m->prefill_bf16 && w[0]->cols % 2 == 0;
    for (int i = 0; i < nmat; i++) {
        t.w[i] = w[i], t.a[i] = a[i], t.c[i] = c[i];
        bf16 = bf16 && a[i] == a[0] && w[i]->cols == w[0]->cols;
    }
    if (bf16) {
        t.apack = m->bufs->apack;
        kvb_pool_run(m->pool, pack_a_worker, &t);
    }
    kvb_pool_run(m->pool, gemm_worker, &t);
}

typedef struct rope_task {
    kvb_model *m;
    int n;
} rope_task;

static void rope_worker(void *arg, int ith, int nth)
{
    rope_task *t = arg;
    const kvb_model_config *c = &t->m->cfg;
    struct kvb_fwd_bufs *b = t->m->bufs;
    int r0, r1, half = c->head_dim / 2;
    split(t->n, ith, nth, 1, &r0, &r1);
    for (int r = r0; r < r1; r++) {
        const float *cs = b->cosv + (size_t)r * half, *sn = b->sinv + (size_t)r * half;
        kvb_rope_rotate(b->q + (size_t)r * c->n_heads * c->head_dim, c->n_heads, c->head_dim, cs, sn);
        kvb_rope_rotate(b->k + (size_t)r * c->n_kv_heads * c->head_dim, c->n_kv_heads, c->head_dim, cs, sn);
    }
}

static void rope_table_worker(void *arg, int ith, int nth)
{
    rope_task *t = arg;
    int r0, r1, half = t->m->cfg.head_dim / 2;
    split(t->n, ith, nth, 1, &r0, &r1);
    for (int r = r0; r < r1; r++)
        rope_table(t->m, r, t->m->bufs->cosv + (size_t)r * half, t->m->bufs->sinv + (size_t)r * half);
}

typedef struct attn_task {
    kvb_model *m;
    int n;
    atomic_int next;
    int colsum;
} attn_task;

static void attn_worker(void *arg, int ith, int nth)
{
    (void)nth;
    attn_task *t = arg;
    const kvb_model_config *c = &t->m->cfg;
    struct kvb_fwd_bufs *b = t->m->bufs;
    int G = c->n_heads / c->n_kv_heads, gs = KVB_MIN(G, KVB_QG), per_kv = (G + gs - 1) / gs;
    int nqb = (t->n + KVB_ATTN_B - 1) / KVB_ATTN_B, items = nqb * c->n_kv_heads * per_kv;
    float *S = b->scores + (size_t)ith * KVB_QG * KVB_ATTN_B * t->n;
    float *Q = b->qstack + (size_t)ith * KVB_QG * KVB_ATTN_B * c->head_dim;
    float *O = b->ostack + (size_t)ith * KVB_QG * KVB_ATTN_B * c->head_dim;
    kvb_attn_rows a = { .q = b->q, .k = b->k, .v = b->v, .out = b->att, .n = t->n,
                        .n_heads = c->n_heads, .n_kv_heads = c->n_kv_heads, .hd = c->head_dim,
                        .colsum = t->colsum ? b->colsum_t + (size_t)ith * c->n_heads * t->n : NULL };
    if (a.colsum)
        memset(a.colsum, 0, sizeof(float) * (size_t)c->n_heads * t->n);
    for (;;) {
        /* the longest blocks (last queries) first, so the tail of the schedule is short */
        int it = atomic_fetch_add(&t->next, 1);
        if (it >= items)
            break;
        int qb = nqb - 1 - it / (c->n_kv_heads * per_kv), rest = it % (c->n_kv_heads * per_kv);
        int kvh = rest / per_kv, h0 = kvh * G + (rest % per_kv) * gs;
        int gn = KVB_MIN(gs, (kvh + 1) * G - h0);
        int r0 = qb * KVB_ATTN_B, r1 = KVB_MIN(t->n, r0 + KVB_ATTN_B);
        kvb_attn_block_f32(&a, kvh, h0, gn, r0, r1, S, Q, O);
    }
}

/* bf16 attention: K and V of the layer packed per kv head, 64-key chunks over the threads */
static void pack_worker(void *arg, int ith, int nth)
{
    attn_task *t = arg;
    const kvb_model_config *c = &t->m->cfg;
    struct kvb_fwd_bufs *b = t->m->bufs;
    int hd = c->head_dim, ks = c->n_kv_heads * hd, chunks = (t->n + KVB_ATTN_B - 1) / KVB_ATTN_B;
    size_t per = kvb_fa_packed_elems(t->n, hd);
    for (int it = ith; it < chunks * c->n_kv_heads; it += nth) {
        int h = it / chunks, j0 = it % chunks * KVB_ATTN_B, j1 = KVB_MIN(t->n, j0 + KVB_ATTN_B);
        kvb_fa_pack(b->kp + per * h, b->vp + per * h, b->k + (size_t)h * hd, b->v + (size_t)h * hd,
                    ks, t->n, hd, j0, j1);
    }
}

static void fa_worker(void *arg, int ith, int nth)
{
    (void)nth;
    attn_task *t = arg;
    const kvb_model_config *c = &t->m->cfg;
    struct kvb_fwd_bufs *b = t->m->bufs;
    int hd = c->head_dim, qs = c->n_heads * hd, G = c->n_heads / c->n_kv_heads;
    int gs = KVB_MIN(G, KVB_QG), per_kv = (G + gs - 1) / gs;
    int nqb = (t->n + KVB_ATTN_B - 1) / KVB_ATTN_B, items = nqb * c->n_kv_heads * per_kv;
    size_t per = kvb_fa_packed_elems(t->n, hd);
    float *scratch = b->fa_scratch + (size_t)ith * kvb_fa_scratch_floats(KVB_QG, hd);
    for (;;) {
        int it = atomic_fetch_add(&t->next, 1); /* the longest items (last queries) first */
        if (it >= items)
            break;
        int qb = nqb - 1 - it / (c->n_kv_heads * per_kv), rest = it % (c->n_kv_heads * per_kv);
        int kvh = rest / per_kv, h0 = kvh * G + (rest % per_kv) * gs;
        int r0 = qb * KVB_ATTN_B;
        kvb_fa_item fi = { .q = b->q + (size_t)r0 * qs + (size_t)h0 * hd, .q_stride = qs,
                           .kp = b->kp + per * kvh, .vp = b->vp + per * kvh,
                           .out = b->att + (size_t)r0 * qs + (size_t)h0 * hd, .out_stride = qs,
                           .r0 = r0, .rows = KVB_MIN(KVB_ATTN_B, t->n - r0),
                           .gn = KVB_MIN(gs, (kvh + 1) * G - h0), .hd = hd,
                           .scale = 1.0f / sqrtf((float)hd) };
        kvb_fa_block_avx512(&fi, scratch);
    }
}

static void colsum_reduce(kvb_model *m, int n)
{
    struct kvb_fwd_bufs *b = m->bufs;
    size_t len = (size_t)m->cfg.n_heads * n;
    memcpy(b->colsum, b->colsum_t, sizeof(float) * len);
    for (int t = 1; t < m->nth; t++)
        for (size_t i = 0; i < len; i++)
            b->colsum[i] += b->colsum_t[(size_t)t * len + i];
}

/* ---- prefill ------------------------------------------------------------------------------------------ */
static int prefill(kvb_model *m, kvb_cache *c, const int32_t *ids, int n, float *logits, int all,
                   kvb_error *e)
{
    const kvb_model_config *cf = &m->cfg;
    if (n < 1)
        return kvb_errorf(e, KVB_EINVAL, "empty prompt");
    if (!m->layers)
        return kvb_errorf(e, KVB_EINVAL, "model %s was opened without weights", cf->name);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= cf->vocab)
            return kvb_errorf(e, KVB_EINVAL, "token id %d at position %d is outside the "
                              "vocabulary of %d", ids[i], i, cf->vocab);
    int rc = prepare(m, c, n, e);
    if (rc)
        return rc;
    struct kvb_fwd_bufs *b = m->bufs;
    int H = cf->hidden, qd = cf->n_heads * cf->head_dim, kd = cf->n_kv_heads * cf->head_dim;
    float eps = (float)cf->rms_eps;
    for (int i = 0; i < n; i++)
        kvb_wt_row(&m->embed, ids[i], b->x + (size_t)i * H);
    rope_task rt = { m, n };
    kvb_pool_run(m->pool, rope_table_worker, &rt);
    int colsum = b->colsum != NULL;

    for (int l = 0; l < cf->n_layers; l++) {
        const kvb_layer_w *L = &m->layers[l];
        /* Q, K, V projections */
        for (int b0 = 0; b0 < n; b0 += KVB_PB) {
            int rows = KVB_MIN(KVB_PB, n - b0);
            for (int r = 0; r < rows; r++)
                kvb_rmsnorm(b->xn + (size_t)r * H, b->x + (size_t)(b0 + r) * H, L->attn_norm, H, eps);
            const kvb_wt *w[3] = { &L->wq, &L->wk, &L->wv };
            const float *a[3] = { b->xn, b->xn, b->xn };
            float *o[3] = { b->q + (size_t)b0 * qd, b->k + (size_t)b0 * kd, b->v + (size_t)b0 * kd };
            gemm(m, 3, w, a, o, rows);
        }
        kvb_pool_run(m->pool, rope_worker, &rt);
        attn_task at = { .m = m, .n = n, .colsum = colsum };
        atomic_init(&at.next, 0);
        if (b->kp) {
            kvb_pool_run(m->pool, pack_worker, &at);
            kvb_pool_run(m->pool, fa_worker, &at);
        } else
            kvb_pool_run(m->pool, attn_worker, &at);
        if (colsum)
            colsum_reduce(m, n);
        kvb_prefill_layer pl = { .layer = l, .n_tokens = n, .q = b->q, .k = b->k, .v = b->v,
                                 .colsum = b->colsum };
        if ((rc = kvb_cache_prefill_layer(c, &pl, e)))
            return rc;
        /* output projection, residual, MLP, residual */
        for (int b0 = 0; b0 < n; b0 += KVB_PB) {
            int rows = KVB_MIN(KVB_PB, n - b0);
            float *xb = b->x + (size_t)b0 * H;
            const kvb_wt *wo[1] = { &L->wo };
            const float *ao[1] = { b->att + (size_t)b0 * qd };
            float *oo[1] = { b->xn };
            gemm(m, 1, wo, ao, oo, rows);
            for (size_t i = 0; i < (size_t)rows * H; i++)
                xb[i] += b->xn[i];
            for (int r = 0; r < rows; r++)
                kvb_rmsnorm(b->xn + (size_t)r * H, xb + (size_t)r * H, L->ffn_norm, H, eps);
            const kvb_wt *wg[2] = { &L->w_gate, &L->w_up };
            const float *ag[2] = { b->xn, b->xn };
            float *og[2] = { b->gate, b->up };
            gemm(m, 2, wg, ag, og, rows);
            if (m->prefill_bf16)
                kvb_swiglu_avx512(b->gate, b->up, (size_t)rows * cf->intermediate);
            else
                for (size_t i = 0; i < (size_t)rows * cf->intermediate; i++)
                    b->gate[i] = kvb_silu(b->gate[i]) * b->up[i];
            const kvb_wt *wd[1] = { &L->w_down };
            const float *ad[1] = { b->gate };
            gemm(m, 1, wd, ad, oo, rows);
            for (size_t i = 0; i < (size_t)rows * H; i++)
                xb[i] += b->xn[i];
        }
    }
    if ((rc = kvb_cache_prefill_end(c, e)))
        return rc;
    /* logits: the last position, or every position in row blocks */
    int first = all ? 0 : n - 1;
    for (int b0 = first; b0 < n; b0 += KVB_PB) {
        int rows = KVB_MIN(KVB_PB, n - b0);
        for (int r = 0; r < rows; r++)
            kvb_rmsnorm(b->xn + (size_t)r * H, b->x + (size_t)(b0 + r) * H, m->final_norm, H, eps);
        const kvb_wt *w[1] = { &m->lm_head };
        const float *a[1] = { b->xn };
        float *o[1] = { logits + (size_t)(b0 - first) * cf->vocab };
        gemm(m, 1, w, a, o, rows);
    }
    /* the decode state starts from here */
    return 0;
}

int kvb_model_prefill(kvb_model *m, kvb_cache *c, const int32_t *ids, int n, float *logits,
                      kvb_error *e)
{
    if (m->be)
        return kvb_device_prefill(m, c, ids, n, logits, e);
    return prefill(m, c, ids, n, logits, 0, e);
}

int kvb_model_prefill_all(kvb_model *m, kvb_cache *c, const int32_t *ids, int n, float *logits,
                          kvb_error *e)
{
    if (m->be) /* the device driver returns the last position's logits only */
        return kvb_errorf(e, KVB_EUNSUP, "logits of every position: --device cpu only");
    return prefill(m, c, ids, n, logits, 1, e);
}

/* ---- decode --------------------------------------------------------------------------------------------- */
typedef struct spin_barrier {
    atomic_int count, gen;
    int n;
} spin_barrier;

/* Wait for every thread. While it waits, a thread prefetches the start of the weight rows it reads
 * next (pf, up to pf_bytes): each phase is a short stream (35-550 KB per thread on SmolLM2) and
 * otherwise starts with the prefetcher cold, after the barrier. */
static void barrier_wait(spin_barrier *b, const void *pf, size_t pf_bytes)
{
    if (b->n == 1)
        return;
    int g = atomic_load_explicit(&b->gen, memory_order_acquire);
    if (atomic_fetch_add_explicit(&b->count, 1, memory_order_acq_rel) == b->n - 1) {
        atomic_store_explicit(&b->count, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&b->gen, 1, memory_order_release);
        return;
    }
    const char *line = pf, *end = line ? line + pf_bytes : NULL;
    /* spin briefly (phases are microseconds apart), then yield: the machine may be shared */
    for (long spins = 0; atomic_load_explicit(&b->gen, memory_order_acquire) == g; spins++) {
        if (line < end) {
            _mm_prefetch(line, _MM_HINT_T0);
            line += 64;
        }
        if (spins < 4000)
            _mm_pause();
        else
            sched_yield();
    }
}

#define KVB_PF_BYTES 8192 /* prefetched per barrier: the DRAM latency ramp of one stream */

typedef struct decode_task {
    kvb_model *m;
    kvb_cache *c;
    int32_t id;
    float *logits;
    spin_barrier bar;
    int rc;          /* written before a barrier by the thread that appends, read by all after it */
    kvb_error *e;
} decode_task;

/* Rows [r0, r1) of w: the first bytes a thread's GEMV will read, for barrier_wait's prefetch. */
static const void *rows_at(const kvb_wt *w, int r0)
{
    return (const unsigned char *)w->data + (size_t)r0 * kvb_wt_row_bytes(w);
}

/* The Q, K and V projections as one range of whole heads, rows [0, qd) of Q, then K, then V, so
 * each thread applies RoPE to the heads it computed. The last thread takes every K and V head
 * (plus Q heads up to an even share) and appends them to the cache itself, so attention can start
 * after one barrier instead of two. Returns 1 when that holds; else (K and V alone exceed a share)
 * heads are split evenly and the caller appends after a barrier. Head ranges in [0, n_heads +
 * 2 n_kv_heads) units: [*u0, *u1). */
static int qkv_split(const kvb_model_config *cf, int ith, int nth, int *u0, int *u1)
{
    int nh = cf->n_heads, units = nh + 2 * cf->n_kv_heads;
    int last_q = (units + nth / 2) / nth - 2 * cf->n_kv_heads; /* Q heads of the last thread */
    if (nth == 1 || last_q < 0) {
        split(units, ith, nth, 1, u0, u1);
        return nth == 1;
    }
    if (ith == nth - 1) {
        *u0 = nh - last_q;
        *u1 = units;
    } else
        split(nh - last_q, ith, nth - 1, 1, u0, u1);
    return 1;
}

/* Projections of head units [u0, u1) (see qkv_split), RoPE applied to their Q and K heads. */
static void qkv_heads(const kvb_layer_w *L, const kvb_model_config *cf, struct kvb_fwd_bufs *b,
                      const float *xn, int u0, int u1)
{
    int hd = cf->head_dim, nh = cf->n_heads, nkv = cf->n_kv_heads;
    int q1 = KVB_MIN(u1, nh), k0 = KVB_MAX(u0, nh), k1 = KVB_MIN(u1, nh + nkv);
    int v0 = KVB_MAX(u0, nh + nkv), v1 = u1;
    if (u0 < q1) {
        kvb_gemv(&L->wq, xn, b->dq, u0 * hd, q1 * hd);
        kvb_rope_rotate(b->dq + (size_t)u0 * hd, q1 - u0, hd, b->dcos, b->dsin);
    }
    if (k0 < k1) {
        kvb_gemv(&L->wk, xn, b->dk, (k0 - nh) * hd, (k1 - nh) * hd);
        kvb_rope_rotate(b->dk + (size_t)(k0 - nh) * hd, k1 - k0, hd, b->dcos, b->dsin);
    }
    if (v0 < v1)
        kvb_gemv(&L->wv, xn, b->dv, (v0 - nh - nkv) * hd, (v1 - nh - nkv) * hd);
}

/* Decode attention of layer l; returns the attention output this thread reads next. Split over
 * tokens when the cache can (every thread merges the parts into its own copy, so no barrier is
 * needed between merge and output projection), else over heads into the shared buffer. pf: the
 * output projection rows this thread reads next. */
static const float *attend(decode_task *t, int l, int ith, int nth, float *scratch, const void *pf)
{
    struct kvb_fwd_bufs *b = t->m->bufs;
    const kvb_model_config *cf = &t->m->cfg;
    size_t qd = (size_t)cf->n_heads * cf->head_dim;
    if (nth > 1 && kvb_cache_can_split(t->c)) {
        kvb_cache_attend_part(t->c, l, b->dq, ith, nth, b->dpart + qd * ith,
                              b->dmx + (size_t)cf->n_heads * ith, b->dsum + (size_t)cf->n_heads * ith,
                              scratch);
        barrier_wait(&t->bar, pf, KVB_PF_BYTES);
        float *mine = b->datt_t + qd * ith;
        kvb_attend_merge(b->dpart, b->dmx, b->dsum, nth, cf->n_heads, cf->head_dim, mine);
        return mine;
    }
    int r0, r1;
    split(cf->n_heads, ith, nth, 1, &r0, &r1);
    if (r0 < r1)
        kvb_cache_attend(t->c, l, b->dq, b->datt, r0, r1, scratch);
    barrier_wait(&t->bar, pf, KVB_PF_BYTES);
    return b->datt;
}

/* One decode step, all layers, in one pool run: per layer five barriers (after Q/K/V + RoPE +
 * append, inside attention, after each of the output, gate/up and down projections). */
static void decode_worker(void *arg, int ith, int nth)
{
    decode_task *t = arg;
    kvb_model *m = t->m;
    const kvb_model_config *cf = &m->cfg;
    struct kvb_fwd_bufs *b = m->bufs;
    int H = cf->hidden, u0, u1, h0, h1, i0, i1;
    int self_append = qkv_split(cf, ith, nth, &u0, &u1);
    split(H, ith, nth, 4, &h0, &h1);                /* rows of wo and w_down */
    split(cf->intermediate, ith, nth, 4, &i0, &i1); /* rows of w_gate and w_up */
    float eps = (float)cf->rms_eps;
    float *xn = b->dxn + (size_t)ith * H;
    float *scratch = b->cscratch + (size_t)ith * b->cscratch_n;
    for (int l = 0; l < cf->n_layers; l++) {
        const kvb_layer_w *L = &m->layers[l];
        kvb_rmsnorm(xn, b->dx, L->attn_norm, H, eps);
        qkv_heads(L, cf, b, xn, u0, u1);
        if (self_append && ith == nth - 1)
            t->rc = kvb_cache_append(t->c, l, b->dk, b->dv, t->e);
        barrier_wait(&t->bar, NULL, 0);
        if (!self_append) {
            if (ith == 0)
                t->rc = kvb_cache_append(t->c, l, b->dk, b->dv, t->e);
            barrier_wait(&t->bar, NULL, 0);
        }
        if (t->rc)
            return;
        const float *att = attend(t, l, ith, nth, scratch, rows_at(&L->wo, h0));
        if (h0 < h1) {
            kvb_gemv(&L->wo, att, b->dtmp, h0, h1);
            for (int i = h0; i < h1; i++)
                b->dx[i] += b->dtmp[i];
        }
        barrier_wait(&t->bar, rows_at(&L->w_gate, i0), KVB_PF_BYTES);
        kvb_rmsnorm(xn, b->dx, L->ffn_norm, H, eps);
        if (i0 < i1) {
            kvb_gemv(&L->w_gate, xn, b->dgate, i0, i1);
            kvb_gemv(&L->w_up, xn, b->dup, i0, i1);
            for (int i = i0; i < i1; i++)
                b->dgate[i] = kvb_silu(b->dgate[i]) * b->dup[i];
        }
        barrier_wait(&t->bar, rows_at(&L->w_down, h0), KVB_PF_BYTES);
        if (h0 < h1) {
            kvb_gemv(&L->w_down, b->dgate, b->dtmp, h0, h1);
            for (int i = h0; i < h1; i++)
                b->dx[i] += b->dtmp[i];
        }
        const kvb_layer_w *next = l + 1 < cf->n_layers ? &m->layers[l + 1] : NULL;
        barrier_wait(&t->bar, next ? rows_at(u0 < cf->n_heads ? &next->wq : &next->wk,
                                             u0 < cf->n_heads ? u0 * cf->head_dim
                                                              : (u0 - cf->n_heads) * cf->head_dim)
                                   : NULL,
                     KVB_PF_BYTES);
    }
    kvb_rmsnorm(xn, b->dx, m->final_norm, H, eps);
    int r0, r1;
    split(m->lm_head.rows, ith, nth, 4, &r0, &r1);
    if (r0 < r1)
        kvb_gemv(&m->lm_head, xn, t->logits, r0, r1);
}

int kvb_model_decode(kvb_model *m, kvb_cache *c, int32_t id, int pos, float *logits, kvb_error *e)
{
    if (m->be)
        return kvb_device_decode(m, c, id, pos, logits, e);
    if (!m->layers || !m->bufs || m->bufs_cache != c)
        return kvb_errorf(e, KVB_EINVAL, "decode needs a prefill with the same cache first");
    if (id < 0 || id >= m->cfg.vocab || pos < 0)
        return kvb_errorf(e, KVB_EINVAL, "decode: token %d at position %d is invalid", id, pos);
    if (kvb_cache_scratch_floats(c) > m->bufs->cscratch_n)
        return kvb_errorf(e, KVB_EINVAL, "decode: cache scratch grew since prefill");
    struct kvb_fwd_bufs *b = m->bufs;
    kvb_wt_row(&m->embed, id, b->dx);
    rope_table(m, pos, b->dcos, b->dsin);
    decode_task t = { .m = m, .c = c, .id = id, .logits = logits, .rc = 0, .e = e };
    atomic_init(&t.bar.count, 0);
    atomic_init(&t.bar.gen, 0);
    t.bar.n = m->nth;
    kvb_pool_run(m->pool, decode_worker, &t);
    return t.rc;
}

int32_t kvb_argmax2(const float *x, int n, float *second)
{
    int32_t best = 0;
    float s = -__builtin_inff(); /* the largest value at any index but best so far */
    for (int i = 1; i < n; i++) {
        if (x[i] > x[best]) {
            s = x[best];
            best = i;
        } else if (x[i] > s) {
            s = x[i];
        }
    }
    *second = s;
    return best;
}

int32_t kvb_argmax(const float *x, int n)
{
    float second;
    return kvb_argmax2(x, n, &second);
}
