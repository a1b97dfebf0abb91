/* lib/kvcache/engine.c: lifecycle, storage and decode attention of the compressing methods.
 * The per-method decisions live in the policy files (see engine.h). */
#include "kvcache/engine.h"

#include <stdlib.h>
#include <string.h>

#include "kvcache/kivi_quant.h"
#include "kvcache/select.h"

/* ---- lifecycle ----------------------------------------------------------------------------- */

int kvb_kv_create(kvb_kv **out, const char *method, const kvb_cache_shape *shape,
                  const kvb_cache_param *params, int n_params, kvb_pool *pool, kvb_error *e)
{
    *out = NULL;
    kvb_kvparams p;
    int rc = kvb_kvparams_parse(method, shape, params, n_params, &p, e);
    if (rc)
        return rc;
    if (p.kind == KVB_KIND_FULL)
        return kvb_errorf(e, KVB_EINVAL, "kvcache: 'full' is not a compressing method");
    kvb_kv *kv = kvb_calloc(1, sizeof(*kv));
    if (!kv)
        return kvb_errorf(e, KVB_ENOMEM, "kvcache: out of memory");
    kv->p = p;
    kv->shape = *shape;
    snprintf(kv->family, sizeof(kv->family), "%s", shape->model_family ? shape->model_family : "");
    kv->shape.model_family = kv->family;
    kv->pool = pool;
    kv->L = shape->n_layers;
    kv->group = shape->n_heads / shape->n_kv_heads;
    kv->S = p.gqa_query ? shape->n_heads : shape->n_kv_heads;
    const size_t LS = (size_t)kv->L * kv->S, L = (size_t)kv->L;
    kv->seq = kvb_calloc(LS, sizeof(kvb_seq));
    kv->qseq = kvb_calloc(LS, sizeof(kvb_qseq));
    kv->layer_quant = kvb_calloc(L, sizeof(int));
    kv->head_score = kvb_calloc(L * shape->n_heads, sizeof(double));
    kv->appended = kvb_calloc(L, sizeof(int)); /* tokens appended per layer since prefill */
    kv->decided = kvb_calloc(L, sizeof(int));
    kv->lazy = kvb_calloc(L, sizeof(int));
    kv->lmba = kvb_calloc(L, sizeof(double));
    kv->budgets = kvb_calloc(L, sizeof(int));
    if (!kv->seq || !kv->qseq || !kv->layer_quant || !kv->head_score || !kv->appended ||
        !kv->decided || !kv->lazy || !kv->lmba || !kv->budgets) {
        kvb_kv_free(kv);
        return kvb_errorf(e, KVB_ENOMEM, "kvcache: out of memory");
    }
    *out = kv;
    return 0;
}

static void release_record(kvb_kv *kv)
{
    const size_t LS = (size_t)kv->L * kv->S;
    for (size_t i = 0; i < LS; i++) {
        kvb_seq_release(&kv->seq[i]);
        kvb_qseq_release(&kv->qseq[i]);
    }
    free(kv->zz_scores);
    free(kv->sc_attn);
    free(kv->sc_red);
    free(kv->sc_pool);
    free(kv->sc_row);
    free(kv->sc_idx);
    free(kv->sc_work);
    free(kv->sc_h);
    free(kv->sc_thread);
    kv->zz_scores = kv->sc_attn = kv->sc_red = kv->sc_pool = kv->sc_row = kv->sc_thread = NULL;
    kv->sc_idx = kv->sc_work = NULL;
    kv->sc_h = NULL;
}

void kvb_kv_free(kvb_kv *kv)
{
    if (!kv)
        return;
    if (kv->seq && kv->qseq)
        release_record(kv);
    free(kv->seq);
    free(kv->qseq);
    free(kv->layer_quant);
    free(kv->head_score);
    free(kv->appended);
    free(kv->decided);
    free(kv->lazy);
    free(kv->lmba);
    free(kv->budgets);
    free(kv);
}

int kvb_kv_reset(kvb_kv *kv, int n_prompt, kvb_error *e)
{
    release_record(kv);
    const size_t L = (size_t)kv->L;
    memset(kv->layer_quant, 0, L * sizeof(int));
    memset(kv->head_score, 0, L * kv->shape.n_heads * sizeof(double));
    memset(kv->appended, 0, L * sizeof(int));
    memset(kv->decided, 0, L * sizeof(int));
    memset(kv->lazy, 0, L * sizeof(int));
    memset(kv->lmba, 0, L * sizeof(double));
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
    if (kv->p.kind == KVB_KIND_ZIGZAGKV)
        kv->zz_scores = kvb_malloc(L * kv->S * n * sizeof(float));
    if (!kv->sc_attn || !kv->sc_red || !kv->sc_pool || !kv->sc_row || !kv->sc_idx ||
        !kv->sc_work || !kv->sc_h || !kv->sc_thread ||
        (kv->p.kind == KVB_KIND_ZIGZAGKV && !kv->zz_scores)) {
        release_record(kv);
        return kvb_errorf(e, KVB_ENOMEM, "kvcache: out of memory for a %d-token prompt", n_prompt);
    }
    return 0;
}

unsigned kvb_kv_needs(const kvb_kv *kv)
{
    return kv->p.kind == KVB_KIND_H2O ? KVB_NEED_COLSUM : 0u;
}

/* ---- helpers for the policies -------------------------------------------------------------- */

const float *kvb_kv_row(const kvb_kv *kv, const float *x, int t, int head)
{
    const int kvh = kv->p.gqa_query ? head / kv->group : head;
    return x + ((size_t)t * kv->shape.n_kv_heads + kvh) * kv->shape.head_dim;
}

int kvb_kv_fill(kvb_kv *kv, const kvb_prefill_layer *pl, int head, const int *idx, int m,
                kvb_error *e)
{
    kvb_seq *s = &kv->seq[(size_t)pl->layer * kv->S + head];
    kvb_seq_release(s);
    if (!idx)
        m = pl->n_tokens;
    if (kvb_seq_init(s, kv->shape.head_dim, 0, 0, m + kv->room))
        return kvb_errorf(e, KVB_ENOMEM, "kvcache: out of memory");
    for (int i = 0; i < m; i++) {
        const int t = idx ? idx[i] : i;
        kvb_seq_push(s, kvb_kv_row(kv, pl->k, t, head), kvb_kv_row(kv, pl->v, t, head), t);
    }
    return 0;
}

static size_t bytes(const kvb_kv *kv, int as_reference);

static void note_peak(kvb_kv *kv)
{
    size_t b = bytes(kv, 0);
    if (b > kv->peak_bytes)
        kv->peak_bytes = b;
}

/* Select the top `cap` of each stored head's score vector (prefix of n - w positions), add the
 * window, and store (ThinK then prunes channels). cap < 0: keep everything. */
static int keep_topk(kvb_kv *kv, const kvb_prefill_layer *pl, const float *scores, int cap,
                     kvb_error *e)
{
    const int n = pl->n_tokens, w = KVB_MIN(kv->p.window, n), m = n - w;
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
        int rc = kv->p.kind == KVB_KIND_THINK ? kvb_think_prune(kv, pl, h, idx, cnt, e)
                                              : kvb_kv_fill(kv, pl, h, idx, cnt, e);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- prefill ------------------------------------------------------------------------------- */

int kvb_kv_prefill_layer(kvb_kv *kv, const kvb_prefill_layer *pl, kvb_error *e)
{
    if (pl->layer < 0 || pl->layer >= kv->L)
        return kvb_errorf(e, KVB_EINVAL, "kvcache: layer %d out of range [0, %d)", pl->layer,
                          kv->L);
    if (kv->n_prompt == 0 || pl->n_tokens != kv->n_prompt)
        return kvb_errorf(e, KVB_EINVAL, "kvcache: prefill of %d tokens after a reset for %d",
                          pl->n_tokens, kv->n_prompt);
    const int n = pl->n_tokens, l = pl->layer;
    int rc = 0, cap;
    switch (kv->p.kind) {
    case KVB_KIND_SNAPKV:
    case KVB_KIND_THINK:
        cap = kvb_snapkv_cap(kv, n);
        if (cap >= 0)
            kvb_snapkv_scores(kv, pl, kv->sc_pool, NULL);
        rc = keep_topk(kv, pl, kv->sc_pool, cap, e);
        break;
    case KVB_KIND_PYRAMIDKV:
        cap = kvb_pyramidkv_cap(kv, l, n);
        kv->budgets[l] = cap < 0 ? n : cap;
        if (cap >= 0)
            kvb_snapkv_scores(kv, pl, kv->sc_pool, NULL);
        rc = keep_topk(kv, pl, kv->sc_pool, cap, e);
        break;
    case KVB_KIND_H2O:
        cap = kvb_snapkv_cap(kv, n);
        if (cap >= 0)
            kvb_h2o_scores(kv, pl, kv->sc_pool);
        rc = keep_topk(kv, pl, kv->sc_pool, cap, e);
        break;
    case KVB_KIND_STREAMINGLLM: {
        const int m = kvb_streaming_keep(kv, n, kv->sc_idx);
        for (int h = 0; h < kv->S && !rc; h++)
            rc = kvb_kv_fill(kv, pl, h, kv->sc_idx, m, e);
        break;
    }
    case KVB_KIND_ZIGZAGKV:
        rc = kvb_zigzag_prefill(kv, pl, e);
        break;
    case KVB_KIND_SIMLAYERKV:
    case KVB_KIND_SIMLAYERKV_KIVI:
        for (int h = 0; h < kv->S && !rc; h++)
            rc = kvb_kv_fill(kv, pl, h, NULL, n, e);
        break;
    case KVB_KIND_KIVI:
        rc = kvb_kivi_prefill(kv, pl, e);
        break;
    default:
        rc = kvb_errorf(e, KVB_EINVAL, "kvcache: method %s has no prefill", kv->p.name);
    }
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
    int rc = 0;
    if (kv->p.kind == KVB_KIND_ZIGZAGKV)
        rc = kvb_zigzag_end(kv, e);
    return rc;
}

/* ---- decode -------------------------------------------------------------------------------- */

int kvb_kv_append(kvb_kv *kv, int layer, const float *k, const float *v, kvb_error *e)
{
    if (layer < 0 || layer >= kv->L)
        return kvb_errorf(e, KVB_EINVAL, "kvcache: layer %d out of range [0, %d)", layer, kv->L);
    if (kv->n_prompt == 0)
        return kvb_errorf(e, KVB_EINVAL, "kvcache: append before prefill");
    const int kind = kv->p.kind;
    if ((kind == KVB_KIND_SIMLAYERKV || kind == KVB_KIND_SIMLAYERKV_KIVI) && kv->appended[layer] == 1 &&
        !kv->decided[layer])
        kvb_simlayer_decide(kv, layer);
    if (kv->appended[layer] >= kv->room)
        return kvb_errorf(e, KVB_EINVAL, "kvcache: layer %d is full (%d prompt + %d generated "
                          "tokens)", layer, kv->n_prompt, kv->appended[layer]);
    const int pos = kv->n_prompt + kv->appended[layer];
    const size_t D = (size_t)kv->shape.head_dim;
    for (int h = 0; h < kv->S; h++) {
        const int kvh = kv->p.gqa_query ? h / kv->group : h;
        const size_t i = (size_t)layer * kv->S + h;
        int rc = kv->layer_quant[layer] ? kvb_qseq_append(&kv->qseq[i], k + kvh * D, v + kvh * D)
                                        : kvb_seq_push(&kv->seq[i], k + kvh * D, v + kvh * D, pos);
        if (rc)
            return kvb_errorf(e, KVB_EINVAL, "kvcache: layer %d head %d is full", layer, h);
    }
    kv->appended[layer]++;
    if (layer == 0)
        kv->generated++;
    note_peak(kv);
    return 0;
}

size_t kvb_kv_scratch_floats(const kvb_kv *kv)
{
    /* KIVI scores of up to a whole GQA group at once, else one head's probabilities + gathered q */
    const size_t g = (size_t)KVB_MIN(kv->group, KVB_KIVI_MAX_MULTI);
    return g * ((size_t)kv->shape.max_tokens + 1) + kv->shape.head_dim + 16;
}

void kvb_kv_attend(kvb_kv *kv, int layer, const float *q, float *out, int h0, int h1,
                   float *scratch)
{
    const int D = kv->shape.head_dim;
    const int simlayer = kv->p.kind == KVB_KIND_SIMLAYERKV || kv->p.kind == KVB_KIND_SIMLAYERKV_KIVI;
    for (int h = h0; h < h1; h++) {
        const int s = kv->p.gqa_query ? h : h / kv->group;
        const size_t i = (size_t)layer * kv->S + s;
        if (kv->layer_quant[layer]) {
            /* the query heads of this kv head within [h, h1): one pass over the codes */
            int nq = 1;
            while (!kv->p.gqa_query && h + nq < h1 && (h + nq) / kv->group == s &&
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
        /* SimLayerKV judges a layer on its first decode step (spec B.2): each head leaves its
         * mass on the initial and recent windows; the next append of the layer decides. */
        if (simlayer && kv->appended[layer] == 1 && !kv->decided[layer])
            kv->head_score[(size_t)layer * kv->shape.n_heads + h] =
                kvb_sel_simlayer_head(scratch, kvb_seq_tokens(sq), kv->p.sink, kv->p.recent);
    }
}

/* ---- accounting ---------------------------------------------------------------------------- */

/* as_reference: report a pending SimLayerKV trim as done (what the reference holds after the
 * step); the peak uses what is physically held. */
static void layer_stats(const kvb_kv *kv, int layer, kvb_cache_layer_stats *o, int as_reference)
{
    memset(o, 0, sizeof(*o));
    if (layer < 0 || layer >= kv->L)
        return;
    const size_t D = (size_t)kv->shape.head_dim;
    /* SimLayerKV decided on the first decode step but trims at the next append: when decoding
     * stopped after one token, report what the reference holds after that step. */
    long trim_to = -1;
    if (as_reference && kv->p.kind == KVB_KIND_SIMLAYERKV && kv->appended[layer] == 1 &&
        !kv->decided[layer] && kvb_simlayer_would_be_lazy(kv, layer))
        trim_to = kv->p.sink + kv->p.recent;
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
    if (kv->p.gqa_query)
        o->tokens /= kv->group;
    o->tokens_full = (long)kv->shape.n_kv_heads * (kv->n_prompt + kv->appended[layer]);
    o->lazy = kv->decided[layer] ? kv->lazy[layer]
              : (kv->appended[layer] == 1 && (kv->p.kind == KVB_KIND_SIMLAYERKV ||
                                            kv->p.kind == KVB_KIND_SIMLAYERKV_KIVI))
                  ? kvb_simlayer_would_be_lazy(kv, layer)
                  : 0;
}

void kvb_kv_layer_stats(const kvb_kv *kv, int layer, kvb_cache_layer_stats *o)
{
    layer_stats(kv, layer, o, 1);
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

size_t kvb_kv_bytes(const kvb_kv *kv)
{
    return bytes(kv, 1);
}

size_t kvb_kv_peak_bytes(const kvb_kv *kv)
{
    size_t b = kvb_kv_bytes(kv);
    return b > kv->peak_bytes ? b : kv->peak_bytes;
}

size_t kvb_kv_full16_bytes(const kvb_kv *kv)
{
    size_t total = 0;
    for (int l = 0; l < kv->L; l++)
        total += (size_t)kv->shape.n_kv_heads * (kv->n_prompt + kv->appended[l]) *
                 kv->shape.head_dim * 2 * sizeof(kvb_half);
    return total;
}

char *kvb_kv_params_json(const kvb_kv *kv)
{
    return kvb_kvparams_json(&kv->p);
}

int kvb_kv_head_tokens(const kvb_kv *kv, int layer, long *out)
{
    for (int h = 0; h < kv->S; h++) {
        const size_t i = (size_t)layer * kv->S + h;
        out[h] = kv->layer_quant[layer] ? kvb_qseq_tokens(&kv->qseq[i])
                                        : kvb_seq_tokens(&kv->seq[i]);
    }
    return kv->S;
}

int kvb_kv_kept_positions(const kvb_kv *kv, int layer, int head, int *pos, int max)
{
    if (layer < 0 || layer >= kv->L || head < 0 || head >= kv->S || kv->layer_quant[layer])
        return 0;
    const kvb_seq *s = &kv->seq[(size_t)layer * kv->S + head];
    const int t = KVB_MIN(kvb_seq_tokens(s), max);
    memcpy(pos, s->pos, (size_t)t * sizeof(int));
    return t;
}

/* ---- kvb_cache_method callbacks ------------------------------------------------------------ */

int kvb_kv_m_init(kvb_cache *c, const kvb_cache_param *p, int n, kvb_error *e)
{
    kvb_kv *kv;
    int rc = kvb_kv_create(&kv, c->m->name, &c->shape, p, n, c->pool, e);
    if (rc)
        return rc;
    c->priv = kv;
    return 0;
}

int kvb_kv_m_reset(kvb_cache *c, int n_prompt, kvb_error *e)
{
    return kvb_kv_reset(c->priv, n_prompt, e);
}

int kvb_kv_m_prefill_layer(kvb_cache *c, const kvb_prefill_layer *pl, kvb_error *e)
{
    return kvb_kv_prefill_layer(c->priv, pl, e);
}

int kvb_kv_m_prefill_end(kvb_cache *c, kvb_error *e)
{
    return kvb_kv_prefill_end(c->priv, e);
}

int kvb_kv_m_append(kvb_cache *c, int layer, const float *k, const float *v, kvb_error *e)
{
    return kvb_kv_append(c->priv, layer, k, v, e);
}

void kvb_kv_m_attend(kvb_cache *c, int layer, const float *q, float *out, int h0, int h1,
                     float *scratch)
{
    kvb_kv_attend(c->priv, layer, q, out, h0, h1, scratch);
}

size_t kvb_kv_m_scratch(const kvb_cache *c)
{
    return kvb_kv_scratch_floats(c->priv);
}

size_t kvb_kv_m_bytes(const kvb_cache *c)
{
    return kvb_kv_bytes(c->priv);
}

void kvb_kv_m_layer_stats(const kvb_cache *c, int layer, kvb_cache_layer_stats *o)
{
    kvb_kv_layer_stats(c->priv, layer, o);
}

char *kvb_kv_m_params_json(const kvb_cache *c)
{
    return kvb_kv_params_json(c->priv);
}

void kvb_kv_m_release(kvb_cache *c)
{
    kvb_kv_free(c->priv);
    c->priv = NULL;
}

/* ---- kvcache.h extras, for every method ---------------------------------------------------- */

static int is_engine(const kvb_cache *c)
{
    return c->m->init == kvb_kv_m_init;
}

size_t kvb_cache_peak_bytes(const kvb_cache *c)
{
    /* full only grows, so its peak is what it holds now */
    return is_engine(c) ? kvb_kv_peak_bytes(c->priv) : kvb_cache_bytes(c);
}

int kvb_cache_stored_heads(const kvb_cache *c)
{
    return is_engine(c) ? ((const kvb_kv *)c->priv)->S : c->shape.n_kv_heads;
}

void kvb_cache_head_tokens(const kvb_cache *c, int layer, long *out)
{
    if (layer < 0 || layer >= c->shape.n_layers)
        return;
    if (is_engine(c)) {
        kvb_kv_head_tokens(c->priv, layer, out);
        return;
    }
    kvb_cache_layer_stats st;
    kvb_cache_layer_stats_get(c, layer, &st);
    for (int h = 0; h < c->shape.n_kv_heads; h++)
        out[h] = st.tokens / c->shape.n_kv_heads;
}
