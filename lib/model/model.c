/* kvb_model: open by name or path, free, accessors; the tokenizer comes with the model (GGUF
 * vocabulary, tokenizer.json of an HF directory, or the shared tokenizer files of a name). */
#include "model_impl.h"
#include "core/sha256.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static void base_name(char *out, size_t n, const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    size_t l = strlen(tmp);
    while (l > 1 && tmp[l - 1] == '/')
        tmp[--l] = 0;
    const char *b = strrchr(tmp, '/');
    b = b ? b + 1 : tmp;
    size_t bl = strlen(b) < n - 1 ? strlen(b) : n - 1; /* names are truncated, not refused */
    memcpy(out, b, bl);
    out[bl] = 0;
    if (ends_with(out, ".gguf"))
        out[strlen(out) - 5] = 0;
}

/* Defaults for a model that is not one of the named ones. */
static void default_meta(kvb_model_config *c, const char *path)
{
    if (!c->name[0])
        base_name(c->name, sizeof(c->name), path);
    if (!c->chat_template[0])
        snprintf(c->chat_template, sizeof(c->chat_template), "none");
    if (!c->family[0])
        snprintf(c->family, sizeof(c->family), "%s",
                 strcmp(c->arch, "MistralForCausalLM") ? "llama" : "mistral");
    if (!c->longbench_max_length)
        c->longbench_max_length = KVB_MAX(c->max_position - 512, c->max_position / 2);
}

static void load_tokenizer(kvb_model *m, const char *dir)
{
    kvb_error e;
    if (m->gguf) {
        if (kvb_tokenizer_load_gguf(&m->tok, m->gguf, &e))
            m->tok = NULL;
        return;
    }
    char p[PATH_MAX + 64];
    if (dir) {
        snprintf(p, sizeof(p), "%s/tokenizer.json", dir);
        if (kvb_file_exists(p) && !kvb_tokenizer_load_hf(&m->tok, dir, &e))
            return;
    }
    /* named models without their files: the tokenizers shipped beside the repository */
    const char *home = kvb_config_home();
    if (home && m->cfg.name[0]) {
        snprintf(p, sizeof(p), "%s/../shared/tokenizers/%s", home, m->cfg.name);
        if (kvb_is_dir(p) && kvb_tokenizer_load_hf(&m->tok, p, &e))
            m->tok = NULL;
    }
}

/* HF directory or GGUF file config only (for --random-weights given a path). */
static int config_from_path(kvb_model *m, const char *path, kvb_error *e)
{
    if (kvb_is_dir(path)) {
        char p[PATH_MAX + 32];
        snprintf(p, sizeof(p), "%s/config.json", path);
        cJSON *j;
        int rc = kvb_json_load(p, 4 << 20, &j, e);
        if (rc)
            return rc;
        rc = kvb_config_from_json(&m->cfg, j, p, e);
        cJSON_Delete(j);
        if (!rc)
            kvb_config_adopt_known(&m->cfg, path);
        return rc;
    }
    return kvb_errorf(e, KVB_EUNSUP, "%s: --random-weights takes a model name or an HF directory",
                      path);
}

static int open_path(kvb_model *m, const char *path, kvb_error *e)
{
    snprintf(m->source, sizeof(m->source), "%s", path);
    if (kvb_is_dir(path)) {
        char p[PATH_MAX + 32];
        snprintf(p, sizeof(p), "%s/config.json", path);
        if (kvb_file_exists(p))
            return kvb_load_hf(m, path, e);
        return kvb_errorf(e, KVB_EINVAL, "%s: no config.json (not an HF model directory) and no "
                          ".gguf file", path);
    }
    if (ends_with(path, ".gguf") || kvb_file_exists(path))
        return kvb_load_gguf(m, path, e);
    return kvb_errorf(e, KVB_EINVAL, "%s: no such file or directory", path);
}

int kvb_model_open(kvb_model **out, const char *name_or_path, const kvb_model_opts *o, kvb_error *e)
{
    *out = NULL;
    kvb_model *m = kvb_calloc(1, sizeof(*m));
    if (!m)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    if (o)
        m->opts = *o;
    else
        m->opts.weights_bf16 = 1;
    m->nth = m->opts.threads > 0 ? m->opts.threads : kvb_cpu_count();
    m->isa = kvb_isa_parse(getenv("KVBENCH_ISA")); /* read-only override, read once here */
    /* OpenBLAS runs inside our own threads: one thread per call */
    openblas_set_num_threads(1);
    int rc = kvb_pool_create(&m->pool, m->nth, e);
    if (rc) {
        free(m);
        return rc;
    }
    int is_path = strchr(name_or_path, '/') || ends_with(name_or_path, ".gguf") ||
                  kvb_is_dir(name_or_path);
    const char *dir = NULL;
    char found[PATH_MAX];
    if (is_path) {
        if (m->opts.random_weights) {
            if (!(rc = config_from_path(m, name_or_path, e)))
                rc = kvb_load_random(m, e);
            snprintf(m->source, sizeof(m->source), "random (config %s)", name_or_path);
        } else
            rc = open_path(m, name_or_path, e);
        default_meta(&m->cfg, name_or_path);
        dir = kvb_is_dir(name_or_path) ? name_or_path : NULL;
    } else if (!(rc = kvb_config_load_named(&m->cfg, name_or_path, e))) {
        if (m->opts.random_weights) {
            snprintf(m->source, sizeof(m->source), "random (configs/models/%s.json)", name_or_path);
            rc = kvb_load_random(m, e);
        } else if (!(rc = kvb_model_resolve(name_or_path, &m->cfg, found, sizeof(found), e))) {
            rc = open_path(m, found, e);
            dir = kvb_is_dir(found) ? found : NULL;
        } else if (e) {
            /* every verb that opens a model takes --random-weights (kvb_model_locate, which the
             * tokenizer-only verb uses, does not suggest it) */
            size_t l = strlen(e->msg);
            snprintf(e->msg + l, sizeof(e->msg) - l, ", or pass --random-weights (seeded random "
                     "weights from configs/models/%s.json)", name_or_path);
        }
    }
    if (!rc)
        rc = kvb_model_finish(m, e);
    if (rc) {
        kvb_model_free(m);
        return rc;
    }
    load_tokenizer(m, dir);
    if ((rc = kvb_model_attach_device(m, e))) {
        kvb_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

static void free_wt(kvb_wt *w) { free(w->owned); }

void kvb_model_free(kvb_model *m)
{
    if (!m)
        return;
    kvb_model_detach_device(m);
    if (m->layers)
        for (int l = 0; l < m->cfg.n_layers; l++) {
            kvb_layer_w *L = &m->layers[l];
            free(L->attn_norm);
            free(L->ffn_norm);
            free_wt(&L->wq), free_wt(&L->wk), free_wt(&L->wv), free_wt(&L->wo);
            free_wt(&L->w_gate), free_wt(&L->w_up), free_wt(&L->w_down);
        }
    free(m->layers);
    free_wt(&m->embed);
    free_wt(&m->lm_head);
    free(m->final_norm);
    free(m->inv_freq);
    for (int i = 0; i < m->n_st; i++)
        kvb_st_close(&m->st[i]);
    free(m->st);
    kvb_tokenizer_free(m->tok);
    if (m->gguf) {
        kvb_gguf_close(m->gguf);
        free(m->gguf);
    }
    kvb_arena_release(&m->arena);
    kvb_pool_free(m->pool);
    free(m);
}

const kvb_model_config *kvb_model_get_config(const kvb_model *m) { return &m->cfg; }
const kvb_tokenizer *kvb_model_tokenizer(const kvb_model *m) { return m->tok; }
kvb_pool *kvb_model_pool(kvb_model *m) { return m->pool; }
size_t kvb_model_weight_bytes(const kvb_model *m) { return m->weight_bytes; }
int kvb_model_prefill_is_bf16(const kvb_model *m) { return m->prefill_bf16; }

void kvb_model_get_info(const kvb_model *m, kvb_model_info *out)
{
    const kvb_model_config *c = &m->cfg;
    out->source = m->source[0] ? m->source : "?";
    out->format = m->format;
    out->file_dtype = m->file_dtype;
    out->held_dtype = m->opts.weights_gguf && m->gguf ? (m->opts.gguf_act_q8 ? "gguf-q8" : "gguf") : m->opts.weights_bf16 ? "bf16" : "f32";
    out->isa = m->gemv_kernels;
    out->prefill = m->prefill_bf16 ? "bf16 (avx512_bf16)" : "f32";
    if (m->be) { /* the CPU kernels bound at load do not run: say what does */
        out->isa = m->be->name;
        out->prefill = "bf16 (cuda: bf16 GEMM inputs, f32 accumulation)";
    }
    size_t per_layer = (size_t)c->hidden * c->head_dim * (2 * c->n_heads + 2 * c->n_kv_heads) +
                       3 * (size_t)c->hidden * c->intermediate + 2 * (size_t)c->hidden;
    out->n_params = (size_t)c->n_layers * per_layer + (size_t)c->vocab * c->hidden *
                    (c->tie_embeddings ? 1 : 2) + c->hidden;
}

size_t kvb_model_kv_bytes_per_token(const kvb_model_config *c)
{
    return (size_t)2 * c->n_layers * c->n_kv_heads * c->head_dim * 2;
}

/* What identifies the model in run.json: its architecture numbers and the size of its weights
 * (hashing gigabytes of weights per run would cost more than it tells). */
void kvb_model_fingerprint(const kvb_model_config *c, size_t weight_bytes, const char *weights,
                           char hex[65])
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    kvb_strbuf_addf(&sb, "%s|%s|%s|%d|%d|%d|%d|%d|%d|%d|%.17g|%.17g|%zu", c->name, c->repo_id,
                    c->arch, c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, c->hidden,
                    c->intermediate, c->vocab, c->rms_eps, c->rope_theta, weight_bytes);
    if (strcmp(weights, "file")) /* random weights: another model (file weights keep their print) */
        kvb_strbuf_addf(&sb, "|%s", weights);
    kvb_sha256_hex(sb.buf, sb.len, hex);
    kvb_strbuf_release(&sb);
}
