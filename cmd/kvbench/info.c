/* kvbench info: architecture, parameters, dtype, files, KV bytes per token. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "modelcli.h"
#include "options.h"
#include "verbs.h"

static cJSON *info_json(kvb_model *m)
{
    const kvb_model_config *c = kvb_model_get_config(m);
    kvb_model_info in;
    kvb_model_get_info(m, &in);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", c->name);
    cJSON_AddStringToObject(j, "repo_id", c->repo_id);
    cJSON_AddStringToObject(j, "architecture", c->arch);
    cJSON_AddStringToObject(j, "family", c->family);
    cJSON_AddStringToObject(j, "chat_template", c->chat_template);
    cJSON_AddNumberToObject(j, "layers", c->n_layers);
    cJSON_AddNumberToObject(j, "hidden", c->hidden);
    cJSON_AddNumberToObject(j, "intermediate", c->intermediate);
    cJSON_AddNumberToObject(j, "heads", c->n_heads);
    cJSON_AddNumberToObject(j, "kv_heads", c->n_kv_heads);
    cJSON_AddNumberToObject(j, "head_dim", c->head_dim);
    cJSON_AddNumberToObject(j, "vocab", c->vocab);
    cJSON_AddNumberToObject(j, "max_position", c->max_position);
    cJSON_AddNumberToObject(j, "rms_eps", c->rms_eps);
    cJSON_AddNumberToObject(j, "rope_theta", c->rope_theta);
    if (c->rope_factor > 0) {
        cJSON *r = cJSON_AddObjectToObject(j, "rope_scaling");
        cJSON_AddStringToObject(r, "rope_type", "llama3");
        cJSON_AddNumberToObject(r, "factor", c->rope_factor);
        cJSON_AddNumberToObject(r, "low_freq_factor", c->rope_low_freq_factor);
        cJSON_AddNumberToObject(r, "high_freq_factor", c->rope_high_freq_factor);
        cJSON_AddNumberToObject(r, "original_max_position_embeddings", c->rope_original_max_position);
    } else
        cJSON_AddNullToObject(j, "rope_scaling");
    cJSON_AddBoolToObject(j, "tie_word_embeddings", c->tie_embeddings);
    cJSON_AddNumberToObject(j, "parameters", (double)in.n_params);
    cJSON_AddStringToObject(j, "source", in.source);
    cJSON_AddStringToObject(j, "format", in.format);
    cJSON_AddStringToObject(j, "file_dtype", in.file_dtype);
    cJSON_AddStringToObject(j, "weights_dtype", in.held_dtype);
    cJSON_AddNumberToObject(j, "weight_bytes", (double)kvb_model_weight_bytes(m));
    cJSON_AddNumberToObject(j, "kv_bytes_per_token_16bit", (double)kvb_model_kv_bytes_per_token(c));
    cJSON_AddNumberToObject(j, "longbench_max_length", c->longbench_max_length);
    cJSON *st = cJSON_AddArrayToObject(j, "stop_token_ids");
    for (int i = 0; i < c->n_stop; i++)
        cJSON_AddItemToArray(st, cJSON_CreateNumber(c->stop_ids[i]));
    cJSON_AddBoolToObject(j, "tokenizer", kvb_model_tokenizer(m) != NULL);
    cJSON_AddStringToObject(j, "gemv_kernels", in.isa);
    cJSON_AddStringToObject(j, "prefill", in.prefill);
    cJSON_AddNumberToObject(j, "threads", kvb_pool_size(kvb_model_pool(m)));
    return j;
}

static void info_text(kvb_model *m)
{
    const kvb_model_config *c = kvb_model_get_config(m);
    kvb_model_info in;
    kvb_model_get_info(m, &in);
    printf("model          %s%s%s%s\n", c->name, c->repo_id[0] ? " (" : "", c->repo_id,
           c->repo_id[0] ? ")" : "");
    printf("architecture   %s, family %s, chat template %s\n", c->arch, c->family, c->chat_template);
    printf("shape          %d layers, hidden %d, intermediate %d, %d heads, %d kv heads, "
           "head_dim %d, vocab %d\n", c->n_layers, c->hidden, c->intermediate, c->n_heads,
           c->n_kv_heads, c->head_dim, c->vocab);
    printf("rope           theta %g, ", c->rope_theta);
    if (c->rope_factor > 0)
        printf("llama3 scaling (factor %g, low %g, high %g, original %d)\n", c->rope_factor,
               c->rope_low_freq_factor, c->rope_high_freq_factor, c->rope_original_max_position);
    else
        printf("no scaling\n");
    printf("norm           rms eps %g; embeddings %s; max positions %d\n", c->rms_eps,
           c->tie_embeddings ? "tied" : "untied", c->max_position);
    printf("parameters     %.1fM\n", (double)in.n_params / 1e6);
    printf("weights        %s (%s, %s), held as %s: %.1f MB\n", in.source, in.format,
           in.file_dtype, in.held_dtype, (double)kvb_model_weight_bytes(m) / 1e6);
    printf("KV per token   %zu bytes (full 16-bit cache)\n", kvb_model_kv_bytes_per_token(c));
    printf("LongBench      prompt budget %d tokens; stop tokens", c->longbench_max_length);
    for (int i = 0; i < c->n_stop; i++)
        printf(" %d", c->stop_ids[i]);
    printf("\ntokenizer      %s\n", kvb_model_tokenizer(m) ? "loaded" : "none");
    printf("kernels        %s, %d threads; prefill %s\n", in.isa, kvb_pool_size(kvb_model_pool(m)),
           in.prefill);
}

/* --device: where the model would run; for cuda the planned device bytes against free memory
 * (kvb_device_plan refuses a model that does not fit, naming both). */
static void device_json(cJSON *j, const kvb_device_info *d)
{
    cJSON *o = cJSON_AddObjectToObject(j, "device");
    cJSON_AddStringToObject(o, "kind", kvb_device_name(d->device));
    if (d->device != KVB_DEVICE_CUDA)
        return;
    cJSON_AddNumberToObject(o, "index", d->index);
    cJSON_AddStringToObject(o, "gpu", d->gpu);
    cJSON_AddStringToObject(o, "cuda_driver", d->driver);
    cJSON_AddStringToObject(o, "cuda_runtime", d->runtime);
    cJSON_AddNumberToObject(o, "max_tokens", d->max_tokens);
    cJSON_AddNumberToObject(o, "model_bytes", (double)d->model_bytes);
    cJSON_AddNumberToObject(o, "mem_free", (double)d->mem_free);
    cJSON_AddNumberToObject(o, "mem_total", (double)d->mem_total);
    cJSON_AddBoolToObject(o, "fits", 1);
}

static void device_text(const kvb_device_info *d)
{
    if (d->device != KVB_DEVICE_CUDA) {
        printf("device         cpu\n");
        return;
    }
    printf("device         cuda:%d %s (driver %s, runtime %s): needs %.2f GiB (bf16 weights, full "
           "bf16 cache of %d tokens, activations), %.2f GiB free of %.2f GiB: fits\n", d->index,
           d->gpu, d->driver, d->runtime, d->model_bytes / 1073741824.0, d->max_tokens,
           d->mem_free / 1073741824.0, d->mem_total / 1073741824.0);
}

int cmd_info(int argc, char **argv)
{
    kvb_model_flags f = { .weights = "bf16", .config_only = 1 };
    int json = 0;
    const struct kvb_option opts[] = {
        KVB_OPT_STR_("model", &f.model, "M", "model name, HF directory or .gguf file"),
        KVB_OPT_FLAG_("json", &json, "print JSON"),
        KVB_MODEL_WEIGHT_OPTS(&f.random_weights, &f.seed, &f.weights, &f.device),
        KVB_OPT_INT_("threads", &f.threads, "N", "threads (default: all cores)", 0, 1024),
        KVB_OPT_END_,
    };
    int rc = kvb_parse_options(argc, argv, opts, "kvbench info --model M [--json]", NULL, NULL);
    if (rc)
        return rc > 0 ? 0 : 2;
    kvb_error e = { 0 };
    kvb_model *m;
    kvb_model_opts o;
    kvb_device_info di;
    if (!f.model || !*f.model) /* kvb_cli_open_model's message */
        return kvb_cli_open_model(&f, &m, &e) ? kvb_die(&e) : 2;
    if ((rc = kvb_cli_model_opts(&f, &o, &e)))
        return kvb_die(&e);
    const int device = o.device, index = o.device_index;
    o.device = KVB_DEVICE_CPU; /* info reads the model on the host; the device is only planned */
    if ((rc = kvb_model_open(&m, f.model, &o, &e)))
        return kvb_die(&e);
    if ((rc = kvb_device_plan(kvb_model_get_config(m), device, index, &di, &e))) {
        kvb_model_free(m);
        return kvb_die(&e);
    }
    if (json) {
        cJSON *j = info_json(m);
        device_json(j, &di);
        char *s = cJSON_Print(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
    } else {
        info_text(m);
        device_text(&di);
    }
    kvb_model_free(m);
    return 0;
}
