/* Helpers of the model verbs: flags -> model, cache. */
#include "modelcli.h"

#include <stdlib.h>
#include <string.h>

int kvb_cli_model_opts(const kvb_model_flags *f, kvb_model_opts *o, kvb_error *e)
{
    *o = (kvb_model_opts){ .threads = (int)f->threads, .random_weights = f->random_weights,
                           .seed = (uint64_t)f->seed, .weights_bf16 = 1, .prefill_bf16 = 1,
                           .config_only = f->random_weights && f->config_only,
                           .device_tokens = f->device_tokens };
    /* the exact modes (f32, gguf) keep an f32 prefill; bf16 and gguf-q8 round to bf16 there too */
    if (f->weights && !strcmp(f->weights, "f32"))
        o->weights_bf16 = o->prefill_bf16 = 0;
    else if (f->weights && !strcmp(f->weights, "gguf"))
        o->weights_gguf = 1, o->prefill_bf16 = 0; /* Q4_1/Q8_0 kept; other GGUF types as bf16 */
    else if (f->weights && !strcmp(f->weights, "gguf-q8"))
        o->weights_gguf = o->gguf_act_q8 = 1; /* and 8-bit activations in decode */
    else if (f->weights && strcmp(f->weights, "bf16"))
        return kvb_errorf(e, KVB_EINVAL, "--weights '%s': use bf16, f32, gguf or gguf-q8",
                          f->weights);
    int rc = kvb_device_parse(f->device ? f->device : "auto", &o->device, &o->device_index, e);
    if (rc || (rc = kvb_device_probe(o->device, o->device_index, e)))
        return rc;
    o->device = kvb_device_resolve(o->device, o->device_index);
    if (o->device == KVB_DEVICE_CUDA && (o->weights_gguf || !o->weights_bf16))
        return kvb_errorf(e, KVB_EUNSUP, "--weights %s: the GPU holds bf16 weights only (use "
                          "--weights bf16, or --device cpu)", f->weights);
    return 0;
}

/* The --cache-param items for `method` (into sel, their count returned): all of them, or when
 * they are shared by several methods (bench --type A,B) those it takes. */
static int method_params(const char *method, int shared, const kvb_cache_param *p, int n,
                         kvb_cache_param *sel)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!shared || kvb_cache_method_takes(method, p[i].name) > 0)
            sel[k++] = p[i];
    return k;
}

/* Every method of a --type list on the device with its parameters, before the model loads; a
 * parameter none of several methods takes is refused by name. */
static int check_methods(char **ms, int n_ms, const kvb_cache_param *p, int n,
                         const kvb_model_opts *o, kvb_error *e)
{
    for (int i = 0; i < n && n_ms > 1; i++) {
        int takers = 0;
        for (int j = 0; j < n_ms; j++)
            takers += kvb_cache_method_takes(ms[j], p[i].name) > 0;
        if (!takers)
            return kvb_errorf(e, KVB_EINVAL, "--cache-param %s: no method of --type takes it",
                              p[i].name);
    }
    kvb_cache_param *sel = kvb_calloc((size_t)(n ? n : 1), sizeof(*sel));
    int rc = sel ? 0 : kvb_errorf(e, KVB_ENOMEM, "out of memory");
    for (int j = 0; j < n_ms && !rc; j++)
        rc = kvb_device_check_method(o->device, ms[j], sel,
                                     method_params(ms[j], n_ms > 1, p, n, sel), e);
    free(sel);
    return rc;
}

/* generate/bench: their --type on the device, before the model loads */
static int check_method(const kvb_model_flags *f, const kvb_model_opts *o, kvb_error *e)
{
    char **items, **ms = NULL;
    int n, n_ms = 0;
    kvb_cache_param *p;
    int rc = kvb_cli_parse_cache_params(f->cache_params, &items, &n, &p, e);
    if (!rc && (kvb_split_csv(f->method, &ms, &n_ms) || n_ms < 1))
        rc = kvb_errorf(e, KVB_EINVAL, "--type '%s': not a method or a list of them", f->method);
    if (!rc)
        rc = check_methods(ms, n_ms, p, n, o, e);
    kvb_free_strv(ms, n_ms);
    free(p);
    kvb_free_strv(items, n);
    return rc;
}

int kvb_cli_open_model(const kvb_model_flags *f, kvb_model **m, kvb_error *e)
{
    if (!f->model || !*f->model)
        return kvb_errorf(e, KVB_EINVAL, "--model is required (a name such as smollm2-135m, an HF "
                          "directory or a .gguf file)");
    kvb_model_opts o;
    int rc = kvb_cli_model_opts(f, &o, e);
    if (!rc && f->method)
        rc = check_method(f, &o, e);
    return rc ? rc : kvb_model_open(m, f->model, &o, e);
}

int kvb_cli_parse_cache_params(const char *params, char ***items, int *n, kvb_cache_param **p,
                               kvb_error *e)
{
    *items = NULL;
    *n = 0;
    *p = NULL;
    if (params && *params && kvb_split_csv(params, items, n))
        return kvb_errorf(e, KVB_EINVAL, "--cache-param '%s': not a list", params);
    *p = kvb_calloc((size_t)(*n ? *n : 1), sizeof(**p));
    if (!*p)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    for (int i = 0; i < *n; i++) {
        char *eq = strchr((*items)[i], '=');
        if (!eq)
            return kvb_errorf(e, KVB_EINVAL, "--cache-param '%s': expected name=value", (*items)[i]);
        *eq = 0;
        (*p)[i] = (kvb_cache_param){ (*items)[i], eq + 1 };
    }
    return 0;
}

int kvb_cli_open_cache(kvb_model *m, const char *method, const char *params, int shared,
                       int max_tokens, kvb_cache **c, kvb_error *e)
{
    const kvb_model_config *cf = kvb_model_get_config(m);
    kvb_cache_shape sh = { cf->n_layers, cf->n_heads, cf->n_kv_heads, cf->head_dim, max_tokens,
                           cf->family };
    char **items;
    int n;
    kvb_cache_param *p;
    int rc = kvb_cli_parse_cache_params(params, &items, &n, &p, e);
    method = method ? method : "full";
    if (!rc)
        rc = kvb_cache_create(c, method, &sh, p, method_params(method, shared, p, n, p),
                              kvb_model_pool(m), e);
    free(p);
    kvb_free_strv(items, n);
    return rc;
}

int kvb_cli_parse_ids(const char *s, int vocab, int32_t **ids, int *n_ids, kvb_error *e)
{
    char **items;
    int n;
    *ids = NULL;
    *n_ids = 0;
    if (kvb_split_csv(s, &items, &n))
        return kvb_errorf(e, KVB_EINVAL, "--ids: not a comma-separated list");
    int rc = n ? 0 : kvb_errorf(e, KVB_EINVAL, "--ids: empty");
    *ids = kvb_calloc((size_t)(n ? n : 1), sizeof(int32_t));
    for (int i = 0; i < n && !rc; i++) {
        long v;
        if (kvb_parse_long(items[i], 0, vocab - 1, &v))
            rc = kvb_errorf(e, KVB_EINVAL, "--ids: '%s' is not a token id in [0, %d)", items[i], vocab);
        else
            (*ids)[(*n_ids)++] = (int32_t)v;
    }
    kvb_free_strv(items, n);
    return rc;
}
