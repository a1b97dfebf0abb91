/* lib/core/pynum.c: see pynum.h. */
#include "core/pynum.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

double kvb_py_round(double x, int ndigits)
{
    /* CPython rounds through the correctly rounded decimal string; glibc's printf rounds the
     * exact binary value the same way (ties to even under the default rounding mode). 512 bytes
     * hold the 309 integer digits of DBL_MAX plus 100 decimals. */
    if (!isfinite(x))
        return x;
    if (ndigits < 0)
        ndigits = 0;
    if (ndigits > 100)
        ndigits = 100;
    char buf[512];
    snprintf(buf, sizeof(buf), "%.*f", ndigits, x);
    return strtod(buf, NULL);
}

void kvb_py_repr(double x, int json, char *buf, size_t size)
{
    if (isnan(x)) {
        snprintf(buf, size, json ? "NaN" : "nan");
        return;
    }
    if (isinf(x)) {
        snprintf(buf, size, json ? (x > 0 ? "Infinity" : "-Infinity") : (x > 0 ? "inf" : "-inf"));
        return;
    }
    /* shortest round-tripping digits: e = [-]d[.ddd]e[+-]XX */
    char e[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(e, sizeof(e), "%.*e", p - 1, x);
        if (strtod(e, NULL) == x)
            break;
    }
    const char *s = e;
    int neg = *s == '-';
    if (neg)
        s++;
    char digits[24];
    int nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s != '.' && nd < 23)
            digits[nd++] = *s;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = 0;
    int exp10 = atoi(s + 1);
    int decpt = exp10 + 1; /* value = 0.digits * 10^decpt */
    char out[64];
    int o = 0;
    if (neg)
        out[o++] = '-';
    if (decpt <= -4 || decpt > 16) { /* CPython's float_repr_style 'short' switches here */
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (int k = 1; k < nd; k++)
                out[o++] = digits[k];
        }
        snprintf(out + o, sizeof(out) - (size_t)o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    } else {
        if (decpt <= 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int k = 0; k < -decpt; k++)
                out[o++] = '0';
            for (int k = 0; k < nd; k++)
                out[o++] = digits[k];
        } else {
            for (int k = 0; k < decpt; k++)
                out[o++] = k < nd ? digits[k] : '0';
            out[o++] = '.';
            if (nd > decpt)
                for (int k = decpt; k < nd; k++)
                    out[o++] = digits[k];
            else
                out[o++] = '0';
        }
        out[o] = 0;
    }
    snprintf(buf, size, "%s", out);
}

double kvb_np_pairwise_sum(const double *a, size_t n)
{
    if (n < 8) {
        double res = 0.;
        for (size_t i = 0; i < n; i++)
            res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        size_t i;
        for (int k = 0; k < 8; k++)
            r[k] = a[k];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int k = 0; k < 8; k++)
                r[k] += a[i + k];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res += a[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return kvb_np_pairwise_sum(a, n2) + kvb_np_pairwise_sum(a + n2, n - n2);
}

/* ---- numpy -------------------------------------------------------------------------------- */
double kvb_np_sum(const double *a, size_t n)
{
    return 0.0 + kvb_np_pairwise_sum(a, n);
}

double kvb_np_mean(const double *a, size_t n)
{
    return n ? kvb_np_sum(a, n) / (double)n : NAN;
}

double kvb_np_round(double x, int decimals)
{
    double f = 1.0;
    for (int i = 0; i < decimals; i++)
        f *= 10.0;
    return rint(x * f) / f;
}

void kvb_np_linspace(double start, double stop, size_t num, int endpoint, double *out)
{
    size_t div = endpoint ? (num > 0 ? num - 1 : 0) : num;
    double delta = stop - start;
    if (div == 0) { /* no step: numpy multiplies by delta itself */
        for (size_t i = 0; i < num; i++)
            out[i] = (double)i * delta + start;
    } else {
        double step = delta / (double)div;
        for (size_t i = 0; i < num; i++) /* step 0 (denormal delta): numpy divides first */
            out[i] = (step == 0 ? (double)i / (double)div * delta : (double)i * step) + start;
    }
    if (endpoint && num > 1)
        out[num - 1] = stop;
}
