/* kvbench report: a Markdown table of runs (methods) x tasks, with the average, compression
 * ratio, peak KV bytes and decode ms/token. Plots are drawn by scripts/plot.py (cmd/report.c). */
#include "results.h"

#include <stdlib.h>
#include <string.h>

#include "results/tasks.h"

/* Markdown cells must not contain '|' or newlines. */
static void cell(kvb_strbuf *sb, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '|')
            kvb_strbuf_adds(sb, "\\|");
        else if (*p == '\n' || *p == '\r')
            kvb_strbuf_adds(sb, " ");
        else
            kvb_strbuf_add(sb, p, 1);
    }
}

static void bytes_cell(kvb_strbuf *sb, double b)
{
    const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int k = 0;
    while (b >= 1024 && k < 4) {
        b /= 1024;
        k++;
    }
    kvb_strbuf_addf(sb, k ? " %.1f %s |" : " %.0f %s |", b, u[k]);
}

static int long_cmp(const void *x, const void *y)
{
    long a = *(const long *)x, b = *(const long *)y;
    return (a > b) - (a < b);
}

/* Sorted distinct values of one coordinate of the cells (length or depth). */
static int distinct(const kvb_run_cell *c, int n, int depth, long *out)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        long v = depth ? c[i].depth : c[i].length;
        int seen = 0;
        for (int j = 0; j < k && !seen; j++)
            seen = out[j] == v;
        if (!seen)
            out[k++] = v;
    }
    qsort(out, (size_t)k, sizeof(long), long_cmp);
    return k;
}

/* Needle-in-a-haystack cells as a depth x length table (the heatmap in numbers). */
static int needle_table(kvb_strbuf *out, const char *label, const kvb_run_task *t, kvb_error *e)
{
    long *len = kvb_calloc((size_t)t->n_cells, sizeof(long));
    long *dep = kvb_calloc((size_t)t->n_cells, sizeof(long));
    if (!len || !dep) {
        free(len);
        free(dep);
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    int nl = distinct(t->cells, t->n_cells, 0, len), nd = distinct(t->cells, t->n_cells, 1, dep);
    kvb_strbuf_adds(out, "\n");
    cell(out, label);
    kvb_strbuf_addf(out, ", %s (score by needle depth x context length):\n\n| depth |", t->name);
    for (int j = 0; j < nl; j++)
        kvb_strbuf_addf(out, " %ld |", len[j]);
    kvb_strbuf_adds(out, "\n|---:|");
    for (int j = 0; j < nl; j++)
        kvb_strbuf_adds(out, "---:|");
    for (int i = 0; i < nd; i++) {
        kvb_strbuf_addf(out, "\n| %ld%% |", dep[i]);
        for (int j = 0; j < nl; j++) {
            const kvb_run_cell *c = NULL;
            for (int k = 0; k < t->n_cells && !c; k++)
                if (t->cells[k].length == len[j] && t->cells[k].depth == dep[i])
                    c = &t->cells[k];
            if (c)
                kvb_strbuf_addf(out, " %.0f |", c->score);
            else
                kvb_strbuf_adds(out, " - |");
        }
    }
    kvb_strbuf_adds(out, "\n");
    free(len);
    free(dep);
    return 0;
}

/* ---- RULER ---------------------------------------------------------------------------------
 * A RULER task runs per context length ("<task>.<length>", results/tasks.h): the main table shows
 * RULER's average per length, and each run gets a length x task table as RULER's papers print. */

static int is_ruler(const kvb_run_task *t)
{
    return kvb_metric_is_ruler(t->metric) && kvb_task_length_split(t->name, NULL, 0, NULL);
}

static const kvb_run_ruler_len *ruler_len(const kvb_run *x, long len)
{
    for (int k = 0; k < x->n_ruler; k++)
        if (x->ruler[k].length == len)
            return &x->ruler[k];
    return NULL;
}

/* The distinct RULER lengths of all runs, ascending (out: room for all runs' lengths). */
static int ruler_lengths(const kvb_run *runs, int n, long *out)
{
    int k = 0;
    for (int r = 0; r < n; r++)
        for (int j = 0; j < runs[r].n_ruler; j++) {
            int seen = 0;
            for (int i = 0; i < k && !seen; i++)
                seen = out[i] == runs[r].ruler[j].length;
            if (!seen)
                out[k++] = runs[r].ruler[j].length;
        }
    qsort(out, (size_t)k, sizeof(long), long_cmp);
    return k;
}

/* One run's RULER scores: a row per length, a column per task (RULER's order as run), the
 * length's average last. */
static int ruler_table(kvb_strbuf *out, const char *label, const kvb_run *x, kvb_error *e)
{
    char (*tasks)[64] = kvb_calloc((size_t)x->n_tasks + 1, sizeof(*tasks));
    if (!tasks)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    int nt = 0;
    for (int i = 0; i < x->n_tasks; i++) {
        char name[64];
        if (!is_ruler(&x->tasks[i]))
            continue;
        kvb_task_length_split(x->tasks[i].name, name, sizeof(name), NULL);
        int seen = 0;
        for (int k = 0; k < nt && !seen; k++)
            seen = !strcmp(tasks[k], name);
        if (!seen)
            memcpy(tasks[nt++], name, sizeof(name));
    }
    kvb_strbuf_adds(out, "\n");
    cell(out, label);
    kvb_strbuf_adds(out, ", RULER (score by context length x task):\n\n| length |");
    for (int k = 0; k < nt; k++)
        kvb_strbuf_addf(out, " %s |", tasks[k]);
    kvb_strbuf_adds(out, " average |\n|---:|");
    for (int k = 0; k <= nt; k++)
        kvb_strbuf_adds(out, "---:|");
    for (int j = 0; j < x->n_ruler; j++) {
        kvb_strbuf_addf(out, "\n| %ld |", x->ruler[j].length);
        for (int k = 0; k < nt; k++) {
            char name[96];
            snprintf(name, sizeof(name), "%s%c%ld", tasks[k], KVB_TASK_LENGTH_SEP,
                     x->ruler[j].length);
            const kvb_run_task *t = kvb_run_find_task(x, name);
            if (t)
                kvb_strbuf_addf(out, " %.2f |", t->score);
            else
                kvb_strbuf_adds(out, " - |");
        }
        kvb_strbuf_addf(out, " %.2f |", x->ruler[j].average);
    }
    kvb_strbuf_adds(out, "\n");
    free(tasks);
    return 0;
}

int kvb_report_markdown(const kvb_run *runs, const char *const *names, int n, kvb_strbuf *out,
                        kvb_error *e)
{
    if (n < 1)
        return kvb_errorf(e, KVB_EINVAL, "report: no run");
    /* Columns: every task of any run, in order of first appearance. */
    int cap = 0;
    for (int r = 0; r < n; r++)
        cap += runs[r].n_tasks;
    const char **cols = kvb_calloc((size_t)cap + 1, sizeof(char *));
    if (!cols)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    int nc = 0;
    for (int r = 0; r < n; r++)
        for (int t = 0; t < runs[r].n_tasks; t++) {
            if (is_ruler(&runs[r].tasks[t]))
                continue;
            int seen = 0;
            for (int c = 0; c < nc && !seen; c++)
                seen = !strcmp(cols[c], runs[r].tasks[t].name);
            if (!seen)
                cols[nc++] = runs[r].tasks[t].name;
        }
    kvb_strbuf_adds(out, names ? "| run | model | method | params |" : "| model | method | params |");
    for (int c = 0; c < nc; c++) {
        kvb_strbuf_adds(out, " ");
        cell(out, cols[c]);
        kvb_strbuf_adds(out, " |");
    }
    size_t cap_l = 1;
    for (int r = 0; r < n; r++)
        cap_l += (size_t)runs[r].n_ruler;
    long *lens = kvb_calloc(cap_l, sizeof(long));
    if (!lens) {
        free(cols);
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    int nl = ruler_lengths(runs, n, lens);
    for (int j = 0; j < nl; j++)
        kvb_strbuf_addf(out, " RULER %ld |", lens[j]);
    kvb_strbuf_adds(out, names ? " average | compression | peak KV | ms/token |\n|---|---|---|---|"
                              : " average | compression | peak KV | ms/token |\n|---|---|---|");
    for (int c = 0; c < nc + nl + 4; c++)
        kvb_strbuf_adds(out, "---:|");
    kvb_strbuf_adds(out, "\n");
    int partial = 0;
    for (int r = 0; r < n; r++) {
        const kvb_run *x = &runs[r];
        kvb_strbuf_adds(out, "| ");
        if (names) {
            cell(out, names[r]);
            kvb_strbuf_adds(out, " | ");
        }
        cell(out, x->model_name);
        kvb_strbuf_adds(out, " | ");
        cell(out, x->method_name);
        kvb_strbuf_adds(out, " | ");
        cell(out, strcmp(x->method_params, "{}") ? x->method_params : "");
        kvb_strbuf_adds(out, " |");
        for (int c = 0; c < nc; c++) {
            const kvb_run_task *t = kvb_run_find_task(x, cols[c]);
            if (t)
                kvb_strbuf_addf(out, " %.2f |", t->score);
            else
                kvb_strbuf_adds(out, " - |");
        }
        for (int j = 0; j < nl; j++) {
            const kvb_run_ruler_len *l = ruler_len(x, lens[j]);
            if (l)
                kvb_strbuf_addf(out, " %.2f |", l->average);
            else
                kvb_strbuf_adds(out, " - |");
        }
        int n_own = 0; /* tasks of this run among the columns (RULER ones are in its lengths) */
        for (int t = 0; t < x->n_tasks; t++)
            n_own += !is_ruler(&x->tasks[t]);
        int lacks = n_own != nc || x->n_ruler != nl;
        partial |= lacks;
        kvb_strbuf_addf(out, " %.2f%s | %.2fx |", x->avg_tasks, lacks ? "*" : "",
                        x->compression_ratio);
        bytes_cell(out, x->peak_kv_bytes);
        kvb_strbuf_addf(out, " %.2f |\n", x->decode_ms_per_token);
    }
    kvb_strbuf_adds(out, "\naverage: mean of the run's task scores; compression: full 16-bit KV bytes / "
                         "bytes held at the end of decode; peak KV: largest KV bytes held by one "
                         "record; ms/token: decode time per generated token.\n");
    if (nl)
        kvb_strbuf_adds(out, "RULER L: RULER's average at context length L, the mean of its task "
                             "scores there (the run's table below has them per task).\n");
    if (partial)
        kvb_strbuf_adds(out, "*: the run lacks some of the tasks, so its average is over fewer "
                             "tasks.\n");
    free(cols);
    free(lens);
    int rc = 0;
    for (int r = 0; r < n && !rc; r++)
        for (int t = 0; t < runs[r].n_tasks && !rc; t++)
            if (runs[r].tasks[t].n_cells) {
                char label[256];
                snprintf(label, sizeof(label), "%s %s", names ? names[r] : runs[r].model_name,
                         runs[r].method_name);
                rc = needle_table(out, label, &runs[r].tasks[t], e);
            }
    for (int r = 0; r < n && !rc; r++)
        if (runs[r].n_ruler) {
            char label[256];
            snprintf(label, sizeof(label), "%s %s", names ? names[r] : runs[r].model_name,
                     runs[r].method_name);
            rc = ruler_table(out, label, &runs[r], e);
        }
    return rc;
}
