/* lib/longbench/metrics: LongBench v1's metrics.py in C, value for value.
 *
 * Every function reproduces the Python function of the same name in THUDM/LongBench metrics.py
 * together with the libraries LongBench pins (PyPI rouge 1.0.1, fuzzywuzzy 0.18 on Python's
 * difflib, jieba 0.42.1 for the Chinese metrics), including their quirks; docs/metrics.md lists
 * them. Text is UTF-8 with an explicit length; Python's str semantics (code points, Unicode
 * lower(), split(), re's \b and \d) are applied through lib/text (text.h, unitab.h).
 *
 * Functions return 0 or a negative KVB_E* code (KVB_ENOMEM; KVB_EINVAL where metrics.py would
 * raise on the ground truth, e.g. retrieval_score on an answer without "Paragraph N"). */
#ifndef KVB_LONGBENCH_METRICS_H
#define KVB_LONGBENCH_METRICS_H

#include <stddef.h>

#include "core/core.h"
#include "longbench/tasks.h"
#include "text/text.h" /* kvb_sv, kvb_segmenter, normalisation, rouge, difflib */

/* ---- the metric functions (score in [0, 1]) ------------------------------------------------ */
int kvb_qa_f1_score(kvb_sv pred, kvb_sv gt, double *score);
int kvb_qa_f1_zh_score(const kvb_segmenter *seg, kvb_sv pred, kvb_sv gt, double *score,
                       kvb_error *e);
int kvb_rouge_zh_score(const kvb_segmenter *seg, kvb_sv pred, kvb_sv gt, double *score,
                       kvb_error *e);
/* classification_score: classes in all_classes order. */
int kvb_classification_score(kvb_sv pred, kvb_sv gt, const kvb_sv *classes, size_t nclasses,
                             double *score);
/* retrieval_score (zh = 0, "Paragraph N") and retrieval_zh_score (zh = 1, "段落N"). */
int kvb_retrieval_score(kvb_sv pred, kvb_sv gt, int zh, double *score, kvb_error *e);
int kvb_count_score(kvb_sv pred, kvb_sv gt, double *score);
int kvb_code_sim_score(kvb_sv pred, kvb_sv gt, double *score);

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
