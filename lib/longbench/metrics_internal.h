/* Private helpers shared by the metric files (normalize.c, rouge.c, difflib.c, metrics.c). */
#ifndef KVB_LONGBENCH_METRICS_INTERNAL_H
#define KVB_LONGBENCH_METRICS_INTERNAL_H

#include <stdint.h>

#include "longbench/metrics.h"

/* A code-point array. */
typedef struct kvb_cps {
    uint32_t *v;
    size_t n, cap;
} kvb_cps;

void kvb_cps_release(kvb_cps *c);
int kvb_cps_push(kvb_cps *c, uint32_t cp);
/* Decode s into c (appending). */
int kvb_cps_decode(kvb_sv s, kvb_cps *c);
/* Python str.lower() of the code points in[0..n) appended to out (Final_Sigma included). */
int kvb_cps_lower(const uint32_t *in, size_t n, kvb_cps *out);
/* Encode code points to UTF-8, appended to sb. */
int kvb_cps_encode(const uint32_t *v, size_t n, kvb_strbuf *sb);

/* Python's str.split() (no argument): the maximal runs of non-whitespace characters of s, as
 * views into s. *tok is allocated (caller frees); *ntok may be 0. */
int kvb_split_ws(kvb_sv s, kvb_sv **tok, size_t *ntok);

/* Counter(a) & Counter(b) summed, then LongBench's f1_score. Tokens compare bytewise. */
double kvb_f1_tokens(kvb_sv *a, size_t na, kvb_sv *b, size_t nb);

/* Collect the segments of text produced by seg into *tok (views into storage owned by *buf). */
typedef struct kvb_toklist {
    kvb_strbuf buf;  /* concatenated token bytes */
    size_t *off;     /* n + 1 offsets into buf */
    size_t n, cap;
    int oom;
} kvb_toklist;
void kvb_toklist_init(kvb_toklist *t);
void kvb_toklist_release(kvb_toklist *t);
int kvb_toklist_add(kvb_toklist *t, const char *s, size_t n);
int kvb_segment(const kvb_segmenter *seg, kvb_sv text, kvb_toklist *out, kvb_error *e);
static inline kvb_sv kvb_toklist_get(const kvb_toklist *t, size_t i)
{
    kvb_sv s = { t->buf.buf + t->off[i], t->off[i + 1] - t->off[i] };
    return s;
}

#endif
