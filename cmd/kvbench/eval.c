/* kvbench eval DIR [--e] [--json] [--tasks SET] [--no-write]
 *
 * Scores a kvbench run directory (DIR/pred/<task>.jsonl) or any directory of LongBench prediction
 * files (<task>.jsonl as LongBench's pred.py writes them), writes DIR/result.json exactly as
 * LongBench's eval.py would (atomically), and prints a table (or JSON with --json). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longbench/score.h"
#include "text/segment.h"
#include "options.h"
#include "verbs.h"

static void print_table(const kvb_eval_result *r)
{
    if (r->e_mode)
        printf("%-22s %-21s %5s %8s %8s %8s\n", "task", "metric", "n", "0-4k", "4-8k", "8k+");
    else
        printf("%-22s %-21s %5s %8s\n", "task", "metric", "n", "score");
    for (size_t k = 0; k < r->n; k++) {
        const kvb_task_score *t = &r->tasks[k];
        printf("%-22s %-21s %5zu", t->key, kvb_metric_name(t->task->metric), t->n);
        if (r->e_mode)
            for (int b = 0; b < KVB_E_BUCKETS; b++)
                printf(" %8.2f", t->e[b]);
        else
            printf(" %8.2f", t->score);
        printf("\n");
    }
    if (r->e_mode)
        return;
    static const char *const sets[] = { "en16", "all", "zh" };
    static const int sizes[] = { 16, 21, 5 };
    for (int s = 0; s < 3; s++) {
        double avg;
        int found = kvb_eval_average(r, sets[s], &avg);
        if (found == sizes[s] || (s == 0 && found > 0))
            printf("%-22s %-21s %5s %8.2f%s\n", "average", sets[s], "", avg,
                   found == sizes[s] ? "" : " (partial)");
    }
}

static int print_json(const kvb_eval_result *r, const char *written)
{
    kvb_strbuf o;
    kvb_strbuf_init(&o);
    char num[64];
    kvb_strbuf_addf(&o, "{\"result\": ");
    kvb_eval_result_json(r, &o);
    kvb_strbuf_adds(&o, ",\n\"records\": {");
    for (size_t k = 0; k < r->n; k++)
        kvb_strbuf_addf(&o, "%s\"%s\": %zu", k ? ", " : "", r->tasks[k].key, r->tasks[k].n);
    kvb_strbuf_adds(&o, "},\n\"averages\": {");
    static const char *const sets[] = { "en16", "all", "zh" };
    for (int s = 0; s < 3; s++) {
        double avg;
        int found = kvb_eval_average(r, sets[s], &avg);
        kvb_py_repr(avg, 1, num, sizeof(num));
        kvb_strbuf_addf(&o, "%s\"%s\": {\"tasks\": %d, \"score\": %s}", s ? ", " : "", sets[s],
                        found, found ? num : "null");
    }
    kvb_strbuf_addf(&o, "},\n\"result_json\": ");
    if (written)
        kvb_strbuf_addf(&o, "\"%s\"}\n", written);
    else
        kvb_strbuf_adds(&o, "null}\n");
    if (!o.buf) {
        kvb_strbuf_release(&o);
        return 1;
    }
    fputs(o.buf, stdout);
    kvb_strbuf_release(&o);
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    int e_mode = 0, json = 0, no_write = 0;
    const char *tasks = NULL;
    const struct kvb_option opts[] = {
        KVB_OPT_FLAG_("e", &e_mode, "LongBench-E: scores per length bucket (0-4k, 4-8k, 8k+)"),
        KVB_OPT_FLAG_("json", &json, "print the scores as JSON instead of a table"),
        KVB_OPT_STR_("tasks", &tasks, "SET", "score only these tasks (en16, all, zh, e, or a,b,c)"),
        KVB_OPT_FLAG_("no-write", &no_write, "do not write DIR/result.json"),
        KVB_OPT_END_,
    };
    char **pos = NULL;
    int npos = 0;
    int rc = kvb_parse_options(argc, argv, opts, "kvbench eval DIR [--e] [--json] [--tasks SET]",
                               &pos, &npos);
    if (rc) {
        free(pos);
        return rc > 0 ? 0 : 2;
    }
    if (npos != 1) {
        free(pos);
        fprintf(stderr, "kvbench eval: error: expected one directory (a run directory or a "
                        "directory of <task>.jsonl prediction files)\n");
        return 2;
    }
    const char *dir = pos[0];
    free(pos);
    kvb_error err = { 0 };
    kvb_eval_result r;
    /* The Chinese QA and summary metrics segment with jieba, loaded only if one is scored. */
    kvb_lazy_jieba lj;
    if (kvb_lazy_jieba_init(&lj, NULL)) {
        kvb_errorf(&err, KVB_ENOMEM, "out of memory");
        return kvb_die(&err);
    }
    kvb_segmenter seg = kvb_lazy_jieba_segmenter(&lj);
    rc = kvb_eval_dir(dir, e_mode, &seg, tasks, &r, &err);
    kvb_lazy_jieba_release(&lj);
    if (rc)
        return kvb_die(&err);
    kvb_strbuf text;
    kvb_strbuf_init(&text);
    if (kvb_eval_result_json(&r, &text)) {
        kvb_strbuf_release(&text);
        kvb_eval_result_release(&r);
        kvb_errorf(&err, KVB_ENOMEM, "out of memory");
        return kvb_die(&err);
    }
    if (!no_write && kvb_write_file_atomic(r.result_path, text.buf, text.len, &err)) {
        kvb_strbuf_release(&text);
        kvb_eval_result_release(&r);
        return kvb_die(&err);
    }
    kvb_strbuf_release(&text);
    int out_rc = 0;
    if (json) {
        out_rc = print_json(&r, no_write ? NULL : r.result_path);
    } else {
        print_table(&r);
        if (!no_write)
            printf("wrote %s\n", r.result_path);
    }
    kvb_eval_result_release(&r);
    return out_rc;
}
