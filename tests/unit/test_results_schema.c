/* run.json: writer round trip, result.json as eval.py writes it, and validation refusing each
 * kind of damage (missing field, wrong type, out of range, newer schema, truncated file). */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "results/results.h"

#define RUNS "tests/fixtures/results/runs"

static cJSON *load_doc(const char *path)
{
    cJSON *j = NULL;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_json_load(path, 1 << 26, &j, &e), 0, "%s", e.msg);
    return j;
}

Test(results_schema, fixture_run_loads)
{
    kvb_run r;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_run_load(RUNS "/full", &r, &e), 0, "%s", e.msg);
    cr_expect_str_eq(r.model_name, "smollm2-135m");
    cr_expect_eq(r.n_tasks, 3);
    cr_expect_str_eq(r.tasks[0].name, "hotpotqa");
    cr_expect_eq(r.tasks[0].n, 30);
    const kvb_run_task *pr = kvb_run_find_task(&r, "passage_retrieval_en");
    cr_assert(pr && pr->has_buckets);
    cr_expect(isnan(pr->bucket[KVB_BUCKET_8K_PLUS]));
    cr_expect_eq(pr->bucket[KVB_BUCKET_0_4K], 75.0);
    const kvb_run_task *nh = kvb_run_find_task(&r, "niah");
    cr_expect_eq(nh->n_cells, 6);
    cr_expect_eq(nh->cells[5].length, 2048);
    cr_expect_eq(nh->cells[5].depth, 100);
    cr_expect_eq(r.shard_count, 1);
    cr_expect_eq(r.n_files, 3);
    kvb_run_release(&r);
    /* a run.json file works as well as its directory */
    cr_assert_eq(kvb_run_load(RUNS "/full/run.json", &r, &e), 0, "%s", e.msg);
    kvb_run_release(&r);
}

/* Apply one damage to the fixture document; the validator must refuse it naming `want`. */
typedef void (*damage_fn)(cJSON *doc);
static void expect_refused(damage_fn f, const char *want)
{
    cJSON *doc = load_doc(RUNS "/full/run.json");
    f(doc);
    kvb_run r;
    kvb_error e = { 0 };
    int rc = kvb_run_from_json(doc, "x/run.json", &r, &e);
    cr_expect_eq(rc, KVB_EINVAL, "damage '%s' was accepted", want);
    cr_expect(strstr(e.msg, want) != NULL, "message '%s' does not name '%s'", e.msg, want);
    cr_expect(strstr(e.msg, "x/run.json") != NULL, "message '%s' does not name the file", e.msg);
    cJSON_Delete(doc);
}

static cJSON *at(cJSON *doc, const char *a, const char *b, const char *c)
{
    cJSON *x = cJSON_GetObjectItem(doc, a);
    if (b)
        x = cJSON_GetObjectItem(x, b);
    if (c)
        x = cJSON_GetObjectItem(x, c);
    cr_assert(x != NULL);
    return x;
}

static void set_num(cJSON *obj, const char *key, double v)
{
    cJSON_ReplaceItemInObject(obj, key, cJSON_CreateNumber(v));
}
static void set_str(cJSON *obj, const char *key, const char *v)
{
    cJSON_ReplaceItemInObject(obj, key, cJSON_CreateString(v));
}

static void no_tool(cJSON *d) { cJSON_DeleteItemFromObject(d, "tool"); }
static void no_fp(cJSON *d) { cJSON_DeleteItemFromObject(at(d, "model", NULL, NULL), "fingerprint"); }
static void no_peak(cJSON *d) { cJSON_DeleteItemFromObject(at(d, "tasks", "hotpotqa", "memory"), "peak_kv_bytes"); }
static void no_summary(cJSON *d) { cJSON_DeleteItemFromObject(d, "summary"); }
static void no_shard_index(cJSON *d) { cJSON_DeleteItemFromObject(at(d, "shard", NULL, NULL), "index"); }
static void no_version(cJSON *d) { cJSON_DeleteItemFromObject(d, "schema_version"); }
static void no_bucket(cJSON *d) { cJSON_DeleteItemFromObject(at(d, "tasks", "passage_retrieval_en", "buckets"), "4-8k"); }
static void no_cell_n(cJSON *d) { cJSON_DeleteItemFromObject(cJSON_GetArrayItem(at(d, "tasks", "niah", "cells"), 2), "n"); }

Test(results_schema, missing_fields_refused)
{
    expect_refused(no_tool, "'tool'");
    expect_refused(no_fp, "'model.fingerprint'");
    expect_refused(no_peak, "'tasks.hotpotqa.memory.peak_kv_bytes'");
    expect_refused(no_summary, "'summary'");
    expect_refused(no_shard_index, "'shard.index'");
    expect_refused(no_version, "'schema_version'");
    expect_refused(no_bucket, "'tasks.passage_retrieval_en.buckets.4-8k'");
    expect_refused(no_cell_n, "'tasks.niah.cells[2].n'");
}

static void ver_str(cJSON *d) { set_str(d, "schema_version", "1"); }
static void threads_str(cJSON *d) { set_str(at(d, "machine", NULL, NULL), "threads", "2"); }
static void score_str(cJSON *d) { set_str(at(d, "tasks", "hotpotqa", NULL), "score", "45.2"); }
static void n_frac(cJSON *d) { set_num(at(d, "tasks", "hotpotqa", NULL), "n", 1.5); }
static void params_arr(cJSON *d) { cJSON_ReplaceItemInObject(at(d, "method", NULL, NULL), "params", cJSON_CreateArray()); }
static void sha_bad(cJSON *d) { set_str(at(d, "data", "files", NULL), "niah", "not-a-digest"); }
static void tasks_arr(cJSON *d) { cJSON_ReplaceItemInObject(d, "tasks", cJSON_CreateArray()); }
static void kind_bad(cJSON *d) { set_str(d, "kind", "something-else"); }
static void name_num(cJSON *d) { set_num(at(d, "model", NULL, NULL), "name", 3); }

Test(results_schema, wrong_types_refused)
{
    expect_refused(ver_str, "'schema_version' is not a number");
    expect_refused(threads_str, "'machine.threads' is not a number");
    expect_refused(score_str, "'tasks.hotpotqa.score' is not a number");
    expect_refused(n_frac, "'tasks.hotpotqa.n' is not an integer");
    expect_refused(params_arr, "'method.params' is not an object");
    expect_refused(sha_bad, "'data.files.niah' is not a sha256");
    expect_refused(tasks_arr, "'tasks' is not an object");
    expect_refused(kind_bad, "'kind'");
    expect_refused(name_num, "'model.name' is not a string");
}

static void score_high(cJSON *d) { set_num(at(d, "tasks", "hotpotqa", NULL), "score", 100.5); }
static void n_zero(cJSON *d) { set_num(at(d, "tasks", "niah", NULL), "n", 0); }
static void keep_big(cJSON *d) { set_num(at(d, "tasks", "niah", "memory"), "keep_ratio", 2); }
static void shard_out(cJSON *d) { set_num(at(d, "shard", NULL, NULL), "index", 1); }
static void threads_zero(cJSON *d) { set_num(at(d, "machine", NULL, NULL), "threads", 0); }
static void bytes_neg(cJSON *d) { set_num(at(d, "tasks", "niah", "memory"), "kv_bytes_decode", -1); }
static void depth_big(cJSON *d) { set_num(cJSON_GetArrayItem(at(d, "tasks", "niah", "cells"), 0), "depth", 101); }
static void no_tasks(cJSON *d) { cJSON_ReplaceItemInObject(d, "tasks", cJSON_CreateObject()); }
static void bad_task_name(cJSON *d) { cJSON_AddItemToObject(at(d, "tasks", NULL, NULL), "a b", cJSON_CreateObject()); }

Test(results_schema, out_of_range_refused)
{
    expect_refused(score_high, "'tasks.hotpotqa.score' = 100.5 is out of range");
    expect_refused(n_zero, "'tasks.niah.n' = 0 is out of range");
    expect_refused(keep_big, "'tasks.niah.memory.keep_ratio'");
    expect_refused(shard_out, "'shard.index' = 1 is out of range");
    expect_refused(threads_zero, "'machine.threads'");
    expect_refused(bytes_neg, "'tasks.niah.memory.kv_bytes_decode'");
    expect_refused(depth_big, "'tasks.niah.cells[0].depth'");
    expect_refused(no_tasks, "'tasks' has no task");
    expect_refused(bad_task_name, "task name 'a b'");
}

static void ver2(cJSON *d) { set_num(d, "schema_version", 2); }
static void ver0(cJSON *d) { set_num(d, "schema_version", 0); }

Test(results_schema, newer_schema_refused)
{
    expect_refused(ver2, "schema_version 2 is newer than this kvbench reads (1)");
    expect_refused(ver0, "'schema_version' = 0 is out of range");
    kvb_run r;
    kvb_error e = { 0 };
    cr_expect_eq(kvb_run_load(RUNS "/newer.json", &r, &e), KVB_EINVAL);
    cr_expect(strstr(e.msg, "newer") != NULL, "%s", e.msg);
}

static char *tmp_file(const char *data, size_t n)
{
    char *path = strdup("/tmp/kvb_schema_XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, data, n), (ssize_t)n);
    close(fd);
    return path;
}

Test(results_schema, truncated_empty_missing_and_duplicate_refused)
{
    char *text;
    size_t len;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_read_file(RUNS "/full/run.json", 1 << 26, &text, &len, &e), 0);
    size_t cuts[] = { len / 2, len - 3, 1, 0 };
    for (size_t i = 0; i < 4; i++) {
        char *p = tmp_file(text, cuts[i]);
        kvb_run r;
        cr_expect_eq(kvb_run_load(p, &r, &e), KVB_EINVAL, "cut at %zu accepted", cuts[i]);
        cr_expect(strstr(e.msg, p) && strstr(e.msg, "not valid JSON"), "%s", e.msg);
        unlink(p);
        free(p);
    }
    /* the same task twice */
    char *dup = strstr(text, "\"hotpotqa\": {");
    cr_assert(dup);
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    char *tasks = strstr(text, "\"tasks\": {") + strlen("\"tasks\": {");
    kvb_strbuf_add(&sb, text, (size_t)(tasks - text));
    kvb_strbuf_adds(&sb, "\"niah\": {}, ");
    kvb_strbuf_adds(&sb, tasks);
    char *p = tmp_file(sb.buf, sb.len);
    kvb_run r;
    cr_expect_eq(kvb_run_load(p, &r, &e), KVB_EINVAL);
    cr_expect(strstr(e.msg, "'niah' appears twice"), "%s", e.msg);
    unlink(p);
    free(p);
    kvb_strbuf_release(&sb);
    cr_expect_eq(kvb_run_load("/nonexistent/run.json", &r, &e), KVB_EINVAL);
    cr_expect(strstr(e.msg, "/nonexistent/run.json"), "%s", e.msg);
    cr_expect_eq(kvb_run_load("tests", &r, &e), KVB_EINVAL); /* a directory without run.json */
    free(text);
}

/* ---- writer --------------------------------------------------------------------------------- */
/* The fixture's pred lines fed through the writer API, as `kvbench run` does. */
static void build_from_fixture(kvb_run *r, const char *dir)
{
    kvb_error e = { 0 };
    kvb_run_init(r);
    cr_assert_eq(kvb_run_set_model(r, "smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct", "m.gguf",
                                   "q4_1", "sha256:abc", &e), 0);
    cr_assert_eq(kvb_run_set_method(r, "SnapKV", "{\"budget\": 128, \"window\": 32}", &e), 0, "%s", e.msg);
    char flags[512];
    kvb_run_machine_flags(flags, sizeof(flags), "avx2", "bf16 (avx512_bf16)", "q4_1");
    /* the ISA of the GEMV kernels, the prefill arithmetic, the weights and this build's compile
     * flags (the Makefile's) */
    cr_assert(strstr(flags, "gemv=avx2 prefill=bf16 weights=q4_1 cflags=-std=c11") == flags, "%s",
              flags);
    cr_assert(strstr(flags, "-mavx2"), "%s", flags);
    cr_assert_eq(kvb_run_set_machine(r, 2, flags, "", &e), 0);
    cr_assert_eq(kvb_run_set_settings(r, "{\"max_length\": 7500}", &e), 0);
    const char *names[] = { "hotpotqa", "passage_retrieval_en", "niah" };
    for (int k = 0; k < 3; k++) {
        kvb_run_task *t = kvb_run_add_task(r, names[k], "m", &e);
        cr_assert(t, "%s", e.msg);
        if (k == 1)
            kvb_run_task_want_buckets(t);
        char path[256], *text;
        size_t len;
        snprintf(path, sizeof(path), "%s/pred/%s.jsonl", dir, names[k]);
        cr_assert_eq(kvb_read_file(path, 1 << 26, &text, &len, &e), 0);
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            cJSON *j = cJSON_Parse(line);
            long index;
            kvb_run_record rec;
            cr_assert_eq(kvb_pred_get_record(j, path, &index, &rec, &e), 0, "%s", e.msg);
            cr_assert_eq(kvb_run_task_add_record(t, &rec, &e), 0, "%s", e.msg);
            cJSON_Delete(j);
        }
        free(text);
    }
    cr_assert_eq(kvb_run_finish(r, &e), 0, "%s", e.msg);
}

Test(results_schema, result_json_identical_to_eval_py)
{
    kvb_run r;
    build_from_fixture(&r, RUNS "/full");
    char *mine = kvb_result_json_text(&r), *want;
    size_t len;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_read_file(RUNS "/full/result.json", 1 << 20, &want, &len, &e), 0);
    cr_expect_str_eq(mine, want);
    /* the task numbers agree with the Python-written run.json */
    kvb_run py;
    cr_assert_eq(kvb_run_load(RUNS "/full", &py, &e), 0, "%s", e.msg);
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(r.tasks[i].score, py.tasks[i].score);
        cr_expect_float_eq(r.tasks[i].compression_ratio, py.tasks[i].compression_ratio, 1e-12);
        cr_expect_float_eq(r.tasks[i].decode_ms_per_token, py.tasks[i].decode_ms_per_token, 1e-9);
        cr_expect_eq(r.tasks[i].peak_kv_bytes, py.tasks[i].peak_kv_bytes);
        cr_expect_eq(r.tasks[i].n_cells, py.tasks[i].n_cells);
    }
    cr_expect_eq(r.avg_tasks, py.avg_tasks);
    kvb_run_release(&py);
    free(mine);
    free(want);
    kvb_run_release(&r);
}

Test(results_schema, writer_round_trip)
{
    kvb_run r, back;
    build_from_fixture(&r, RUNS "/full");
    kvb_error e = { 0 };
    char dir[] = "/tmp/kvb_rt_XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/run.json", dir);
    cr_assert_eq(kvb_run_write(&r, path, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_run_load(dir, &back, &e), 0, "%s", e.msg);
    char *t1 = kvb_run_to_json(&r), *t2 = kvb_run_to_json(&back);
    cr_expect_str_eq(t1, t2);
    cr_expect_str_eq(back.method_params, "{\"budget\":128,\"window\":32}");
    cr_expect_eq(back.tasks[2].n_cells, 6);
    cr_expect_eq(back.schema_version, KVB_RUN_SCHEMA_VERSION);
    free(t1);
    free(t2);
    unlink(path);
    rmdir(dir);
    kvb_run_release(&back);
    kvb_run_release(&r);
}

Test(results_schema, writer_refuses_bad_records)
{
    kvb_run r;
    kvb_error e = { 0 };
    kvb_run_init(&r);
    kvb_run_task *t = kvb_run_add_task(&r, "qasper", NULL, &e);
    cr_assert(t);
    cr_expect_null(kvb_run_add_task(&r, "qasper", NULL, &e));
    cr_expect_null(kvb_run_add_task(&r, "bad name", NULL, &e));
    kvb_run_record rec = { .score = 1.5 };
    cr_expect_eq(kvb_run_task_add_record(t, &rec, &e), KVB_EINVAL);
    rec.score = 0.5;
    rec.keep_ratio = -0.1;
    cr_expect_eq(kvb_run_task_add_record(t, &rec, &e), KVB_EINVAL);
    cr_expect_eq(kvb_run_finish(&r, &e), KVB_EINVAL); /* no model */
    cr_assert_eq(kvb_run_set_model(&r, "m", "", "", "", "fp", &e), 0);
    cr_assert_eq(kvb_run_set_method(&r, "full", NULL, &e), 0);
    cr_expect_eq(kvb_run_finish(&r, &e), KVB_EINVAL); /* a task without record */
    cr_expect(strstr(e.msg, "qasper"), "%s", e.msg);
    cr_expect_eq(kvb_run_set_method(&r, "full", "[1]", &e), KVB_EINVAL);
    cr_expect_eq(kvb_run_set_shard(&r, 3, 3, &e), KVB_EINVAL);
    cr_expect_eq(kvb_run_add_data_file(&r, "qasper", "ABC", &e), KVB_EINVAL);
    kvb_run_release(&r);
}

Test(results_schema, pred_fields_round_trip)
{
    kvb_run_record rec = { .score = 0.25, .length = 5000, .prompt_tokens = 100, .gen_tokens = 7,
                           .kv_bytes_prefill = 1000, .kv_bytes_decode = 1100, .kv_bytes_peak = 1200,
                           .kv_full16_bytes = 4400, .keep_ratio = 0.25, .prefill_s = 0.5,
                           .decode_s = 0.125, .has_cell = 1, .cell_length = 1024, .cell_depth = 50 };
    cJSON *line = cJSON_Parse("{\"pred\": \"x\", \"_id\": \"a\", \"length\": 5000}");
    kvb_error e = { 0 };
    cr_assert_eq(kvb_pred_add_fields(line, 42, &rec, &e), 0);
    long index;
    kvb_run_record back;
    cr_assert_eq(kvb_pred_get_record(line, "f:1", &index, &back, &e), 0, "%s", e.msg);
    cr_expect_eq(index, 42);
    cr_expect(back.score == rec.score && back.length == rec.length &&
              back.prompt_tokens == rec.prompt_tokens && back.gen_tokens == rec.gen_tokens &&
              back.kv_bytes_prefill == rec.kv_bytes_prefill &&
              back.kv_bytes_decode == rec.kv_bytes_decode && back.kv_bytes_peak == rec.kv_bytes_peak &&
              back.kv_full16_bytes == rec.kv_full16_bytes && back.keep_ratio == rec.keep_ratio &&
              back.prefill_s == rec.prefill_s && back.decode_s == rec.decode_s &&
              back.has_cell && back.cell_length == 1024 && back.cell_depth == 50);
    cJSON_DeleteItemFromObject(line, "_index");
    cr_expect_eq(kvb_pred_get_record(line, "f:1", &index, &back, &e), KVB_EINVAL);
    cr_expect(strstr(e.msg, "_index"), "%s", e.msg);
    cJSON_Delete(line);
}

/* The C validator and the JSON Schema agree on every case of scripts/oracle/schema_cases.py. */
Test(results_schema, c_rules_agree_with_the_json_schema)
{
    cJSON *j = load_doc("tests/fixtures/results/schema_cases.json");
    int n = 0, valid = 0;
    for (const cJSON *c = cJSON_GetObjectItem(j, "cases")->child; c; c = c->next, n++) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        int want = cJSON_IsTrue(cJSON_GetObjectItem(c, "valid"));
        kvb_run r;
        kvb_error e = { 0 };
        int rc = kvb_run_from_json(cJSON_GetObjectItem(c, "doc"), "case", &r, &e);
        cr_expect_eq(rc == 0, want, "case '%s': schema says %s, C says %s (%s)", name,
                     want ? "valid" : "invalid", rc ? "invalid" : "valid", e.msg);
        if (!rc)
            kvb_run_release(&r);
        valid += want;
    }
    cr_expect_gt(n, 90);
    cr_expect_eq(valid, 14); /* 12, and machine.device cpu and cuda */
    cJSON_Delete(j);
}

/* RULER's summary (summary.ruler): written per length in ascending order whatever the run order,
 * read back the same; a file with the lengths out of order is refused (a rule the JSON Schema
 * cannot state). */
Test(results_schema, ruler_summary_round_trip)
{
    kvb_run r;
    kvb_error e = { 0 };
    kvb_run_init(&r);
    cr_assert_eq(kvb_run_set_model(&r, "smollm2-135m", "", "", "bf16", "fp", &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_run_set_method(&r, "full", NULL, &e), 0, "%s", e.msg);
    const char *names[] = { "vt.4096", "niah_single_1.1024", "niah", "vt.1024" };
    const char *metrics[] = { "string_match_all", "string_match_all", "niah_keyword_recall",
                              "string_match_all" };
    const double scores[] = { 1.0, 0.5, 1.0, 0.0 };
    for (int i = 0; i < 4; i++) {
        kvb_run_task *t = kvb_run_add_task(&r, names[i], metrics[i], &e);
        cr_assert(t, "%s", e.msg);
        kvb_run_record rec = { .score = scores[i], .length = 100 };
        cr_assert_eq(kvb_run_task_add_record(t, &rec, &e), 0, "%s", e.msg);
    }
    cr_assert_eq(kvb_run_finish(&r, &e), 0, "%s", e.msg);
    cr_assert_eq(r.n_ruler, 2, "niah is no RULER task");
    cr_expect(r.ruler[0].length == 1024 && r.ruler[0].n_tasks == 2 && r.ruler[0].average == 25.0);
    cr_expect(r.ruler[1].length == 4096 && r.ruler[1].n_tasks == 1 && r.ruler[1].average == 100.0);
    char *text = kvb_run_to_json(&r);
    cJSON *doc = cJSON_Parse(text);
    kvb_run back;
    cr_assert_eq(kvb_run_from_json(doc, "t", &back, &e), 0, "%s", e.msg);
    cr_assert_eq(back.n_ruler, 2);
    for (int k = 0; k < 2; k++)
        cr_expect(back.ruler[k].length == r.ruler[k].length &&
                  back.ruler[k].n_tasks == r.ruler[k].n_tasks &&
                  back.ruler[k].average == r.ruler[k].average);
    kvb_run_release(&back);
    cJSON *arr = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "summary"), "ruler");
    cJSON_AddItemToArray(arr, cJSON_DetachItemFromArray(arr, 0)); /* 4096 before 1024 */
    cr_expect_eq(kvb_run_from_json(doc, "t", &back, &e), KVB_EINVAL);
    cr_expect(strstr(e.msg, "summary.ruler"), "%s", e.msg);
    cJSON_Delete(doc);
    free(text);
    kvb_run_release(&r);
}
