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

int cmd_info(int argc, char **argv)
{
    kvb_model_flags f = { .weights = "bf16", .config_only = 1 };
    int json = 0;
    const struct kvb_option opts[] = {
        KVB_OPT_STR_("model", &f.model, "M", "model name, HF directory or .gguf file"),
        KVB_OPT_FLAG_("json", &json, "print JSON"),
        KVB_MODEL_WEIGHT_OPTS(&f.random_weights, &f.seed, &f.weights),
        KVB_OPT_INT_("threads", &f.threads, "N", "threads (default: all cores)", 0, 1024),
        KVB_OPT_END_,
    };
    int rc = kvb_parse_options(argc, argv, opts, "kvbench info --model M [--json]", NULL, NULL);
    if (rc)
        return rc > 0 ? 0 : 2;
    kvb_error e = { 0 };
    kvb_model *m;
    if ((rc = kvb_cli_open_model(&f, &m, &e)))
        return kvb_die(&e);
    if (json) {
        cJSON *j = info_json(m);
        char *s = cJSON_Print(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
    } else
        info_text(m);
    kvb_model_free(m);
    return 0;
}
