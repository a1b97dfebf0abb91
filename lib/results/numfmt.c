/* Python- and numpy-compatible number handling, so that kvbench's result.json and scores are
 * byte-identical to what LongBench's eval.py (Python + numpy) writes. Also the task sets. */
#include "results.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const kvb_bucket_names[KVB_N_BUCKETS] = { "0-4k", "4-8k", "8k+" };

/* round(x, n): glibc's printf rounds the exact binary value, ties to even under the default
 * rounding mode, which is what CPython's correctly rounded round() does. */
double kvb_results_py_round(double x, int ndigits)
{
    if (!isfinite(x) || fabs(x) >= 1e15)
        return x;
    char buf[64];
    snprintf(buf, sizeof(buf), "%.*f", ndigits, x);
    return strtod(buf, NULL);
}

/* repr(float): the shortest digit string that reads back as x, laid out as CPython does
 * (fixed notation when -4 <= exponent < 16, else d.ddde+XX). */
void kvb_results_py_repr(double x, char *buf, size_t n)
{
    if (isnan(x)) {
        snprintf(buf, n, "nan");
        return;
    }
    if (isinf(x)) {
        snprintf(buf, n, x < 0 ? "-inf" : "inf");
        return;
    }
    char e[40];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec - 1, x);
        if (strtod(e, NULL) == x)
            break;
    }
    /* e = [-]d[.ddd]e[+-]XX: split into sign, digits, exponent */
    const char *p = e;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    char digits[24];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.' && nd < 23)
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = 0;
    int exp10 = atoi(p + 1);
    int decpt = exp10 + 1; /* digits d1 d2 ... mean 0.d1d2... * 10^decpt */
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    if (neg)
        kvb_strbuf_adds(&sb, "-");
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            kvb_strbuf_adds(&sb, "0.");
            for (int i = 0; i < -decpt; i++)
                kvb_strbuf_adds(&sb, "0");
            kvb_strbuf_adds(&sb, digits);
        } else if (decpt >= nd) {
            kvb_strbuf_adds(&sb, digits);
            for (int i = nd; i < decpt; i++)
                kvb_strbuf_adds(&sb, "0");
            kvb_strbuf_adds(&sb, ".0");
        } else {
            kvb_strbuf_add(&sb, digits, (size_t)decpt);
            kvb_strbuf_adds(&sb, ".");
            kvb_strbuf_adds(&sb, digits + decpt);
        }
    } else {
        kvb_strbuf_add(&sb, digits, 1);
        if (nd > 1) {
            kvb_strbuf_adds(&sb, ".");
            kvb_strbuf_adds(&sb, digits + 1);
        }
        kvb_strbuf_addf(&sb, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    }
    snprintf(buf, n, "%s", sb.buf ? sb.buf : "0.0");
    kvb_strbuf_release(&sb);
}

/* numpy's DOUBLE_pairwise_sum (blocks of 128, 8 accumulators), as np.sum/np.mean use for a
 * contiguous float64 array; the reduction starts from the identity 0.0. */
static double pairwise(const double *a, long n)
{
    if (n < 8) {
        double res = 0.;
        for (long i = 0; i < n; i++)
            res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++)
            r[j] = a[j];
        long i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++)
                r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res += a[i];
        return res;
    }
    long n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise(a, n2) + pairwise(a + n2, n - n2);
}

double kvb_results_np_sum(const double *a, long n) { return 0.0 + pairwise(a, n); }

static const char *const en16[] = {
    "narrativeqa", "qasper", "multifieldqa_en", "hotpotqa", "2wikimqa", "musique",
    "gov_report", "qmsum", "multi_news", "trec", "triviaqa", "samsum",
    "passage_count", "passage_retrieval_en", "lcc", "repobench-p",
};
static const char *const zh5[] = {
    "multifieldqa_zh", "dureader", "vcsum", "lsht", "passage_retrieval_zh",
};

int kvb_task_in_set(const char *set, const char *task)
{
    int all = !strcmp(set, "all");
    if (!all && strcmp(set, "en16"))
        return 0;
    for (size_t i = 0; i < KVB_ARRAY_SIZE(en16); i++)
        if (!strcmp(en16[i], task))
            return 1;
    if (all)
        for (size_t i = 0; i < KVB_ARRAY_SIZE(zh5); i++)
            if (!strcmp(zh5[i], task))
                return 1;
    return 0;
}
