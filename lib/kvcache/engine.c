/* lib/kvcache/engine.c: the shared store of the compressing methods: lifecycle, fill/keep/
 * quantize, decode attention and accounting. It knows no method: the descriptor's hooks decide
 * (see engine.h and kvcache_impl.h). */
#include "kvcache/engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvcache/kivi_quant.h"
#include "kvcache/ops.h"
#include "kvcache/select.h"

/* ---- lifecycle ----------------------------------------------------------------------------- */

static int kv_build(kvb_kv **out, const struct kvb_cache_method *m, const void *params,
                    const kvb_cache_shape *shape, kvb_pool *pool, kvb_error *e)
{
    *out = NULL;
    if (m->ops != &kvb_store_ops || !m->prefill_layer)
        return kvb_errorf(e, KVB_EINVAL, "kvcache: '%s' is not a method on the shared store",
                          m->name);
    kvb_kv *kv = kvb_calloc(1, sizeof(*kv));
    if (!kv)
        return kvb_errorf(e, KVB_ENOMEM, "kvcache: out of memory");
    kv->m = m;
    kv->params = params;
    kv->shape = *shape;
    snprintf(kv->family, sizeof(kv->family), "%s", shape->model_family ? shape->model_family : "");
    kv->shape.model_family = kv->family;
    kv->pool = pool;
    kv->kivi = kvb_kivi_kernels_pick(getenv("KVBENCH_ISA")); /* read-only override, read once */
    kv->L = shape->n_layers;
    kv->group = shape->n_heads / shape->n_kv_heads;
    kv->gqa_query = ((const kvb_kv_params *)params)->gqa_query;
    kv->S = kv->gqa_query ? shape->n_heads : shape->n_kv_heads;
    const size_t LS = (size_t)kv->L * kv->S, L = (size_t)kv->L;
    kv->seq = kvb_calloc(LS, sizeof(kvb_seq));
    kv->qseq = kvb_calloc(LS, sizeof(kvb_qseq));
    kv->layer_quant = kvb_calloc(L, sizeof(int));
    kv->appended = kvb_calloc(L, sizeof(int));
    kv->budgets = kvb_calloc(L, sizeof(int));
    int rc = 0;
    if (!kv->seq || !kv->qseq || !kv->layer_quant || !kv->appended || !kv->budgets)
        rc = kvb_errorf(e, KVB_ENOMEM, "kvcache: out of memory");
    else if (m->init)
        rc = m->init(kv, e);
    if (rc) {
        kvb_kv_free(kv);
        return rc;
    }
    *out = kv;
    return 0;
}

int kvb_kv_create(kvb_kv **out, const char *method, const kvb_cache_shape *shape,
                  const kvb_cache_param *params, int n_params, kvb_pool *pool, kvb_error *e)
{
    *out = NULL;
    const struct kvb_cache_method *m = kvb_cache_method_find(method);
    if (!m)
        return kvb_errorf(e, KVB_EINVAL, "unknown cache method '%s'", method ? method : "");
    void *p = kvb_calloc(1, m->params_size ? m->params_size : 1);
    if (!p)
        return kvb_errorf(e, KVB_ENOMEM, "kvcache: out of memory");
    int rc = kvb_params_parse(m, shape, params, n_params, p, e);
    if (!rc)
        rc = kv_build(out, m, p, shape, pool, e);
    if (rc)
        free(p);
    else
        (*out)->own_params = p;
    return rc;
}

static void release_record(kvb_kv *kv)
{
    const size_t LS = (size_t)kv->L * kv->S;
    for (size_t i = 0; i < LS; i++) {
        kvb_seq_release(&kv->seq[i]);
        kvb_qseq_release(&kv->qseq[i]);
    }
    free(kv->sc_attn);
    free(kv->sc_red);
    free(kv->sc_pool);
    free(kv->sc_row);
    free(kv->sc_idx);
    free(kv->sc_work);
    free(kv->sc_h);
    free(kv->sc_thread);
    kv->sc_attn = kv->sc_red = kv->sc_pool = kv->sc_row = kv->sc_thread = NULL;
    kv->sc_idx = kv->sc_work = NULL;
    kv->sc_h = NULL;
}

void kvb_kv_free(kvb_kv *kv)
{
    if (!kv)
        return;
    if (kv->m->release)
        kv->m->release(kv);
    if (kv->seq && kv->qseq)
        release_record(kv);
    free(kv->seq);
    free(kv->qseq);
    free(kv->layer_quant);
    free(kv->appended);
    free(kv->budgets);
    free(kv->own_params);
    free(kv);
}

int kvb_kv_reset(kvb_kv *kv, int n_prompt, kvb_error *e)
{
    release_record(kv);
    const size_t L = (size_t)kv->L;
    memset(kv->layer_quant, 0, L * sizeof(int));
    memset(kv->appended, 0, L * sizeof(int));
    memset(kv->budgets, 0, L * sizeof(int));
    kv->generated = 0;
    kv->prefilled = 0;
    kv->peak_bytes = 0;
    kv->n_prompt = 0;
    if (n_prompt < 1 || n_prompt > kv->shape.max_tokens)
        return kvb_errorf(e, KVB_EINVAL, "kvcache: prompt of %d tokens (cache holds at most %d)",
                          n_prompt, kv->shape.max_tokens);
    kv->n_prompt = n_prompt;
    kv->room = kv->shape.max_tokens - n_prompt;
    const size_t n = (size_t)n_prompt, D = (size_t)kv->shape.head_dim;
    const int threads = kv->pool ? kvb_pool_size(kv->pool) : 1;
    kv->sc_attn = kvb_malloc(n * kv->shape.n_heads * sizeof(float));
    kv->sc_red = kvb_malloc(n * kv->S * sizeof(float));
    kv->sc_pool = kvb_malloc(n * kv->S * sizeof(float));
    kv->sc_row = kvb_malloc(n * sizeof(float));
    kv->sc_idx = kvb_malloc((n + 1) * sizeof(int));
    kv->sc_work = kvb_malloc((n + 1) * sizeof(int));
    kv->sc_h = kvb_malloc(2 * n * D * sizeof(kvb_half));
    kv->sc_thread = kvb_malloc((size_t)threads * n * sizeof(float));
    int rc = 0;
    if (!kv->sc_attn || !kv->sc_red || !kv->sc_pool || !kv->sc_row || !kv->sc_idx ||
        !kv->sc_work || !kv->sc_h || !kv->sc_thread)
        rc = kvb_errorf(e, KVB_ENOMEM, "kvcache: out of memory for a %d-token prompt", n_prompt);
    else if (kv->m->reset)
        rc = kv->m->reset(kv, e);
    if (rc)
        release_record(kv);
    return rc;
}

unsigned kvb_kv_needs(const kvb_kv *kv)
{
    return kv->m->needs;
}

/* ---- operations for the methods ------------------------------------------------------------ */

kvb_seq *kvb_kv_seq(kvb_kv *kv, int layer, int head)
{
    return &kv->seq[(size_t)layer * kv->S + head];
}

const float *kvb_kv_row(const kvb_kv *kv, const float *x, int t, int head)
{
    const int kvh = kv->gqa_query ? head / kv->group : head;
    return x + ((size_t)t * kv->shape.n_kv_heads + kvh) * kv->shape.head_dim;
}

static void f2h_row(void *dst, const void *src, int n)
{
    kvb_f2h_row(dst, src, n);
}

/* The kept rows of the prefill K/V into the head's store, rounded to f16: the gather of ops.h
 * (the CUDA gather's CPU twin). */
int kvb_kv_fill(kvb_kv *kv, const kvb_prefill_layer *pl, int head, const int *idx, int m,
                kvb_error *e)
{
    kvb_seq *s = kvb_kv_seq(kv, pl->layer, head);
    kvb_seq_release(s);
    if (!idx)
        m = pl->n_tokens;
    const int D = kv->shape.head_dim, Hkv = kv->shape.n_kv_heads;
    const int g = kv->gqa_query ? head / kv->group : head;
    if (kv->external ? kvb_seq_init_positions(s, D, m + kv->room)
                     : kvb_seq_init(s, D, 0, 0, m + kv->room))
        return kvb_errorf(e, KVB_ENOMEM, "kvcache: out of memory");
    if (!kv->external) {
        kvb_kv_gather_rows(s->k, sizeof(kvb_half), pl->k, sizeof(float), pl->n_tokens, Hkv, D, g,
                           idx, m, f2h_row);
        kvb_kv_gather_rows(s->v, sizeof(kvb_half), pl->v, sizeof(float), pl->n_tokens, Hkv, D, g,
                           idx, m, f2h_row);
    }
    for (int i = 0; i < m; i++)
        s->pos[i] = idx ? idx[i] : i;
    s->n = m;
    return 0;
}

int kvb_kv_fill_all(kvb_kv *kv, const kvb_prefill_layer *pl, const int *idx, int m,
                    kvb_error *e)
{
    int rc = 0;
    for (int h = 0; h < kv->S && !rc; h++)
        rc = kvb_kv_fill(kv, pl, h, idx, m, e);
    return rc;
}

int kvb_kv_keep_topk(kvb_kv *kv, const kvb_prefill_layer *pl, const float *scores, int cap,
                     int window, kvb_kv_fill_fn fill, kvb_error *e)
{
    const int n = pl->n_tokens, w = KVB_MIN(window, n), m = n - w;
    if (!fill)
        fill = kvb_kv_fill;
    for (int h = 0; h < kv->S; h++) {
        int cnt;
        const int *idx = kv->sc_idx;
        if (cap < 0) {
            idx = NULL;
            cnt = n;
        } else {
            cnt = kvb_sel_topk(scores + (size_t)h * m, m, cap, kv->sc_idx, kv->sc_work);
            for (int t = m; t < n; t++)
                kv->sc_idx[cnt++] = t;
        }
        int rc = fill(kv, pl, h, idx, cnt, e);
        if (rc)
            return rc;
    }
    return 0;
}

int kvb_kv_plan_heads(const void *params, const kvb_cache_shape *s)
{
    return ((const kvb_kv_params *)params)->gqa_query ? s->n_heads : s->n_kv_heads;
}

int kvb_kv_plan_fp16(const void *params, const kvb_cache_shape *s, long kept_per_head,
                     kvb_cache_plan_layer *out)
{
    for (int l = 0; l < s->n_layers; l++)
        kvb_plan_fp16(&out[l], kept_per_head, kvb_kv_plan_heads(params, s), s);
    return 0;
}

/* ---- KIVI quantization ---------------------------------------------------------------------- */

int kvb_quant_check(const kvb_quant_params *p, const kvb_cache_shape *s, kvb_error *e)
{
    if (p->bits != 2 && p->bits != 4)
        return kvb_errorf(e, KVB_EINVAL, "invalid bits '%d' (expected 2 or 4)", p->bits);
    if (s->head_dim % p->group)
        return kvb_errorf(e, KVB_EINVAL, "group %d does not divide head_dim %d (valid: "
                          "a divisor of head_dim that also divides residual)", p->group, s->head_dim);
    if (p->residual % p->group)
        return kvb_errorf(e, KVB_EINVAL, "group %d does not divide residual %d", p->group, p->residual);
    if (p->group % (32 / p->bits))
        return kvb_errorf(e, KVB_EINVAL, "group %d must be a multiple of %d (codes of %d "
                          "bits are packed %d per 32-bit word)", p->group,
                          32 / p->bits, p->bits, 32 / p->bits);
    if (p->group > 1024)
        return kvb_errorf(e, KVB_EINVAL, "group %d too large (max 1024)", p->group);
    if (s->head_dim % (32 / p->bits))
        return kvb_errorf(e, KVB_EINVAL, "head_dim %d is not a multiple of %d", s->head_dim, 32 / p->bits);
    return 0;
}

void kvb_quant_plan(kvb_cache_plan_layer *o, const kvb_quant_params *p, int n, int S,
                    const kvb_cache_shape *s)
{
    const long R = p->residual, G = p->group, D = s->head_dim;
    const long kq = n < R ? 0 : n - n % R, vq = n <= R ? 0 : n - R;
    o->k_bytes = (size_t)S * kq * D * p->bits / 8;
    o->v_bytes = (size_t)S * vq * D * p->bits / 8;
    o->meta_bytes = (size_t)S * ((kq / G) * D + vq * (D / G)) * 4;
    o->residual_bytes = (size_t)S * ((n - kq) + (n - vq)) * D * 2;
    o->tokens = (long)s->n_kv_heads * n;
}

/* Gather one stored head's rows of a (n, n_kv_heads, D) fp32 tensor into fp16 (n, D). */
static void gather_h(const kvb_kv *kv, const float *x, int n, int head, kvb_half *dst)
{
    const int D = kv->shape.head_dim;
    for (int t = 0; t < n; t++)
        kvb_f2h_row(dst + (size_t)t * D, kvb_kv_row(kv, x, t, head), D);
}

int kvb_kv_quantize_prefill(kvb_kv *kv, const kvb_prefill_layer *pl, const kvb_quant_params *qp,
                            kvb_error *e)
{
    const int n = pl->n_tokens, D = kv->shape.head_dim;
    kvb_half *kh = kv->sc_h, *vh = kv->sc_h + (size_t)n * D;
    for (int h = 0; h < kv->S; h++) {
        kvb_qseq *q = &kv->qseq[(size_t)pl->layer * kv->S + h];
        kvb_qseq_release(q);
        if (kv->external) { /* the device quantizes by the same rule: counts (and positions) */
            kvb_qseq_init_counts(q, D, qp->bits, qp->group, qp->residual, n + kv->room);
            kvb_qseq_prefill(q, NULL, NULL, D, n);
            int rc = kvb_kv_fill(kv, pl, h, NULL, n, e);
            if (rc)
                return rc;
            continue;
        }
        if (kvb_qseq_init(q, D, qp->bits, qp->group, qp->residual, n + kv->room))
            return kvb_errorf(e, KVB_ENOMEM, "kvcache: out of memory");
        q->kern = kv->kivi;
        gather_h(kv, pl->k, n, h, kh);
        gather_h(kv, pl->v, n, h, vh);
        kvb_qseq_prefill(q, kh, vh, D, n);
    }
    kv->layer_quant[pl->layer] = 1;
    return 0;
}

int kvb_kv_quantize_layer(kvb_kv *kv, int layer, int np, const kvb_quant_params *qp,
                          kvb_error *e)
{
    const int D = kv->shape.head_dim;
    float kf[1024], vf[1024];
    if (kv->external) { /* counts by the same rules; the positions stay (kvb_kv_kept_positions) */
        for (int h = 0; h < kv->S; h++) {
            const size_t i = (size_t)layer * kv->S + h;
            kvb_qseq *q = &kv->qseq[i];
            kvb_qseq_init_counts(q, D, qp->bits, qp->group, qp->residual, kv->seq[i].n + kv->room);
            kvb_qseq_prefill(q, NULL, NULL, D, np);
            for (int t = np; t < kv->seq[i].n; t++)
                kvb_qseq_append(q, NULL, NULL);
        }
        kv->layer_quant[layer] = 1;
        return 0;
    }
    for (int h = 0; h < kv->S; h++) {
        const size_t i = (size_t)layer * kv->S + h;
        kvb_seq *s = &kv->seq[i];
        kvb_qseq *q = &kv->qseq[i];
        kvb_qseq_release(q);
        if (kvb_qseq_init(q, D, qp->bits, qp->group, qp->residual, s->n + kv->room)) {
            for (int j = 0; j < h; j++)
                kvb_qseq_release(&kv->qseq[(size_t)layer * kv->S + j]);
            return kvb_errorf(e, KVB_ENOMEM, "kvcache: out of memory");
        }
        q->kern = kv->kivi;
    }
    for (int h = 0; h < kv->S; h++) {
        const size_t i = (size_t)layer * kv->S + h;
        kvb_seq *s = &kv->seq[i];
        kvb_qseq *q = &kv->qseq[i];
        kvb_qseq_prefill(q, s->k, s->v, D, np);
        for (int t = np; t < s->n; t++) {
            kvb_h2f_row(kf, s->k + (size_t)t * D, D);
            kvb_h2f_row(vf, s->v + (size_t)t * D, D);
            kvb_qseq_append(q, kf, vf);
        }
        kvb_seq_release(s);
    }
    kv->layer_quant[layer] = 1;
    return 0;
}

/* ---- prefill ------------------------------------------------------------------------------- */

static size_t bytes(const kvb_kv *kv, int as_reference);

static void note_peak(kvb_kv *kv)
{
    size_t b = bytes(kv, 0);
    if (b > kv->peak_bytes)
        kv->peak_bytes = b;
}

int kvb_kv_prefill_layer(kvb_kv *kv, const kvb_prefill_layer *pl, kvb_error *e)
{
    if (pl->layer < 0 || pl->layer >= kv->L)
        return kvb_errorf(e, KVB_EINVAL, "kvcache: layer %d out of range [0, %d)", pl->layer,
                          kv->L);
    if (kv->n_prompt == 0 || pl->n_tokens != kv->n_prompt)
        return kvb_errorf(e, KVB_EINVAL, "kvcache: prefill of %d tokens after a reset for %d",
                          pl->n_tokens, kv->n_prompt);
    int rc = kv->m->prefill_layer(kv, pl, e);
    if (rc)
        return rc;
    kv->prefilled++;
    note_peak(kv);
    return 0;
}

int kvb_kv_prefill_end(kvb_kv *kv, kvb_error *e)
{
    if (kv->prefilled != kv->L)
        return kvb_errorf(e, KVB_EINVAL, "kvcache: prefill ended after %d of %d layers",
                          kv->prefilled, kv->L);
    return kv->m->prefill_end ? kv->m->prefill_end(kv, e) : 0;
}

/* ---- decode -------------------------------------------------------------------------------- */

static int kv_append(kvb_kv *kv, int layer, const float *k, const float *v, kvb_error *e)
{
    if (layer < 0 || layer >= kv->L)
        return kvb_errorf(e, KVB_EINVAL, "kvcache: layer %d out of range [0, %d)", layer, kv->L);
    if (kv->n_prompt == 0)
        return kvb_errorf(e, KVB_EINVAL, "kvcache: append before prefill");
    if (kv->m->decode)
        kv->m->decode(kv, layer);
    if (kv->appended[layer] >= kv->room)
        return kvb_errorf(e, KVB_EINVAL, "kvcache: layer %d is full (%d prompt + %d generated "
                          "tokens)", layer, kv->n_prompt, kv->appended[layer]);
    const int pos = kv->n_prompt + kv->appended[layer];
    const size_t D = (size_t)kv->shape.head_dim;
    for (int h = 0; h < kv->S; h++) {
        const int kvh = kv->gqa_query ? h / kv->group : h;
        const size_t i = (size_t)layer * kv->S + h;
        const float *kh = k ? k + kvh * D : NULL, *vh = v ? v + kvh * D : NULL;
        int rc = kv->layer_quant[layer] ? kvb_qseq_append(&kv->qseq[i], kh, vh)
                                        : kvb_seq_push(&kv->seq[i], kh, vh, pos);
        if (!rc && kv->external && kv->layer_quant[layer]) /* a device's KIVI layer: positions too */
            rc = kvb_seq_push(&kv->seq[i], NULL, NULL, pos);
        if (rc)
            return kvb_errorf(e, KVB_EINVAL, "kvcache: layer %d head %d is full", layer, h);
    }
    kv->appended[layer]++;
    if (layer == 0)
        kv->generated++;
    note_peak(kv);
    return 0;
}

static size_t kv_scratch_floats(const kvb_kv *kv)
{
    /* KIVI scores of up to a whole GQA group at once, else one head's probabilities + gathered q */
    const size_t g = (size_t)KVB_MIN(kv->group, KVB_KIVI_MAX_MULTI);
    return g * ((size_t)kv->shape.max_tokens + 1) + kv->shape.head_dim + 16;
}

static void kv_attend(kvb_kv *kv, int layer, const float *q, float *out, int h0, int h1,
                      float *scratch)
{
    const int D = kv->shape.head_dim;
    if (kv->external) { /* the device attends; a caller that asks here gets NaN, not a number */
        for (size_t i = (size_t)h0 * D; i < (size_t)h1 * D; i++)
            out[i] = NAN;
        return;
    }
    for (int h = h0; h < h1; h++) {
        const int s = kv->gqa_query ? h : h / kv->group;
        const size_t i = (size_t)layer * kv->S + s;
        if (kv->layer_quant[layer]) {
            /* the query heads of this kv head within [h, h1): one pass over the codes */
            int nq = 1;
            while (!kv->gqa_query && h + nq < h1 && (h + nq) / kv->group == s &&
                   nq < KVB_KIVI_MAX_MULTI)
                nq++;
            kvb_qseq_attend_multi(&kv->qseq[i], q + (size_t)h * D, nq, out + (size_t)h * D,
                                  scratch, (size_t)kv->shape.max_tokens + 1);
            h += nq - 1;
            continue;
        }
        const kvb_seq *sq = &kv->seq[i];
        kvb_seq_attend(sq, q + (size_t)h * D, out + (size_t)h * D, scratch,
                       scratch + kv->shape.max_tokens);
        if (kv->m->attended)
            kv->m->attended(kv, layer, h, scratch, kvb_seq_tokens(sq));
    }
}

/* ---- accounting ---------------------------------------------------------------------------- */

/* as_reference: report what the reference holds (a trim the method decided but does at the next
 * append, kvb_cache_method.reference_tokens); the peak uses what is physically held. */
static void layer_stats(const kvb_kv *kv, int layer, kvb_cache_layer_stats *o, int as_reference)
{
    memset(o, 0, sizeof(*o));
    if (layer < 0 || layer >= kv->L)
        return;
    const size_t D = (size_t)kv->shape.head_dim;
    const long trim_to = as_reference && kv->m->reference_tokens
                             ? kv->m->reference_tokens(kv, layer) : -1;
    for (int h = 0; h < kv->S; h++) {
        const size_t i = (size_t)layer * kv->S + h;
        if (kv->layer_quant[layer]) {
            size_t k, v, m, r;
            kvb_qseq_bytes(&kv->qseq[i], &k, &v, &m, &r);
            o->k_bytes += k, o->v_bytes += v, o->meta_bytes += m, o->residual_bytes += r;
            o->tokens += kvb_qseq_tokens(&kv->qseq[i]);
        } else {
            const kvb_seq *s = &kv->seq[i];
            long t = kvb_seq_tokens(s);
            if (trim_to >= 0 && t > trim_to) {
                o->k_bytes += (size_t)trim_to * D * 2, o->v_bytes += (size_t)trim_to * D * 2;
                o->tokens += trim_to;
                continue;
            }
            o->k_bytes += kvb_seq_k_bytes(s);
            o->v_bytes += kvb_seq_v_bytes(s);
            o->meta_bytes += kvb_seq_meta_bytes(s);
            o->tokens += t;
        }
    }
    /* tokens count kv heads, as tokens_full (the dispatcher sets it): with --gqa query_head the
     * group's copies are averaged, so tokens / tokens_full stays the keep ratio; the duplicated
     * copies show in the bytes. */
    if (kv->gqa_query)
        o->tokens /= kv->group;
    o->tokens_full = (long)kv->shape.n_kv_heads * (kv->n_prompt + kv->appended[layer]);
    o->lazy = kv->m->lazy ? kv->m->lazy(kv, layer) : 0;
}

static size_t bytes(const kvb_kv *kv, int as_reference)
{
    size_t total = 0;
    for (int l = 0; l < kv->L; l++) {
        kvb_cache_layer_stats st;
        layer_stats(kv, l, &st, as_reference);
        total += st.k_bytes + st.v_bytes + st.meta_bytes + st.residual_bytes;
    }
    return total;
}

double kvb_kv_layer_score(const kvb_kv *kv, int layer)
{
    if (!kv->m->layer_score || layer < 0 || layer >= kv->L)
        return 0.0;
    return kv->m->layer_score(kv, layer);
}

int kvb_kv_kept_positions(const kvb_kv *kv, int layer, int head, int *pos, int max)
{
    if (layer < 0 || layer >= kv->L || head < 0 || head >= kv->S ||
        (kv->layer_quant[layer] && !kv->external))
        return 0;
    const kvb_seq *s = &kv->seq[(size_t)layer * kv->S + head];
    const int t = KVB_MIN(kvb_seq_tokens(s), max);
    if (t > 0)
        memcpy(pos, s->pos, (size_t)t * sizeof(int));
    return t;
}

/* ---- kvb_cache_ops --------------------------------------------------------------------------- */

static int st_init(kvb_cache *c, kvb_error *e)
{
    kvb_kv *kv;
    int rc = kv_build(&kv, c->m, c->params, &c->shape, c->pool, e);
    if (rc)
        return rc;
    c->priv = kv;
    return 0;
}

static int st_reset(kvb_cache *c, int n_prompt, kvb_error *e)
{
    return kvb_kv_reset(c->priv, n_prompt, e);
}

static int st_prefill_layer(kvb_cache *c, const kvb_prefill_layer *pl, kvb_error *e)
{
    return kvb_kv_prefill_layer(c->priv, pl, e);
}

static int st_prefill_end(kvb_cache *c, kvb_error *e)
{
    return kvb_kv_prefill_end(c->priv, e);
}

static int st_append(kvb_cache *c, int layer, const float *k, const float *v, kvb_error *e)
{
    return kv_append(c->priv, layer, k, v, e);
}

static void st_attend(kvb_cache *c, int layer, const float *q, float *out, int h0, int h1,
                      float *scratch)
{
    kv_attend(c->priv, layer, q, out, h0, h1, scratch);
}

static size_t st_scratch(const kvb_cache *c)
{
    return kv_scratch_floats(c->priv);
}

static size_t st_bytes(const kvb_cache *c)
{
    return bytes(c->priv, 1);
}

static void st_layer_stats(const kvb_cache *c, int layer, kvb_cache_layer_stats *o)
{
    layer_stats(c->priv, layer, o, 1);
}

static char *st_params_json(const kvb_cache *c)
{
    return kvb_params_json(c->m, c->params, 1);
}

static void st_release(kvb_cache *c)
{
    kvb_kv_free(c->priv);
    c->priv = NULL;
}

static size_t st_peak_bytes(const kvb_cache *c)
{
    const kvb_kv *kv = c->priv;
    size_t b = bytes(kv, 1);
    return b > kv->peak_bytes ? b : kv->peak_bytes;
}

static int st_stored_heads(const kvb_cache *c)
{
    return ((const kvb_kv *)c->priv)->S;
}

static void st_head_tokens(const kvb_cache *c, int layer, long *out)
{
    const kvb_kv *kv = c->priv;
    for (int h = 0; h < kv->S; h++) {
        const size_t i = (size_t)layer * kv->S + h;
        out[h] = kv->layer_quant[layer] ? kvb_qseq_tokens(&kv->qseq[i])
                                        : kvb_seq_tokens(&kv->seq[i]);
    }
}

/* Methods a device can hold (descriptor on_device) on kv heads: the device holds the rows (or
 * KIVI's codes), the stores here positions and counts. */
static int st_hold_device(kvb_cache *c, kvb_error *e)
{
    kvb_kv *kv = c->priv;
    if (!kv->m->on_device)
        return kvb_errorf(e, KVB_EUNSUP, "cache method %s is not on the GPU yet (the GPU runs "
                          "full, KIVI, SnapKV, PyramidKV, H2O, StreamingLLM, ZigZagKV, ThinK, "
                          "SimLayerKV and SimLayerKV+KIVI; use --device cpu)",
                          kv->m->name);
    if (kv->gqa_query)
        return kvb_errorf(e, KVB_EUNSUP, "cache method %s with gqa=query_head is not on the GPU "
                          "(the GPU stores kv heads: use gqa=kv_head)", kv->m->name);
    kv->external = 1;
    return kv->m->on_device;
}

static int st_device_kivi(const kvb_cache *c, int *bits, int *group, int *residual)
{
    const kvb_kv *kv = c->priv;
    if (!kv->m->device_quant)
        return -1;
    const kvb_quant_params *qp = kv->m->device_quant(kv->params);
    *bits = qp->bits, *group = qp->group, *residual = qp->residual;
    return 0;
}

static unsigned st_device_stats(const kvb_cache *c, int *window, int *qwindow)
{
    const kvb_kv *kv = c->priv;
    *window = kv->m->device_window ? kv->m->device_window(kv->params) : 0;
    *qwindow = kv->m->device_qwindow ? kv->m->device_qwindow(kv->params) : 0;
    return kv->m->device_needs;
}

static int st_channel_stats(kvb_cache *c, int layer, const double *k_sqmean, kvb_error *e)
{
    kvb_kv *kv = c->priv;
    return kv->m->device_channels(kv, layer, k_sqmean, e);
}

static int st_thin_keys(const kvb_cache *c, int layer, int head, int *ch, int *n_thin)
{
    const kvb_kv *kv = c->priv;
    const kvb_seq *s = &kv->seq[(size_t)layer * kv->S + head];
    *n_thin = kv->layer_quant[layer] ? 0 : s->n_thin;
    if (!*n_thin)
        return kv->shape.head_dim;
    memcpy(ch, s->ch, (size_t)s->n_ch * sizeof(int));
    return s->n_ch;
}

static unsigned st_device_decode_stats(const kvb_cache *c, int *sink, int *recent)
{
    const kvb_kv *kv = c->priv;
    return kv->m->device_decode_needs ? kv->m->device_decode_needs(kv, sink, recent) : 0;
}

static void st_decode_stats(kvb_cache *c, int layer, const float *sink_mass)
{
    kvb_kv *kv = c->priv;
    if (kv->m->decode_stats)
        kv->m->decode_stats(kv, layer, sink_mass);
}

static int st_kivi_counts(const kvb_cache *c, int layer, int counts[4])
{
    const kvb_kv *kv = c->priv;
    if (layer < 0 || layer >= kv->L || !kv->layer_quant[layer])
        return -1;
    const kvb_qseq *q = &kv->qseq[(size_t)layer * kv->S]; /* every head: the same counts */
    counts[0] = q->nkq, counts[1] = q->nkr, counts[2] = q->nvq, counts[3] = q->nvr;
    return 0;
}

static int st_kept_positions(const kvb_cache *c, int layer, int head, int *pos, int max)
{
    return kvb_kv_kept_positions(c->priv, layer, head, pos, max);
}

const struct kvb_cache_ops kvb_store_ops = {
    .init = st_init,
    .reset = st_reset,
    .prefill_layer = st_prefill_layer,
    .prefill_end = st_prefill_end,
    .append = st_append,
    .attend = st_attend,
    .scratch_floats = st_scratch,
    .bytes = st_bytes,
    .layer_stats = st_layer_stats,
    .params_json = st_params_json,
    .release = st_release,
    .peak_bytes = st_peak_bytes,
    .stored_heads = st_stored_heads,
    .head_tokens = st_head_tokens,
    .hold_device = st_hold_device,
    .device_kivi = st_device_kivi,
    .kivi_counts = st_kivi_counts,
    .device_stats = st_device_stats,
    .channel_stats = st_channel_stats,
    .thin_keys = st_thin_keys,
    .device_decode_stats = st_device_decode_stats,
    .decode_stats = st_decode_stats,
    .kept_positions = st_kept_positions,
};
