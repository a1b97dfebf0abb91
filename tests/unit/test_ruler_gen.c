/* lib/ruler's generator against RULER's own (scripts/oracle/ruler_gen.py ran RULER's prepare.py
 * on the same essays, word lists, punkt parameters and SmolLM2 tokenizer; tests/fixtures/ruler/
 * gen.json). Exact: for every task, length and variant, each sample's input has the same sha256
 * (byte-identical prompt), the same outputs, length and answer prefix. Then the task table, the
 * Python string helpers, the needle structure, and bad input (one error naming the problem). */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/sha256.h"
#include "ruler/gen_internal.h"
#include "ruler/gen_words.h"

#define FIXTURE "tests/fixtures/ruler/gen.json"
#define ESSAYS "../shared/datasets/paul-graham-essays"
#define SMOL "models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf"

static kvb_tokenizer *smol(void)
{
    kvb_tokenizer *t;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_tokenizer_load_path(&t, SMOL, &e), 0, "%s (run `make model`)", e.msg);
    return t;
}

static kvb_ruler_gen_opts opts(const kvb_tokenizer *t, int length, long n)
{
    kvb_ruler_gen_opts o = { .tok = t, .max_seq_length = length, .num_samples = n,
                             .random_seed = 42, .essays_path = ESSAYS };
    return o;
}

static const cJSON *get(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    cr_assert(v, "fixture: no \"%s\"", k);
    return v;
}

/* ---- against RULER ------------------------------------------------------------------------- */
static void check_case(const kvb_tokenizer *tok, const cJSON *c)
{
    const char *task = get(c, "task")->valuestring;
    int length = (int)get(c, "length")->valuedouble;
    const cJSON *samples = get(c, "samples");
    kvb_ruler_gen_opts o = opts(tok, length, cJSON_GetArraySize(samples));
    o.model_template = get(c, "model_template")->valuestring;
    o.remove_newline_tab = cJSON_IsTrue(get(c, "remove_newline_tab"));
    if (!strcmp(task, "qa_1"))
        o.qa_path = "tests/fixtures/ruler/qa_squad.json";
    if (!strcmp(task, "qa_2"))
        o.qa_path = "tests/fixtures/ruler/qa_hotpotqa.json";
    const char *variant = get(c, "model_template_type")->valuestring;
    kvb_ruler_samples s;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_ruler_generate(kvb_ruler_task_find(task), &o, &s, &e), 0, "%s %d: %s", task,
                 length, e.msg);
    cr_assert_eq(s.n, o.num_samples);
    long i = 0;
    for (const cJSON *x = samples->child; x; x = x->next, i++) {
        const kvb_ruler_sample *y = &s.s[i];
        char hex[65];
        kvb_sha256_hex(y->input, strlen(y->input), hex);
        cr_expect_eq(y->length, (long)get(x, "length")->valuedouble, "%s %d %s #%ld: length",
                     task, length, variant, i);
        cr_expect_str_eq(y->answer_prefix, get(x, "answer_prefix")->valuestring,
                         "%s %d %s #%ld: answer prefix", task, length, variant, i);
        const cJSON *outs = get(x, "outputs");
        cr_assert_eq(y->n_outputs, cJSON_GetArraySize(outs), "%s %d #%ld: outputs", task, length,
                     i);
        int k = 0;
        for (const cJSON *out = outs->child; out; out = out->next, k++)
            cr_expect_str_eq(y->outputs[k], out->valuestring, "%s %d #%ld: output %d", task,
                             length, i, k);
        cr_expect_str_eq(hex, get(x, "sha256")->valuestring, "%s %d %s #%ld: input differs "
                         "(%zu bytes here)", task, length, variant, i, strlen(y->input));
    }
    kvb_ruler_samples_release(&s);
}

Test(ruler_gen, identical_to_ruler)
{
    cJSON *j = NULL;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_json_load(FIXTURE, 1 << 24, &j, &e), 0, "%s", e.msg);
    kvb_tokenizer *t = smol();
    int n = 0, tasks[16] = { 0 };
    for (const cJSON *c = get(j, "cases")->child; c; c = c->next, n++) {
        check_case(t, c);
        const kvb_ruler_task *task = kvb_ruler_task_find(get(c, "task")->valuestring);
        for (int i = 0; i < kvb_ruler_task_count(); i++)
            tasks[i] += kvb_ruler_task_at(i) == task;
    }
    for (int i = 0; i < kvb_ruler_task_count(); i++) /* every task is covered */
        cr_expect(tasks[i] >= 2, "%s: %d cases", kvb_ruler_task_name(kvb_ruler_task_at(i)),
                  tasks[i]);
    cr_expect_eq((int)get(get(j, "essays"), "files")->valuedouble, 49);
    kvb_tokenizer_free(t);
    cJSON_Delete(j);
}

/* ---- the task table ------------------------------------------------------------------------ */
Test(ruler_gen, task_table)
{
    static const char *const names[] = { "niah_single_1", "niah_single_2", "niah_single_3",
        "niah_multikey_1", "niah_multikey_2", "niah_multikey_3", "niah_multivalue",
        "niah_multiquery", "vt", "cwe", "fwe", "qa_1", "qa_2" };
    cr_assert_eq(kvb_ruler_task_count(), 13);
    for (int i = 0; i < 13; i++) {
        const kvb_ruler_task *t = kvb_ruler_task_at(i);
        cr_assert_str_eq(kvb_ruler_task_name(t), names[i]);
        cr_assert_eq(kvb_ruler_task_find(names[i]), t);
        cr_assert_str_eq(kvb_ruler_task_metric(t), i >= 11 ? "string_match_part"
                                                           : "string_match_all");
        cr_assert_eq(kvb_ruler_task_needs_data(t), i >= 11);
    }
    cr_assert_null(kvb_ruler_task_find("niah_single_4"));
    cr_assert_null(kvb_ruler_task_at(13));
    cr_assert_eq(kvb_ruler_task_tokens_to_generate(kvb_ruler_task_find("niah_single_1")), 128);
    cr_assert_eq(kvb_ruler_task_tokens_to_generate(kvb_ruler_task_find("vt")), 30);
    cr_assert_eq(kvb_ruler_task_tokens_to_generate(kvb_ruler_task_find("cwe")), 120);
    cr_assert_eq(kvb_ruler_task_tokens_to_generate(kvb_ruler_task_find("fwe")), 50);
    cr_assert_eq(kvb_ruler_task_tokens_to_generate(kvb_ruler_task_find("qa_2")), 32);
}

/* ---- Python semantics ---------------------------------------------------------------------- */
Test(ruler_gen, python_strings)
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    kvb_error e = { 0 };
    rg_kv kv[] = { { "a", "x{y}" }, { "bb", "" } };
    cr_assert_eq(rg_format("{a}-{{a}}-{bb}}}", kv, 2, &sb, &e), 0, "%s", e.msg);
    cr_assert_str_eq(sb.buf, "x{y}-{a}-}");
    sb.len = 0;
    cr_assert_neq(rg_format("{c}", kv, 2, &sb, &e), 0);
    cr_assert(strstr(e.msg, "'c'"), "%s", e.msg);
    cr_assert_neq(rg_format("a } b", kv, 2, &sb, &e), 0);
    cr_assert_neq(rg_format("{a!r}", kv, 2, &sb, &e), 0);
    kvb_strbuf_release(&sb);
    char *r = rg_replace("are all are", "are", "is");
    cr_assert_str_eq(r, "is all is");
    free(r);
    /* str.split() whitespace includes U+00A0 and U+3000, not U+200B */
    r = rg_remove_newline_tab("\t a\n\nb\xc2\xa0" "c\xe3\x80\x80" "d\xe2\x80\x8b" "e  ");
    cr_assert_str_eq(r, "a b c d\xe2\x80\x8b" "e");
    free(r);
    size_t a, b;
    rg_strip(" \xc2\xa0x y\n", 7, &a, &b);
    cr_assert_eq(a, 3);
    cr_assert_eq(b, 6);
    /* 4096 // 3.6 == 1137.0 in Python; 7.0 // 0.1 == 69.0 (fmod, not floor(7.0 / 0.1) = 70) */
    cr_assert_eq(rg_py_floordiv(4096, 3.6), 1137.0);
    cr_assert_eq(rg_py_floordiv(7.0, 0.1), 69.0);
}

/* the adjective-noun needles: the lazily laid-out list equals sorted(set(...)) built outright */
static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

Test(ruler_gen, word_pairs)
{
    static char *adj[] = { "blue", "blue-eyed", "o", "red" };
    static char *noun[] = { "apple", "cat", "eyed-cat" };
    rg_words A = { adj, 4, NULL }, N = { noun, 3, NULL };
    rg_pairs p;
    cr_assert_eq(rg_pairs_init(&p, &A, &N), 0);
    char store[12][32], *all[12], buf[64];
    int n = 0;
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++, n++) {
            snprintf(store[n], 32, "%s-%s", adj[i], noun[k]);
            all[n] = store[n];
        }
    qsort(all, 12, sizeof *all, cmp_str);
    int u = 1;
    for (int i = 1; i < 12; i++)
        if (strcmp(all[i], all[u - 1]))
            all[u++] = all[i];
    cr_assert_eq(p.total, (size_t)u); /* "blue-eyed-cat" is made twice */
    cr_assert_eq(u, 11);
    for (int i = 0; i < u; i++) {
        cr_assert_eq(rg_pairs_get(&p, (size_t)i, buf, sizeof buf), 0);
        cr_assert_str_eq(buf, all[i], "#%d", i);
    }
    cr_assert_neq(rg_pairs_get(&p, 0, buf, 4), 0);
    rg_pairs_release(&p);
}

/* ---- structure, where a fixture would only restate the generator ----------------------------- */
/* niah_multivalue at 8192: four needles of one key, each once, the query's key in the answer
 * prefix, the prompt within the length (RULER's rule: tokens + tokens_to_generate <= length). */
Test(ruler_gen, structure_8k)
{
    kvb_tokenizer *t = smol();
    kvb_ruler_gen_opts o = opts(t, 8192, 2);
    kvb_ruler_samples s;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_ruler_generate(kvb_ruler_task_find("niah_multivalue"), &o, &s, &e), 0, "%s",
                 e.msg);
    cr_assert_eq(s.essays_wrapped, 0);
    for (long i = 0; i < s.n; i++) {
        const kvb_ruler_sample *x = &s.s[i];
        cr_assert_eq(x->n_outputs, 4);
        for (int k = 0; k < 4; k++) {
            const char *at = strstr(x->input, x->outputs[k]);
            cr_assert(at && !strstr(at + 1, x->outputs[k]), "value %s not there exactly once",
                      x->outputs[k]);
        }
        kvb_ids ids;
        kvb_ids_init(&ids);
        cr_assert_eq(kvb_tokenizer_encode(t, x->input, strlen(x->input), 0, &ids, &e), 0);
        /* a sample over the length is retried with 500 essay words (~700 tokens) fewer */
        cr_assert(x->length <= 8192 && (long)ids.n + 128 < x->length && x->length > 8192 - 1000,
                  "length %ld, input %zu tokens", x->length, ids.n);
        kvb_ids_release(&ids);
        cr_assert(strstr(x->answer_prefix, " The special magic numbers for ") == x->answer_prefix);
    }
    kvb_ruler_samples_release(&s);
    kvb_tokenizer_free(t);
}

/* the essays as RULER's PaulGrahamEssays.json ({"text": ...}) give the samples the directory
 * gives; a haystack longer than the essays is flagged */
Test(ruler_gen, essays_json)
{
    kvb_tokenizer *t = smol();
    kvb_ruler_gen_opts o = opts(t, 1024, 1);
    kvb_ruler_samples a, b;
    kvb_error e = { 0 };
    const kvb_ruler_task *task = kvb_ruler_task_find("niah_single_3");
    cr_assert_eq(kvb_ruler_generate(task, &o, &a, &e), 0, "%s", e.msg);
    rg_words w;
    cr_assert_eq(rg_essay_words_load(&o, &w, &e), 0, "%s", e.msg);
    cr_assert_eq(w.n, 111877); /* RULER's split of the 49 essays */
    cr_assert_str_eq(w.w[0], "July");
    cr_assert_str_eq(w.w[w.n - 1], "this.");
    rg_words_release(&w);
    /* the JSON RULER's download script writes: the sorted files' text, concatenated */
    kvb_strbuf text;
    kvb_strbuf_init(&text);
    static const char *const two_essays[] = { "nft.txt", "todo.txt" }; /* 536 words */
    for (int i = 0; i < 2; i++) {
        char path[256], *data;
        size_t len;
        snprintf(path, sizeof path, "%s/%s", ESSAYS, two_essays[i]);
        cr_assert_eq(kvb_read_file(path, 1 << 24, &data, &len, &e), 0, "%s", e.msg);
        cr_assert_eq(kvb_strbuf_add(&text, data, len), 0);
        free(data);
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "text", text.buf);
    char *js = cJSON_PrintUnformatted(j), path[] = "/tmp/kvb_ruler_essays_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0 && js);
    cr_assert_eq(write(fd, js, strlen(js)), (ssize_t)strlen(js));
    close(fd);
    char dir[] = "/tmp/kvb_ruler_two_XXXXXX", src[512], dst[600];
    cr_assert(mkdtemp(dir));
    for (int i = 0; i < 2; i++) { /* the same two essays as a directory */
        snprintf(dst, sizeof dst, "%s/%s", ESSAYS, two_essays[i]);
        cr_assert(realpath(dst, src));
        snprintf(dst, sizeof dst, "%s/%s", dir, two_essays[i]);
        cr_assert_eq(symlink(src, dst), 0);
    }
    o.essays_path = path;
    cr_assert_eq(rg_essay_words_load(&o, &w, &e), 0, "%s", e.msg);
    size_t two = w.n;
    rg_words_release(&w);
    cr_assert(two > 500 && two < 600, "%zu words", two);
    /* 4096 tokens need more words than two essays hold: RULER's repeat rule, flagged; the JSON
     * and the directory give the same bytes */
    o.max_seq_length = 4096;
    cr_assert_eq(kvb_ruler_generate(task, &o, &b, &e), 0, "%s", e.msg);
    cr_assert_eq(b.essays_wrapped, 1);
    cr_assert_eq(a.essays_wrapped, 0);
    kvb_ruler_samples c;
    o.essays_path = dir;
    cr_assert_eq(kvb_ruler_generate(task, &o, &c, &e), 0, "%s", e.msg);
    cr_assert_str_eq(c.s[0].input, b.s[0].input);
    cr_assert_str_eq(c.s[0].outputs[0], b.s[0].outputs[0]);
    kvb_ruler_samples_release(&c);
    kvb_ruler_samples_release(&b);
    for (int i = 0; i < 2; i++) {
        snprintf(dst, sizeof dst, "%s/%s", dir, two_essays[i]);
        unlink(dst);
    }
    rmdir(dir);
    unlink(path);
    free(js);
    cJSON_Delete(j);
    kvb_strbuf_release(&text);
    kvb_ruler_samples_release(&a);
    kvb_tokenizer_free(t);
}

/* ---- bad input: one error naming the problem ------------------------------------------------ */
static void expect_error(const char *task, kvb_ruler_gen_opts o, const char *needle)
{
    kvb_ruler_samples s;
    kvb_error e = { 0 };
    int rc = kvb_ruler_generate(kvb_ruler_task_find(task), &o, &s, &e);
    cr_assert_neq(rc, 0, "%s: no error", task ? task : "(null)");
    cr_assert_eq(kvb_exit_status(rc), 2, "%s: rc %d (%s)", task ? task : "(null)", rc, e.msg);
    cr_assert(strstr(e.msg, needle), "%s: \"%s\" lacks \"%s\"", task ? task : "(null)", e.msg,
              needle);
    cr_assert_null(strchr(e.msg, '\n'));
    cr_assert_null(s.s);
}

Test(ruler_gen, bad_input)
{
    kvb_tokenizer *t = smol();
    kvb_error e = { 0 };
    expect_error("niah_single_9", opts(t, 4096, 1), "unknown task");
    expect_error("niah_single_1", opts(t, 100, 1), "too small");
    expect_error("fwe", opts(t, 120, 1), "too small");
    expect_error("cwe", opts(t, 400, 1), "too small"); /* its worked example alone is longer */
    expect_error("qa_1", opts(t, 4096, 1), "SQuAD");
    kvb_ruler_gen_opts o = opts(t, 4096, 1);
    o.words_dir = "/nonexistent-ruler-data";
    expect_error("niah_single_1", o, "/nonexistent-ruler-data/nounlist.txt: missing");
    expect_error("cwe", o, "nounlist.txt");
    char dir[] = "/tmp/kvb_ruler_words_XXXXXX", src[512], dst[600];
    cr_assert(mkdtemp(dir));
    static const char *const lists[] = { "nounlist.txt", "adjectivelist.txt", "verblist.txt" };
    for (int i = 0; i < 3; i++) { /* the word lists, but no punkt parameters */
        char *words = rg_data_file(&o, lists[i], &e);
        cr_assert(!words);
        kvb_ruler_gen_opts d = opts(t, 4096, 1);
        cr_assert((words = rg_data_file(&d, lists[i], &e)), "%s", e.msg);
        cr_assert(realpath(words, src));
        snprintf(dst, sizeof dst, "%s/%s", dir, lists[i]);
        cr_assert_eq(symlink(src, dst), 0);
        free(words);
    }
    o.words_dir = dir;
    expect_error("niah_single_2", o, "punkt_tab/english/ortho_context.tab: missing");
    for (int i = 0; i < 3; i++) {
        snprintf(dst, sizeof dst, "%s/%s", dir, lists[i]);
        unlink(dst);
    }
    rmdir(dir);
    o = opts(t, 4096, 1);
    o.essays_path = "/nonexistent-essays.json";
    expect_error("niah_single_2", o, "/nonexistent-essays.json");
    o = opts(t, 4096, 1);
    o.model_template = "<s>{prompt}</s>";
    expect_error("vt", o, "'prompt'");
    /* malformed qa files: not JSON, the wrong format, too few questions */
    static const struct { const char *text, *task, *msg; } qa[] = {
        { "{\"data\": [", "qa_1", "not valid JSON" },
        { "[]", "qa_1", "no 'data' list" },
        { "{\"data\": [{\"paragraphs\": [{\"context\": \"c\"}]}]}", "qa_1", "item 0" },
        { "{\"data\": [{\"paragraphs\": [{\"context\": \"c\", \"qas\": [{\"question\": \"q\", "
          "\"answers\": [{\"text\": \"a\"}]}]}]}]}", "qa_1", "is_impossible" },
        { "{\"data\": []}", "qa_1", "0 answerable questions" },
        { "[{\"question\": \"q\", \"answer\": \"a\", \"context\": [[\"t\"]]}]", "qa_2",
          "[title, [sentences]]" },
    };
    for (size_t i = 0; i < KVB_ARRAY_SIZE(qa); i++) {
        char path[] = "/tmp/kvb_ruler_qa_XXXXXX";
        int fd = mkstemp(path);
        cr_assert(fd >= 0);
        cr_assert_eq(write(fd, qa[i].text, strlen(qa[i].text)), (ssize_t)strlen(qa[i].text));
        close(fd);
        o = opts(t, 4096, 1);
        o.qa_path = path;
        expect_error(qa[i].task, o, qa[i].msg);
        unlink(path);
    }
    kvb_tokenizer_free(t);
}
