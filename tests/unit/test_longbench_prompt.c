/* Final LongBench prompt ids (template, middle truncation, chat template, re-tokenization) against
 * the fixtures scripts/oracle/prompt_fixtures.py made with Hugging Face tokenizers: every record
 * of ../shared/datasets/longbench-sample, each of the three shared tokenizers. Exact equality. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longbench/data.h"
#include "runner/generate.h"
#include "longbench/prompt.h"
#include "tokenizer/tokenizer.h"

static uint64_t fnv64_ids(const int32_t *ids, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        for (int b = 0; b < 4; b++)
            h = (h ^ ((v >> (8 * b)) & 0xff)) * 0x100000001b3ull;
    }
    return h;
}

static void expect_ids(const cJSON *arr, const int32_t *ids, size_t n, const char *what,
                       const char *id)
{
    cr_assert_eq((size_t)cJSON_GetArraySize(arr), n, "%s %s: length", id, what);
    size_t i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, arr)
    {
        cr_assert_eq((int32_t)x->valuedouble, ids[i], "%s %s: id %zu differs (%d vs HF %d)", id,
                     what, i, ids[i], (int)x->valuedouble);
        i++;
    }
}

static const kvb_lb_record *find_rec(kvb_lb_dataset *ds, int nds, const char *id)
{
    for (int d = 0; d < nds; d++)
        for (size_t i = 0; i < ds[d].n; i++)
            if (!strcmp(ds[d].recs[i].id, id))
                return &ds[d].recs[i];
    return NULL;
}

static void check_tokenizer(const char *name, const char *family)
{
    char dir[256], fix[256];
    snprintf(dir, sizeof(dir), "../shared/tokenizers/%s", name);
    snprintf(fix, sizeof(fix), "tests/fixtures/longbench/prompt_ids_%s.jsonl.gz", name);
    kvb_error e = { 0 };
    kvb_tokenizer *t;
    cr_assert_eq(kvb_tokenizer_load_hf(&t, dir, &e), 0, "%s", e.msg);
    int add_bos = kvb_tokenizer_default_add_bos(t, NULL, name);
    int cleanup = kvb_tokenizer_cleans_up_spaces(t);
    cr_assert_eq(cleanup, !strcmp(name, "llama3-8b"), "%s: clean_up_tokenization_spaces", name);
    static const char *const tasks[] = { "multifieldqa_zh", "passage_retrieval_zh" };
    kvb_lb_dataset ds[2];
    char *tmpl[2];
    for (int i = 0; i < 2; i++) {
        char p[256];
        snprintf(p, sizeof(p), "../shared/datasets/longbench-sample/%s.jsonl", tasks[i]);
        cr_assert_eq(kvb_lb_data_load(p, tasks[i], 0, &ds[i], &e), 0, "%s", e.msg);
        cr_assert_eq(kvb_lb_template_load("configs/longbench", tasks[i], &tmpl[i], &e), 0);
    }
    char *data;
    size_t len;
    cr_assert_eq(kvb_lb_read_maybe_gz(fix, &data, &len, &e), 0, "%s", e.msg);
    int rows = 0, truncated_rows = 0;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *row = cJSON_Parse(line);
        cr_assert_not_null(row);
        const char *task = cJSON_GetObjectItem(row, "task")->valuestring;
        const char *id = cJSON_GetObjectItem(row, "_id")->valuestring;
        int ti = !strcmp(task, tasks[0]) ? 0 : 1;
        const kvb_lb_record *r = find_rec(&ds[ti], 1, id);
        cr_assert_not_null(r, "record %s not in the sample", id);
        kvb_strbuf prompt;
        kvb_strbuf_init(&prompt);
        cr_assert_eq(kvb_lb_format(tmpl[ti], r, &prompt, &e), 0);
        kvb_lb_prompt_opts o = { (int)cJSON_GetObjectItem(row, "max_length")->valuedouble, family,
                                 add_bos, cleanup };
        /* the defaults read from the tokenizer files are what HF did */
        cr_assert_eq(add_bos, cJSON_IsTrue(cJSON_GetObjectItem(row, "add_bos")), "%s add_bos", name);
        kvb_ids ids;
        kvb_ids_init(&ids);
        int truncated;
        cr_assert_eq(kvb_lb_prompt_ids(t, prompt.buf, prompt.len, &o, &ids, &truncated, &e), 0, "%s", e.msg);
        cr_assert_eq(truncated, cJSON_IsTrue(cJSON_GetObjectItem(row, "truncated")), "%s %s", name, id);
        truncated_rows += truncated;
        const cJSON *full = cJSON_GetObjectItem(row, "ids");
        if (full) {
            expect_ids(full, ids.ids, ids.n, name, id);
        } else {
            cr_assert_eq(ids.n, (size_t)cJSON_GetObjectItem(row, "n")->valuedouble,
                         "%s %s: %zu ids, HF has %d", name, id, ids.n,
                         (int)cJSON_GetObjectItem(row, "n")->valuedouble);
            cr_assert(ids.n >= 32);
            expect_ids(cJSON_GetObjectItem(row, "head"), ids.ids, 32, "head", id);
            expect_ids(cJSON_GetObjectItem(row, "tail"), ids.ids + ids.n - 32, 32, "tail", id);
        }
        char hex[32];
        snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)fnv64_ids(ids.ids, ids.n));
        cr_assert_str_eq(hex, cJSON_GetObjectItem(row, "fnv64")->valuestring, "%s %s", name, id);
        kvb_ids_release(&ids);
        kvb_strbuf_release(&prompt);
        cJSON_Delete(row);
        rows++;
    }
    cr_assert_eq(rows, 400, "%s: fixture rows", name);
    cr_log_info("%s: %d records, %d truncated, all identical to HF", name, rows, truncated_rows);
    free(data);
    for (int i = 0; i < 2; i++) {
        kvb_lb_dataset_release(&ds[i]);
        free(tmpl[i]);
    }
    kvb_tokenizer_free(t);
}

Test(longbench_prompt_ids, hf_cleanup_spaces)
{
    kvb_strbuf s;
    kvb_strbuf_init(&s);
    kvb_strbuf_adds(&s, "a . b ? c ! d , e ' f do n't I 'm it 's we 've they 're  ..");
    kvb_tokenizer_clean_up_spaces(&s, 0);
    /* as transformers' clean_up_tokenization: sequential str.replace */
    cr_assert_str_eq(s.buf, "a. b? c! d, e'f don't I'm it's we've they're ..");
    kvb_strbuf_release(&s);
}

/* pred.py: llama2 -> "[INST]{prompt}[/INST]"; llama3 and mistral keys get no template. */
Test(longbench_prompt_ids, llama2_7b, .timeout = 300) { check_tokenizer("llama2-7b", "llama2"); }
Test(longbench_prompt_ids, llama3_8b, .timeout = 300) { check_tokenizer("llama3-8b", NULL); }
Test(longbench_prompt_ids, mistral_7b, .timeout = 300) { check_tokenizer("mistral-7b", NULL); }
