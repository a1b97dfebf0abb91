/* lib/tokenizer: decoding. The ids become token strings (special ones dropped on request), then
 * the file's decoder chain runs over the list of strings exactly as HF's decode_chain does
 * (Replace, ByteFallback, Fuse, Strip, ByteLevel, Metaspace); no decoder joins with spaces.
 * Streaming decode re-decodes and emits only text that is final: never a partial character. */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

/* A list of strings: one buffer, offsets and lengths per item. */
typedef struct slist {
    kvb_strbuf buf;
    size_t *off, *len;
    size_t n, cap;
} slist;

static int slist_add(slist *l, const char *s, size_t n)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        size_t *o = kvb_realloc(l->off, cap * sizeof *o);
        if (!o)
            return KVB_ENOMEM;
        l->off = o;
        size_t *q = kvb_realloc(l->len, cap * sizeof *q);
        if (!q)
            return KVB_ENOMEM;
        l->len = q;
        l->cap = cap;
    }
    l->off[l->n] = l->buf.len;
    l->len[l->n] = n;
    l->n++;
    return kvb_strbuf_add(&l->buf, s, n) ? KVB_ENOMEM : 0;
}

static void slist_release(slist *l)
{
    kvb_strbuf_release(&l->buf);
    free(l->off);
    free(l->len);
    memset(l, 0, sizeof *l);
}

#define ITEM(l, i) ((l)->buf.buf + (l)->off[i])

static int parse_byte_token(const char *s, size_t n, unsigned *v)
{
    if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>')
        return 0;
    unsigned x = 0;
    for (int k = 3; k < 5; k++) {
        char c = s[k];
        x <<= 4;
        if (c >= '0' && c <= '9') x |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') x |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') x |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *v = x;
    return 1;
}

/* One decoder step: in -> out (out is empty on entry). */
static int dec_step(const kvb_dec_step *st, slist *in, slist *out)
{
    kvb_strbuf tmp;
    kvb_strbuf_init(&tmp);
    int rc = 0;
    switch (st->kind) {
    case KVB_DEC_REPLACE:
    case KVB_DEC_METASPACE:
        for (size_t i = 0; i < in->n && !rc; i++) {
            const char *s = ITEM(in, i);
            size_t n = in->len[i], pos = 0;
            tmp.len = 0;
            while (!rc && pos < n) {
                if (st->alen && pos + st->alen <= n && !memcmp(s + pos, st->a, st->alen)) {
                    if (st->kind == KVB_DEC_REPLACE)
                        rc = kvb_strbuf_add(&tmp, st->b, st->blen);
                    else if (!(i == 0 && st->start)) /* HF drops it in the first token */
                        rc = kvb_strbuf_add(&tmp, " ", 1);
                    pos += st->alen;
                } else {
                    rc = kvb_strbuf_add(&tmp, s + pos, 1);
                    pos++;
                }
            }
            if (!rc)
                rc = slist_add(out, tmp.buf ? tmp.buf : "", tmp.len);
        }
        break;
    case KVB_DEC_BYTEFALLBACK: {
        kvb_strbuf bytes;
        kvb_strbuf_init(&bytes);
        for (size_t i = 0; i <= in->n && !rc; i++) {
            unsigned v;
            if (i < in->n && parse_byte_token(ITEM(in, i), in->len[i], &v)) {
                char c = (char)v;
                rc = kvb_strbuf_add(&bytes, &c, 1);
                continue;
            }
            if (bytes.len) {
                /* a run of byte tokens: kept if it is valid UTF-8, else one U+FFFD per byte */
                if (kvb_utf8_valid_prefix(bytes.buf, bytes.len) == bytes.len) {
                    rc = slist_add(out, bytes.buf, bytes.len);
                } else {
                    for (size_t k = 0; k < bytes.len && !rc; k++)
                        rc = slist_add(out, "\xEF\xBF\xBD", 3);
                }
                bytes.len = 0;
            }
            if (i < in->n && !rc)
                rc = slist_add(out, ITEM(in, i), in->len[i]);
        }
        kvb_strbuf_release(&bytes);
        break;
    }
    case KVB_DEC_FUSE:
        for (size_t i = 0; i < in->n && !rc; i++)
            rc = kvb_strbuf_add(&tmp, ITEM(in, i), in->len[i]);
        if (!rc)
            rc = slist_add(out, tmp.buf ? tmp.buf : "", tmp.len);
        break;
    case KVB_DEC_STRIP: {
        char cs[4];
        size_t cl = kvb_utf8_put(cs, st->strip_char);
        for (size_t i = 0; i < in->n && !rc; i++) {
            const char *s = ITEM(in, i);
            size_t a = 0, b = in->len[i];
            for (int k = 0; k < st->start && a + cl <= b && !memcmp(s + a, cs, cl); k++)
                a += cl;
            for (int k = 0; k < st->stop && b >= a + cl && !memcmp(s + b - cl, cs, cl); k++)
                b -= cl;
            rc = slist_add(out, s + a, b - a);
        }
        break;
    }
    case KVB_DEC_BYTELEVEL:
        /* each token back to bytes (a token with a character outside the byte map stays as
         * its UTF-8, as HF does), then one lossy UTF-8 string */
        for (size_t i = 0; i < in->n && !rc; i++) {
            const char *s = ITEM(in, i);
            size_t n = in->len[i], k;
            char *raw = kvb_malloc(n + 1);
            if (!raw)
                rc = KVB_ENOMEM;
            else if (kvb_tok_unmap_bytelevel(s, n, raw, &k))
                rc = kvb_strbuf_add(&tmp, raw, k);
            else
                rc = kvb_strbuf_add(&tmp, s, n);
            free(raw);
        }
        if (!rc) {
            kvb_strbuf clean;
            kvb_strbuf_init(&clean);
            rc = kvb_tok_utf8_sanitize(tmp.buf ? tmp.buf : "", tmp.len, &clean);
            if (!rc)
                rc = slist_add(out, clean.buf ? clean.buf : "", clean.len);
            kvb_strbuf_release(&clean);
        }
        break;
    }
    kvb_strbuf_release(&tmp);
    return rc ? KVB_ENOMEM : 0;
}

/* The token as the file spells it: byte-level tokens go back through the byte map, so the
 * decoder chain sees what HF's sees (its ByteLevel step maps them back to bytes). */
static int add_token(const kvb_tokenizer *t, int32_t id, slist *l, kvb_strbuf *spell)
{
    const char *s = t->pool + t->tok_off[id];
    size_t n = t->tok_len[id];
    if (!(t->attr[id] & KVB_TOKA_MAPPED))
        return slist_add(l, s, n);
    spell->len = 0;
    for (size_t i = 0; i < n; i++) {
        char u[4];
        int k = kvb_utf8_put(u, kvb_tok_byte_to_cp((unsigned char)s[i]));
        if (kvb_strbuf_add(spell, u, (size_t)k))
            return KVB_ENOMEM;
    }
    return slist_add(l, spell->buf, spell->len);
}

int kvb_tokenizer_decode(const kvb_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                         kvb_strbuf *out, kvb_error *e)
{
    slist a = { 0 }, b = { 0 };
    kvb_strbuf spell;
    kvb_strbuf_init(&spell);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_vocab) {
            slist_release(&a);
            kvb_strbuf_release(&spell);
            return kvb_errorf(e, KVB_EINVAL, "%s: token id %d out of range [0, %d)", t->src, id,
                              t->n_vocab);
        }
        if (t->tok_len[id] == UINT32_MAX || (skip_special && (t->attr[id] & KVB_TOKA_SPECIAL)))
            continue;
        rc = add_token(t, id, &a, &spell);
    }
    kvb_strbuf_release(&spell);
    for (int k = 0; k < t->n_dec && !rc; k++) {
        b.n = 0;
        b.buf.len = 0;
        rc = dec_step(&t->dec[k], &a, &b);
        slist sw = a;
        a = b;
        b = sw;
    }
    for (size_t i = 0; i < a.n && !rc; i++) {
        if (t->n_dec == 0 && i > 0)
            rc = kvb_strbuf_add(out, " ", 1); /* HF joins with spaces when there is no decoder */
        if (!rc)
            rc = kvb_strbuf_add(out, ITEM(&a, i), a.len[i]);
    }
    if (!rc && !out->buf)
        rc = kvb_strbuf_add(out, "", 0);
    slist_release(&a);
    slist_release(&b);
    if (rc)
        return kvb_errorf(e, KVB_ENOMEM, "%s: out of memory while decoding", t->src);
    return 0;
}

/* ---- transformers' decode: clean_up_tokenization ----------------------------------------- */
int kvb_tokenizer_cleans_up_spaces(const kvb_tokenizer *t)
{
    return t->clean_up_spaces;
}

/* The replacements in transformers' order, each applied to the whole text before the next. */
int kvb_tokenizer_clean_up_spaces(kvb_strbuf *s, size_t from)
{
    static const char *const rep[][2] = {
        { " .", "." }, { " ?", "?" }, { " !", "!" }, { " ,", "," }, { " ' ", "'" },
        { " n't", "n't" }, { " 'm", "'m" }, { " 's", "'s" }, { " 've", "'ve" }, { " 're", "'re" },
    };
    if (!s->buf || from >= s->len)
        return 0;
    for (size_t r = 0; r < KVB_ARRAY_SIZE(rep); r++) {
        size_t al = strlen(rep[r][0]), bl = strlen(rep[r][1]); /* bl < al: shrinks in place */
        char *w = s->buf + from, *p = s->buf + from, *end = s->buf + s->len;
        while (p < end) {
            char *hit = memmem(p, (size_t)(end - p), rep[r][0], al);
            size_t keep = hit ? (size_t)(hit - p) : (size_t)(end - p);
            memmove(w, p, keep);
            w += keep;
            if (!hit)
                break;
            memcpy(w, rep[r][1], bl);
            w += bl;
            p = hit + al;
        }
        s->len = (size_t)(w - s->buf);
        s->buf[s->len] = 0;
    }
    return 0;
}

int kvb_tokenizer_decode_clean(const kvb_tokenizer *t, const int32_t *ids, size_t n,
                               int skip_special, int cleanup, kvb_strbuf *out, kvb_error *e)
{
    size_t from = out->len;
    int rc = kvb_tokenizer_decode(t, ids, n, skip_special, out, e);
    if (!rc && cleanup)
        rc = kvb_tokenizer_clean_up_spaces(out, from);
    return rc;
}

int kvb_tokenizer_decode_hf(const kvb_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                            kvb_strbuf *out, kvb_error *e)
{
    return kvb_tokenizer_decode_clean(t, ids, n, skip_special, t->clean_up_spaces, out, e);
}

/* ---- streaming ------------------------------------------------------------------------- */
void kvb_detok_stream_init(kvb_detok_stream *s, const kvb_tokenizer *t, int skip_special)
{
    s->t = t;
    s->skip_special = skip_special;
    kvb_ids_init(&s->ids);
    s->emitted = 0;
}

/* Emits text past what was already emitted. Unless `final`, text ending in U+FFFD is held back:
 * it is usually an incomplete character that the next token completes. */
static int stream_emit(kvb_detok_stream *s, int final, kvb_strbuf *out, kvb_error *e)
{
    kvb_strbuf text;
    kvb_strbuf_init(&text);
    int rc = kvb_tokenizer_decode(s->t, s->ids.ids, s->ids.n, s->skip_special, &text, e);
    if (rc) {
        kvb_strbuf_release(&text);
        return rc;
    }
    int hold = !final && text.len >= 3 && !memcmp(text.buf + text.len - 3, "\xEF\xBF\xBD", 3);
    if (!hold && text.len > s->emitted) {
        rc = kvb_strbuf_add(out, text.buf + s->emitted, text.len - s->emitted);
        s->emitted = text.len;
    }
    kvb_strbuf_release(&text);
    return rc ? kvb_errorf(e, KVB_ENOMEM, "out of memory") : 0;
}

int kvb_detok_stream_push(kvb_detok_stream *s, int32_t id, kvb_strbuf *out, kvb_error *e)
{
    if (kvb_ids_push(&s->ids, id))
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    return stream_emit(s, 0, out, e);
}

int kvb_detok_stream_flush(kvb_detok_stream *s, kvb_strbuf *out, kvb_error *e)
{
    return stream_emit(s, 1, out, e);
}

void kvb_detok_stream_release(kvb_detok_stream *s)
{
    kvb_ids_release(&s->ids);
}
