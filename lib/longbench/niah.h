/* lib/longbench/niah: the needle-in-a-haystack task on the Paul Graham essays.
 *
 * Construction (deterministic, on the token sequence, see docs/niah.md):
 *   haystack = the essays (*.txt) in byte-wise sorted file-name order, each encoded without BOS and
 *              concatenated, repeated from the first essay if more tokens are needed;
 *   prompt   = chat_template(<haystack> + NIAH_SUFFIX(question)) split at the haystack, so
 *              ids = encode(head, bos) ++ haystack[0:H] with the needle ++ encode(tail);
 *   H        = target length - |head| - |needle| - |tail|, so the prompt is exactly `length` ids;
 *   needle   = encode(" " + needle text), inserted at p = floor(H * depth / 100), moved back to
 *              the nearest sentence boundary (just after a token whose text ends in '.', '?', '!'
 *              or a newline), as the original test backs up to a period; depth 100 appends it.
 * Score: keyword recall (fraction of the needle's key words, i.e. its words minus stop words and
 * minus the question's words, found in the answer) and exact containment (the normalized answer
 * contains the needle's span from its first to its last key word). */
#ifndef KVB_LONGBENCH_NIAH_H
#define KVB_LONGBENCH_NIAH_H

#include "core/core.h"
#include "tokenizer/tokenizer.h"

#define KVB_NIAH_NEEDLE                                                                            \
    "The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day."
#define KVB_NIAH_QUESTION "What is the best thing to do in San Francisco?"
/* Default grid, sized for SmolLM2's 8k context. */
#define KVB_NIAH_LENGTHS "1024,2048,4096,7500"
#define KVB_NIAH_METRIC "niah_keyword_recall" /* run.json's metric name of the task */
#define KVB_NIAH_MAX_NEW 64                   /* new tokens per cell */
#define KVB_NIAH_DEPTHS "0,10,20,30,40,50,60,70,80,90,100"

typedef struct kvb_niah kvb_niah;

typedef struct kvb_niah_opts {
    const char *essays_dir;  /* NULL: kvb_niah_essays_dir() */
    const char *needle;      /* NULL: KVB_NIAH_NEEDLE */
    const char *question;    /* NULL: KVB_NIAH_QUESTION */
    const char *chat_family; /* NULL or "none": raw prompt */
    int add_bos;
    int max_length;          /* longest length that will be built (haystack tokens read up to it) */
} kvb_niah_opts;

/* $KVBENCH_ESSAYS, ./datasets/paul-graham-essays, ../shared/datasets/paul-graham-essays. */
const char *kvb_niah_essays_dir(void);

/* What kvb_niah_open refuses before reading anything: no essays, an empty needle or question. */
int kvb_niah_check(const kvb_niah_opts *o, kvb_error *e);
int kvb_niah_open(kvb_niah **n, const kvb_tokenizer *t, const kvb_niah_opts *o, kvb_error *e);
void kvb_niah_free(kvb_niah *n);

/* Prompt ids of one cell. *needle_at: index of the needle's first id in out. */
int kvb_niah_build(const kvb_niah *n, int length, int depth_pct, kvb_ids *out, int *needle_at,
                   kvb_error *e);
/* The needle's ids (as inserted) for tests. */
const kvb_ids *kvb_niah_needle_ids(const kvb_niah *n);
/* Fingerprint of the essays used (FNV-1a 64 over names and bytes), for run.json. */
uint64_t kvb_niah_essays_hash(const kvb_niah *n);
int kvb_niah_essay_count(const kvb_niah *n);

/* Scores in [0, 1]. Key words are computed from needle and question as described above. */
double kvb_niah_score_recall(const char *needle, const char *question, const char *answer);
int kvb_niah_score_exact(const char *needle, const char *question, const char *answer);

/* Parse "a,b,c" of integers in [lo, hi] (strictly increasing not required, duplicates refused). */
int kvb_niah_parse_grid(const char *s, int lo, int hi, int **vals, int *n, const char *what,
                        kvb_error *e);

#endif
