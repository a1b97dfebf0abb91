/* lib/longbench/metrics: LongBench v1's metrics.py in C, value for value.
 *
 * Every function reproduces the Python function of the same name in THUDM/LongBench metrics.py
 * together with the libraries LongBench pins (PyPI rouge 1.0.1, fuzzywuzzy 0.18 on Python's
 * difflib, jieba 0.42.1 for the Chinese metrics), including their quirks; docs/metrics.md lists
 * them. Text is UTF-8 with an explicit length; Python's str semantics (code points, Unicode
 * lower(), split(), re's \b and \d) are applied through the tables in unitab.h.
 *
 * Functions return 0 or a negative KVB_E* code (KVB_ENOMEM; KVB_EINVAL where metrics.py would
 * raise on the ground truth, e.g. retrieval_score on an answer without "Paragraph N"). */
#ifndef KVB_LONGBENCH_METRICS_H
#define KVB_LONGBENCH_METRICS_H

#include <stddef.h>

#include "core/core.h"
#include "longbench/tasks.h"

/* A string view: UTF-8 bytes, not necessarily NUL-terminated. */
typedef struct kvb_sv {
    const char *p;
    size_t n;
} kvb_sv;

/* ---- word segmentation for the Chinese metrics ------------------------------------------- */
/* Same shape as lib/longbench/jieba.h's kvb_strv_cb and kvb_jieba_cut, so that kvb_jieba plugs in
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

/* ---- the metric functions (score in [0, 1]) ------------------------------------------------ */
int kvb_qa_f1_score(kvb_sv pred, kvb_sv gt, double *score);
int kvb_qa_f1_zh_score(const kvb_segmenter *seg, kvb_sv pred, kvb_sv gt, double *score,
                       kvb_error *e);
/* rouge_score with recon_frames = KVB_ROUGE_RECON_FRAMES as eval.py calls it. */
int kvb_rouge_score(kvb_sv pred, kvb_sv gt, int recon_frames, double *score);
int kvb_rouge_zh_score(const kvb_segmenter *seg, kvb_sv pred, kvb_sv gt, double *score,
                       kvb_error *e);
/* classification_score: classes in all_classes order. */
int kvb_classification_score(kvb_sv pred, kvb_sv gt, const kvb_sv *classes, size_t nclasses,
                             double *score);
/* retrieval_score (zh = 0, "Paragraph N") and retrieval_zh_score (zh = 1, "段落N"). */
int kvb_retrieval_score(kvb_sv pred, kvb_sv gt, int zh, double *score, kvb_error *e);
int kvb_count_score(kvb_sv pred, kvb_sv gt, double *score);
int kvb_code_sim_score(kvb_sv pred, kvb_sv gt, double *score);

/* fuzzywuzzy fuzz.ratio(a, b) on difflib (0..100), and difflib SequenceMatcher(None, a, b)
 * .ratio() with autojunk, both over code points. */
int kvb_fuzz_ratio(kvb_sv a, kvb_sv b, int *ratio);
int kvb_difflib_ratio(kvb_sv a, kvb_sv b, double *ratio);

/* ---- dispatch ----------------------------------------------------------------------------- */
/* dataset2metric[task](pred, gt, all_classes=classes). seg may be NULL; the Chinese metrics then
 * fail with KVB_EUNSUP "zh tasks need the jieba segmenter". */
int kvb_metric_score(enum kvb_metric m, const kvb_segmenter *seg, kvb_sv pred, kvb_sv gt,
                     const kvb_sv *classes, size_t nclasses, double *score, kvb_error *e);
/* eval.py's per-record score: the first-line rule (trec, triviaqa, samsum, lsht: lstrip('\n'),
 * keep up to the first '\n'), then the maximum over the answers, starting from 0.0. */
int kvb_metric_record(const kvb_task *t, const kvb_segmenter *seg, kvb_sv pred,
                      const kvb_sv *answers, size_t nanswers, const kvb_sv *classes,
                      size_t nclasses, double *score, kvb_error *e);

#endif
