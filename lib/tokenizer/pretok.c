/* lib/tokenizer: normalizers (Prepend, Replace) and pre-tokenizers (Split, ByteLevel, Digits,
 * Metaspace) with HF tokenizers' semantics. A piece of text is cut into segments (offset,
 * length); steps that rewrite text (ByteLevel add_prefix_space, Metaspace) copy the segments into
 * a new buffer. */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

int kvb_segs_push(kvb_segs *s, size_t off, size_t len)
{
    if (len == 0)
        return 0; /* HF drops empty splits */
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        kvb_seg *v = kvb_realloc(s->v, cap * sizeof *v);
        if (!v)
            return KVB_ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (kvb_seg){ off, len };
    return 0;
}

/* ---- normalizers ------------------------------------------------------------------------- */
static int replace_all(const kvb_norm_step *st, const char *s, size_t n, kvb_strbuf *out,
                       pcre2_match_data *md)
{
    size_t pos = 0, run = 0;
    if (st->re) {
        while (pos <= n) {
            int rc = pcre2_match(st->re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
            if (rc < 0)
                break;
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            if (ov[1] == ov[0]) { /* empty match: step over one character */
                if (ov[0] >= n)
                    break;
                uint32_t cp;
                pos = ov[0] + kvb_text_utf8_decode(s + ov[0], n - ov[0], &cp,
                                                   KVB_TEXT_UTF8_REPLACE);
                continue;
            }
            if (kvb_strbuf_add(out, s + run, ov[0] - run) || kvb_strbuf_add(out, st->b, st->blen))
                return KVB_ENOMEM;
            run = pos = ov[1];
        }
    } else if (st->alen) {
        while (pos + st->alen <= n) {
            const char *hit = memmem(s + pos, n - pos, st->a, st->alen);
            if (!hit)
                break;
            size_t at = (size_t)(hit - s);
            if (kvb_strbuf_add(out, s + run, at - run) || kvb_strbuf_add(out, st->b, st->blen))
                return KVB_ENOMEM;
            run = pos = at + st->alen;
        }
    }
    return kvb_strbuf_add(out, s + run, n - run) ? KVB_ENOMEM : 0;
}

int kvb_tok_normalize(const kvb_tokenizer *t, const char *s, size_t n, kvb_strbuf *out)
{
    kvb_strbuf tmp;
    kvb_strbuf_init(&tmp);
    out->len = 0;
    if (kvb_strbuf_add(out, s, n))
        return KVB_ENOMEM;
    pcre2_match_data *md = NULL;
    int rc = 0;
    for (int i = 0; i < t->n_norm && !rc; i++) {
        const kvb_norm_step *st = &t->norm[i];
        tmp.len = 0;
        if (st->kind == KVB_NORM_PREPEND) {
            if (out->len == 0)
                continue; /* HF prepends only to non-empty text */
            rc = kvb_strbuf_add(&tmp, st->a, st->alen) || kvb_strbuf_add(&tmp, out->buf, out->len)
                     ? KVB_ENOMEM : 0;
        } else {
            if (st->re && !md && !(md = pcre2_match_data_create(4, NULL)))
                rc = KVB_ENOMEM;
            if (!rc)
                rc = replace_all(st, out->buf, out->len, &tmp, md);
        }
        if (!rc) {
            kvb_strbuf swap = *out;
            *out = tmp;
            tmp = swap;
        }
    }
    if (md)
        pcre2_match_data_free(md);
    kvb_strbuf_release(&tmp);
    return rc;
}

/* ---- Split ------------------------------------------------------------------------------- */
typedef struct piece {
    size_t a, b;
    int is_match;
} piece;

/* HF's SplitDelimiterBehavior folds over the (gap, match) pieces of one segment. */
static int fold_pieces(enum kvb_split_behavior bh, piece *p, size_t np, size_t off, kvb_segs *out)
{
    int rc = 0;
    int prev_match = 0;
    size_t first_out = out->n;
    switch (bh) {
    case KVB_SPLIT_REMOVED:
        for (size_t i = 0; i < np && !rc; i++)
            if (!p[i].is_match)
                rc = kvb_segs_push(out, off + p[i].a, p[i].b - p[i].a);
        return rc;
    case KVB_SPLIT_ISOLATED:
        for (size_t i = 0; i < np && !rc; i++)
            rc = kvb_segs_push(out, off + p[i].a, p[i].b - p[i].a);
        return rc;
    case KVB_SPLIT_MERGED_PREV:
        for (size_t i = 0; i < np && !rc; i++) {
            if (p[i].is_match && !prev_match && out->n > first_out)
                out->v[out->n - 1].len = off + p[i].b - out->v[out->n - 1].off;
            else
                rc = kvb_segs_push(out, off + p[i].a, p[i].b - p[i].a);
            prev_match = p[i].is_match;
        }
        return rc;
    case KVB_SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < np && !rc; i++) {
            if (p[i].is_match == prev_match && out->n > first_out)
                out->v[out->n - 1].len = off + p[i].b - out->v[out->n - 1].off;
            else
                rc = kvb_segs_push(out, off + p[i].a, p[i].b - p[i].a);
            prev_match = p[i].is_match;
        }
        return rc;
    case KVB_SPLIT_MERGED_NEXT:
        /* HF folds from the right: a match joins the piece after it unless that is a match */
        for (size_t i = np; i-- > 0;) {
            if (p[i].is_match && !prev_match && i + 1 < np) {
                /* find the piece this one merges into: the nearest kept one to the right */
                size_t j = i + 1;
                while (p[j].a == SIZE_MAX)
                    j++;
                p[j].a = p[i].a;
                prev_match = p[i].is_match;
                p[i].a = SIZE_MAX; /* merged away */
            } else {
                prev_match = p[i].is_match;
            }
        }
        for (size_t i = 0; i < np && !rc; i++)
            if (p[i].a != SIZE_MAX)
                rc = kvb_segs_push(out, off + p[i].a, p[i].b - p[i].a);
        return rc;
    }
    return rc;
}

/* Cuts [off, off+n) of text at the matches of re, keeping pieces as `behavior` says. */
static int split_seg(const kvb_pretok_step *st, const char *text, size_t off, size_t n,
                     kvb_segs *out, pcre2_match_data *md)
{
    const char *s = text + off;
    size_t pos = 0, prev = 0;
    int rc = 0;
    int direct = st->behavior == KVB_SPLIT_ISOLATED && !st->invert;
    piece *pv = NULL;
    size_t np = 0, cap = 0;
    for (;;) {
        int m = pos < n ? pcre2_match(st->re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL)
                        : -1;
        size_t ms = n, me = n;
        if (m >= 0) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            ms = ov[0];
            me = ov[1];
            if (me == ms) { /* empty match: HF drops it; step over one character */
                uint32_t cp;
                pos = ms + kvb_text_utf8_decode(s + ms, n - ms, &cp, KVB_TEXT_UTF8_REPLACE);
                continue;
            }
        }
        /* the gap [prev, ms) and the match [ms, me) */
        for (int k = 0; k < 2; k++) {
            size_t a = k ? ms : prev, b = k ? me : ms;
            if (a == b)
                continue;
            if (direct) {
                if ((rc = kvb_segs_push(out, off + a, b - a)))
                    goto done;
                continue;
            }
            if (np == cap) {
                cap = cap ? cap * 2 : 64;
                piece *v = kvb_realloc(pv, cap * sizeof *v);
                if (!v) {
                    rc = KVB_ENOMEM;
                    goto done;
                }
                pv = v;
            }
            pv[np++] = (piece){ a, b, k ^ st->invert };
        }
        if (m < 0)
            break;
        prev = pos = me;
    }
    if (!direct)
        rc = fold_pieces(st->behavior, pv, np, off, out);
done:
    free(pv);
    return rc;
}

/* ---- text-rewriting steps ---------------------------------------------------------------- */
/* ByteLevel add_prefix_space and Metaspace: each segment is rewritten into nbuf. */
static int rewrite_segs(const kvb_pretok_step *st, const char *text, const kvb_segs *in,
                        int first, kvb_strbuf *nbuf, kvb_segs *out, pcre2_match_data *md)
{
    int rc = 0;
    for (size_t i = 0; i < in->n && !rc; i++) {
        const char *s = text + in->v[i].off;
        size_t n = in->v[i].len, start = nbuf->len;
        if (st->kind == KVB_PRE_BYTELEVEL) {
            if (st->add_prefix_space && s[0] != ' ')
                rc = kvb_strbuf_add(nbuf, " ", 1);
            if (!rc)
                rc = kvb_strbuf_add(nbuf, s, n);
        } else { /* METASPACE: spaces -> replacement, optional prefix */
            int at_start = first && in->v[i].off == 0;
            /* HF tests the prefix after spaces became the replacement */
            int has = s[0] == ' ' || (n >= st->rlen && !memcmp(s, st->replacement, st->rlen));
            if (!has && (st->prepend == 2 || (st->prepend == 1 && at_start)))
                rc = kvb_strbuf_add(nbuf, st->replacement, st->rlen);
            for (size_t k = 0; k < n && !rc; k++)
                rc = s[k] == ' ' ? kvb_strbuf_add(nbuf, st->replacement, st->rlen)
                                 : kvb_strbuf_add(nbuf, s + k, 1);
        }
        if (rc)
            return KVB_ENOMEM;
        size_t len = nbuf->len - start;
        if (st->kind == KVB_PRE_BYTELEVEL ? st->re != NULL : st->split) {
            rc = split_seg(st, nbuf->buf, start, len, out, md);
        } else {
            rc = kvb_segs_push(out, start, len);
        }
    }
    return rc;
}

int kvb_tok_pretokenize(const kvb_tokenizer *t, kvb_strbuf *buf, int first, kvb_segs *out,
                        kvb_segs *tmp, pcre2_match_data *md)
{
    kvb_segs *cur = tmp, *nxt = out;
    cur->n = 0;
    int rc = kvb_segs_push(cur, 0, buf->len);
    kvb_strbuf nbuf;
    kvb_strbuf_init(&nbuf);
    for (int i = 0; i < t->n_pre && !rc; i++) {
        const kvb_pretok_step *st = &t->pre[i];
        nxt->n = 0;
        int rewrites = st->kind == KVB_PRE_METASPACE ||
                       (st->kind == KVB_PRE_BYTELEVEL && st->add_prefix_space);
        if (rewrites) {
            nbuf.len = 0;
            rc = rewrite_segs(st, buf->buf, cur, first, &nbuf, nxt, md);
            if (!rc) {
                kvb_strbuf swap = *buf;
                *buf = nbuf;
                nbuf = swap;
            }
        } else if (st->re) {
            for (size_t k = 0; k < cur->n && !rc; k++)
                rc = split_seg(st, buf->buf, cur->v[k].off, cur->v[k].len, nxt, md);
        } else {
            for (size_t k = 0; k < cur->n && !rc; k++)
                rc = kvb_segs_push(nxt, cur->v[k].off, cur->v[k].len);
        }
        kvb_segs *sw = cur;
        cur = nxt;
        nxt = sw;
    }
    kvb_strbuf_release(&nbuf);
    if (!rc && cur != out) {
        kvb_segs sw = *out;
        *out = *cur;
        *cur = sw;
    }
    return rc;
}
