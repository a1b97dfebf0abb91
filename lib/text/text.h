/* lib/text: the building blocks of LongBench's metrics that know no task: string views, code-point
 * arrays, Python's lower()/split(), the answer normalisations, the word segmenter interface,
 * ROUGE-L (PyPI rouge 1.0.1) and difflib/fuzzywuzzy ratios. lib/longbench/metrics.c composes
 * them into metrics.py's functions; nothing here includes lib/longbench. */
#ifndef KVB_TEXT_TEXT_H
#define KVB_TEXT_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* A string view: UTF-8 bytes, not necessarily NUL-terminated. */
typedef struct kvb_sv {
    const char *p;
    size_t n;
} kvb_sv;

/* ---- word segmentation for the Chinese metrics ------------------------------------------- */
/* Same shape as lib/text/jieba.h's kvb_strv_cb and kvb_jieba_cut, so that kvb_jieba plugs in
 * through a one-line adapter; tests plug in recorded segmentations. */
typedef void (*kvb_seg_tok_fn)(const char *tok, size_t len, void *arg);
typedef int (*kvb_seg_cut_fn)(const void *ctx, const char *text, size_t len, kvb_seg_tok_fn cb,
                              void *arg, kvb_error *e);
typedef struct kvb_segmenter {
    kvb_seg_cut_fn cut; /* jieba.cut(text, cut_all=False) */
    const void *ctx;
} kvb_segmenter;

/* ---- Python's recursion limit inside rouge --------------------------------------------------
 * rouge 1.0.1 rebuilds each LCS with a recursive Python function; a path longer than the
 * interpreter's recursion limit raises RecursionError, which rouge_score's bare `except` turns
 * into 0.0. The number of nested _recon frames available is 1000 (sys.getrecursionlimit()) minus
 * the frames already on the stack when eval.py's scorer reaches it: 9 for rouge_score (module,
 * scorer, rouge_score, get_scores, _get_avg_scores, lambda, rouge_l_summary_level, _union_lcs,
 * _recon_lcs) and one more for rouge_zh_score. Calibrated against Python in the fixtures. */
#define KVB_ROUGE_RECON_FRAMES 991
#define KVB_ROUGE_ZH_RECON_FRAMES 990

/* ---- normalisation ------------------------------------------------------------------------ */
/* normalize_answer: lower, drop ASCII punctuation, articles a/an/the -> " ", collapse whitespace.
 * Result appended to out (NUL-terminated). */
int kvb_normalize_answer(kvb_sv s, kvb_strbuf *out);
/* normalize_zh_answer: lower, drop ASCII + Chinese punctuation, drop all whitespace. */
int kvb_normalize_zh_answer(kvb_sv s, kvb_strbuf *out);

/* rouge_score with recon_frames = KVB_ROUGE_RECON_FRAMES as eval.py calls it. */
int kvb_rouge_score(kvb_sv pred, kvb_sv gt, int recon_frames, double *score);

/* fuzzywuzzy fuzz.ratio(a, b) on difflib (0..100), and difflib SequenceMatcher(None, a, b)
 * .ratio() with autojunk, both over code points. */
int kvb_fuzz_ratio(kvb_sv a, kvb_sv b, int *ratio);
int kvb_difflib_ratio(kvb_sv a, kvb_sv b, double *ratio);

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
