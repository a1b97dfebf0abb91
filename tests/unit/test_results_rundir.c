/* The run directory of lib/results (rundir.c): open and fingerprint, resume, torn-line repair,
 * the commit point, and the refusals (no --resume, fingerprint mismatch, symlinks, a duplicate
 * _id). */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "results/results.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/kvb_rundir_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(rundir, .init = setup, .fini = teardown);

static char *slurp(const char *rel)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    char *data = NULL;
    size_t len;
    kvb_error e = { 0 };
    if (!kvb_file_exists(path))
        return NULL;
    cr_assert_eq(kvb_read_file(path, 1 << 20, &data, &len, &e), 0, "%s", e.msg);
    return data;
}

static void append_raw(const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    FILE *f = fopen(path, "a");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* A prediction line as kvbench run writes it, and its memory line. */
static void lines(const char *id, long index, double score, char **pred, char **mem)
{
    kvb_run_record rec;
    memset(&rec, 0, sizeof(rec));
    rec.score = score;
    rec.length = 100 + index;
    rec.prompt_tokens = 10;
    rec.gen_tokens = 2;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "pred", "p");
    cJSON_AddStringToObject(o, "_id", id);
    kvb_error e = { 0 };
    cr_assert_eq(kvb_pred_add_fields(o, index, &rec, &e), 0, "%s", e.msg);
    *pred = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char buf[128];
    snprintf(buf, sizeof(buf), "{\"_id\":\"%s\",\"_index\":%ld}", id, index);
    *mem = strdup(buf);
}

static void commit(kvb_rundir *d, const char *id, long index, double score)
{
    char *p, *m;
    lines(id, index, score, &p, &m);
    kvb_error e = { 0 };
    cr_assert_eq(kvb_rundir_commit(d, id, p, m, &e), 0, "%s", e.msg);
    free(p);
    free(m);
}

Test(rundir, open_creates_layout_and_fingerprint)
{
    kvb_rundir *d;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_rundir_open(&d, dir, 0, &e), 0, "%s", e.msg);
    cr_assert_str_eq(kvb_rundir_path(d), dir);
    cr_assert_eq(kvb_rundir_fp_check(d, "model", "m1", &e), 0);
    cr_assert_eq(kvb_rundir_fp_save(d, &e), 0, "%s", e.msg);
    kvb_rundir_free(d);
    char *fp = slurp("fingerprint.json");
    cr_assert_not_null(fp);
    cJSON *j = cJSON_Parse(fp);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "kind")->valuestring, "kvbench-run-fingerprint");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "model")->valuestring, "m1");
    cJSON_Delete(j);
    free(fp);
    char *pf = kvb_rundir_task_file(dir, KVB_RUNDIR_PRED, "hotpotqa");
    char want[128];
    snprintf(want, sizeof(want), "%s/pred/hotpotqa.jsonl", dir);
    cr_assert_str_eq(pf, want);
    free(pf);

    /* a second run into the same directory needs --resume */
    cr_assert_eq(kvb_rundir_open(&d, dir, 0, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "already holds a run"), "%s", e.msg);
    /* resuming with other settings is refused, naming both */
    cr_assert_eq(kvb_rundir_open(&d, dir, 1, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_rundir_fp_check(d, "model", "m1", &e), 0);
    cr_assert_eq(kvb_rundir_fp_check(d, "model", "m2", &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "made with model = m1, this run has m2"), "%s", e.msg);
    kvb_rundir_free(d);
}

Test(rundir, commit_then_resume_repairs_torn_lines)
{
    kvb_rundir *d;
    kvb_error e = { 0 };
    kvb_run run;
    kvb_run_init(&run);
    cr_assert_eq(kvb_rundir_open(&d, dir, 0, &e), 0, "%s", e.msg);
    kvb_run_task *t = kvb_run_add_task(&run, "qa", NULL, &e);
    cr_assert_eq(kvb_rundir_task_begin(d, "qa", t, &e), 0, "%s", e.msg);
    cr_assert_eq(t->n_recs_, 0);
    commit(d, "a", 0, 1.0);
    commit(d, "b", 1, 0.5);
    cr_assert(kvb_rundir_is_done(d, "a") && kvb_rundir_is_done(d, "b"));
    cr_assert(!kvb_rundir_is_done(d, "c"));
    kvb_rundir_free(d);
    char *pred_ok = slurp("pred/qa.jsonl"), *mem_ok = slurp("memory/qa.jsonl");
    /* a kill after the memory line of "c", and one in the middle of its prediction line */
    append_raw("memory/qa.jsonl", "{\"_id\":\"c\",\"_index\":2}\n{\"_id\":\"d\"");
    append_raw("pred/qa.jsonl", "{\"pred\":\"to");
    kvb_run_release(&run);
    kvb_run_init(&run);
    t = kvb_run_add_task(&run, "qa", NULL, &e);
    cr_assert_eq(kvb_rundir_open(&d, dir, 0, &e), 0, "no fingerprint was saved: %s", e.msg);
    cr_assert_eq(kvb_rundir_task_begin(d, "qa", t, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "already has predictions for qa"), "%s", e.msg);
    kvb_rundir_free(d);
    cr_assert_eq(kvb_rundir_open(&d, dir, 1, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_rundir_task_begin(d, "qa", t, &e), 0, "%s", e.msg);
    /* the committed records are back in the task, in file order; the torn lines are gone */
    cr_assert_eq(t->n_recs_, 2);
    cr_assert_float_eq(t->recs_[0].score, 1.0, 0);
    cr_assert_float_eq(t->recs_[1].score, 0.5, 0);
    cr_assert(kvb_rundir_is_done(d, "a") && kvb_rundir_is_done(d, "b"));
    cr_assert(!kvb_rundir_is_done(d, "c"));
    char *pred = slurp("pred/qa.jsonl"), *mem = slurp("memory/qa.jsonl");
    cr_assert_str_eq(pred, pred_ok);
    cr_assert_str_eq(mem, mem_ok);
    free(pred);
    free(mem);
    /* and the run continues where it stopped */
    commit(d, "c", 2, 0.0);
    kvb_rundir_free(d);
    pred = slurp("pred/qa.jsonl");
    cr_assert_eq(strncmp(pred, pred_ok, strlen(pred_ok)), 0);
    cr_assert(strstr(pred + strlen(pred_ok), "\"_id\":\"c\""));
    free(pred);
    free(pred_ok);
    free(mem_ok);
    kvb_run_release(&run);
}

Test(rundir, refuses_damage)
{
    kvb_rundir *d;
    kvb_error e = { 0 };
    kvb_run run;
    kvb_run_init(&run);
    kvb_run_task *t = kvb_run_add_task(&run, "qa", NULL, &e);
    cr_assert_eq(kvb_rundir_open(&d, dir, 0, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_rundir_commit(d, "a", "{}", NULL, &e), KVB_EINVAL); /* no task begun */
    cr_assert_eq(kvb_rundir_task_begin(d, "qa", t, &e), 0, "%s", e.msg);
    commit(d, "a", 0, 1.0);
    commit(d, "a", 1, 1.0); /* the runner never does this; resume notices */
    kvb_rundir_free(d);
    cr_assert_eq(kvb_rundir_open(&d, dir, 1, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_rundir_task_begin(d, "qa", t, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "pred/qa.jsonl:2: _id a appears twice"), "%s", e.msg);
    append_raw("pred/other.jsonl", "not json\n");
    cr_assert_eq(kvb_rundir_task_begin(d, "other", t, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "pred/other.jsonl:1: not a prediction line of kvbench"), "%s", e.msg);
    kvb_rundir_free(d);
    kvb_run_release(&run);

    /* pred/ as a symbolic link: refused before anything is written */
    char pd[128], target[128];
    snprintf(pd, sizeof(pd), "%s/pred", dir);
    snprintf(target, sizeof(target), "%s/elsewhere", dir);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir '%s' && ln -s '%s' '%s'", pd, target, target, pd);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(kvb_rundir_check(dir, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "symbolic link"), "%s", e.msg);
    cr_assert_eq(kvb_rundir_open(&d, dir, 1, &e), KVB_EINVAL);
}
