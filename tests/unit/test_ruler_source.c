/* RULER's task source and model templates: the templates byte for byte as RULER's template.py
 * (tests/fixtures/ruler/templates.json, scripts/oracle/ruler_score.py), the model's chat template
 * as one more; a source's items as call_api.py feeds them (input + answer_prefix, BOS by the
 * tokenizer's rule, prompt tokens = RULER's length - tokens_to_generate), its _ids, fields and
 * scores, and a data fingerprint that follows the seed and the template.
 *
 * The source tests generate samples, so they need RULER's word lists (make ruler-data, or
 * KVBENCH_RULER_DATA); without them they are skipped, except under CI=true. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "ruler/source.h"

/* ---- templates ----------------------------------------------------------------------------- */

Test(ruler_template, as_template_py)
{
    cJSON *j = NULL;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_json_load("tests/fixtures/ruler/templates.json", 1 << 20, &j, &e), 0, "%s", e.msg);
    const cJSON *x;
    int n = 0;
    kvb_strbuf names;
    kvb_strbuf_init(&names);
    kvb_ruler_template_names(&names);
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(j, "templates"))
    {
        char *t = NULL;
        cr_assert_eq(kvb_ruler_model_template(x->string, NULL, &t, &e), 0, "%s", e.msg);
        cr_assert_str_eq(t, x->valuestring, "template %s", x->string);
        cr_assert(strstr(names.buf, x->string), "%s not listed", x->string);
        free(t);
        n++;
    }
    cr_assert_eq(n, 11);
    kvb_strbuf_release(&names);
    cJSON_Delete(j);
}

Test(ruler_template, chat_and_defaults)
{
    char *t = NULL;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_ruler_model_template("chat", "chatml", &t, &e), 0, "%s", e.msg);
    kvb_strbuf want;
    kvb_strbuf_init(&want);
    cr_assert_eq(kvb_chat_template_apply("chatml", "{task_template}", &want, &e), 0);
    cr_assert_str_eq(t, want.buf);
    cr_assert(strstr(t, "<|im_start|>user\n{task_template}<|im_end|>"), "%s", t);
    free(t);
    kvb_strbuf_release(&want);
    cr_assert_neq(kvb_ruler_model_template("chat", NULL, &t, &e), 0, "no chat template: refused");
    cr_assert_neq(kvb_ruler_model_template("Base", NULL, &t, &e), 0, "names are case-sensitive");
    cr_assert(strstr(e.msg, "meta-llama3"), "the error lists the names: %s", e.msg);
    cr_assert_str_eq(kvb_ruler_default_template("chatml"), "chat");
    cr_assert_str_eq(kvb_ruler_default_template("none"), "base");
    cr_assert_str_eq(kvb_ruler_default_template(NULL), "base");
}

/* ---- the source ---------------------------------------------------------------------------- */

static kvb_tokenizer *llama2(void)
{
    kvb_tokenizer *t;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_tokenizer_load_hf(&t, "../shared/tokenizers/llama2-7b", &e), 0, "%s", e.msg);
    return t;
}

/* A source of niah_single_1 at 512 tokens (2 samples), or a skip without RULER's word lists. */
static int make(kvb_source *s, const kvb_tokenizer *tok, const char *tmpl, long seed)
{
    kvb_ruler_source_opts o = { .tok = tok, .add_bos = 1, .model_template = tmpl,
                                .num_samples = 2, .seed = seed };
    kvb_error e = { 0 };
    int rc = kvb_ruler_source_init(s, kvb_ruler_task_find("niah_single_1"), 512, &o, &e);
    const char *ci = getenv("CI");
    if (rc && strstr(e.msg, "make ruler-data") && !(ci && !strcmp(ci, "true")))
        cr_skip_test("RULER's word lists are not installed: %s", e.msg);
    cr_assert_eq(rc, 0, "%s", e.msg);
    return rc;
}

Test(ruler_source, items_as_call_api_feeds_them)
{
    kvb_tokenizer *tok = llama2();
    kvb_source s;
    make(&s, tok, "[INST] {task_template} [/INST]", 42);
    cr_assert_str_eq(s.task, "niah_single_1.512");
    cr_assert_str_eq(s.metric, "string_match_all");
    cr_assert_eq(s.max_new_tokens, 128);
    cr_assert_eq(s.n, 2);
    /* the samples themselves, generated again with the same settings */
    kvb_ruler_samples smp;
    kvb_ruler_gen_opts go = { .tok = tok, .max_seq_length = 512, .num_samples = 2,
                              .random_seed = 42, .model_template = "[INST] {task_template} [/INST]" };
    kvb_error e = { 0 };
    cr_assert_eq(kvb_ruler_generate(kvb_ruler_task_find("niah_single_1"), &go, &smp, &e), 0, "%s", e.msg);
    char prev[128] = "";
    for (long i = 0; i < s.n; i++) {
        const kvb_ruler_sample *x = &smp.s[i];
        kvb_ids ids, want;
        kvb_ids_init(&ids);
        kvb_ids_init(&want);
        cr_assert_eq(s.prompt(s.ctx, i, &ids, &e), 0, "%s", e.msg);
        kvb_strbuf p;
        kvb_strbuf_init(&p);
        kvb_strbuf_adds(&p, x->input);
        kvb_strbuf_adds(&p, x->answer_prefix);
        cr_assert_eq(kvb_tokenizer_encode(tok, p.buf, p.len, 0, &want, &e), 0);
        cr_assert_eq(ids.ids[0], kvb_tokenizer_bos(tok), "BOS first (Llama-2's tokenizer adds it)");
        cr_assert_eq(ids.n, want.n + 1);
        cr_assert(!memcmp(ids.ids + 1, want.ids, want.n * sizeof(int32_t)), "input + answer_prefix");
        /* RULER's length: the prompt's tokens (no special tokens) + tokens_to_generate */
        cr_assert_eq((long)want.n + 128, x->length, "sample %ld: %zu + 128 tokens, RULER says %ld",
                     i, want.n, x->length);
        cr_assert_leq(x->length, 512);
        char buf[128], want_id[128];
        const char *id = s.id(s.ctx, i, buf, sizeof(buf));
        snprintf(want_id, sizeof(want_id), "niah_single_1.512-%ld", x->index);
        cr_assert_str_eq(id, want_id);
        cr_assert_str_neq(id, prev);
        snprintf(prev, sizeof(prev), "%s", id);
        /* scores: the answer (as the model might say it) and nothing */
        double sc = -1;
        char said[256];
        snprintf(said, sizeof(said), "\n %s.\x01", x->outputs[0]);
        cr_assert_eq(s.score(s.ctx, i, said, &sc, &e), 0);
        cr_assert_eq(sc, 1.0);
        cr_assert_eq(s.score(s.ctx, i, "", &sc, &e), 0);
        cr_assert_eq(sc, 0.0);
        /* the prediction line's fields */
        cJSON *line = cJSON_CreateObject();
        kvb_run_record rec = { 0 };
        cr_assert_eq(s.fields(s.ctx, i, "", line, &rec, &e), 0);
        cr_assert_eq(rec.length, x->length);
        cr_assert_str_eq(cJSON_GetObjectItem(line, "answer_prefix")->valuestring, x->answer_prefix);
        cr_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(line, "outputs"), 0)->valuestring,
                         x->outputs[0]);
        cr_assert_eq(cJSON_GetObjectItem(line, "index")->valuedouble, (double)x->index);
        cJSON_Delete(line);
        kvb_strbuf_release(&p);
        kvb_ids_release(&ids);
        kvb_ids_release(&want);
    }
    kvb_ruler_samples_release(&smp);
    kvb_source_release(&s);
    kvb_tokenizer_free(tok);
}

Test(ruler_source, fingerprint_follows_seed_and_template)
{
    kvb_tokenizer *tok = llama2();
    kvb_source a, b, c, d;
    make(&a, tok, "{task_template}", 42);
    make(&b, tok, "{task_template}", 42);
    make(&c, tok, "{task_template}", 43);
    make(&d, tok, "[INST] {task_template} [/INST]", 42);
    cr_assert_str_eq(a.data_sha256, b.data_sha256, "deterministic");
    cr_assert_str_neq(a.data_sha256, c.data_sha256, "another seed is other data");
    cr_assert_str_neq(a.data_sha256, d.data_sha256, "another template is other data");
    cr_assert_eq(strlen(a.data_sha256), 64);
    kvb_source_release(&a);
    kvb_source_release(&b);
    kvb_source_release(&c);
    kvb_source_release(&d);
    kvb_tokenizer_free(tok);
}
