/* Unit tests of lib/longbench data reading, prompt templates, the niah scorer and sha256. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/sha256.h"
#include "longbench/data.h"
#include "longbench/niah.h"
#include "longbench/prompt.h"

#define GOOD "{\"input\": \"q\", \"context\": \"ctx\", \"answers\": [\"a\", \"b\"], \"length\": 12, " \
             "\"dataset\": \"trec\", \"language\": \"en\", \"all_classes\": [\"x\"], \"_id\": \"id1\"}"

static char tmpdir[64];

static void mk_tmp(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/kvb-lbdata-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static char *write_tmp(const char *name, const void *data, size_t n)
{
    char *p = kvb_path_join(tmpdir, name);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    fwrite(data, 1, n, f);
    fclose(f);
    return p;
}

static void rm_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(longbench_data, .init = mk_tmp, .fini = rm_tmp);

Test(longbench_data, parses_a_good_record)
{
    kvb_lb_record r;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_lb_record_parse(GOOD, strlen(GOOD), "trec", "f.jsonl", 3, &r, &e), 0, "%s", e.msg);
    cr_assert_str_eq(r.id, "id1");
    cr_assert_str_eq(r.context, "ctx");
    cr_assert_eq(r.n_answers, 2);
    cr_assert_str_eq(r.answers[1], "b");
    cr_assert_eq(r.n_classes, 1);
    cr_assert_eq(r.length, 12);
    cr_assert_eq(r.line, 3);
    kvb_lb_record_release(&r);
}

static void expect_bad(const char *line, const char *task, const char *needle)
{
    kvb_lb_record r;
    kvb_error e = { 0 };
    int rc = kvb_lb_record_parse(line, strlen(line), task, "x.jsonl", 7, &r, &e);
    cr_assert_eq(rc, KVB_EINVAL, "accepted: %s", line);
    cr_assert(strstr(e.msg, "x.jsonl:7") != NULL, "message lacks file:line: %s", e.msg);
    cr_assert(strstr(e.msg, needle) != NULL, "message '%s' lacks '%s'", e.msg, needle);
}

Test(longbench_data, refuses_bad_records_naming_file_and_line)
{
    expect_bad("not json", "trec", "not valid JSON");
    expect_bad("[1,2]", "trec", "not a JSON object");
    expect_bad("{\"input\":\"q\",\"answers\":[\"a\"],\"length\":1}", "trec", "'context' is missing");
    expect_bad("{\"context\":\"c\",\"answers\":[\"a\"],\"length\":1}", "trec", "'input' is missing");
    expect_bad("{\"context\":\"c\",\"input\":\"q\",\"length\":1}", "trec", "'answers' is missing");
    expect_bad("{\"context\":5,\"input\":\"q\",\"answers\":[\"a\"],\"length\":1}", "trec", "'context' is not a string");
    expect_bad("{\"context\":\"c\",\"input\":\"q\",\"answers\":\"a\",\"length\":1}", "trec", "'answers' is not a list");
    expect_bad("{\"context\":\"c\",\"input\":\"q\",\"answers\":[1],\"length\":1}", "trec", "item 0 is not a string");
    expect_bad("{\"context\":\"c\",\"input\":\"q\",\"answers\":[],\"length\":1}", "trec", "'answers' is empty");
    expect_bad("{\"context\":\"c\",\"input\":\"q\",\"answers\":[\"a\"],\"length\":1.5}", "trec", "'length'");
    expect_bad("{\"context\":\"c\",\"input\":\"q\",\"answers\":[\"a\"]}", "trec", "'length' is missing");
    expect_bad("{\"context\":\"c\",\"input\":\"q\",\"answers\":[\"a\"],\"length\":1,\"all_classes\":[2]}", "trec", "all_classes");
    expect_bad("{\"context\":\"c\",\"input\":\"q\",\"answers\":[\"a\"],\"length\":1,\"dataset\":\"lcc\"}", "trec", "record of task 'lcc'");
    expect_bad("{\"context\":\"\xff\",\"input\":\"q\",\"answers\":[\"a\"],\"length\":1}", "trec", "UTF-8");
}

Test(longbench_data, e_suffix_matches_and_missing_id_is_made_up)
{
    const char *l = "{\"context\":\"c\",\"input\":\"q\",\"answers\":[\"a\"],\"length\":1,\"dataset\":\"trec_e\"}";
    kvb_lb_record r;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_lb_record_parse(l, strlen(l), "trec", "f", 4, &r, &e), 0, "%s", e.msg);
    cr_assert_str_eq(r.id, "trec-line4");
    cr_assert_eq(r.n_classes, -1);
    kvb_lb_record_release(&r);
}

Test(longbench_data, loads_files_and_reports_the_line)
{
    const char text[] = GOOD "\n\n" GOOD "\n";
    char *p = write_tmp("trec.jsonl", text, sizeof(text) - 1);
    kvb_lb_dataset ds;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_lb_data_load(p, "trec", 0, &ds, &e), 0, "%s", e.msg);
    cr_assert_eq(ds.n, 2);
    cr_assert_eq(ds.recs[1].line, 3);
    char hex[65];
    kvb_sha256_hex(text, sizeof(text) - 1, hex);
    cr_assert_str_eq(ds.sha256, hex);
    kvb_lb_dataset_release(&ds);
    free(p);

    const char bad[] = GOOD "\n{oops\n" GOOD "\n";
    p = write_tmp("bad.jsonl", bad, sizeof(bad) - 1);
    cr_assert_eq(kvb_lb_data_load(p, "trec", 0, &ds, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "bad.jsonl:2: not valid JSON") != NULL, "%s", e.msg);
    /* --skip-bad-records: counted, the rest read */
    cr_assert_eq(kvb_lb_data_load(p, "trec", 1, &ds, &e), 0, "%s", e.msg);
    cr_assert_eq(ds.n, 2);
    cr_assert_eq(ds.n_bad, 1);
    cr_assert(strstr(ds.first_bad, ":2:") != NULL);
    kvb_lb_dataset_release(&ds);
    free(p);

    p = write_tmp("empty.jsonl", "", 0);
    cr_assert_eq(kvb_lb_data_load(p, "trec", 0, &ds, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "empty.jsonl: empty file") != NULL, "%s", e.msg);
    free(p);
}

static size_t gzip_buf(const char *in, size_t n, unsigned char *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    cr_assert_eq(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t got = cap - z.avail_out;
    deflateEnd(&z);
    return got;
}

Test(longbench_data, gzip_ok_truncated_and_corrupt)
{
    char text[4096] = "";
    for (int i = 0; i < 8; i++)
        strcat(text, GOOD "\n");
    unsigned char gz[8192];
    size_t n = gzip_buf(text, strlen(text), gz, sizeof(gz));
    char *p = write_tmp("trec.jsonl.gz", gz, n);
    kvb_lb_dataset ds;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_lb_data_load(p, "trec", 0, &ds, &e), 0, "%s", e.msg);
    cr_assert_eq(ds.n, 8);
    kvb_lb_dataset_release(&ds);
    free(p);
    p = write_tmp("cut.jsonl.gz", gz, n / 2);
    cr_assert_eq(kvb_lb_data_load(p, "trec", 0, &ds, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "cut.jsonl.gz") && strstr(e.msg, "truncated"), "%s", e.msg);
    free(p);
    gz[n / 2] ^= 0x55;
    gz[n / 2 + 1] ^= 0xaa;
    p = write_tmp("corrupt.jsonl.gz", gz, n);
    cr_assert_neq(kvb_lb_data_load(p, "trec", 0, &ds, &e), 0);
    cr_assert(strstr(e.msg, "corrupt.jsonl.gz") != NULL, "%s", e.msg);
    free(p);
}

Test(longbench_data, zip_members_deflated_and_stored)
{
    char *d;
    size_t n;
    kvb_error e = { 0 };
    const char *zip = "tests/fixtures/longbench/data.zip";
    cr_assert_eq(kvb_lb_zip_read(zip, "data/trec.jsonl", &d, &n, &e), 0, "%s", e.msg);
    cr_assert(n > 100 && strstr(d, "\"_id\": \"z2\"") != NULL);
    free(d);
    cr_assert_eq(kvb_lb_zip_read(zip, "data/lcc.jsonl", &d, &n, &e), 0, "%s", e.msg);
    cr_assert(strstr(d, "\"lcc\"") != NULL);
    free(d);
    cr_assert_eq(kvb_lb_zip_read(zip, "data/none.jsonl", &d, &n, &e), KVB_EIO);
    /* discovery finds the member through data.zip in --data DIR */
    char *path;
    cr_assert_eq(kvb_lb_data_find("trec", "tests/fixtures/longbench", 0, &path, &e), 0, "%s", e.msg);
    cr_assert_str_eq(path, "tests/fixtures/longbench/data.zip:data/trec.jsonl");
    kvb_lb_dataset ds;
    cr_assert_eq(kvb_lb_data_load(path, "trec", 0, &ds, &e), 0, "%s", e.msg);
    cr_assert_eq(ds.n, 3);
    kvb_lb_dataset_release(&ds);
    free(path);
}

Test(longbench_data, discovery_order)
{
    char *path;
    kvb_error e = { 0 };
    /* an explicit --data DIR is the only place searched */
    cr_assert_eq(kvb_lb_data_find("trec", tmpdir, 0, &path, &e), KVB_EIO);
    cr_assert(strstr(e.msg, tmpdir) != NULL);
    char *p = write_tmp("trec_e.jsonl", GOOD "\n", strlen(GOOD) + 1);
    cr_assert_eq(kvb_lb_data_find("trec", tmpdir, 1, &path, &e), 0, "%s", e.msg);
    cr_assert_str_eq(path, p);
    free(path);
    free(p);
    /* a hermetic tree: <tmp>/repo is the working directory, <tmp>/shared the shared data */
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %s/repo/datasets/longbench %s/shared/datasets/longbench-sample %s/env",
             tmpdir, tmpdir, tmpdir);
    cr_assert_eq(system(cmd), 0);
    char *a = write_tmp("shared/datasets/longbench-sample/qasper.jsonl", GOOD "\n", strlen(GOOD) + 1);
    char *b = write_tmp("repo/datasets/longbench/hotpotqa.jsonl.gz", "x", 1);
    char *c = write_tmp("shared/datasets/longbench-sample/hotpotqa.jsonl", GOOD "\n", strlen(GOOD) + 1);
    char *d = write_tmp("env/hotpotqa.jsonl", GOOD "\n", strlen(GOOD) + 1);
    char *repo = kvb_path_join(tmpdir, "repo"), *env = kvb_path_join(tmpdir, "env");
    cr_assert_eq(chdir(repo), 0);
    unsetenv("KVBENCH_DATA");
    setenv("HF_HUB_CACHE", tmpdir, 1); /* no THUDM snapshot there */
    /* the shared sample is the last resort */
    cr_assert_eq(kvb_lb_data_find("qasper", NULL, 0, &path, &e), 0, "%s", e.msg);
    cr_assert_str_eq(path, "../shared/datasets/longbench-sample/qasper.jsonl");
    free(path);
    /* ./datasets/longbench comes before it */
    cr_assert_eq(kvb_lb_data_find("hotpotqa", NULL, 0, &path, &e), 0, "%s", e.msg);
    cr_assert_str_eq(path, "datasets/longbench/hotpotqa.jsonl.gz");
    free(path);
    /* and $KVBENCH_DATA before everything */
    setenv("KVBENCH_DATA", env, 1);
    cr_assert_eq(kvb_lb_data_find("hotpotqa", NULL, 0, &path, &e), 0, "%s", e.msg);
    cr_assert_str_eq(path, d);
    free(path);
    unsetenv("KVBENCH_DATA");
    cr_assert_eq(kvb_lb_data_find("narrativeqa", NULL, 0, &path, &e), KVB_EIO);
    cr_assert(strstr(e.msg, "fetch_longbench.sh") != NULL, "%s", e.msg);
    cr_assert_eq(kvb_lb_data_find("../etc", NULL, 0, &path, &e), KVB_EINVAL);
    free(a), free(b), free(c), free(d), free(repo), free(env);
}

Test(longbench_data, hub_cache_snapshot)
{
    char d[256];
    snprintf(d, sizeof(d), "mkdir -p %s/datasets--THUDM--LongBench/snapshots/abc/data "
                           "%s/datasets--THUDM--LongBench/refs",
             tmpdir, tmpdir);
    cr_assert_eq(system(d), 0);
    char *p = write_tmp("datasets--THUDM--LongBench/snapshots/abc/data/qasper.jsonl", GOOD "\n",
                        strlen(GOOD) + 1);
    char *r = write_tmp("datasets--THUDM--LongBench/refs/main", "abc\n", 4);
    unsetenv("KVBENCH_DATA");
    setenv("HF_HUB_CACHE", tmpdir, 1);
    char *path;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_lb_data_find("qasper", NULL, 0, &path, &e), 0, "%s", e.msg);
    cr_assert_str_eq(path, p);
    free(path);
    free(p);
    free(r);
}

/* ---- prompt templates ---------------------------------------------------------------------- */

static kvb_lb_record rec_of(char *ctx, char *input)
{
    kvb_lb_record r;
    memset(&r, 0, sizeof(r));
    r.context = ctx;
    r.input = input;
    r.context_len = strlen(ctx);
    r.input_len = strlen(input);
    r.id = (char *)"x";
    r.length = 42;
    r.n_classes = -1;
    return r;
}

Test(longbench_prompt, str_format_semantics)
{
    kvb_lb_record r = rec_of((char *)"C {input} }{", (char *)"I");
    kvb_strbuf sb;
    kvb_error e = { 0 };
    kvb_strbuf_init(&sb);
    /* substituted text is never re-scanned; {{ }} are literal braces */
    cr_assert_eq(kvb_lb_format("a{context}b{input}{{x}}{length}", &r, &sb, &e), 0, "%s", e.msg);
    cr_assert_str_eq(sb.buf, "aC {input} }{bI{x}42");
    kvb_strbuf_release(&sb);
    cr_assert_eq(kvb_lb_format("x}y", &r, &sb, &e), KVB_EINVAL);
    cr_assert_eq(kvb_lb_format("x{y", &r, &sb, &e), KVB_EINVAL);
    cr_assert_eq(kvb_lb_format("{nope}", &r, &sb, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "{nope}") != NULL);
    cr_assert_eq(kvb_lb_format("{context:>5}", &r, &sb, &e), KVB_EINVAL);
    kvb_strbuf_release(&sb);
}

Test(longbench_prompt, templates_as_longbench_ships_them)
{
    char *t;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_lb_template_load("configs/longbench", "narrativeqa", &t, &e), 0, "%s", e.msg);
    /* the upstream typo is kept for score parity */
    cr_assert(strstr(t, "Answer the question asconcisely as you can") != NULL);
    free(t);
    cr_assert_eq(kvb_lb_template_load("configs/longbench", "repobench-p_e", &t, &e), 0, "%s", e.msg);
    cr_assert_str_eq(t, "Please complete the code given below. \n{context}{input}Next line of code:\n");
    free(t);
    cr_assert_eq(kvb_lb_template_load("configs/longbench", "passage_count", &t, &e), 0);
    cr_assert(strstr(t, "The final answer is: ") != NULL);
    kvb_lb_record r = rec_of((char *)"P1\n\nP2", (char *)"");
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    cr_assert_eq(kvb_lb_format(t, &r, &sb, &e), 0);
    cr_assert(strstr(sb.buf, "in total?\n\nP1\n\nP2\n\nPlease enter") != NULL);
    kvb_strbuf_release(&sb);
    free(t);
    cr_assert_eq(kvb_lb_template_load("configs/longbench", "nosuchtask", &t, &e), KVB_EINVAL);
    /* all 21 tasks have a template */
    static const char *const all[] = { "narrativeqa", "qasper", "multifieldqa_en", "multifieldqa_zh",
        "hotpotqa", "2wikimqa", "musique", "dureader", "gov_report", "qmsum", "multi_news",
        "vcsum", "trec", "triviaqa", "samsum", "lsht", "passage_count", "passage_retrieval_en",
        "passage_retrieval_zh", "lcc", "repobench-p" };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        cr_assert_eq(kvb_lb_template_load("configs/longbench", all[i], &t, &e), 0, "%s", all[i]);
        cr_assert(strstr(t, "{context}") != NULL, "%s", all[i]);
        free(t);
    }
}

/* ---- needle scorer ------------------------------------------------------------------------- */

Test(niah_score, keyword_recall_and_exact)
{
    const char *N = KVB_NIAH_NEEDLE, *Q = KVB_NIAH_QUESTION;
    /* key words: eat sandwich sit dolores park sunny day (7) */
    cr_assert_float_eq(kvb_niah_score_recall(N, Q, "Eat a sandwich and sit in Dolores Park on a sunny day."), 1.0, 1e-12);
    cr_assert_float_eq(kvb_niah_score_recall(N, Q, "The best thing is to sit in Dolores Park."), 3.0 / 7, 1e-12);
    cr_assert_float_eq(kvb_niah_score_recall(N, Q, "The best thing to do in San Francisco"), 0.0, 1e-12);
    cr_assert_float_eq(kvb_niah_score_recall(N, Q, ""), 0.0, 1e-12);
    cr_assert_float_eq(kvb_niah_score_recall(N, Q, "SANDWICH!!! sandwich; (day)"), 2.0 / 7, 1e-12);
    cr_assert_eq(kvb_niah_score_exact(N, Q, "The answer: eat a sandwich, and sit in Dolores Park on a sunny day!"), 1);
    cr_assert_eq(kvb_niah_score_exact(N, Q, "eat a sandwich and sit in Dolores Park"), 0);
    cr_assert_eq(kvb_niah_score_exact(N, Q, "eat a sandwich and sit in the Dolores Park on a sunny day"), 0);
    /* a configured needle */
    cr_assert_float_eq(kvb_niah_score_recall("The secret code is 7421 blue.", "What is the secret code?",
                                             "It is 7421 blue"), 1.0, 1e-12);
    cr_assert_eq(kvb_niah_score_exact("The secret code is 7421 blue.", "What is the secret code?", "7421, blue"), 1);
}

Test(niah_score, grid_parsing)
{
    int *v, n;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_niah_parse_grid("0,50,100", 0, 100, &v, &n, "depths", &e), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(v[2], 100);
    free(v);
    cr_assert_eq(kvb_niah_parse_grid("0,101", 0, 100, &v, &n, "depths", &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "--depths") != NULL);
    cr_assert_eq(kvb_niah_parse_grid("5,5", 0, 100, &v, &n, "depths", &e), KVB_EINVAL);
    cr_assert_eq(kvb_niah_parse_grid("", 0, 100, &v, &n, "depths", &e), KVB_EINVAL);
    cr_assert_eq(kvb_niah_parse_grid("1,,2", 0, 100, &v, &n, "depths", &e), KVB_EINVAL);
}

Test(sha256, known_vectors)
{
    char hex[65];
    kvb_sha256_hex("", 0, hex);
    cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    kvb_sha256_hex("abc", 3, hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    kvb_sha256_hex(m, strlen(m), hex);
    cr_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
