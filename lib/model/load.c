/* Weight loaders: HF directories (config.json + safetensors, single or sharded), GGUF files
 * (dequantized at load, llama.cpp's Q/K row permutation undone) and seeded random weights.
 * Every tensor's dtype and shape is checked against the config before it is used. Weights are
 * held as bf16 (default) or f32: when the file already has that dtype the weights point into the
 * mmap, otherwise they are converted once. */
#include "model_impl.h"

#include <cjson/cJSON.h>
#include <immintrin.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- conversion into the held dtype -------------------------------------------------------------- */
static enum kvb_wt_type held(const kvb_model *m)
{
    return m->opts.weights_bf16 ? KVB_WT_BF16 : KVB_WT_F32;
}

static int alloc_wt(kvb_model *m, kvb_wt *w, int rows, int cols, kvb_error *e)
{
    w->type = held(m);
    w->rows = rows;
    w->cols = cols;
    size_t elt = w->type == KVB_WT_F32 ? 4 : 2, bytes;
    if (kvb_mul_overflow((size_t)rows * cols, elt, &bytes) || !(w->owned = kvb_malloc(bytes)))
        return kvb_errorf(e, KVB_ENOMEM, "cannot allocate %d x %d weights", rows, cols);
    w->data = w->owned;
    m->weight_bytes += bytes;
    return 0;
}

/* Store row r of w from f32 values. */
static void put_row(kvb_wt *w, int r, const float *src)
{
    if (w->type == KVB_WT_F32)
        memcpy((float *)w->owned + (size_t)r * w->cols, src, sizeof(float) * (size_t)w->cols);
    else {
        uint16_t *d = (uint16_t *)w->owned + (size_t)r * w->cols;
        for (int i = 0; i < w->cols; i++)
            d[i] = kvb_f32_to_bf16(src[i]);
    }
}

static void st_elems_to_f32(int dtype, const unsigned char *src, size_t n, float *dst)
{
    for (size_t i = 0; i < n; i++) {
        if (dtype == KVB_ST_F32)
            memcpy(&dst[i], src + i * 4, 4);
        else {
            uint16_t h;
            memcpy(&h, src + i * 2, 2);
            dst[i] = dtype == KVB_ST_BF16 ? kvb_bf16_to_f32(h) : _cvtsh_ss(h);
        }
    }
}

/* Index of the first NaN or Inf among n f32 values, or -1. A weight file holding one would turn
 * every logit into NaN and every prediction into garbage; it is refused at load, naming the
 * tensor (docs/reliability.md). */
static long first_nonfinite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return (long)i;
    return -1;
}

/* The same check on raw f32 / bf16 words straight from the mmap (exponent bits all ones). */
static long first_nonfinite_raw(int dtype, const unsigned char *src, size_t n)
{
    if (dtype == KVB_ST_F32) {
        for (size_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, src + 4 * i, 4);
            if ((u & 0x7f800000u) == 0x7f800000u)
                return (long)i;
        }
    } else {
        uint16_t mask = dtype == KVB_ST_BF16 ? 0x7f80 : 0x7c00;
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            if ((h & mask) == mask)
                return (long)i;
        }
    }
    return -1;
}

static int nonfinite_error(kvb_error *e, const char *path, const char *name, long row, long col)
{
    return kvb_errorf(e, KVB_EINVAL, "%s: tensor '%s' holds a NaN or Inf value (row %ld, column "
                      "%ld)", path, name, row, col);
}

/* ---- HF safetensors --------------------------------------------------------------------------------- */
typedef struct hf_ctx {
    kvb_model *m;
    cJSON *index;          /* weight_map of a sharded model, NULL for one file */
    const char *dir;
    float *row;            /* one row of f32 scratch (max cols) */
} hf_ctx;

static int find_tensor(hf_ctx *h, const char *name, const kvb_st_file **f, const kvb_st_tensor **t,
                       kvb_error *e)
{
    kvb_model *m = h->m;
    const char *fname = "model.safetensors";
    if (h->index) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(h->index, name);
        if (!x || !cJSON_IsString(x))
            return kvb_errorf(e, KVB_EINVAL, "%s/model.safetensors.index.json: tensor '%s' missing",
                              h->dir, name);
        fname = x->valuestring;
    }
    for (int i = 0; i < m->n_st; i++) {
        const char *b = strrchr(m->st[i].path, '/');
        if (!strcmp(b ? b + 1 : m->st[i].path, fname) && (*t = kvb_st_find(&m->st[i], name))) {
            *f = &m->st[i];
            return 0;
        }
    }
    return kvb_errorf(e, KVB_EINVAL, "%s/%s: tensor '%s' missing", h->dir, fname, name);
}

static int load_st_tensor(hf_ctx *h, const char *name, int rows, int cols, kvb_wt *w, float *vec,
                          kvb_error *e)
{
    const kvb_st_file *f;
    const kvb_st_tensor *t;
    int rc = find_tensor(h, name, &f, &t, e);
    if (rc)
        return rc;
    if (t->dtype == KVB_ST_OTHER)
        return kvb_errorf(e, KVB_EUNSUP, "%s: tensor '%s': dtype not supported (bf16, f16, f32)",
                          f->path, name);
    int ok = vec ? (t->n_dims == 1 && t->shape[0] == cols)
                 : (t->n_dims == 2 && t->shape[0] == rows && t->shape[1] == cols);
    if (!ok)
        return kvb_errorf(e, KVB_EINVAL, "%s: tensor '%s' has shape [%lld%s%lld], config says "
                          "[%d, %d]", f->path, name, (long long)t->shape[0],
                          t->n_dims > 1 ? ", " : "", t->n_dims > 1 ? (long long)t->shape[1] : 0LL,
                          vec ? 1 : rows, cols);
    const unsigned char *src = f->data + t->begin;
    size_t elt = t->dtype == KVB_ST_F32 ? 4 : 2;
    if (vec) {
        st_elems_to_f32(t->dtype, src, (size_t)cols, vec);
        long bad = first_nonfinite(vec, (size_t)cols);
        return bad < 0 ? 0 : nonfinite_error(e, f->path, name, 0, bad);
    }
    enum kvb_wt_type ht = held(h->m);
    int same = (ht == KVB_WT_F32 && t->dtype == KVB_ST_F32) || (ht == KVB_WT_BF16 && t->dtype == KVB_ST_BF16);
    if (same && ((uintptr_t)src % elt) == 0) {
        long bad = first_nonfinite_raw(t->dtype, src, (size_t)rows * cols);
        if (bad >= 0)
            return nonfinite_error(e, f->path, name, bad / cols, bad % cols);
        w->type = ht;
        w->rows = rows;
        w->cols = cols;
        w->data = src; /* straight from the mmap */
        w->owned = NULL;
        h->m->weight_bytes += (size_t)rows * cols * elt;
        return 0;
    }
    if ((rc = alloc_wt(h->m, w, rows, cols, e)))
        return rc;
    for (int r = 0; r < rows; r++) {
        st_elems_to_f32(t->dtype, src + (size_t)r * cols * elt, (size_t)cols, h->row);
        long bad = first_nonfinite(h->row, (size_t)cols);
        if (bad >= 0)
            return nonfinite_error(e, f->path, name, r, bad);
        put_row(w, r, h->row);
    }
    return 0;
}

static int open_shards(kvb_model *m, hf_ctx *h, const char *dir, kvb_error *e)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/model.safetensors.index.json", dir);
    if (!kvb_file_exists(path)) {
        snprintf(path, sizeof(path), "%s/model.safetensors", dir);
        if (!kvb_file_exists(path))
            return kvb_errorf(e, KVB_EINVAL, "%s: no weights (model.safetensors or "
                              "model.safetensors.index.json)", dir);
        m->st = kvb_calloc(1, sizeof(kvb_st_file));
        if (!m->st)
            return kvb_errorf(e, KVB_ENOMEM, "out of memory");
        m->n_st = 1;
        return kvb_st_open(&m->st[0], path, e);
    }
    cJSON *j;
    int rc = kvb_json_load(path, 64 << 20, &j, e);
    if (rc)
        return rc;
    h->index = cJSON_DetachItemFromObjectCaseSensitive(j, "weight_map");
    cJSON_Delete(j);
    if (!h->index || !cJSON_IsObject(h->index))
        return kvb_errorf(e, KVB_EINVAL, "%s: 'weight_map' missing", path);
    int n = cJSON_GetArraySize(h->index);
    m->st = kvb_calloc((size_t)(n ? n : 1), sizeof(kvb_st_file));
    if (!m->st)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    const cJSON *x;
    cJSON_ArrayForEach(x, h->index)
    {
        if (!cJSON_IsString(x) || !x->valuestring[0] || strchr(x->valuestring, '/') ||
            !strcmp(x->valuestring, "..") || strlen(x->valuestring) > 200)
            return kvb_errorf(e, KVB_EINVAL, "%s: bad shard file name for '%s'", path, x->string);
        int seen = 0;
        for (int i = 0; i < m->n_st && !seen; i++) {
            const char *b = strrchr(m->st[i].path, '/');
            seen = !strcmp(b + 1, x->valuestring);
        }
        if (seen)
            continue;
        char sp[PATH_MAX + 256];
        snprintf(sp, sizeof(sp), "%s/%s", dir, x->valuestring);
        if ((rc = kvb_st_open(&m->st[m->n_st++], sp, e)))
            return rc;
    }
    return 0;
}

static int load_layers_hf(kvb_model *m, hf_ctx *h, kvb_error *e)
{
    const kvb_model_config *c = &m->cfg;
    int H = c->hidden, qd = c->n_heads * c->head_dim, kd = c->n_kv_heads * c->head_dim;
    char nm[160];
    int rc;
#define LOAD(name_fmt, rows, cols, w, vec)                                                        \
    do {                                                                                          \
        snprintf(nm, sizeof(nm), name_fmt, l);                                                    \
        if ((rc = load_st_tensor(h, nm, rows, cols, w, vec, e)))                                  \
            return rc;                                                                            \
    } while (0)
    for (int l = 0; l < c->n_layers; l++) {
        kvb_layer_w *L = &m->layers[l];
        LOAD("model.layers.%d.input_layernorm.weight", 1, H, NULL, L->attn_norm);
        LOAD("model.layers.%d.post_attention_layernorm.weight", 1, H, NULL, L->ffn_norm);
        LOAD("model.layers.%d.self_attn.q_proj.weight", qd, H, &L->wq, NULL);
        LOAD("model.layers.%d.self_attn.k_proj.weight", kd, H, &L->wk, NULL);
        LOAD("model.layers.%d.self_attn.v_proj.weight", kd, H, &L->wv, NULL);
        LOAD("model.layers.%d.self_attn.o_proj.weight", H, qd, &L->wo, NULL);
        LOAD("model.layers.%d.mlp.gate_proj.weight", c->intermediate, H, &L->w_gate, NULL);
        LOAD("model.layers.%d.mlp.up_proj.weight", c->intermediate, H, &L->w_up, NULL);
        LOAD("model.layers.%d.mlp.down_proj.weight", H, c->intermediate, &L->w_down, NULL);
    }
#undef LOAD
    if ((rc = load_st_tensor(h, "model.embed_tokens.weight", c->vocab, H, &m->embed, NULL, e)) ||
        (rc = load_st_tensor(h, "model.norm.weight", 1, H, NULL, m->final_norm, e)))
        return rc;
    if (c->tie_embeddings) {
        m->lm_head = m->embed;
        m->lm_head.owned = NULL;
        return 0;
    }
    return load_st_tensor(h, "lm_head.weight", c->vocab, H, &m->lm_head, NULL, e);
}

static int alloc_model_arrays(kvb_model *m, kvb_error *e)
{
    const kvb_model_config *c = &m->cfg;
    m->layers = kvb_calloc((size_t)c->n_layers, sizeof(kvb_layer_w));
    m->final_norm = kvb_calloc((size_t)c->hidden, sizeof(float));
    if (!m->layers || !m->final_norm)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    for (int l = 0; l < c->n_layers; l++) {
        m->layers[l].attn_norm = kvb_calloc((size_t)c->hidden, sizeof(float));
        m->layers[l].ffn_norm = kvb_calloc((size_t)c->hidden, sizeof(float));
        if (!m->layers[l].attn_norm || !m->layers[l].ffn_norm)
            return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    return 0;
}

static int max_cols(const kvb_model_config *c)
{
    return KVB_MAX(KVB_MAX(c->hidden, c->intermediate), c->n_heads * c->head_dim);
}

int kvb_load_hf(kvb_model *m, const char *dir, kvb_error *e)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/config.json", dir);
    cJSON *j;
    int rc = kvb_json_load(path, 4 << 20, &j, e);
    if (rc)
        return rc;
    kvb_model_config named = m->cfg; /* set when opened by name */
    rc = kvb_config_from_json(&m->cfg, j, path, e);
    cJSON_Delete(j);
    if (rc)
        return rc;
    if (named.name[0]) { /* the name's metadata wins over guesses */
        snprintf(m->cfg.name, sizeof(m->cfg.name), "%s", named.name);
        snprintf(m->cfg.repo_id, sizeof(m->cfg.repo_id), "%s", named.repo_id);
        snprintf(m->cfg.chat_template, sizeof(m->cfg.chat_template), "%s", named.chat_template);
        snprintf(m->cfg.family, sizeof(m->cfg.family), "%s", named.family);
        m->cfg.longbench_max_length = named.longbench_max_length;
        memcpy(m->cfg.stop_ids, named.stop_ids, sizeof(named.stop_ids));
        m->cfg.n_stop = named.n_stop;
    } else
        kvb_config_adopt_known(&m->cfg, dir);
    snprintf(m->format, sizeof(m->format), "safetensors");
    hf_ctx h = { .m = m, .dir = dir };
    if ((rc = open_shards(m, &h, dir, e)) || (rc = alloc_model_arrays(m, e)))
        goto out;
    h.row = kvb_malloc(sizeof(float) * (size_t)max_cols(&m->cfg));
    if (!h.row) {
        rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
        goto out;
    }
    rc = load_layers_hf(m, &h, e);
    if (!rc) {
        const kvb_st_tensor *t = m->st[0].n ? &m->st[0].t[0] : NULL;
        snprintf(m->file_dtype, sizeof(m->file_dtype), "%s",
                 !t ? "?" : t->dtype == KVB_ST_F32 ? "f32" : t->dtype == KVB_ST_BF16 ? "bf16" : "f16");
    }
out:
    free(h.row);
    cJSON_Delete(h.index);
    return rc;
}

/* ---- GGUF ------------------------------------------------------------------------------------------- */
static int gguf_u(const kvb_gguf *g, const char *key, long lo, long hi, int *out, int required,
                  kvb_error *e)
{
    uint64_t v;
    if (!kvb_gguf_find(g, key)) {
        if (required)
            return kvb_errorf(e, KVB_EINVAL, "%s: metadata '%s' missing", g->path, key);
        return 0;
    }
    if (kvb_gguf_get_u64(g, key, &v, e))
        return KVB_EINVAL;
    if (v < (uint64_t)lo || v > (uint64_t)hi)
        return kvb_errorf(e, KVB_EINVAL, "%s: metadata '%s' = %llu out of [%ld, %ld]", g->path, key,
                          (unsigned long long)v, lo, hi);
    *out = (int)v;
    return 0;
}

static int gguf_config(kvb_model *m, const kvb_gguf *g, kvb_error *e)
{
    kvb_model_config *c = &m->cfg;
    char *arch = kvb_gguf_get_str(g, "general.architecture");
    int ok = arch && !strcmp(arch, "llama");
    int rc = ok ? 0 : kvb_errorf(e, KVB_EUNSUP, "%s: architecture '%s' is not supported (llama)",
                                 g->path, arch ? arch : "(missing)");
    free(arch);
    if (rc)
        return rc;
    snprintf(c->arch, sizeof(c->arch), "LlamaForCausalLM");
    if ((rc = gguf_u(g, "llama.block_count", 1, 512, &c->n_layers, 1, e)) ||
        (rc = gguf_u(g, "llama.embedding_length", 1, 65536, &c->hidden, 1, e)) ||
        (rc = gguf_u(g, "llama.feed_forward_length", 1, 1 << 20, &c->intermediate, 1, e)) ||
        (rc = gguf_u(g, "llama.attention.head_count", 1, 1024, &c->n_heads, 1, e)))
        return rc;
    c->n_kv_heads = c->n_heads;
    c->head_dim = c->hidden / c->n_heads;
    c->max_position = 2048;
    c->rope_theta = 10000;
    c->rms_eps = 1e-5;
    const kvb_gguf_tensor *emb = kvb_gguf_find_tensor(g, "token_embd.weight");
    if (!emb || emb->n_dims != 2 || emb->ne[1] < 1 || emb->ne[1] > (1 << 22))
        return kvb_errorf(e, KVB_EINVAL, "%s: tensor 'token_embd.weight' missing or malformed", g->path);
    c->vocab = (int)emb->ne[1];
    if ((rc = gguf_u(g, "llama.attention.head_count_kv", 1, 1024, &c->n_kv_heads, 0, e)) ||
        (rc = gguf_u(g, "llama.attention.key_length", 1, 1024, &c->head_dim, 0, e)) ||
        (rc = gguf_u(g, "llama.context_length", 1, 1 << 24, &c->max_position, 0, e)) ||
        (rc = gguf_u(g, "llama.vocab_size", c->vocab, c->vocab, &c->vocab, 0, e)))
        return rc;
    double d;
    if (kvb_gguf_find(g, "llama.rope.freq_base")) {
        if (kvb_gguf_get_f64(g, "llama.rope.freq_base", &d, e))
            return KVB_EINVAL;
        c->rope_theta = d;
    }
    if (kvb_gguf_find(g, "llama.attention.layer_norm_rms_epsilon")) {
        if (kvb_gguf_get_f64(g, "llama.attention.layer_norm_rms_epsilon", &d, e))
            return KVB_EINVAL;
        c->rms_eps = d;
    }
    if (kvb_gguf_find_tensor(g, "rope_freqs.weight") || kvb_gguf_find(g, "llama.rope.scaling.type"))
        return kvb_errorf(e, KVB_EUNSUP, "%s: rope scaling in GGUF files is not supported", g->path);
    c->tie_embeddings = kvb_gguf_find_tensor(g, "output.weight") == NULL;
    int eos = -1;
    if ((rc = gguf_u(g, "tokenizer.ggml.eos_token_id", 0, c->vocab - 1, &eos, 0, e)))
        return rc;
    c->n_stop = 0;
    if (eos >= 0)
        c->stop_ids[c->n_stop++] = eos;
    return kvb_config_validate(c, g->path, e);
}

/* llama.cpp's converter permutes Q/K rows per head from HF's halves layout (i, i + d/2) to
 * interleaved pairs (2i, 2i+1); row (h, 2i + j) of the file is HF row (h, j*d/2 + i). */
static int hf_row_source(int r, int hd, int permute)
{
    if (!permute)
        return r;
    int h = r / hd, rr = r % hd, half = hd / 2, j = rr / half, i = rr % half;
    return h * hd + 2 * i + j;
}

/* --weights gguf: the blocks stay as in the file (pointed at in the mmap); Q/K rows are copied
 * in HF order, a whole row of blocks at a time (the permutation moves rows, not elements). */
/* Index of the first block of a Q4_1/Q8_0 tensor whose fp16 scale (or Q4_1 min) is Inf/NaN, or -1:
 * kept-quantized weights are never dequantized at load, so their scales are checked here. */
static long first_nonfinite_block(const kvb_gguf_tensor *t, size_t bytes)
{
    size_t bsz = t->type == KVB_GGML_Q4_1 ? 20 : 34, nhalf = t->type == KVB_GGML_Q4_1 ? 2 : 1;
    const unsigned char *p = t->data;
    for (size_t b = 0; b < bytes / bsz; b++)
        for (size_t k = 0; k < nhalf; k++) {
            uint16_t h;
            memcpy(&h, p + b * bsz + 2 * k, 2);
            if ((h & 0x7C00) == 0x7C00)
                return (long)b;
        }
    return -1;
}

static int keep_quantized(kvb_model *m, const kvb_gguf_tensor *t, int rows, int cols, uint64_t rb,
                          kvb_wt *w, int permute_hd, kvb_error *e)
{
    long bad = first_nonfinite_block(t, (size_t)rows * rb);
    if (bad >= 0)
        return kvb_errorf(e, KVB_EINVAL, "%s: tensor '%s': block %ld has a non-finite scale",
                          m->gguf->path, t->name, bad);
    w->type = t->type == KVB_GGML_Q4_1 ? KVB_WT_Q4_1 : KVB_WT_Q8_0;
    w->rows = rows;
    w->cols = cols;
    w->act_q8 = m->opts.gguf_act_q8;
    w->owned = NULL;
    w->data = t->data;
    m->weight_bytes += (size_t)rows * rb;
    if (permute_hd <= 0)
        return 0;
    if (!(w->owned = kvb_malloc((size_t)rows * rb)))
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    for (int r = 0; r < rows; r++)
        memcpy((unsigned char *)w->owned + (size_t)r * rb,
               (const unsigned char *)t->data + (size_t)hf_row_source(r, permute_hd, 1) * rb, rb);
    w->data = w->owned;
    return 0;
}

static int load_gguf_tensor(kvb_model *m, const kvb_gguf *g, const char *name, int rows, int cols,
                            kvb_wt *w, float *vec, int permute_hd, float *row, kvb_error *e)
{
    const kvb_gguf_tensor *t = kvb_gguf_find_tensor(g, name);
    if (!t)
        return kvb_errorf(e, KVB_EINVAL, "%s: tensor '%s' missing", g->path, name);
    int ok = vec ? (t->n_dims == 1 && t->ne[0] == (uint64_t)cols)
                 : (t->n_dims == 2 && t->ne[0] == (uint64_t)cols && t->ne[1] == (uint64_t)rows);
    if (!ok)
        return kvb_errorf(e, KVB_EINVAL, "%s: tensor '%s' has shape [%llu, %llu], config says "
                          "[%d, %d]", g->path, name, (unsigned long long)t->ne[0],
                          (unsigned long long)(t->n_dims > 1 ? t->ne[1] : 1), cols, vec ? 1 : rows);
    uint64_t rb = kvb_ggml_row_bytes(t->type, (uint64_t)cols);
    if (!rb)
        return kvb_errorf(e, KVB_EUNSUP, "%s: tensor '%s': type %s not supported", g->path, name,
                          kvb_ggml_type_name(t->type));
    if (vec) {
        if (kvb_ggml_dequantize(t->type, t->data, vec, (uint64_t)cols))
            return kvb_errorf(e, KVB_EINVAL, "%s: tensor '%s': cannot dequantize", g->path, name);
        long bad = first_nonfinite(vec, (size_t)cols);
        return bad < 0 ? 0 : nonfinite_error(e, g->path, name, 0, bad);
    }
    if (m->opts.weights_gguf && (t->type == KVB_GGML_Q4_1 || t->type == KVB_GGML_Q8_0))
        return keep_quantized(m, t, rows, cols, rb, w, permute_hd, e);
    int rc = alloc_wt(m, w, rows, cols, e);
    if (rc)
        return rc;
    for (int r = 0; r < rows; r++) {
        int src = hf_row_source(r, permute_hd, permute_hd > 0);
        if (kvb_ggml_dequantize(t->type, (const unsigned char *)t->data + (size_t)src * rb, row,
                                (uint64_t)cols))
            return kvb_errorf(e, KVB_EINVAL, "%s: tensor '%s': cannot dequantize", g->path, name);
        long bad = first_nonfinite(row, (size_t)cols);
        if (bad >= 0)
            return nonfinite_error(e, g->path, name, src, bad);
        put_row(w, r, row);
    }
    return 0;
}

int kvb_load_gguf(kvb_model *m, const char *path, kvb_error *e)
{
    kvb_model_config named = m->cfg;
    m->gguf = kvb_calloc(1, sizeof(kvb_gguf));
    if (!m->gguf)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    int rc = kvb_gguf_open(m->gguf, path, e);
    if (rc) {
        free(m->gguf);
        m->gguf = NULL;
        return rc;
    }
    const kvb_gguf *g = m->gguf;
    if ((rc = gguf_config(m, g, e)))
        return rc;
    if (named.name[0]) {
        if (named.n_layers != m->cfg.n_layers || named.hidden != m->cfg.hidden ||
            named.vocab != m->cfg.vocab || named.n_kv_heads != m->cfg.n_kv_heads)
            return kvb_errorf(e, KVB_EINVAL, "%s: architecture does not match configs/models/%s.json",
                              path, named.name);
        int mp = m->cfg.max_position;
        m->cfg = named;
        m->cfg.max_position = mp;
    } else
        kvb_config_adopt_known(&m->cfg, path);
    snprintf(m->format, sizeof(m->format), "gguf");
    const kvb_gguf_tensor *q = kvb_gguf_find_tensor(g, "blk.0.attn_q.weight");
    snprintf(m->file_dtype, sizeof(m->file_dtype), "%s", q ? kvb_ggml_type_name(q->type) : "?");
    if ((rc = alloc_model_arrays(m, e)))
        return rc;
    const kvb_model_config *c = &m->cfg;
    int H = c->hidden, qd = c->n_heads * c->head_dim, kd = c->n_kv_heads * c->head_dim;
    float *row = kvb_malloc(sizeof(float) * (size_t)max_cols(c));
    if (!row)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    char nm[96];
#define LOAD(fmt, rows, cols, w, vec, perm)                                                      \
    do {                                                                                          \
        snprintf(nm, sizeof(nm), fmt, l);                                                         \
        if ((rc = load_gguf_tensor(m, g, nm, rows, cols, w, vec, perm, row, e)))                  \
            goto out;                                                                             \
    } while (0)
    for (int l = 0; l < c->n_layers; l++) {
        kvb_layer_w *L = &m->layers[l];
        LOAD("blk.%d.attn_norm.weight", 1, H, NULL, L->attn_norm, 0);
        LOAD("blk.%d.ffn_norm.weight", 1, H, NULL, L->ffn_norm, 0);
        LOAD("blk.%d.attn_q.weight", qd, H, &L->wq, NULL, c->head_dim);
        LOAD("blk.%d.attn_k.weight", kd, H, &L->wk, NULL, c->head_dim);
        LOAD("blk.%d.attn_v.weight", kd, H, &L->wv, NULL, 0);
        LOAD("blk.%d.attn_output.weight", H, qd, &L->wo, NULL, 0);
        LOAD("blk.%d.ffn_gate.weight", c->intermediate, H, &L->w_gate, NULL, 0);
        LOAD("blk.%d.ffn_up.weight", c->intermediate, H, &L->w_up, NULL, 0);
        LOAD("blk.%d.ffn_down.weight", H, c->intermediate, &L->w_down, NULL, 0);
    }
#undef LOAD
    if ((rc = load_gguf_tensor(m, g, "token_embd.weight", c->vocab, H, &m->embed, NULL, 0, row, e)) ||
        (rc = load_gguf_tensor(m, g, "output_norm.weight", 1, H, NULL, m->final_norm, 0, row, e)))
        goto out;
    if (c->tie_embeddings) {
        m->lm_head = m->embed;
        m->lm_head.owned = NULL;
    } else
        rc = load_gguf_tensor(m, g, "output.weight", c->vocab, H, &m->lm_head, NULL, 0, row, e);
out:
    free(row);
    return rc;
}

/* ---- random weights ----------------------------------------------------------------------------------- */
static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct rand_task {
    kvb_wt *w[4096];
    int n;
    uint64_t seed;
    float std;
    int max_cols;
} rand_task;

/* Uniform with the std of HF's init (0.02); each row seeded from (seed, tensor, row), so the
 * weights do not depend on the thread count. */
static void rand_worker(void *arg, int ith, int nth)
{
    rand_task *t = arg;
    float a = t->std * sqrtf(3.0f);
    float *row = malloc(sizeof(float) * (size_t)t->max_cols);
    for (int i = 0; i < t->n && row; i++) {
        kvb_wt *w = t->w[i];
        for (int r = ith; r < w->rows; r += nth) {
            uint64_t s = t->seed * 1000003u + (uint64_t)i * 0x100000001b3ull + (uint64_t)r;
            for (int c = 0; c < w->cols; c++)
                row[c] = a * (2.0f * (float)(splitmix(&s) >> 40) / (float)(1 << 24) - 1.0f);
            put_row(w, r, row);
        }
    }
    free(row);
}

int kvb_load_random(kvb_model *m, kvb_error *e)
{
    const kvb_model_config *c = &m->cfg;
    int H = c->hidden, qd = c->n_heads * c->head_dim, kd = c->n_kv_heads * c->head_dim, rc;
    snprintf(m->format, sizeof(m->format), "random");
    snprintf(m->file_dtype, sizeof(m->file_dtype), "none");
    double bytes = (double)(m->opts.weights_bf16 ? 2 : 4) *
                   ((double)c->vocab * H * (c->tie_embeddings ? 1 : 2) +
                    (double)c->n_layers * ((double)H * (2.0 * qd + 2.0 * kd) + 3.0 * H * c->intermediate));
    if (m->opts.config_only) {
        m->weight_bytes = (size_t)bytes;
        return 0;
    }
    size_t avail = kvb_available_memory();
    if (avail && bytes > (double)avail * 0.9)
        return kvb_errorf(e, KVB_ENOMEM, "random weights of %s need %.1f GB, only %.1f GB available",
                          c->name, bytes / 1e9, (double)avail / 1e9);
    if ((rc = alloc_model_arrays(m, e)))
        return rc;
    rand_task *t = kvb_calloc(1, sizeof(*t));
    if (!t)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    t->seed = m->opts.seed;
    t->std = 0.02f;
    t->max_cols = max_cols(c);
    for (int l = 0; l < c->n_layers && !rc; l++) {
        kvb_layer_w *L = &m->layers[l];
        for (int i = 0; i < H; i++)
            L->attn_norm[i] = L->ffn_norm[i] = 1.0f;
        struct { kvb_wt *w; int r, c; } mats[] = {
            { &L->wq, qd, H }, { &L->wk, kd, H }, { &L->wv, kd, H }, { &L->wo, H, qd },
            { &L->w_gate, c->intermediate, H }, { &L->w_up, c->intermediate, H },
            { &L->w_down, H, c->intermediate },
        };
        for (size_t k = 0; k < sizeof(mats) / sizeof(mats[0]) && !rc; k++)
            if (!(rc = alloc_wt(m, mats[k].w, mats[k].r, mats[k].c, e)))
                t->w[t->n++] = mats[k].w;
    }
    for (int i = 0; i < H; i++)
        m->final_norm[i] = 1.0f;
    if (!rc && !(rc = alloc_wt(m, &m->embed, c->vocab, H, e)))
        t->w[t->n++] = &m->embed;
    if (!rc && c->tie_embeddings) {
        m->lm_head = m->embed;
        m->lm_head.owned = NULL;
    } else if (!rc && !(rc = alloc_wt(m, &m->lm_head, c->vocab, H, e)))
        t->w[t->n++] = &m->lm_head;
    if (!rc)
        kvb_pool_run(m->pool, rand_worker, t);
    free(t);
    return rc;
}

/* ---- after loading -------------------------------------------------------------------------------------- */
/* Every weight's GEMV kernel for m->isa; m->gemv_kernels lists the ISAs they got. */
static void bind_kernels(kvb_model *m)
{
    int used[KVB_ISA_AVX512 + 1] = { 0 };
    used[kvb_wt_bind(&m->lm_head, m->isa)] = 1;
    kvb_wt_bind(&m->embed, m->isa); /* read by rows, never through a GEMV */
    for (int l = 0; m->layers && l < m->cfg.n_layers; l++) {
        kvb_layer_w *L = &m->layers[l];
        kvb_wt *ws[] = { &L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down };
        for (size_t i = 0; i < sizeof(ws) / sizeof(ws[0]); i++)
            used[kvb_wt_bind(ws[i], m->isa)] = 1;
    }
    m->gemv_kernels[0] = 0;
    for (int i = KVB_ISA_AVX512; i >= KVB_ISA_SCALAR; i--)
        if (used[i]) {
            size_t l = strlen(m->gemv_kernels);
            snprintf(m->gemv_kernels + l, sizeof(m->gemv_kernels) - l, "%s%s", l ? "+" : "",
                     kvb_isa_name((enum kvb_isa)i));
        }
}

void kvb_rope_inv_freq(float *inv, int head_dim, double theta, double factor, double low_ff,
                       double high_ff, int orig_max)
{
    for (int i = 0; i < head_dim / 2; i++) {
        float expo = (float)(2 * i) / (float)head_dim;
        float f = 1.0f / powf((float)theta, expo);
        if (factor > 0) {
            double old = orig_max;
            double low_wl = old / low_ff, high_wl = old / high_ff;
            double wl = 2 * M_PI / f;
            double fl = wl > low_wl ? f / factor : f;
            if (!(wl < high_wl) && !(wl > low_wl)) {
                double sm = (old / wl - low_ff) / (high_ff - low_ff);
                fl = (1 - sm) * fl / factor + sm * fl;
            }
            f = (float)fl;
        }
        inv[i] = f;
    }
}

/* RoPE inverse frequencies (kvb_rope_inv_freq), GEMV kernels, the prefill's arithmetic. */
int kvb_model_finish(kvb_model *m, kvb_error *e)
{
    const kvb_model_config *c = &m->cfg;
    bind_kernels(m);
    m->prefill_bf16 = m->opts.prefill_bf16 && m->isa == KVB_ISA_AVX512 && kvb_fa_available() &&
                      c->head_dim % 32 == 0;
    m->inv_freq = kvb_calloc((size_t)(c->head_dim / 2), sizeof(float));
    if (!m->inv_freq)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    kvb_rope_inv_freq(m->inv_freq, c->head_dim, c->rope_theta, c->rope_factor,
                      c->rope_low_freq_factor, c->rope_high_freq_factor,
                      c->rope_original_max_position);
    return 0;
}
