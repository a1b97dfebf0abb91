/* The generation loop of lib/longbench/pipeline on the real SmolLM2 (models/, `make model`):
 * greedy and deterministic, max_new_tokens honoured, stop ids end generation (the stop token is
 * kept in the output ids, as HF's generate keeps eos), min_new_tokens masks them at the first
 * step (samsum), and the accounting is filled. */
#include <criterion/criterion.h>
#include <string.h>

#include "longbench/pipeline.h"
#include "numeric_paths.h"

static kvb_model *m;
static kvb_ids prompt;

static void setup(void)
{
    kvb_error e = { 0 };
    kvb_model_opts o = { .threads = test_threads(2), .weights_bf16 = 1 };
    cr_assert_eq(kvb_model_open(&m, "smollm2-135m", &o, &e), 0, "%s (run `make model`)", e.msg);
    const kvb_tokenizer *t = kvb_model_get_config(m) ? kvb_model_tokenizer(m) : NULL;
    cr_assert_not_null(t);
    kvb_ids_init(&prompt);
    kvb_lb_prompt_opts po = { 0, "chatml", 0, 0 };
    const char *text = "List three colours of the rainbow.";
    int tr;
    cr_assert_eq(kvb_lb_prompt_ids(t, text, strlen(text), &po, &prompt, &tr, &e), 0, "%s", e.msg);
}

static void teardown(void)
{
    kvb_ids_release(&prompt);
    kvb_model_free(m);
}

static void gen(const kvb_lb_gen_opts *o, kvb_lb_gen_result *r)
{
    const kvb_model_config *c = kvb_model_get_config(m);
    kvb_cache_shape shape = { c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim,
                              (int)prompt.n + o->max_new_tokens + 1, c->family };
    kvb_cache *cache;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_cache_create(&cache, "full", &shape, NULL, 0, kvb_model_pool(m), &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_lb_generate(m, cache, prompt.ids, (int)prompt.n, o, r, &e), 0, "%s", e.msg);
    kvb_cache_free(cache);
}

TestSuite(pipeline, .init = setup, .fini = teardown, .timeout = 300);

Test(pipeline, greedy_stops_and_min_tokens)
{
    kvb_lb_gen_opts o;
    memset(&o, 0, sizeof(o));
    o.max_new_tokens = 6;
    kvb_lb_gen_result a, b;
    gen(&o, &a);
    gen(&o, &b);
    /* no stop ids: exactly max_new_tokens, identical twice */
    cr_assert_eq(a.out.n, 6);
    cr_assert_eq(a.stopped_by, 0);
    cr_assert(!memcmp(a.out.ids, b.out.ids, 6 * sizeof(int32_t)));
    cr_assert_str_eq(a.text, b.text);
    cr_assert_eq(a.n_prompt, (int)prompt.n);
    cr_assert(a.prefill.bytes > 0 && a.end.bytes >= a.prefill.bytes && a.peak_bytes >= a.end.bytes);
    cr_assert_eq(a.end.tokens, a.end.tokens_full); /* full cache keeps everything */
    /* the prompt plus all generated tokens but the last went through the model */
    long heads = kvb_model_get_config(m)->n_kv_heads;
    cr_assert_eq(a.layers_end[0].tokens_full, (long)(prompt.n + 5) * heads, "%ld", a.layers_end[0].tokens_full);
    cr_assert_eq(a.end.tokens_full, a.layers_end[0].tokens_full * a.n_layers);
    int32_t first = a.out.ids[0], third = a.out.ids[2];
    kvb_lb_gen_result_release(&b);

    /* the third token as a stop id: generation ends there, the stop token included */
    o.stop_ids[0] = third;
    o.n_stop = 1;
    gen(&o, &b);
    cr_assert_eq(b.out.n, 3);
    cr_assert_eq(b.stopped_by, 1);
    cr_assert(!memcmp(b.out.ids, a.out.ids, 3 * sizeof(int32_t)));
    kvb_lb_gen_result_release(&b);

    /* the first token as a stop id: one token; with min_new_tokens = 1 it is masked at step one */
    o.stop_ids[0] = first;
    gen(&o, &b);
    cr_assert_eq(b.out.n, 1);
    kvb_lb_gen_result_release(&b);
    o.min_new_tokens = 1;
    gen(&o, &b);
    cr_assert_neq(b.out.ids[0], first);
    cr_assert(b.out.n >= 1);
    kvb_lb_gen_result_release(&b);

    char *j = kvb_lb_mem_trace_json("rec-1", 7, &a);
    cr_assert_not_null(j);
    cr_assert(strstr(j, "\"_id\":\"rec-1\",\"_index\":7") && strstr(j, "\"layers_end\":[{") &&
              strstr(j, "\"peak_kv_bytes\":"), "%s", j);
    free(j);
    kvb_lb_gen_result_release(&a);
}

Test(pipeline_text, post_process)
{
    char *s = kvb_lb_post_process("smollm2-135m", " keep \n as is ");
    cr_assert_str_eq(s, " keep \n as is ");
    free(s);
    s = kvb_lb_post_process("xgen-7b-8k", "  Assistant: hi Assistant:\n");
    cr_assert_str_eq(s, " hi "); /* strip() first, then the replace */
    free(s);
    s = kvb_lb_post_process("internlm-7b-8k", "answer<eoa>junk");
    cr_assert_str_eq(s, "answer");
    free(s);
}
