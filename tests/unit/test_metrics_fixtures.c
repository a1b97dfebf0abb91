/* The C metrics against LongBench's metrics.py on the fixture pairs of
 * scripts/oracle/metric_fixtures.py (tests/fixtures/metrics/): every per-answer metric value and
 * every record score within 1e-9 (in practice they are bit-identical; the test also counts exact
 * matches and requires all of them), every group's eval.py score (round(100*mean, 2)) and
 * LongBench-E bucket scores exactly. Chinese pairs carry jieba's segmentation, replayed here by
 * a recording segmenter, so the zh metrics are checked independently of the C segmenter. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "longbench/metrics.h"
#include "longbench/score.h"
#include "text/segment.h"
#include "text/unitab.h"

#define FIX "tests/fixtures/metrics/"

static char *read_gz(const char *path, size_t *len)
{
    gzFile g = gzopen(path, "rb");
    cr_assert(g, "cannot open %s", path);
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 65536 + 1 > cap)
            buf = realloc(buf, cap *= 2);
        int r = gzread(g, buf + n, 65536);
        cr_assert(r >= 0, "gzread %s", path);
        if (r == 0)
            break;
        n += (size_t)r;
    }
    gzclose(g);
    buf[n] = 0;
    *len = n;
    return buf;
}

/* split into lines in place */
static char **lines_of(char *buf, size_t len, size_t *n)
{
    size_t cap = 1024;
    char **v = malloc(cap * sizeof(*v));
    *n = 0;
    for (char *p = buf; p < buf + len;) {
        char *nl = memchr(p, '\n', (size_t)(buf + len - p));
        if (nl)
            *nl = 0;
        if (*n == cap)
            v = realloc(v, (cap *= 2) * sizeof(*v));
        v[(*n)++] = p;
        if (!nl)
            break;
        p = nl + 1;
    }
    return v;
}

static kvb_sv sv_of(const cJSON *s)
{
    kvb_sv v = { s->valuestring, strlen(s->valuestring) };
    return v;
}

/* ---- a segmenter replaying jieba's recorded cuts ---------------------------------------------- */
typedef struct replay {
    kvb_sv text[260];
    const cJSON *lens[260];
    int n;
} replay;

static int replay_cut(const void *ctx, const char *text, size_t len, kvb_seg_tok_fn cb, void *arg,
                      kvb_error *e)
{
    const replay *r = ctx;
    for (int k = 0; k < r->n; k++) {
        if (r->text[k].n != len || memcmp(r->text[k].p, text, len))
            continue;
        size_t at = 0;
        for (const cJSON *l = r->lens[k]->child; l; l = l->next) {
            size_t start = at;
            for (int c = 0; c < l->valueint; c++)
                kvb_utf8_next(text, len, &at);
            cb(text + start, at - start, arg);
        }
        cr_assert_eq(at, len, "recorded segmentation does not cover the text");
        return 0;
    }
    return kvb_errorf(e, KVB_EINVAL, "no recorded segmentation for this text");
}

typedef struct group_acc {
    char name[128];
    double *s;
    double *len;
    size_t n, cap;
} group_acc;

static group_acc g_groups[512];
static size_t g_ngroups;

static group_acc *group_get(const char *name)
{
    for (size_t k = 0; k < g_ngroups; k++)
        if (!strcmp(g_groups[k].name, name))
            return &g_groups[k];
    cr_assert(g_ngroups < 512 && strlen(name) < 128);
    group_acc *g = &g_groups[g_ngroups++];
    strcpy(g->name, name);
    return g;
}

/* jieba: NULL replays the recorded cuts; else the C segmenter cuts (checks it end to end). */
static void run_fixtures(const kvb_segmenter *jieba)
{
    size_t alen, plen, na, np_;
    char *abuf = read_gz(FIX "answers.jsonl.gz", &alen);
    char *pbuf = read_gz(FIX "pairs.jsonl.gz", &plen);
    char **al = lines_of(abuf, alen, &na);
    char **pl = lines_of(pbuf, plen, &np_);
    cJSON **answers = calloc(na, sizeof(*answers));
    for (size_t i = 0; i < na; i++) {
        answers[i] = cJSON_Parse(al[i]);
        cr_assert(answers[i] && cJSON_IsArray(answers[i]), "answers line %zu", i + 1);
    }
    cJSON *classes;
    kvb_error err = { 0 };
    cr_assert_eq(kvb_json_load(FIX "classes.json", 1 << 20, &classes, &err), 0, "%s", err.msg);

    size_t pairs = 0, values = 0, exact = 0, groups = 0, zh = 0;
    double worst = 0;
    for (size_t li = 0; li < np_; li++) {
        cJSON *o = cJSON_Parse(pl[li]);
        cr_assert(o, "pairs line %zu is not JSON", li + 1);
        const cJSON *group = cJSON_GetObjectItem(o, "group");
        if (group) { /* summary of the pairs of one group */
            group_acc *gp = group_get(group->valuestring);
#define g (*gp)
            double want = cJSON_GetObjectItem(o, "score")->valuedouble;
            cr_assert_eq((size_t)cJSON_GetObjectItem(o, "n")->valueint, g.n, "group %s size",
                         group->valuestring);
            double sum = 0.;
            for (size_t k = 0; k < g.n; k++)
                sum += g.s[k];
            double got = kvb_py_round(100 * sum / (double)g.n, 2);
            cr_assert_eq(got, want, "group %s: %.17g vs %.17g", group->valuestring, got, want);
            const cJSON *ev = cJSON_GetObjectItem(o, "e");
            for (int b = 0; b < KVB_E_BUCKETS; b++) {
                double buf[4096];
                size_t m = 0;
                for (size_t k = 0; k < g.n; k++) {
                    double l = g.len[k];
                    int bb = kvb_bucket_of(l);
                    if (bb == b)
                        buf[m++] = g.s[k];
                }
                double gotb = kvb_bucket_score(buf, m);
                const cJSON *wb = cJSON_GetObjectItem(ev, kvb_bucket_names[b]);
                /* json.dump writes NaN, which cJSON does not parse: it comes back as null */
                if (!cJSON_IsNumber(wb))
                    cr_assert(isnan(gotb), "group %s bucket %d: want NaN", group->valuestring, b);
                else
                    cr_assert_eq(gotb, wb->valuedouble, "group %s bucket %d: %.17g vs %.17g",
                                 group->valuestring, b, gotb, wb->valuedouble);
            }
            groups++;
            cJSON_Delete(o);
            continue;
#undef g
        }
        const char *task = cJSON_GetObjectItem(o, "t")->valuestring;
        const kvb_task *t = kvb_task_find(task);
        cr_assert(t, "task %s", task);
        kvb_sv pred = sv_of(cJSON_GetObjectItem(o, "p"));
        const cJSON *ans = answers[cJSON_GetObjectItem(o, "a")->valueint];
        size_t nans = (size_t)cJSON_GetArraySize(ans);
        kvb_sv av[256];
        cr_assert(nans < 256);
        size_t k = 0;
        for (const cJSON *a = ans->child; a; a = a->next)
            av[k++] = sv_of(a);
        kvb_sv cv[128], *cls = NULL;
        size_t ncls = 0;
        const cJSON *cj = cJSON_GetObjectItem(classes, task);
        if (cj && t->metric == KVB_METRIC_CLASSIFICATION) {
            for (const cJSON *c = cj->child; c; c = c->next)
                cv[ncls++] = sv_of(c);
            cls = cv;
        }
        replay rp = { .n = 0 };
        kvb_segmenter seg = { replay_cut, &rp };
        if (jieba)
            seg = *jieba;
        const cJSON *sg = cJSON_GetObjectItem(o, "seg");
        if (sg) {
            rp.text[rp.n] = pred;
            rp.lens[rp.n++] = sg->child;
            const cJSON *l = sg->child->next;
            for (size_t q = 0; q < nans; q++, l = l->next) {
                rp.text[rp.n] = av[q];
                rp.lens[rp.n++] = l;
            }
            zh++;
        }
        /* per answer: the metric on the (first-line) prediction */
        kvb_sv p1 = pred;
        if (t->first_line) {
            while (p1.n && p1.p[0] == '\n')
                p1.p++, p1.n--;
            const char *nl = memchr(p1.p, '\n', p1.n);
            if (nl)
                p1.n = (size_t)(nl - p1.p);
        }
        const cJSON *each = cJSON_GetObjectItem(o, "e")->child;
        for (size_t q = 0; q < nans; q++, each = each->next) {
            double s;
            int rc = kvb_metric_score(t->metric, &seg, p1, av[q], cls, ncls, &s, &err);
            cr_assert_eq(rc, 0, "pair line %zu: %s", li + 1, err.msg);
            double d = fabs(s - each->valuedouble);
            worst = fmax(worst, d);
            cr_assert(d <= 1e-9, "line %zu task %s answer %zu: C %.17g, Python %.17g\npred: %s",
                      li + 1, task, q, s, each->valuedouble, pred.p);
            exact += s == each->valuedouble;
            values++;
        }
        double rs;
        cr_assert_eq(kvb_metric_record(t, &seg, pred, av, nans, cls, ncls, &rs, &err), 0, "%s",
                     err.msg);
        cr_assert(fabs(rs - cJSON_GetObjectItem(o, "s")->valuedouble) <= 1e-9, "line %zu record", li + 1);
        group_acc *ga = group_get(cJSON_GetObjectItem(o, "g")->valuestring);
        if (ga->n == ga->cap) {
            ga->cap = ga->cap ? ga->cap * 2 : 256;
            ga->s = realloc(ga->s, ga->cap * sizeof(double));
            ga->len = realloc(ga->len, ga->cap * sizeof(double));
        }
        ga->s[ga->n] = rs;
        ga->len[ga->n++] = cJSON_GetObjectItem(o, "l")->valuedouble;
        pairs++;
        cJSON_Delete(o);
    }
    cr_log_info("%s: %zu pairs (%zu segmented), %zu metric values (%zu bit-identical, worst |d| %.3g), "
                "%zu groups", jieba ? "C jieba" : "recorded jieba cuts", pairs, zh, values, exact, worst, groups);
    cr_assert_geq(pairs, 5000);
    cr_assert_geq(groups, 50);
    cr_assert_eq(exact, values, "all values are expected bit-identical");
    for (size_t i = 0; i < na; i++)
        cJSON_Delete(answers[i]);
    cJSON_Delete(classes);
    free(answers);
    free(al);
    free(pl);
    free(abuf);
    free(pbuf);
    for (size_t k = 0; k < g_ngroups; k++) {
        free(g_groups[k].s);
        free(g_groups[k].len);
    }
    g_ngroups = 0;
    memset(g_groups, 0, sizeof(g_groups));
}

Test(metrics_fixtures, every_pair_matches_metrics_py)
{
    run_fixtures(NULL);
}

/* The same pairs with lib/text/jieba doing the cutting, where jieba's data files exist
 * (python3-jieba, or $KVBENCH_JIEBA_DIR). */
Test(metrics_fixtures, with_the_c_jieba_segmenter)
{
    kvb_jieba *j;
    kvb_error e;
    if (kvb_jieba_load(&j, NULL, &e)) {
        cr_skip_test("jieba data not found: %s", e.msg);
        return;
    }
    kvb_jieba_free(j);
    kvb_lazy_jieba lj;
    cr_assert_eq(kvb_lazy_jieba_init(&lj, NULL), 0);
    kvb_segmenter seg = kvb_lazy_jieba_segmenter(&lj);
    run_fixtures(&seg);
    kvb_lazy_jieba_release(&lj);
}
