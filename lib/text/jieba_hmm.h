/* lib/text/jieba_hmm: private to jieba.c. The HMM that jieba 0.42.1 calls "finalseg": it
 * splits runs of characters that the dictionary route left as single characters into words,
 * with a 4-state (B/M/E/S) Viterbi over jieba's prob_start/prob_trans/prob_emit tables. */
#ifndef KVB_TEXT_JIEBA_HMM_H
#define KVB_TEXT_JIEBA_HMM_H

#include <stddef.h>
#include <stdint.h>

#include "text/jieba.h"

/* finalseg's own notion of a Han character: re_han = [\u4E00-\u9FD5]. */
#define KVB_JIEBA_HAN_LO 0x4E00u
#define KVB_JIEBA_HAN_HI 0x9FD5u
#define KVB_JIEBA_HAN_N (KVB_JIEBA_HAN_HI - KVB_JIEBA_HAN_LO + 1u)
/* finalseg's MIN_FLOAT: the log probability of anything missing from a table. */
#define KVB_JIEBA_MIN_FLOAT (-3.14e100)

/* States in the order of their letters (B < E < M < S), so that "the larger index wins a tie"
 * is Python's tuple comparison (prob, state_letter). */
enum { KVB_HMM_B, KVB_HMM_E, KVB_HMM_M, KVB_HMM_S, KVB_HMM_NSTATES };

typedef struct kvb_jieba_hmm {
    double start[KVB_HMM_NSTATES];
    double trans[KVB_HMM_NSTATES][KVB_HMM_NSTATES]; /* [from][to]; MIN_FLOAT if absent */
    double *emit; /* (state, cp - HAN_LO): KVB_HMM_NSTATES * KVB_JIEBA_HAN_N; MIN_FLOAT if absent */
} kvb_jieba_hmm;

/* Per-call working memory of the Viterbi (grown on demand, freed by the caller). */
typedef struct kvb_jieba_hmm_scratch {
    uint8_t *bp; /* (n, KVB_HMM_NSTATES) back pointers, then n path states */
    size_t cap;  /* characters bp can hold */
} kvb_jieba_hmm_scratch;

/* Load dir/finalseg/prob_{start,trans,emit}.py (Python dict literals). */
int kvb_jieba_hmm_load(kvb_jieba_hmm *h, const char *dir, kvb_error *e);
void kvb_jieba_hmm_release(kvb_jieba_hmm *h);

/* finalseg.cut of the n characters cp[0..n); character i is text[off[i] .. off[i+1]).
 * Tokens go to cb. Returns 0 or KVB_ENOMEM. */
int kvb_jieba_hmm_cut(const kvb_jieba_hmm *h, const char *text, const uint32_t *cp,
                      const size_t *off, size_t n, kvb_jieba_hmm_scratch *s, kvb_strv_cb cb,
                      void *arg, kvb_error *e);

#endif
