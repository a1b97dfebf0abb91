/* lib/tokenizer: the encode pipeline, in HF tokenizers' order: invalid UTF-8 replaced (as
 * Python's decode('utf-8', 'replace')), added/special tokens cut out of the raw text
 * (leftmost-longest, with lstrip/rstrip/single_word), normalizers per remaining piece, added
 * tokens flagged `normalized` cut out of the normalized text, pre-tokenizers, BPE per segment. */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- added tokens ------------------------------------------------------------------------ */
static int is_word_char(uint32_t c)
{
    /* HF's single_word test uses char::is_alphanumeric; without Unicode tables we treat ASCII
     * alphanumerics, '_' and every non-ASCII character as word characters (no shipped
     * tokenizer here sets single_word). */
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c == '_' || c >= 0x80;
}

/* The code point that ends at byte `at` (0 at the start). */
static uint32_t cp_before(const char *s, size_t at)
{
    if (at == 0)
        return 0;
    size_t k = at - 1;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    uint32_t cp;
    kvb_text_utf8_decode(s + k, at - k, &cp, KVB_TEXT_UTF8_REPLACE);
    return cp;
}

/* Finds the next added token (of the given `normalized` class) at or after pos. Fills the
 * token index and the span it consumes (whitespace included for lstrip/rstrip). */
static int find_added(const kvb_tokenizer *t, const char *s, size_t n, size_t pos, size_t floor_,
                      int normalized, size_t *ms, size_t *me, int *which)
{
    for (size_t i = pos; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!t->added_first[normalized][c])
            continue;
        int best = -1;
        for (int k = 0; k < t->n_added; k++) {
            const kvb_tok_added *a = &t->added[k];
            if (a->normalized != normalized || (unsigned char)a->pat[0] != c ||
                a->plen > n - i || (best >= 0 && a->plen <= t->added[best].plen))
                continue;
            if (memcmp(s + i, a->pat, a->plen))
                continue;
            if (a->single_word) {
                uint32_t after = 0;
                if (i + a->plen < n)
                    kvb_text_utf8_decode(s + i + a->plen, n - i - a->plen, &after,
                                         KVB_TEXT_UTF8_REPLACE);
                if ((i > 0 && is_word_char(cp_before(s, i))) || (after && is_word_char(after)))
                    continue;
            }
            best = k;
        }
        if (best < 0)
            continue;
        const kvb_tok_added *a = &t->added[best];
        size_t st = i, en = i + a->plen;
        if (a->lstrip) {
            while (st > floor_) {
                uint32_t cp = cp_before(s, st);
                if (!kvb_tok_is_whitespace(cp))
                    break;
                char tmp[4];
                st -= kvb_utf8_put(tmp, cp); /* sanitized text: lengths agree */
            }
        }
        if (a->rstrip) {
            while (en < n) {
                uint32_t cp;
                int l = kvb_text_utf8_decode(s + en, n - en, &cp, KVB_TEXT_UTF8_REPLACE);
                if (!kvb_tok_is_whitespace(cp))
                    break;
                en += (size_t)l;
            }
        }
        *ms = st;
        *me = en;
        *which = best;
        return 1;
    }
    return 0;
}

/* ---- pipeline ---------------------------------------------------------------------------- */
typedef struct enc_ctx {
    const kvb_tokenizer *t;
    kvb_bpe_cache *cache;
    kvb_strbuf nbuf, pbuf;
    kvb_segs segs, tmp;
    pcre2_match_data *md;
    kvb_ids *out;
} enc_ctx;

/* Pre-tokenizes and BPE-encodes one normalized piece. */
static int encode_normalized(enc_ctx *c, const char *s, size_t n, int first)
{
    const kvb_tokenizer *t = c->t;
    c->pbuf.len = 0;
    if (kvb_strbuf_add(&c->pbuf, s, n))
        return KVB_ENOMEM;
    int rc = kvb_tok_pretokenize(t, &c->pbuf, first, &c->segs, &c->tmp, c->md);
    for (size_t i = 0; i < c->segs.n && !rc; i++)
        rc = kvb_bpe_word(t, c->cache, c->pbuf.buf + c->segs.v[i].off, c->segs.v[i].len, c->out);
    return rc;
}

static int encode_piece(enc_ctx *c, const char *s, size_t n, int first)
{
    const kvb_tokenizer *t = c->t;
    if (n == 0)
        return 0;
    const char *ns = s;
    size_t nn = n;
    if (t->n_norm) {
        if (kvb_tok_normalize(t, s, n, &c->nbuf))
            return KVB_ENOMEM;
        ns = c->nbuf.buf;
        nn = c->nbuf.len;
    }
    if (!t->any_normalized_added)
        return encode_normalized(c, ns, nn, first);
    /* added tokens flagged `normalized` match in the normalized text; copy it, since the
     * pieces are normalized again into nbuf */
    char *copy = kvb_malloc(nn + 1);
    if (!copy)
        return KVB_ENOMEM;
    memcpy(copy, ns, nn);
    size_t pos = 0, ms, me;
    int which, rc = 0;
    while (!rc && find_added(t, copy, nn, pos, pos, 1, &ms, &me, &which)) {
        rc = encode_normalized(c, copy + pos, ms - pos, first && pos == 0);
        if (!rc)
            rc = kvb_ids_push(c->out, t->added[which].id);
        pos = me;
    }
    if (!rc)
        rc = encode_normalized(c, copy + pos, nn - pos, first && pos == 0);
    free(copy);
    return rc;
}

int kvb_tokenizer_encode(const kvb_tokenizer *t, const char *text, size_t len, int add_bos,
                         kvb_ids *out, kvb_error *e)
{
    if (!text && len)
        return kvb_errorf(e, KVB_EINVAL, "tokenizer: NULL text");
    if (add_bos && t->bos_id >= 0 && kvb_ids_push(out, t->bos_id))
        return kvb_errorf(e, KVB_ENOMEM, "tokenizer: out of memory");
    kvb_strbuf clean;
    kvb_strbuf_init(&clean);
    const char *s = text;
    if (kvb_utf8_valid_prefix(text, len) != len) {
        if (kvb_tok_utf8_sanitize(text, len, &clean))
            return kvb_errorf(e, KVB_ENOMEM, "tokenizer: out of memory");
        s = clean.buf;
        len = clean.len;
    }
    enc_ctx c = { .t = t, .out = out };
    kvb_strbuf_init(&c.nbuf);
    kvb_strbuf_init(&c.pbuf);
    c.cache = kvb_bpe_cache_new();
    c.md = pcre2_match_data_create(8, NULL);
    int rc = (!c.cache || !c.md) ? KVB_ENOMEM : 0;
    size_t pos = 0, ms, me;
    int which;
    while (!rc && find_added(t, s, len, pos, pos, 0, &ms, &me, &which)) {
        rc = encode_piece(&c, s + pos, ms - pos, pos == 0);
        if (!rc)
            rc = kvb_ids_push(out, t->added[which].id);
        pos = me;
    }
    if (!rc)
        rc = encode_piece(&c, s + pos, len - pos, pos == 0);
    kvb_bpe_cache_free(c.cache);
    if (c.md)
        pcre2_match_data_free(c.md);
    kvb_strbuf_release(&c.nbuf);
    kvb_strbuf_release(&c.pbuf);
    free(c.segs.v);
    free(c.tmp.v);
    kvb_strbuf_release(&clean);
    if (rc)
        return kvb_errorf(e, rc, "%s: out of memory while encoding %zu bytes", t->src, len);
    return 0;
}
