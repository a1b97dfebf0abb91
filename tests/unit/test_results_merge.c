/* kvbench merge: 3 shards give byte-identical result.json (and pred/memory files) to the unsharded
 * run; shards that do not belong together are refused. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "results/results.h"

#define RUNS "tests/fixtures/results/runs"

static char tmp[64];

static void setup(void)
{
    strcpy(tmp, "/tmp/kvb_merge_XXXXXX");
    cr_assert(mkdtemp(tmp));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    cr_expect_eq(system(cmd), 0);
}

static char *slurp(const char *dir, const char *name)
{
    char path[512], *text = NULL;
    size_t len;
    kvb_error e = { 0 };
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    cr_assert_eq(kvb_read_file(path, 1 << 26, &text, &len, &e), 0, "%s", e.msg);
    return text;
}

static void expect_same(const char *a, const char *b, const char *name)
{
    char *x = slurp(a, name), *y = slurp(b, name);
    cr_expect_str_eq(x, y, "%s differs", name);
    free(x);
    free(y);
}

TestSuite(results_merge, .init = setup, .fini = teardown);

Test(results_merge, three_shards_byte_identical)
{
    char out[128];
    snprintf(out, sizeof(out), "%s/merged", tmp);
    const char *shards[] = { RUNS "/shard2", RUNS "/shard0", RUNS "/shard1" }; /* any order */
    kvb_error e = { 0 };
    cr_assert_eq(kvb_merge_runs(shards, 3, out, &e), 0, "%s", e.msg);
    expect_same(out, RUNS "/full", "result.json");
    const char *files[] = { "pred/hotpotqa.jsonl", "pred/passage_retrieval_en.jsonl", "pred/niah.jsonl",
                            "memory/hotpotqa.jsonl", "memory/niah.jsonl" };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        expect_same(out, RUNS "/full", files[i]);
    kvb_run m, f;
    cr_assert_eq(kvb_run_load(out, &m, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_run_load(RUNS "/full", &f, &e), 0, "%s", e.msg);
    cr_expect_eq(m.shard_index, 0);
    cr_expect_eq(m.shard_count, 1);
    cr_expect_eq(m.avg_tasks, f.avg_tasks);
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(m.tasks[i].n, f.tasks[i].n);
        cr_expect_eq(m.tasks[i].score, f.tasks[i].score);
        cr_expect_eq(m.tasks[i].peak_kv_bytes, f.tasks[i].peak_kv_bytes);
    }
    kvb_run_release(&m);
    kvb_run_release(&f);
}

static void expect_merge_refused(const char *const *shards, int n, const char *want)
{
    char out[128];
    snprintf(out, sizeof(out), "%s/out", tmp);
    kvb_error e = { 0 };
    cr_expect_eq(kvb_merge_runs(shards, n, out, &e), KVB_EINVAL, "merge accepted (%s)", want);
    cr_expect(strstr(e.msg, want) != NULL, "message '%s' lacks '%s'", e.msg, want);
}

Test(results_merge, overlapping_and_missing_shards_refused)
{
    const char *dup[] = { RUNS "/shard0", RUNS "/shard1", RUNS "/shard1" };
    expect_merge_refused(dup, 3, "both shard 1/3 (overlap)");
    const char *two[] = { RUNS "/shard0", RUNS "/shard2" };
    expect_merge_refused(two, 2, "missing shard 1");
    const char *other[] = { RUNS "/shard0", RUNS "/full" };
    expect_merge_refused(other, 2, "shard 0/1");
    const char *file[] = { RUNS "/pass.json" };
    expect_merge_refused(file, 1, "not a run directory");
    char out[128];
    snprintf(out, sizeof(out), "%s/./", RUNS "/shard0");
    kvb_error e = { 0 };
    const char *self[] = { RUNS "/shard0", RUNS "/shard1", RUNS "/shard2" };
    cr_expect_eq(kvb_merge_runs(self, 3, out, &e), KVB_EINVAL);
    cr_expect(strstr(e.msg, "--out is one of the shards"), "%s", e.msg);
}

/* A copy of shard1 with one run.json field changed. */
static char *altered_shard(const char *section, const char *key, const char *value)
{
    static char dir[160];
    snprintf(dir, sizeof(dir), "%s/shard1", tmp);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -r " RUNS "/shard1 '%s'", dir, dir);
    cr_assert_eq(system(cmd), 0);
    char path[200];
    snprintf(path, sizeof(path), "%s/run.json", dir);
    cJSON *doc;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_json_load(path, 1 << 26, &doc, &e), 0);
    cJSON *obj = section ? cJSON_GetObjectItem(doc, section) : doc;
    cJSON_ReplaceItemInObject(obj, key, value[0] == '{' ? cJSON_Parse(value) : cJSON_CreateString(value));
    char *text = cJSON_Print(doc);
    cr_assert_eq(kvb_write_file_atomic(path, text, strlen(text), &e), 0);
    free(text);
    cJSON_Delete(doc);
    return dir;
}

Test(results_merge, shards_of_different_runs_refused)
{
    const char *s[3] = { RUNS "/shard0", NULL, RUNS "/shard2" };
    s[1] = altered_shard("model", "fingerprint", "sha256:other");
    expect_merge_refused(s, 3, "model fingerprint differs");
    s[1] = altered_shard("method", "params", "{\"budget\": 64}");
    expect_merge_refused(s, 3, "method parameters differ");
    s[1] = altered_shard("method", "name", "SnapKV");
    expect_merge_refused(s, 3, "method differs");
    s[1] = altered_shard("tool", "git_commit", "0123456789ab");
    expect_merge_refused(s, 3, "tool commit differs");
    s[1] = altered_shard("data", "files", "{\"hotpotqa\": \"" "0000000000000000000000000000000000000000000000000000000000000000\"}");
    expect_merge_refused(s, 3, "data files differ");
    s[1] = altered_shard(NULL, "settings", "{\"max_length\": 100}");
    expect_merge_refused(s, 3, "settings differs");
}

Test(results_merge, records_in_the_wrong_shard_refused)
{
    /* shard1's pred file replaced by shard0's: records 0, 3, ... do not belong to shard 1/3 */
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/shard1' && cp -r " RUNS "/shard1 '%s/shard1' && cp " RUNS
             "/shard0/pred/niah.jsonl '%s/shard1/pred/niah.jsonl'", tmp, tmp, tmp);
    cr_assert_eq(system(cmd), 0);
    char s1[128];
    snprintf(s1, sizeof(s1), "%s/shard1", tmp);
    const char *s[] = { RUNS "/shard0", s1, RUNS "/shard2" };
    expect_merge_refused(s, 3, "does not belong to shard 1/3");
}

Test(results_merge, memory_lines_placed_by_id_when_index_is_absent)
{
    /* memory traces that carry only "_id" (kvbench run's before it wrote "_index") */
    char cmd[1200];
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && for d in shard0 shard1 shard2 full; do cp -r $OLDPWD/" RUNS "/$d . && "
             "sed -E -i 's/, \"_index\": [0-9]+//' $d/memory/*.jsonl || exit 1; done; "
             "! grep -q _index full/memory/niah.jsonl",
             tmp);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    char s[3][128], out[128], full[128];
    const char *sp[3];
    for (int i = 0; i < 3; i++) {
        snprintf(s[i], sizeof(s[i]), "%s/shard%d", tmp, i);
        sp[i] = s[i];
    }
    snprintf(out, sizeof(out), "%s/merged", tmp);
    snprintf(full, sizeof(full), "%s/full", tmp);
    kvb_error e = { 0 };
    cr_assert_eq(kvb_merge_runs(sp, 3, out, &e), 0, "%s", e.msg);
    expect_same(out, full, "memory/niah.jsonl");
    expect_same(out, full, "memory/hotpotqa.jsonl");
    expect_same(out, full, "result.json");
}

/* The harness path: records through the C API, unsharded vs 3 shards merged. */
static void write_api_run(const char *dir, long shard, long count)
{
    kvb_error e = { 0 };
    kvb_run r;
    kvb_run_init(&r);
    cr_assert_eq(kvb_run_set_model(&r, "smollm2-135m", "", "", "q4_1", "fp", &e), 0);
    cr_assert_eq(kvb_run_set_method(&r, "full", NULL, &e), 0);
    cr_assert_eq(kvb_run_set_shard(&r, shard, count, &e), 0);
    char pd[200];
    snprintf(pd, sizeof(pd), "%s/pred", dir);
    cr_assert_eq(kvb_mkdir_p(pd, &e), 0);
    const char *names[] = { "qasper", "lcc" };
    for (int k = 0; k < 2; k++) {
        kvb_run_task *t = kvb_run_add_task(&r, names[k], NULL, &e);
        cr_assert(t);
        kvb_run_task_want_buckets(t);
        kvb_strbuf lines;
        kvb_strbuf_init(&lines);
        for (long i = 0; i < 200 + k; i++) {
            /* awkward per-record scores so that summation order matters */
            kvb_run_record rec = { .score = (double)((i * 7919 + k) % 1000) / 999.0,
                                   .length = (i * 131) % 12000, .prompt_tokens = 100 + i,
                                   .gen_tokens = 1 + i % 9, .kv_bytes_decode = 1000 + i,
                                   .kv_full16_bytes = 2000 + 2 * i, .keep_ratio = 0.5,
                                   .decode_s = 0.01 * (double)(i % 5) };
            if (i % count != shard)
                continue;
            cJSON *line = cJSON_CreateObject();
            char id[32];
            snprintf(id, sizeof(id), "%s-%ld", names[k], i);
            cJSON_AddStringToObject(line, "_id", id);
            cJSON_AddNumberToObject(line, "length", (double)rec.length);
            cr_assert_eq(kvb_pred_add_fields(line, i, &rec, &e), 0);
            cr_assert_eq(kvb_run_task_add_record(t, &rec, &e), 0);
            char *txt = cJSON_PrintUnformatted(line);
            kvb_strbuf_addf(&lines, "%s\n", txt);
            free(txt);
            cJSON_Delete(line);
        }
        char pf[256];
        snprintf(pf, sizeof(pf), "%s/pred/%s.jsonl", dir, names[k]);
        cr_assert_eq(kvb_write_file_atomic(pf, lines.buf, lines.len, &e), 0);
        kvb_strbuf_release(&lines);
    }
    cr_assert_eq(kvb_run_finish(&r, &e), 0, "%s", e.msg);
    char f[256];
    snprintf(f, sizeof(f), "%s/result.json", dir);
    cr_assert_eq(kvb_result_json_write(&r, f, &e), 0);
    snprintf(f, sizeof(f), "%s/run.json", dir);
    cr_assert_eq(kvb_run_write(&r, f, &e), 0);
    kvb_run_release(&r);
}

Test(results_merge, api_written_shards_merge_to_unsharded)
{
    char full[128], s[3][128], out[128];
    snprintf(full, sizeof(full), "%s/full", tmp);
    write_api_run(full, 0, 1);
    const char *sp[3];
    for (int i = 0; i < 3; i++) {
        snprintf(s[i], sizeof(s[i]), "%s/s%d", tmp, i);
        write_api_run(s[i], i, 3);
        sp[i] = s[i];
    }
    snprintf(out, sizeof(out), "%s/merged", tmp);
    kvb_error e = { 0 };
    cr_assert_eq(kvb_merge_runs(sp, 3, out, &e), 0, "%s", e.msg);
    expect_same(out, full, "result.json");
    expect_same(out, full, "pred/qasper.jsonl");
    expect_same(out, full, "pred/lcc.jsonl");
    /* run.json equal but for the creation time */
    kvb_run a, b;
    cr_assert_eq(kvb_run_load(out, &a, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_run_load(full, &b, &e), 0, "%s", e.msg);
    kvb_run_set_str(&a.created, b.created, &e);
    char *ta = kvb_run_to_json(&a), *tb = kvb_run_to_json(&b);
    cr_expect_str_eq(ta, tb);
    free(ta);
    free(tb);
    kvb_run_release(&a);
    kvb_run_release(&b);
}
