/* RULER's scoring: scripts/eval/evaluate.py (postprocess_pred) and
 * scripts/eval/synthetic/constants.py (string_match_all, string_match_part), on Python str
 * semantics: str.strip() strips str.isspace() characters, str.lower() is the full Unicode lower
 * case (lib/text, Python 3.11 tables), `r in pred` is a substring test. The task score,
 * round(sum / n * 100, 2) over the per-sample values, is computed where every task score is,
 * in lib/results (kvb_run_task_score). */
#include "ruler/ruler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "text/text.h"
#include "text/unitab.h"

/* ---- postprocess_pred ---------------------------------------------------------------------- */

/* [lo, hi) of v without leading and trailing str.isspace() characters */
static void strip_range(const uint32_t *v, size_t *lo, size_t *hi)
{
    while (*lo < *hi && kvb_uni_is_space(v[*lo]))
        (*lo)++;
    while (*hi > *lo && kvb_uni_is_space(v[*hi - 1]))
        (*hi)--;
}

/* predict_str.strip(); re.sub(r'[\x00-\x1f]', '\n', ...).strip() */
char *kvb_ruler_postprocess(const char *pred)
{
    kvb_cps c = { 0 };
    kvb_strbuf out;
    kvb_strbuf_init(&out);
    char *res = NULL;
    if (kvb_cps_decode((kvb_sv){ pred, strlen(pred) }, &c))
        goto out;
    size_t lo = 0, hi = c.n;
    strip_range(c.v, &lo, &hi);
    for (size_t i = lo; i < hi; i++)
        if (c.v[i] < 0x20)
            c.v[i] = '\n';
    strip_range(c.v, &lo, &hi); /* '\n' is whitespace: the second strip() */
    if (kvb_cps_encode(c.v + lo, hi - lo, &out))
        goto out;
    res = kvb_strbuf_detach(&out);
out:
    kvb_cps_release(&c);
    kvb_strbuf_release(&out);
    return res;
}

/* ---- the metrics --------------------------------------------------------------------------- */

/* s.lower() as a new UTF-8 string (NULL: out of memory) */
static char *py_lower(const char *s)
{
    kvb_cps in = { 0 }, low = { 0 };
    kvb_strbuf out;
    kvb_strbuf_init(&out);
    char *res = NULL;
    if (!kvb_cps_decode((kvb_sv){ s, strlen(s) }, &in) && !kvb_cps_lower(in.v, in.n, &low) &&
        !kvb_cps_encode(low.v, low.n, &out))
        res = kvb_strbuf_detach(&out);
    kvb_cps_release(&in);
    kvb_cps_release(&low);
    kvb_strbuf_release(&out);
    return res;
}

/* Whether r.lower() in pred_low (-1: out of memory). A substring test on UTF-8 bytes is one on
 * code points: no character's encoding starts inside another's. "" is in every string, as in
 * Python. */
static int found(const char *pred_low, const char *r)
{
    char *rl = py_lower(r);
    if (!rl)
        return -1;
    int f = strstr(pred_low, rl) != NULL;
    free(rl);
    return f;
}

/* One sample's term of the metric's sum: string_match_all adds sum(hits) / len(ref),
 * string_match_part adds max(hits). NAN for no reference (Python raises there: ZeroDivisionError,
 * max() of an empty list) or out of memory; callers refuse it. */
double kvb_ruler_score(const kvb_ruler_task *t, const char *pred, char *const *refs, int n_refs)
{
    if (n_refs <= 0)
        return NAN;
    char *pl = py_lower(pred);
    if (!pl)
        return NAN;
    int part = !strcmp(kvb_ruler_task_metric(t), "string_match_part");
    double hits = 0; /* sum([1.0 if ... else 0.0 ...]): whole numbers, exact in a double */
    for (int i = 0; i < n_refs; i++) {
        int f = found(pl, refs[i]);
        if (f < 0) {
            free(pl);
            return NAN;
        }
        hits += f;
        if (part && f)
            break;
    }
    free(pl);
    return part ? hits : hits / n_refs;
}
