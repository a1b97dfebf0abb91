/* Model configs: HF config.json parsing and validation, kvbench model names
 * (configs/models/<name>.json) and where a name's weights are looked up. */
#include "model_impl.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- config.json ----------------------------------------------------------------------------- */
static const cJSON *field(const cJSON *j, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, k);
    return x && !cJSON_IsNull(x) ? x : NULL;
}

static int get_int(const cJSON *j, const char *k, long lo, long hi, int *out, int required,
                   const char *file, kvb_error *e)
{
    const cJSON *x = field(j, k);
    if (!x) {
        if (required)
            return kvb_errorf(e, KVB_EINVAL, "%s: field '%s' missing", file, k);
        return 0;
    }
    /* range first: casting 1e128 to an integer is undefined (found by fuzz_config) */
    if (!cJSON_IsNumber(x) || !(x->valuedouble >= lo && x->valuedouble <= hi) ||
        x->valuedouble != (double)(long long)x->valuedouble)
        return kvb_errorf(e, KVB_EINVAL, "%s: field '%s' is not an integer in [%ld, %ld]", file, k,
                          lo, hi);
    *out = (int)x->valuedouble;
    return 0;
}

static int get_num(const cJSON *j, const char *k, double lo, double hi, double *out,
                   const char *file, kvb_error *e)
{
    const cJSON *x = field(j, k);
    if (!x)
        return 0;
    if (!cJSON_IsNumber(x) || !(x->valuedouble >= lo && x->valuedouble <= hi))
        return kvb_errorf(e, KVB_EINVAL, "%s: field '%s' is not a number in [%g, %g]", file, k,
                          lo, hi);
    *out = x->valuedouble;
    return 0;
}

/* rope_scaling (transformers <= 4) or rope_parameters (transformers 5): llama3 or none. */
static int parse_rope(kvb_model_config *c, const cJSON *j, const char *file, kvb_error *e)
{
    const cJSON *rp = field(j, "rope_parameters");
    const cJSON *rs = rp ? rp : field(j, "rope_scaling");
    int rc = get_num(j, "rope_theta", 1, 1e12, &c->rope_theta, file, e);
    if (rc)
        return rc;
    if (rp && (rc = get_num(rp, "rope_theta", 1, 1e12, &c->rope_theta, file, e)))
        return rc;
    if (!rs)
        return 0;
    if (!cJSON_IsObject(rs))
        return kvb_errorf(e, KVB_EINVAL, "%s: rope_scaling is not an object", file);
    const cJSON *t = field(rs, "rope_type");
    if (!t)
        t = field(rs, "type");
    const char *type = t && cJSON_IsString(t) ? t->valuestring : "default";
    if (!strcmp(type, "default"))
        return 0;
    if (strcmp(type, "llama3"))
        return kvb_errorf(e, KVB_EUNSUP, "%s: rope scaling type '%s' is not supported (llama3 or none)",
                          file, type);
    if ((rc = get_num(rs, "factor", 1, 1e6, &c->rope_factor, file, e)) ||
        (rc = get_num(rs, "low_freq_factor", 1e-6, 1e6, &c->rope_low_freq_factor, file, e)) ||
        (rc = get_num(rs, "high_freq_factor", 1e-6, 1e6, &c->rope_high_freq_factor, file, e)) ||
        (rc = get_int(rs, "original_max_position_embeddings", 1, 1 << 24,
                      &c->rope_original_max_position, 1, file, e)))
        return rc;
    if (c->rope_factor <= 0 || c->rope_high_freq_factor <= c->rope_low_freq_factor)
        return kvb_errorf(e, KVB_EINVAL, "%s: llama3 rope scaling needs factor > 0 and "
                          "high_freq_factor > low_freq_factor", file);
    return 0;
}

int kvb_config_from_json(kvb_model_config *c, const cJSON *j, const char *file, kvb_error *e)
{
    if (!cJSON_IsObject(j))
        return kvb_errorf(e, KVB_EINVAL, "%s: not a JSON object", file);
    const cJSON *arch = field(j, "architectures");
    const char *a = NULL;
    if (arch && cJSON_IsArray(arch) && cJSON_GetArraySize(arch) > 0 &&
        cJSON_IsString(cJSON_GetArrayItem(arch, 0)))
        a = cJSON_GetArrayItem(arch, 0)->valuestring;
    else {
        const cJSON *mt = field(j, "model_type");
        if (mt && cJSON_IsString(mt) && !strcmp(mt->valuestring, "llama"))
            a = "LlamaForCausalLM";
        else if (mt && cJSON_IsString(mt) && !strcmp(mt->valuestring, "mistral"))
            a = "MistralForCausalLM";
    }
    if (!a)
        return kvb_errorf(e, KVB_EINVAL, "%s: field 'architectures' missing", file);
    if (strcmp(a, "LlamaForCausalLM") && strcmp(a, "MistralForCausalLM"))
        return kvb_errorf(e, KVB_EUNSUP, "%s: architecture '%s' is not supported "
                          "(LlamaForCausalLM, MistralForCausalLM)", file, a);
    snprintf(c->arch, sizeof(c->arch), "%s", a);
    int rc;
    if ((rc = get_int(j, "hidden_size", 1, 65536, &c->hidden, 1, file, e)) ||
        (rc = get_int(j, "intermediate_size", 1, 1 << 20, &c->intermediate, 1, file, e)) ||
        (rc = get_int(j, "num_hidden_layers", 1, 512, &c->n_layers, 1, file, e)) ||
        (rc = get_int(j, "num_attention_heads", 1, 1024, &c->n_heads, 1, file, e)) ||
        (rc = get_int(j, "vocab_size", 1, 1 << 22, &c->vocab, 1, file, e)))
        return rc;
    c->n_kv_heads = c->n_heads;
    c->max_position = 2048;
    c->rms_eps = 1e-6;
    c->rope_theta = 10000;
    c->head_dim = c->hidden / c->n_heads;
    if ((rc = get_int(j, "num_key_value_heads", 1, 1024, &c->n_kv_heads, 0, file, e)) ||
        (rc = get_int(j, "head_dim", 1, 1024, &c->head_dim, 0, file, e)) ||
        (rc = get_int(j, "max_position_embeddings", 1, 1 << 24, &c->max_position, 0, file, e)) ||
        (rc = get_num(j, "rms_norm_eps", 1e-12, 0.1, &c->rms_eps, file, e)) ||
        (rc = parse_rope(c, j, file, e)))
        return rc;
    const cJSON *tie = field(j, "tie_word_embeddings");
    if (tie && !cJSON_IsBool(tie))
        return kvb_errorf(e, KVB_EINVAL, "%s: field 'tie_word_embeddings' is not a boolean", file);
    c->tie_embeddings = tie ? cJSON_IsTrue(tie) : 0;
    const cJSON *act = field(j, "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu")))
        return kvb_errorf(e, KVB_EUNSUP, "%s: hidden_act must be silu", file);
    const char *biases[] = { "attention_bias", "mlp_bias" };
    for (int i = 0; i < 2; i++) {
        const cJSON *b = field(j, biases[i]);
        if (b && cJSON_IsTrue(b))
            return kvb_errorf(e, KVB_EUNSUP, "%s: %s is not supported", file, biases[i]);
    }
    const cJSON *sw = field(j, "sliding_window");
    if (sw && cJSON_IsNumber(sw) && sw->valuedouble < c->max_position)
        return kvb_errorf(e, KVB_EUNSUP, "%s: sliding-window attention (%g) is not supported", file,
                          sw->valuedouble);
    /* eos_token_id: int or list; the default stop tokens when the name gives none */
    const cJSON *eos = field(j, "eos_token_id");
    c->n_stop = 0;
    /* ids outside [0, vocab) are refused (found by fuzz_config: a huge id overflowed the int) */
    if (eos && cJSON_IsNumber(eos)) {
        if (!(eos->valuedouble >= 0 && eos->valuedouble < c->vocab))
            return kvb_errorf(e, KVB_EINVAL, "%s: eos_token_id %g is not a token id", file,
                              eos->valuedouble);
        c->stop_ids[c->n_stop++] = (int32_t)eos->valuedouble;
    } else if (eos && cJSON_IsArray(eos)) {
        const cJSON *x;
        cJSON_ArrayForEach(x, eos) if (cJSON_IsNumber(x) && c->n_stop < 8)
        {
            if (!(x->valuedouble >= 0 && x->valuedouble < c->vocab))
                return kvb_errorf(e, KVB_EINVAL, "%s: eos_token_id %g is not a token id", file,
                                  x->valuedouble);
            c->stop_ids[c->n_stop++] = (int32_t)x->valuedouble;
        }
    }
    return kvb_config_validate(c, file, e);
}

int kvb_config_validate(const kvb_model_config *c, const char *file, kvb_error *e)
{
    if (c->n_layers < 1 || c->n_layers > 512 || c->hidden < 1 || c->hidden > 65536 ||
        c->intermediate < 1 || c->intermediate > (1 << 20) || c->vocab < 1 || c->vocab > (1 << 22))
        return kvb_errorf(e, KVB_EINVAL, "%s: absurd sizes (layers %d, hidden %d, intermediate %d, "
                          "vocab %d)", file, c->n_layers, c->hidden, c->intermediate, c->vocab);
    if (c->n_heads < 1 || c->n_kv_heads < 1 || c->n_heads % c->n_kv_heads)
        return kvb_errorf(e, KVB_EINVAL, "%s: %d attention heads are not a multiple of %d kv heads",
                          file, c->n_heads, c->n_kv_heads);
    if (c->head_dim < 2 || c->head_dim % 2 || c->head_dim > 1024 ||
        (size_t)c->n_heads * c->head_dim > 65536)
        return kvb_errorf(e, KVB_EINVAL, "%s: head_dim %d is not an even size in [2, 1024]", file,
                          c->head_dim);
    if (c->max_position < 1 || !(c->rms_eps > 0) || !(c->rope_theta > 0))
        return kvb_errorf(e, KVB_EINVAL, "%s: bad max_position_embeddings/rms_norm_eps/rope_theta",
                          file);
    /* 2^40 bytes is the allocation limit: refuse a model whose f32 weights alone would exceed it */
    double params = (double)c->vocab * c->hidden * 2 +
                    (double)c->n_layers * ((double)c->hidden * c->head_dim * (2 * c->n_heads + 2 * c->n_kv_heads) +
                                           3.0 * c->hidden * c->intermediate);
    if (params * 4 > (double)KVB_ALLOC_LIMIT)
        return kvb_errorf(e, KVB_EINVAL, "%s: absurd model size (%.3g parameters)", file, params);
    return 0;
}

/* ---- kvbench model names -------------------------------------------------------------------------- */
static int name_ok(const char *name)
{
    if (!*name || strlen(name) > 60)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return name[0] != '.';
}

static int copy_str(char *dst, size_t n, const cJSON *j, const char *k, int required,
                    const char *file, kvb_error *e)
{
    const cJSON *x = field(j, k);
    if (!x) {
        if (required)
            return kvb_errorf(e, KVB_EINVAL, "%s: field '%s' missing", file, k);
        return 0;
    }
    if (!cJSON_IsString(x) || strlen(x->valuestring) >= n)
        return kvb_errorf(e, KVB_EINVAL, "%s: field '%s' is not a string of < %zu bytes", file, k, n);
    snprintf(dst, n, "%s", x->valuestring);
    return 0;
}

int kvb_config_load_named(kvb_model_config *c, const char *name, kvb_error *e)
{
    char dir[PATH_MAX];
    const char *models = kvb_configs_dir("models", dir, sizeof(dir));
    if (!name_ok(name))
        return kvb_errorf(e, KVB_EINVAL, "'%s' is not a model name", name);
    if (!models)
        return kvb_errorf(e, KVB_EINVAL, "model '%s': configs/models not found (set KVBENCH_HOME "
                          "to the kvbench repository)", name);
    char path[PATH_MAX + 128];
    snprintf(path, sizeof(path), "%s/%s.json", models, name);
    if (!kvb_file_exists(path))
        return kvb_errorf(e, KVB_EINVAL, "unknown model '%s' (no %s; give a path to an HF "
                          "directory or a .gguf file instead)", name, path);
    cJSON *j = NULL;
    int rc = kvb_json_load(path, 1 << 20, &j, e);
    if (rc)
        return rc;
    memset(c, 0, sizeof(*c));
    const cJSON *hf = field(j, "config");
    if (!hf) {
        rc = kvb_errorf(e, KVB_EINVAL, "%s: field 'config' missing", path);
        goto out;
    }
    if ((rc = kvb_config_from_json(c, hf, path, e)))
        goto out;
    snprintf(c->name, sizeof(c->name), "%s", name);
    if ((rc = copy_str(c->repo_id, sizeof(c->repo_id), j, "repo_id", 1, path, e)) ||
        (rc = copy_str(c->chat_template, sizeof(c->chat_template), j, "chat_template", 1, path, e)) ||
        (rc = copy_str(c->family, sizeof(c->family), j, "family", 1, path, e)) ||
        (rc = get_int(j, "longbench_max_length", 1, 1 << 24, &c->longbench_max_length, 1, path, e)))
        goto out;
    const cJSON *stops = field(j, "stop_token_ids");
    if (!stops || !cJSON_IsArray(stops) || cJSON_GetArraySize(stops) < 1 ||
        cJSON_GetArraySize(stops) > 8) {
        rc = kvb_errorf(e, KVB_EINVAL, "%s: field 'stop_token_ids' must be a list of 1..8 ids", path);
        goto out;
    }
    c->n_stop = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, stops)
    {
        if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble >= c->vocab) {
            rc = kvb_errorf(e, KVB_EINVAL, "%s: stop token id out of the vocabulary", path);
            goto out;
        }
        c->stop_ids[c->n_stop++] = (int32_t)x->valuedouble;
    }
out:
    cJSON_Delete(j);
    return rc;
}

int kvb_model_config_by_name(const char *name, kvb_model_config *out, kvb_error *e)
{
    return kvb_config_load_named(out, name, e);
}

/* Same architecture as a known model: take its name-level metadata (template, budget, stops). */
static int same_arch(const kvb_model_config *a, const kvb_model_config *b)
{
    return a->n_layers == b->n_layers && a->hidden == b->hidden && a->n_heads == b->n_heads &&
           a->n_kv_heads == b->n_kv_heads && a->vocab == b->vocab &&
           a->intermediate == b->intermediate && a->rope_theta == b->rope_theta;
}

void kvb_config_adopt_known(kvb_model_config *c, const char *hint)
{
    char dir[PATH_MAX];
    const char *models = kvb_configs_dir("models", dir, sizeof(dir));
    if (!models)
        return;
    char pat[PATH_MAX + 64];
    snprintf(pat, sizeof(pat), "%s/*.json", models);
    glob_t g;
    if (glob(pat, 0, NULL, &g))
        return;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char nm[128];
        const char *b = strrchr(g.gl_pathv[i], '/');
        snprintf(nm, sizeof(nm), "%s", b ? b + 1 : g.gl_pathv[i]);
        char *dot = strstr(nm, ".json");
        if (dot)
            *dot = 0;
        kvb_model_config k;
        kvb_error e;
        if (kvb_config_load_named(&k, nm, &e) || !same_arch(&k, c))
            continue;
        /* prefer the name the hint (file or directory name) mentions, e.g. v0.2 vs v0.3 */
        if (hint && !strcasestr(hint, nm) && c->family[0])
            continue;
        snprintf(c->name, sizeof(c->name), "%s", k.name);
        snprintf(c->repo_id, sizeof(c->repo_id), "%s", k.repo_id);
        snprintf(c->chat_template, sizeof(c->chat_template), "%s", k.chat_template);
        snprintf(c->family, sizeof(c->family), "%s", k.family);
        c->longbench_max_length = k.longbench_max_length;
        memcpy(c->stop_ids, k.stop_ids, sizeof(c->stop_ids));
        c->n_stop = k.n_stop;
        if (hint && strcasestr(hint, nm))
            break;
    }
    globfree(&g);
}

/* ---- resolving a name to files ------------------------------------------------------------------- */
/* A directory holds a model when it has config.json + safetensors, or a .gguf file. */
static int dir_has_model(const char *dir, char *out, size_t n)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/config.json", dir);
    int cfg = kvb_file_exists(p);
    snprintf(p, sizeof(p), "%s/model.safetensors", dir);
    int st = kvb_file_exists(p);
    snprintf(p, sizeof(p), "%s/model.safetensors.index.json", dir);
    st |= kvb_file_exists(p);
    if (cfg && st) {
        snprintf(out, n, "%s", dir);
        return 1;
    }
    snprintf(p, sizeof(p), "%s/*.gguf", dir);
    glob_t g;
    int found = 0;
    if (!glob(p, 0, NULL, &g) && g.gl_pathc > 0) {
        snprintf(out, n, "%s", g.gl_pathv[0]);
        found = 1;
    }
    globfree(&g);
    return found;
}

static int try_dir(const char *dir, char *out, size_t n, kvb_strbuf *looked)
{
    kvb_strbuf_addf(looked, "\n  %s", dir);
    return kvb_is_dir(dir) && dir_has_model(dir, out, n);
}

static int try_hf_cache(const char *hub, const char *repo_id, char *out, size_t n,
                        kvb_strbuf *looked)
{
    char org_name[160];
    snprintf(org_name, sizeof(org_name), "%s", repo_id);
    for (char *p = org_name; *p; p++)
        if (*p == '/')
            *p = 0x01; /* placeholder for "--" */
    char pat[PATH_MAX + 256];
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    for (const char *p = org_name; *p; p++)
        kvb_strbuf_add(&sb, *p == 0x01 ? "--" : p, *p == 0x01 ? 2 : 1);
    snprintf(pat, sizeof(pat), "%s/models--%s/snapshots/*", hub, sb.buf ? sb.buf : "");
    kvb_strbuf_release(&sb);
    kvb_strbuf_addf(looked, "\n  %s/", pat);
    glob_t g;
    int found = 0;
    if (!glob(pat, GLOB_ONLYDIR, NULL, &g)) {
        for (size_t i = g.gl_pathc; i-- > 0 && !found;) /* the last snapshot in name order */
            found = dir_has_model(g.gl_pathv[i], out, n);
        globfree(&g);
    }
    return found;
}

int kvb_model_resolve(const char *name, const kvb_model_config *c, char *out, size_t n,
                      kvb_error *e)
{
    kvb_strbuf looked;
    kvb_strbuf_init(&looked);
    char dir[PATH_MAX + 128];
    int found = 0;
    const char *env = getenv("KVBENCH_MODELS");
    if (env && *env) {
        snprintf(dir, sizeof(dir), "%s/%s", env, name);
        found = try_dir(dir, out, n, &looked);
    }
    if (!found && c->repo_id[0]) {
        for (int i = 0; !found && i < 3; i++)
            if (kvb_hf_hub_cache(i, dir, sizeof(dir)) == 1)
                found = try_hf_cache(dir, c->repo_id, out, n, &looked);
    }
    if (!found) {
        snprintf(dir, sizeof(dir), "models/%s", name);
        found = try_dir(dir, out, n, &looked);
    }
    const char *home = kvb_config_home();
    if (!found && home && strcmp(home, ".")) {
        snprintf(dir, sizeof(dir), "%s/models/%s", home, name);
        found = try_dir(dir, out, n, &looked);
    }
    if (!found) {
        int embedded = !strcmp(name, "smollm2-135m");
        kvb_errorf(e, KVB_EINVAL, "model '%s' (%s) not found; looked in:%s\n%s", name,
                   c->repo_id[0] ? c->repo_id : "no repo id", looked.buf ? looked.buf : "",
                   embedded ? "get it with `make model`"
                            : "download the HF repo (e.g. `huggingface-cli download <repo>`) into "
                              "one of these places or set KVBENCH_MODELS");
    }
    kvb_strbuf_release(&looked);
    return found ? 0 : KVB_EINVAL;
}

int kvb_model_locate(const char *name_or_path, char *out, size_t n, kvb_error *e)
{
    if (kvb_file_exists(name_or_path) || kvb_is_dir(name_or_path) || strchr(name_or_path, '/')) {
        snprintf(out, n, "%s", name_or_path);
        return 0;
    }
    kvb_model_config c;
    int rc = kvb_model_config_by_name(name_or_path, &c, e);
    return rc ? rc : kvb_model_resolve(name_or_path, &c, out, n, e);
}
