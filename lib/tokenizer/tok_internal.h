/* lib/tokenizer private header: the tokenizer object shared by the loaders (hf_load.c,
 * gguf_vocab.c), the pipeline stages (normalize.c, pretok.c, added.c), the BPE model (bpe.c)
 * and the decoders (decode.c). Not for use outside lib/tokenizer. */
#ifndef KVB_TOK_INTERNAL_H
#define KVB_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/utf8.h" /* the decoder, with KVB_TEXT_UTF8_REPLACE: invalid input is U+FFFD here */
#include "tokenizer/tokenizer.h"

/* Sizes refused as absurd before allocating (the real files are far below these). */
#define KVB_TOK_MAX_VOCAB (1 << 22)
#define KVB_TOK_MAX_MERGES (1 << 23)
#define KVB_TOK_MAX_TOKEN_BYTES 4096
#define KVB_TOK_MAX_FILE ((size_t)512 << 20)

/* ---- string -> id hash (open addressing, keys point into the token pool) ----------------- */
typedef struct kvb_tok_hash {
    uint32_t *slot; /* id + 1, 0 = empty */
    size_t mask;
} kvb_tok_hash;

uint64_t kvb_tok_hash_bytes(const void *p, size_t n);

/* ---- merges: (left id, right id) -> (rank, merged id) ------------------------------------- */
typedef struct kvb_tok_merge {
    uint64_t key; /* (left << 32) | right, + 1 so that 0 marks an empty slot */
    int32_t rank, id;
} kvb_tok_merge;

/* ---- added tokens, matched in the raw text before normalization --------------------------- */
typedef struct kvb_tok_added {
    char *content;
    size_t len;
    char *pat;   /* what is matched: content, or content normalized (HF matches `normalized`
                  * tokens by their normalized form in the normalized text) */
    size_t plen;
    int32_t id;
    unsigned char lstrip, rstrip, single_word, normalized, special;
} kvb_tok_added;

/* ---- pipeline stages -------------------------------------------------------------------- */
enum kvb_norm_kind { KVB_NORM_PREPEND, KVB_NORM_REPLACE };
typedef struct kvb_norm_step {
    enum kvb_norm_kind kind;
    char *a, *b; /* PREPEND: a = prefix; REPLACE: a -> b (plain string pattern) */
    size_t alen, blen;
    pcre2_code *re; /* REPLACE with a Regex pattern (else NULL) */
} kvb_norm_step;

enum kvb_pretok_kind { KVB_PRE_SPLIT, KVB_PRE_BYTELEVEL, KVB_PRE_DIGITS, KVB_PRE_METASPACE };
enum kvb_split_behavior {
    KVB_SPLIT_REMOVED, KVB_SPLIT_ISOLATED, KVB_SPLIT_MERGED_PREV, KVB_SPLIT_MERGED_NEXT,
    KVB_SPLIT_CONTIGUOUS
};
typedef struct kvb_pretok_step {
    enum kvb_pretok_kind kind;
    pcre2_code *re;            /* SPLIT (and BYTELEVEL use_regex, DIGITS) */
    enum kvb_split_behavior behavior;
    int invert;
    int add_prefix_space;      /* BYTELEVEL */
    char *replacement;         /* METASPACE */
    size_t rlen;
    int prepend;               /* METASPACE: 0 never, 1 first, 2 always */
    int split;                 /* METASPACE */
} kvb_pretok_step;

enum kvb_dec_kind {
    KVB_DEC_REPLACE, KVB_DEC_BYTEFALLBACK, KVB_DEC_FUSE, KVB_DEC_STRIP, KVB_DEC_BYTELEVEL,
    KVB_DEC_METASPACE
};
typedef struct kvb_dec_step {
    enum kvb_dec_kind kind;
    char *a, *b; /* REPLACE a -> b; METASPACE a = replacement */
    size_t alen, blen;
    uint32_t strip_char; /* STRIP: code point */
    int start, stop;     /* STRIP counts; METASPACE start = prepend scheme != never */
} kvb_dec_step;

#define KVB_TOK_MAX_STEPS 16

/* Token attributes. */
enum {
    KVB_TOKA_SPECIAL = 1,   /* skipped by skip_special decoding */
    KVB_TOKA_ADDED = 4,     /* from added_tokens / control tokens */
    KVB_TOKA_MAPPED = 8,    /* byte-level: stored as raw bytes, the file spells it byte-mapped */
};

struct kvb_tokenizer {
    char *src; /* file named in error messages */
    int n_vocab, id_cap;

    /* Token strings in "internal" form: raw bytes for byte-level vocabularies (the GPT-2 byte
     * map undone at load), the file's UTF-8 otherwise. One pool, offsets per id. */
    char *pool;
    size_t pool_len, pool_cap;
    uint32_t *tok_off, *tok_len; /* tok_len = UINT32_MAX: id has no token */
    uint8_t *attr;
    kvb_tok_hash h;              /* internal form -> id (model vocab first) */

    /* Character pairs that occur inside some token (sentencepiece-style vocabularies): a long
     * piece is cut where two known characters meet that no token joins, since no merge can
     * ever cross such a point (bpe.c). */
    uint64_t *cpairs;
    size_t cpair_mask;

    kvb_tok_merge *merges;
    size_t merge_mask;
    size_t n_merges;

    /* BPE model */
    int byte_level;     /* ByteLevel pre-tokenizer: BPE symbols are bytes */
    int byte_fallback, fuse_unk, ignore_merges;
    int32_t unk_id;
    int32_t byte_tok[256]; /* byte-level: id of each byte; byte_fallback: id of <0xXX> (or -1) */
    int32_t ascii_tok[128]; /* sentencepiece-style: id of each ASCII char as a symbol (or -1) */

    kvb_norm_step norm[KVB_TOK_MAX_STEPS];
    int n_norm;
    kvb_pretok_step pre[KVB_TOK_MAX_STEPS];
    int n_pre;
    kvb_dec_step dec[KVB_TOK_MAX_STEPS];
    int n_dec;

    kvb_tok_added *added;
    int n_added;
    /* [0][b]: some added token matched in the raw text starts with byte b; [1][b]: the same for
     * tokens matched in normalized text */
    uint8_t added_first[2][256];
    int any_normalized_added;

    int32_t bos_id, eos_id;
    int file_adds_bos; /* HF: the post-processor prepends BOS; GGUF: tokenizer.ggml.add_bos_token */
    int clean_up_spaces;
};

/* tok_util.c */
int kvb_tok_add_token(kvb_tokenizer *t, int32_t id, const char *s, size_t n, kvb_error *e);
int kvb_tok_hash_build(kvb_tokenizer *t, kvb_error *e);
int32_t kvb_tok_lookup(const kvb_tokenizer *t, const char *s, size_t n);
int kvb_tok_merges_alloc(kvb_tokenizer *t, size_t n, kvb_error *e);
int kvb_tok_merge_add(kvb_tokenizer *t, int32_t l, int32_t r, int32_t rank, int32_t id);
const kvb_tok_merge *kvb_tok_merge_find(const kvb_tokenizer *t, int32_t l, int32_t r);
/* GPT-2 byte <-> unicode map: code point of byte b; byte of code point (or -1). */
uint32_t kvb_tok_byte_to_cp(unsigned b);
int kvb_tok_cp_to_byte(uint32_t cp);
/* Undo the byte map: out gets raw bytes; returns 0 if some char is outside the map (invalid
 * UTF-8 included: it decodes as U+FFFD). */
int kvb_tok_unmap_bytelevel(const char *s, size_t n, char *out, size_t *outn);
/* Replace invalid UTF-8 the way Python's decode('utf-8', 'replace') and Rust's
 * from_utf8_lossy do (one U+FFFD per maximal invalid subpart). Appends to sb. */
int kvb_tok_utf8_sanitize(const char *s, size_t n, kvb_strbuf *sb);
int kvb_tok_is_whitespace(uint32_t cp);
pcre2_code *kvb_tok_regex(const char *pattern, size_t len, int literal, kvb_error *e,
                          const char *src);
int kvb_tok_finalize(kvb_tokenizer *t, kvb_error *e);
kvb_tokenizer *kvb_tok_new(const char *src);

int kvb_tok_cpairs_build(kvb_tokenizer *t, kvb_error *e);
/* bpe.c: BPE of one pre-tokenized piece (internal form). The cache is per encode call. */
typedef struct kvb_bpe_cache kvb_bpe_cache;
kvb_bpe_cache *kvb_bpe_cache_new(void);
void kvb_bpe_cache_free(kvb_bpe_cache *c);
int kvb_bpe_word(const kvb_tokenizer *t, kvb_bpe_cache *c, const char *s, size_t n, kvb_ids *out);

/* pretok.c: pre-tokenization of one normalized piece into segments (offsets into buf). */
typedef struct kvb_seg {
    size_t off, len;
} kvb_seg;
typedef struct kvb_segs {
    kvb_seg *v;
    size_t n, cap;
} kvb_segs;
int kvb_segs_push(kvb_segs *s, size_t off, size_t len);
/* Normalizers on one piece: text -> out (cleared first). */
int kvb_tok_normalize(const kvb_tokenizer *t, const char *s, size_t n, kvb_strbuf *out);
/* Runs the pre-tokenizer steps on buf (which they may rewrite); leaves the segments in out.
 * first: the piece starts the text (Metaspace prepend_scheme "first"). */
int kvb_tok_pretokenize(const kvb_tokenizer *t, kvb_strbuf *buf, int first, kvb_segs *out,
                        kvb_segs *tmp, pcre2_match_data *md);

#endif
