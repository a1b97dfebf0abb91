/* Devices of a model: --device parsing and probing, the check of what a device runs, and the
 * dispatch of prefill/decode to a device backend (backend.h). Compiled into the CPU library:
 * the CUDA backend is reached only through the weak kvb_backend_cuda, NULL in `make`'s binaries. */
#include "model_impl.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- names and probing ---------------------------------------------------------------------- */
const char *kvb_device_name(int device)
{
    return device == KVB_DEVICE_CPU ? "cpu" : device == KVB_DEVICE_CUDA ? "cuda" : "auto";
}

int kvb_device_parse(const char *s, int *device, int *index, kvb_error *e)
{
    *index = 0;
    if (!strcmp(s, "cpu") || !strcmp(s, "auto") || !strcmp(s, "cuda")) {
        *device = s[0] == 'c' ? (s[1] == 'p' ? KVB_DEVICE_CPU : KVB_DEVICE_CUDA) : KVB_DEVICE_AUTO;
        return 0;
    }
    long v;
    if (!strncmp(s, "cuda:", 5) && !kvb_parse_long(s + 5, 0, 255, &v)) {
        *device = KVB_DEVICE_CUDA;
        *index = (int)v;
        return 0;
    }
    return kvb_errorf(e, KVB_EINVAL, "--device '%s': use cpu, cuda, cuda:N or auto", s);
}

static const kvb_backend *backend_of(int device)
{
    return device == KVB_DEVICE_CUDA && &kvb_backend_cuda ? &kvb_backend_cuda : NULL;
}

int kvb_device_probe(int device, int index, kvb_error *e)
{
    if (device != KVB_DEVICE_CUDA)
        return 0;
    const kvb_backend *be = backend_of(device);
    if (!be)
        return kvb_errorf(e, KVB_EUNSUP, "--device cuda: this binary has no CUDA backend (build "
                          "it with make cuda)");
    kvb_error pe;
    int rc = be->probe(index, &pe);
    return rc ? kvb_errorf(e, rc, "--device cuda: %s", pe.msg) : 0;
}

int kvb_device_resolve(int device, int index)
{
    if (device != KVB_DEVICE_AUTO)
        return device;
    return backend_of(KVB_DEVICE_CUDA) && !kvb_device_probe(KVB_DEVICE_CUDA, index, NULL)
               ? KVB_DEVICE_CUDA
               : KVB_DEVICE_CPU;
}

/* What a device holds is the cache's decision (kvb_cache_device_mode: full in bf16, or the
 * methods that select prompt tokens at prefill); asked before the model loads, and again by the
 * cache at prefill, so nothing falls back to the CPU silently. */
int kvb_device_check_method(int device, const char *method, const kvb_cache_param *p, int n,
                            kvb_error *e)
{
    if (device != KVB_DEVICE_CUDA)
        return 0;
    int rc = kvb_cache_device_check(method, p, n, e);
    if (rc == KVB_EUNSUP)
        kvb_error_prefix(e, "--type %s", method);
    return rc;
}

/* ---- plan and info --------------------------------------------------------------------------- */
int kvb_device_plan(const kvb_model_config *c, int device, int index, kvb_device_info *out,
                    kvb_error *e)
{
    memset(out, 0, sizeof(*out));
    out->device = device == KVB_DEVICE_CUDA ? KVB_DEVICE_CUDA : KVB_DEVICE_CPU;
    out->index = index;
    if (out->device == KVB_DEVICE_CPU)
        return 0;
    int rc = kvb_device_probe(device, index, e);
    return rc ? rc : kvb_backend_cuda.plan(c, kvb_cuda_max_tokens(c), index, out, e);
}

void kvb_model_device_info(const kvb_model *m, kvb_device_info *out)
{
    memset(out, 0, sizeof(*out));
    out->device = m->device;
    out->index = m->opts.device_index;
    if (m->be)
        m->be->info(m->be_ctx, out);
}

/* ---- attach ---------------------------------------------------------------------------------- */
/* The device holds the weights now: drop the host copies (owned conversions and the safetensors
 * mappings). Norm vectors and the RoPE table are small and stay; the GGUF stays open for its
 * vocabulary (its mapping is only paged in where read). */
static void drop_host_weights(kvb_model *m)
{
    kvb_wt *ws[] = { &m->embed, &m->lm_head };
    for (size_t i = 0; i < KVB_ARRAY_SIZE(ws); i++) {
        free(ws[i]->owned);
        ws[i]->owned = NULL;
        ws[i]->data = NULL;
    }
    for (int l = 0; l < m->cfg.n_layers; l++) {
        kvb_layer_w *L = &m->layers[l];
        kvb_wt *lw[] = { &L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down };
        for (size_t i = 0; i < KVB_ARRAY_SIZE(lw); i++) {
            free(lw[i]->owned);
            lw[i]->owned = NULL;
            lw[i]->data = NULL;
        }
    }
    for (int i = 0; i < m->n_st; i++)
        kvb_st_close(&m->st[i]);
    free(m->st);
    m->st = NULL;
    m->n_st = 0;
}

int kvb_model_attach_device(kvb_model *m, kvb_error *e)
{
    m->device = kvb_device_resolve(m->opts.device, m->opts.device_index);
    if (m->device == KVB_DEVICE_CPU)
        return 0;
    int rc = kvb_device_probe(m->device, m->opts.device_index, e);
    if (rc)
        return rc;
    if (!m->opts.weights_bf16 || m->opts.weights_gguf)
        return kvb_errorf(e, KVB_EUNSUP, "--weights %s: the GPU holds bf16 weights only (--weights "
                          "bf16, the default)", m->opts.weights_gguf ? (m->opts.gguf_act_q8 ?
                          "gguf-q8" : "gguf") : "f32");
    if (m->opts.config_only)
        return 0; /* planning only (info, dry runs): nothing to upload */
    m->be = backend_of(m->device);
    if (m->opts.device_tokens > KVB_CUDA_MAX_TOKENS)
        return kvb_errorf(e, KVB_EINVAL, "the GPU cache holds at most %d tokens (%d asked)",
                          KVB_CUDA_MAX_TOKENS, m->opts.device_tokens);
    m->dev_max_tokens = m->opts.device_tokens > 0 ? m->opts.device_tokens
                                                  : kvb_cuda_max_tokens(&m->cfg);
    if ((rc = m->be->open(m, m->dev_max_tokens, &m->be_ctx, e))) {
        m->be = NULL;
        return rc;
    }
    drop_host_weights(m);
    return 0;
}

void kvb_model_detach_device(kvb_model *m)
{
    if (m->be)
        m->be->close(m->be_ctx);
    m->be = NULL;
    m->be_ctx = NULL;
    free(m->dev_counts);
    m->dev_counts = NULL;
}

/* ---- forward on the device ------------------------------------------------------------------- */
static int prefill_args_ok(const kvb_model *m, const int32_t *ids, int n, kvb_error *e)
{
    if (n <= 0 || n > m->dev_max_tokens)
        return kvb_errorf(e, KVB_EINVAL, "prefill of %d tokens: the device cache holds 1 to %d",
                          n, m->dev_max_tokens);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab)
            return kvb_errorf(e, KVB_EINVAL, "prefill: token %d at %d is not in [0, %d)", ids[i],
                              i, m->cfg.vocab);
    return 0;
}

/* Hand the device's statistics to the cache layer by layer, as the CPU forward hands it the
 * tensors: the method decides here. */
static int feed_stats(const kvb_model *m, kvb_cache *c, const kvb_prefill_stats *st, int n,
                      kvb_error *e)
{
    const size_t per_layer = (size_t)m->cfg.n_heads * n;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        kvb_prefill_layer pl = {
            .layer = l, .n_tokens = n,
            .colsum = st->colsum ? st->colsum + l * per_layer : NULL,
            .window_attn = st->window_attn ? st->window_attn + l * per_layer : NULL,
            .q_sqmean = st->q_sqmean ? st->q_sqmean + (size_t)l * m->cfg.n_heads *
                                                          m->cfg.head_dim : NULL,
        };
        int rc = kvb_cache_prefill_layer(c, &pl, e);
        if (rc)
            return rc;
    }
    return kvb_cache_prefill_end(c, e);
}

/* The positions the method keeps of the n tokens the device holds, per layer and kv head, to
 * the device (a position >= n is the token the device appends next: left out). */
static int keep_kept(kvb_model *m, kvb_cache *c, int n, kvb_error *e)
{
    const int L = m->cfg.n_layers, KV = m->cfg.n_kv_heads;
    int32_t *idx = kvb_malloc((size_t)L * KV * n * sizeof(int32_t));
    int *pos = kvb_malloc((size_t)(n + 1) * sizeof(int));
    if (!m->dev_counts)
        m->dev_counts = kvb_malloc((size_t)L * KV * sizeof(int32_t));
    int rc = idx && pos && m->dev_counts ? 0 : kvb_errorf(e, KVB_ENOMEM, "out of memory");
    for (int l = 0; l < L && !rc; l++)
        for (int g = 0; g < KV; g++) {
            const size_t row = (size_t)l * KV + g;
            int k = kvb_cache_kept_positions(c, l, g, pos, n + 1);
            while (k > 0 && pos[k - 1] >= n)
                k--;
            m->dev_counts[row] = k;
            for (int i = 0; i < k; i++)
                idx[row * n + i] = pos[i];
        }
    if (!rc)
        rc = m->be->keep(m->be_ctx, idx, m->dev_counts, n, e);
    free(idx);
    free(pos);
    return rc;
}

/* One layer's thin keys as the cache chose them: the same rows and channel count on every kv
 * head (ThinK keeps the same number of tokens per head), to the device. */
static int thin_layer(kvb_model *m, kvb_cache *c, int l, int *ch, int32_t *ch32, kvb_error *e)
{
    const int KV = m->cfg.n_kv_heads, D = m->cfg.head_dim;
    int n_thin = 0, n_ch = 0;
    for (int g = 0; g < KV; g++) {
        int t;
        const int k = kvb_cache_thin_keys(c, l, g, ch, &t);
        if (g > 0 && (t != n_thin || k != n_ch))
            return kvb_errorf(e, KVB_EUNSUP, "layer %d: kv heads keep different thin keys (%d "
                              "rows of %d channels, then %d of %d)", l, n_thin, n_ch, t, k);
        n_thin = t, n_ch = k;
        for (int i = 0; i < k && i < D; i++)
            ch32[(size_t)g * n_ch + i] = ch[i];
    }
    return n_thin > 0 ? m->be->thin(m->be_ctx, l, n_thin, n_ch, ch32, e) : 0;
}

/* ThinK's second round: the kept keys' channel magnitudes from the device, the cache's choice
 * of channels back to it. */
static int thin_keys(kvb_model *m, kvb_cache *c, kvb_error *e)
{
    const int L = m->cfg.n_layers, KV = m->cfg.n_kv_heads, D = m->cfg.head_dim;
    double *ksq = kvb_malloc((size_t)L * KV * D * sizeof(double));
    int *ch = kvb_malloc((size_t)D * sizeof(int));
    int32_t *ch32 = kvb_malloc((size_t)KV * D * sizeof(int32_t));
    int rc = ksq && ch && ch32 ? 0 : kvb_errorf(e, KVB_ENOMEM, "out of memory");
    if (!rc && (!m->be->channel_sqmean || !m->be->thin))
        rc = kvb_errorf(e, KVB_EUNSUP, "the %s backend has no thin keys (ThinK)", m->be->name);
    if (!rc)
        rc = m->be->channel_sqmean(m->be_ctx, ksq, e);
    for (int l = 0; l < L && !rc; l++) {
        rc = kvb_cache_channel_stats(c, l, ksq + (size_t)l * KV * D, e);
        if (!rc)
            rc = thin_layer(m, c, l, ch, ch32, e);
    }
    free(ksq);
    free(ch);
    free(ch32);
    return rc;
}

/* The layers KIVI quantizes (kvb_cache_kivi_counts) brought to the cache's counts on the device. */
static int kivi_counts(kvb_model *m, kvb_cache *c, kvb_error *e)
{
    int bits, group, residual, counts[4], rc = 0;
    if (kvb_cache_device_kivi(c, &bits, &group, &residual))
        return 0;
    for (int l = 0; l < m->cfg.n_layers && !rc; l++)
        if (!kvb_cache_kivi_counts(c, l, counts))
            rc = m->be->kivi(m->be_ctx, l, bits, group, residual, counts, e);
    return rc;
}

/* After this step's appends: does any head hold other than one token more than the device? */
static int selection_changed(const kvb_model *m, const kvb_cache *c)
{
    const int KV = m->cfg.n_kv_heads;
    long held[KVB_CACHE_MAX_HEADS];
    for (int l = 0; l < m->cfg.n_layers; l++) {
        kvb_cache_head_tokens(c, l, held);
        for (int g = 0; g < KV; g++)
            if (held[g] != m->dev_counts[(size_t)l * KV + g] + 1)
                return 1;
    }
    return 0;
}

/* One selecting-method step: the cache's bookkeeping and decisions first, then the device. */
static int decode_selected(kvb_model *m, kvb_cache *c, int32_t id, int pos, float *logits,
                           kvb_error *e)
{
    const int L = m->cfg.n_layers, H = m->cfg.n_heads, KV = m->cfg.n_kv_heads;
    int rc = 0;
    for (int l = 0; l < L && !rc; l++)
        rc = kvb_cache_append(c, l, NULL, NULL, e);
    if (!rc && selection_changed(m, c))
        rc = keep_kept(m, c, pos, e);
    if (!rc)
        rc = kivi_counts(m, c, e);
    kvb_decode_stats ds = { 0 };
    const unsigned need = rc ? 0 : kvb_cache_device_decode_stats(c, &ds.sink, &ds.recent);
    if (need & KVB_NEED_SINK)
        if (!(ds.sink_mass = kvb_malloc((size_t)L * H * sizeof(float))))
            rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
    if (!rc)
        rc = m->be->decode(m->be_ctx, id, pos, logits, ds.sink_mass ? &ds : NULL, e);
    for (int l = 0; l < L && !rc && ds.sink_mass; l++)
        rc = kvb_cache_decode_stats(c, l, ds.sink_mass + (size_t)l * H, e);
    for (int i = 0; i < L * KV && !rc; i++)
        m->dev_counts[i]++;
    free(ds.sink_mass);
    return rc;
}

static int prefill_selected(kvb_model *m, kvb_cache *c, const int32_t *ids, int n, float *logits,
                            kvb_error *e)
{
    kvb_prefill_stats st = { 0 };
    const unsigned need = kvb_cache_device_stats(c, &st.window, &st.qwindow);
    const size_t heads = (size_t)m->cfg.n_layers * m->cfg.n_heads; /* of every layer */
    if (need & KVB_NEED_COLSUM)
        st.colsum = kvb_malloc(heads * n * sizeof(float));
    if (need & KVB_NEED_WINDOW)
        st.window_attn = kvb_malloc(heads * n * sizeof(float));
    if (need & KVB_NEED_QSQ)
        st.q_sqmean = kvb_malloc(heads * m->cfg.head_dim * sizeof(double));
    int rc = (!(need & KVB_NEED_COLSUM) || st.colsum) &&
                     (!(need & KVB_NEED_WINDOW) || st.window_attn) &&
                     (!(need & KVB_NEED_QSQ) || st.q_sqmean)
                 ? 0 : kvb_errorf(e, KVB_ENOMEM, "out of memory for the prefill statistics");
    if (!rc)
        rc = m->be->prefill(m->be_ctx, ids, n, logits, &st, e);
    if (!rc)
        rc = feed_stats(m, c, &st, n, e);
    if (!rc)
        rc = keep_kept(m, c, n, e);
    if (!rc && (need & KVB_NEED_KSQ))
        rc = thin_keys(m, c, e);
    if (!rc)
        rc = kivi_counts(m, c, e);
    free(st.colsum);
    free(st.window_attn);
    free(st.q_sqmean);
    return rc;
}

/* The cache says what the device holds (kvb_cache_device_mode): every token, the method's
 * selection, or KIVI's codes. */
int kvb_device_prefill(kvb_model *m, kvb_cache *c, const int32_t *ids, int n, float *logits,
                       kvb_error *e)
{
    const int mode = kvb_cache_device_mode(c, e);
    if (mode < 0)
        return mode;
    int rc = prefill_args_ok(m, ids, n, e);
    if (rc)
        return rc;
    m->dev_cache = NULL;
    if (mode == KVB_DEVICE_HOLDS_ALL)
        rc = m->be->prefill(m->be_ctx, ids, n, logits, NULL, e);
    else
        rc = prefill_selected(m, c, ids, n, logits, e);
    if (!rc && mode == KVB_DEVICE_HOLDS_ALL)
        rc = kvb_cache_hold_external(c, n, e);
    if (rc)
        return rc;
    m->dev_cache = c;
    m->dev_pos = n;
    return 0;
}

/* The device appends at the end of what it holds: pos must be the number of tokens cached. */
int kvb_device_decode(kvb_model *m, kvb_cache *c, int32_t id, int pos, float *logits, kvb_error *e)
{
    if (m->dev_cache != c)
        return kvb_errorf(e, KVB_EINVAL, "decode needs a prefill with the same cache first");
    if (id < 0 || id >= m->cfg.vocab || pos != m->dev_pos || pos >= m->dev_max_tokens)
        return kvb_errorf(e, KVB_EINVAL, "decode: token %d at position %d is invalid (the device "
                          "holds %d of %d tokens)", id, pos, m->dev_pos, m->dev_max_tokens);
    int rc;
    if (kvb_cache_device_mode(c, e) == KVB_DEVICE_HOLDS_ALL) {
        rc = m->be->decode(m->be_ctx, id, pos, logits, NULL, e);
        if (!rc)
            rc = kvb_cache_hold_external(c, pos + 1, e);
    } else
        rc = decode_selected(m, c, id, pos, logits, e);
    if (!rc)
        m->dev_pos = pos + 1;
    return rc;
}
