/* lib/kvcache/store.h (private): what the compressing methods really hold, per layer and per
 * stored head (a kv head, or a query head with --gqa query_head), and decode attention over it.
 *
 * kvb_seq: fp16 keys and values of a variable number of tokens in position order. ThinK's
 * channel-pruned keys live in a "thin" prefix (n_thin tokens, n_ch kept channels each) whose
 * values sit in the same value array, before the full-width tokens.
 * kvb_qseq: KIVI: keys quantized per channel in blocks of G tokens + an fp16 key residual
 * (< R tokens, flushed R at a time), values quantized per token + an fp16 window of the R most
 * recent values (the oldest is quantized when it overflows). */
#ifndef KVB_KVCACHE_STORE_H
#define KVB_KVCACHE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "kvcache/half.h"
#include "kvcache/kivi_quant.h"

/* ---- fp16 token store ---------------------------------------------------------------------- */
typedef struct kvb_seq {
    int D;
    int n_thin, n_ch;  /* ThinK: tokens with pruned keys, kept channels */
    int n, cap;        /* full-width tokens held, capacity */
    int *ch;           /* (n_ch) kept channel indices, ascending */
    int *pos;          /* (n_thin + cap) original positions, bookkeeping (not cache bytes) */
    kvb_half *kthin;   /* (n_thin, n_ch) */
    kvb_half *k;       /* (cap, D) */
    kvb_half *v;       /* (n_thin + cap, D): thin tokens' values first */
} kvb_seq;

/* Allocate for n_thin thin tokens of n_ch channels and cap full-width tokens. */
int kvb_seq_init(kvb_seq *s, int D, int n_thin, int n_ch, int cap);
/* Bookkeeping only (a device holds the rows): positions of up to cap tokens, k and v NULL;
 * push (with k = v = NULL), keep and the byte counts work as for a store with data. */
int kvb_seq_init_positions(kvb_seq *s, int D, int cap);
/* A positions-only store of full-width tokens makes its n_thin oldest thin, keeping channels
 * ch[0..n_ch) (ThinK on a device: the positions and byte counts of the data store). */
int kvb_seq_thin_positions(kvb_seq *s, int n_thin, const int *ch, int n_ch);
void kvb_seq_release(kvb_seq *s);
/* Append one full-width token at position pos (fp32 in, stored fp16; k = v = NULL for a
 * positions-only store). Fails (-1) when full. */
int kvb_seq_push(kvb_seq *s, const float *k, const float *v, int pos);
/* Keep only the full-width tokens idx[0..m) (ascending), in place. */
void kvb_seq_keep(kvb_seq *s, const int *idx, int m);
int kvb_seq_tokens(const kvb_seq *s);
size_t kvb_seq_k_bytes(const kvb_seq *s);
size_t kvb_seq_v_bytes(const kvb_seq *s);
size_t kvb_seq_meta_bytes(const kvb_seq *s); /* ThinK channel list (as 16-bit indices) */
/* Decode attention of one query head: q (D), out (D). probs: at least tokens floats; on return
 * it holds the softmax probabilities in token order (SimLayerKV reads them). qg: D floats. */
void kvb_seq_attend(const kvb_seq *s, const float *q, float *out, float *probs, float *qg);

/* ---- one KIVI head, as decode attention reads it ------------------------------------------- */
/* The layout of one kv head of kernels/kvb_cuda.h's kvb_kivi_view: logical token j has its key in
 * block j / G (kw, ks, km) when j < nkq, else row j - nkq of kr; its value in row j of vw, vs, vm
 * when j < nvq, else row j - nvq of vr; nkq + nkr == nvq + nvr, nkq % G == 0. */
typedef struct kvb_kivi_head {
    int D, bits, G;
    const uint32_t *kw;         /* (nkq/G, D, G*bits/32): per block, per channel, G codes */
    const kvb_half *ks, *km;    /* (nkq/G, D) */
    int nkq;
    const kvb_half *kr;         /* (nkr, D) fp16 residual keys */
    int nkr;
    const uint32_t *vw;         /* (nvq, D*bits/32) */
    const kvb_half *vs, *vm;    /* (nvq, D/G) */
    int nvq;
    const kvb_half *vr;         /* (nvr, D) fp16 values */
    int nvr;
} kvb_kivi_head;
/* Decode attention of nq query heads of that kv head with the kernels kk (nothing dequantized in
 * memory): q, out (nq, D) contiguous; head i's probabilities at scores + i*s_stride (>= nkq + nkr
 * floats). The CPU cache's attention (kvb_qseq_attend_multi) and the CUDA kernel's CPU twin. */
void kvb_kivi_attend(const kvb_kivi_head *h, const kvb_kivi_kernels *kk, const float *q, int nq,
                     float *out, float *scores, size_t s_stride);

/* ---- KIVI store ----------------------------------------------------------------------------- */
typedef struct kvb_qseq {
    int D, bits, G, R;
    int nkq, nkr;     /* quantized key tokens (multiple of G), fp16 residual keys (< R) */
    int nvq, nvr;     /* quantized value tokens, fp16 values (<= R) */
    int cap;          /* tokens accepted in total */
    int kcap, vcap;   /* capacity in tokens of the quantized parts */
    uint32_t *kw;     /* key blocks: block b at kw + b*D*G*bits/32 (per channel G*bits/32 words) */
    kvb_half *ks, *km; /* (blocks, D) */
    kvb_half *kr;     /* (R, D) */
    uint32_t *vw;     /* (nvq, D*bits/32) */
    kvb_half *vs, *vm; /* (nvq, D/G) */
    kvb_half *vr;     /* (R + 1, D), oldest first */
    const kvb_kivi_kernels *kern; /* decode-attention kernels (kvb_qseq_init: the best) */
} kvb_qseq;

/* cap: tokens the store must be able to hold in total. Attends with the best kernels this CPU
 * runs; set s->kern to choose others (the cache passes its $KVBENCH_ISA choice). */
int kvb_qseq_init(kvb_qseq *s, int D, int bits, int G, int R, int cap);
/* Bookkeeping only (a device holds the codes): the counts of a store of that shape; prefill and
 * append (with NULL data) follow the same rules, the byte counts are the same. */
void kvb_qseq_init_counts(kvb_qseq *s, int D, int bits, int G, int R, int cap);
/* cap is the total number of tokens it accepts; kvb_qseq_append fails (-1) beyond it. */
void kvb_qseq_release(kvb_qseq *s);
/* Prefill rule of KIVI (spec C.2) over T fp16 tokens (rows of D, ld apart): keys quantize the
 * first T - T mod R (none when T < R), values all but the last min(T, R). The store must be
 * empty. */
void kvb_qseq_prefill(kvb_qseq *s, const kvb_half *k, const kvb_half *v, int ld, int T);
/* Decode rule: append one token, flush keys when the residual reaches R, quantize the oldest
 * value when the fp16 window exceeds R. */
int kvb_qseq_append(kvb_qseq *s, const float *k, const float *v);
int kvb_qseq_tokens(const kvb_qseq *s);
void kvb_qseq_bytes(const kvb_qseq *s, size_t *k, size_t *v, size_t *meta, size_t *residual);
/* Decode attention on the packed codes (kivi_attn.c; nothing is dequantized in memory). scores:
 * at least tokens floats (probabilities in token order on return). */
void kvb_qseq_attend(const kvb_qseq *s, const float *q, float *out, float *scores);
/* nq (<= KVB_KIVI_MAX_MULTI) query heads of the same kv head at once, each code unpacked once:
 * q and out (nq, D) contiguous, head i's scores at scores + i * s_stride (>= tokens). */
void kvb_qseq_attend_multi(const kvb_qseq *s, const float *q, int nq, float *out, float *scores,
                           size_t s_stride);

#endif
