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

/* The device model keeps the full cache in bf16 (kernels/model.cu): `full` with its default
 * 16-bit dtype is what runs there. The cache itself refuses anything else again at prefill
 * (kvb_cache_hold_external), so nothing falls back to the CPU silently. */
int kvb_device_check_method(int device, const char *method, const kvb_cache_param *p, int n,
                            kvb_error *e)
{
    if (device != KVB_DEVICE_CUDA)
        return 0;
    if (strcasecmp(method, "full"))
        return kvb_errorf(e, KVB_EUNSUP, "--type %s: cache method %s is not on the GPU yet "
                          "(the GPU runs --type full only; use --device cpu)", method,
                          method);
    for (int i = 0; i < n; i++)
        if (!strcmp(p[i].name, "dtype") && strcmp(p[i].value, "f16"))
            return kvb_errorf(e, KVB_EUNSUP, "dtype=%s: the GPU's full cache is bf16 (16 bits, "
                              "as dtype=f16 on the CPU); use --device cpu for dtype=%s",
                              p[i].value, p[i].value);
    return 0;
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
}

/* ---- forward on the device ------------------------------------------------------------------- */
int kvb_device_prefill(kvb_model *m, kvb_cache *c, const int32_t *ids, int n, float *logits,
                       kvb_error *e)
{
    int rc = kvb_cache_hold_external(c, 0, e); /* the method can be held by the device */
    if (rc)
        return rc;
    if (n <= 0 || n > m->dev_max_tokens)
        return kvb_errorf(e, KVB_EINVAL, "prefill of %d tokens: the device cache holds 1 to %d",
                          n, m->dev_max_tokens);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab)
            return kvb_errorf(e, KVB_EINVAL, "prefill: token %d at %d is not in [0, %d)", ids[i],
                              i, m->cfg.vocab);
    m->dev_cache = NULL;
    if ((rc = m->be->prefill(m->be_ctx, ids, n, logits, e)) ||
        (rc = kvb_cache_hold_external(c, n, e)))
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
    int rc = m->be->decode(m->be_ctx, id, pos, logits, e);
    if (!rc)
        rc = kvb_cache_hold_external(c, pos + 1, e);
    if (!rc)
        m->dev_pos = pos + 1;
    return rc;
}
