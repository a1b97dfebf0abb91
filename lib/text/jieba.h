/* lib/text/jieba: a Chinese word segmenter that reproduces jieba 0.42.1's precise mode with
 * HMM, i.e. Python's `jieba.cut(text, cut_all=False, HMM=True)`, token for token.
 *
 * Data: jieba's own files, read at load time: dict.txt (word, frequency, tag per line) and the
 * finalseg HMM tables finalseg/prob_start.py, prob_trans.py, prob_emit.py (Python literals,
 * parsed here). See docs/jieba.md for the algorithm and the exact tie-breaking rules. */
#ifndef KVB_TEXT_JIEBA_H
#define KVB_TEXT_JIEBA_H

#include <stddef.h>

#include "core/core.h"

typedef struct kvb_jieba kvb_jieba;

/* Called once per token, in order; tok points into the caller's text (not NUL-terminated). */
typedef void (*kvb_strv_cb)(const char *tok, size_t len, void *arg);

/* Default data directory when neither an argument nor $KVBENCH_JIEBA_DIR is given. */
#define KVB_JIEBA_DEFAULT_DIR "/usr/lib/python3/dist-packages/jieba"

/* Load dict.txt and the finalseg tables from dict_dir (NULL: $KVBENCH_JIEBA_DIR if set, else
 * KVB_JIEBA_DEFAULT_DIR). A missing or malformed file fails with KVB_EIO / KVB_EINVAL and an
 * error naming the file (and line). The loaded segmenter is read-only: kvb_jieba_cut may be
 * called from several threads at once. */
int kvb_jieba_load(kvb_jieba **j, const char *dict_dir_or_NULL, kvb_error *e);
void kvb_jieba_free(kvb_jieba *j);

/* Segment text[0..len) and call cb for each token; the concatenation of the tokens is exactly
 * the input. Invalid UTF-8: each byte that does not start a valid sequence is treated as one
 * character outside every class (like a punctuation mark), so it becomes a token of its own; the
 * call never fails on content. Returns 0, or KVB_ENOMEM. */
int kvb_jieba_cut(const kvb_jieba *j, const char *text, size_t len, kvb_strv_cb cb, void *arg,
                  kvb_error *e);

#endif
