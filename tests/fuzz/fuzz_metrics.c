/* libFuzzer harness: every LongBench metric on arbitrary (prediction, answer) bytes. The input is
 * split at its first 0xFF byte (never valid UTF-8) into prediction | answer | class list ('|'). */
#include "fuzz.h"

#include <string.h>

#include "longbench/metrics.h"

/* a segmenter that cuts after every byte of ASCII space: enough to drive the zh code paths */
static int space_cut(const void *ctx, const char *text, size_t len, kvb_seg_tok_fn cb, void *arg,
                     kvb_error *e)
{
    (void)ctx;
    (void)e;
    size_t s = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] == ' ') {
            if (i > s)
                cb(text + s, i - s, arg);
            cb(text + i, 1, arg);
            s = i + 1;
        }
    if (len > s)
        cb(text + s, len - s, arg);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *ff = memchr(p, 0xFF, size);
    kvb_sv pred = { p, ff ? (size_t)(ff - p) : size / 2 };
    kvb_sv gt = { p + pred.n + (ff ? 1 : 0), size - pred.n - (ff ? 1 : 0) };
    kvb_sv classes[8];
    size_t nc = 0;
    for (size_t i = 0, s = 0; i <= gt.n && nc < 8; i++)
        if (i == gt.n || gt.p[i] == '|') {
            classes[nc].p = gt.p + s;
            classes[nc++].n = i - s;
            s = i + 1;
        }
    kvb_segmenter seg = { space_cut, NULL };
    kvb_error e;
    double s;
    for (int m = 0; m < KVB_METRIC__N; m++)
        kvb_metric_score((enum kvb_metric)m, &seg, pred, gt, classes, nc, &s, &e);
    kvb_rouge_score(pred, gt, 50, &s); /* a small recursion budget reaches the window logic */
    return 0;
}
