/* Text normalisation of metrics.py (normalize_answer, normalize_zh_answer) with Python's str
 * semantics, plus the code-point and token helpers the other metric files share. */
#include <stdlib.h>
#include <string.h>

#include "text/text.h"
#include "text/unitab.h"

/* ---- code-point arrays --------------------------------------------------------------------- */
void kvb_cps_release(kvb_cps *c)
{
    free(c->v);
    c->v = NULL;
    c->n = c->cap = 0;
}

int kvb_cps_push(kvb_cps *c, uint32_t cp)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        uint32_t *v = kvb_realloc(c->v, cap * sizeof(*v));
        if (!v)
            return KVB_ENOMEM;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = cp;
    return 0;
}

int kvb_cps_decode(kvb_sv s, kvb_cps *c)
{
    size_t i = 0;
    while (i < s.n)
        if (kvb_cps_push(c, kvb_utf8_next(s.p, s.n, &i)))
            return KVB_ENOMEM;
    return 0;
}

int kvb_cps_encode(const uint32_t *v, size_t n, kvb_strbuf *sb)
{
    char tmp[256];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        k += kvb_utf8_put(tmp + k, v[i]);
        if (k > sizeof(tmp) - 4) {
            if (kvb_strbuf_add(sb, tmp, k))
                return KVB_ENOMEM;
            k = 0;
        }
    }
    if (kvb_strbuf_add(sb, tmp, k)) /* also NUL-terminates an empty result */
        return KVB_ENOMEM;
    return 0;
}

/* CPython's handle_capital_sigma: U+03A3 lowers to final sigma U+03C2 when preceded by a cased
 * character (skipping case-ignorables) and not followed by one. */
static uint32_t capital_sigma(const uint32_t *s, size_t n, size_t i)
{
    size_t j = i;
    uint32_t c = 0;
    int found = 0;
    while (j > 0) {
        c = s[--j];
        if (!kvb_uni_is_case_ignorable(c)) {
            found = 1;
            break;
        }
    }
    int final_sigma = found && kvb_uni_is_cased(c);
    if (final_sigma && i + 1 < n) {
        size_t k;
        for (k = i + 1; k < n; k++) {
            c = s[k];
            if (!kvb_uni_is_case_ignorable(c))
                break;
        }
        final_sigma = k == n || !kvb_uni_is_cased(c);
    }
    return final_sigma ? 0x3C2 : 0x3C3;
}

int kvb_cps_lower(const uint32_t *in, size_t n, kvb_cps *out)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t l[2];
        int k;
        if (in[i] == 0x3A3) {
            l[0] = capital_sigma(in, n, i);
            k = 1;
        } else {
            k = kvb_uni_lower_cp(in[i], l);
        }
        for (int t = 0; t < k; t++)
            if (kvb_cps_push(out, l[t]))
                return KVB_ENOMEM;
    }
    return 0;
}

/* ---- punctuation sets ---------------------------------------------------------------------- */
/* string.punctuation */
static int is_ascii_punct(uint32_t c)
{
    return c < 0x80 && c > 0x20 && c != 0x7F && !((c >= '0' && c <= '9') ||
                                                   (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
}

/* metrics.py's cn_punctuation (it holds U+300B but not U+300A, and ends with an ASCII '.'). */
static const char k_cn_punct[] =
    "\xef\xbc\x81\xef\xbc\x9f\xef\xbd\xa1\xe3\x80\x82\xef\xbc\x82\xef\xbc\x83\xef\xbc\x84"
    "\xef\xbc\x85\xef\xbc\x86\xef\xbc\x87\xef\xbc\x88\xef\xbc\x89\xef\xbc\x8a\xef\xbc\x8b"
    "\xef\xbc\x8c\xef\xbc\x8d\xef\xbc\x8f\xef\xbc\x9a\xef\xbc\x9b\xef\xbc\x9c\xef\xbc\x9d"
    "\xef\xbc\x9e\xef\xbc\xa0\xef\xbc\xbb\xef\xbc\xbc\xef\xbc\xbd\xef\xbc\xbe\xef\xbc\xbf"
    "\xef\xbd\x80\xef\xbd\x9b\xef\xbd\x9c\xef\xbd\x9d\xef\xbd\x9e\xef\xbd\x9f\xef\xbd\xa0"
    "\xef\xbd\xa2\xef\xbd\xa3\xef\xbd\xa4\xe3\x80\x81\xe3\x80\x83\xe3\x80\x8b\xe3\x80\x8c"
    "\xe3\x80\x8d\xe3\x80\x8e\xe3\x80\x8f\xe3\x80\x90\xe3\x80\x91\xe3\x80\x94\xe3\x80\x95"
    "\xe3\x80\x96\xe3\x80\x97\xe3\x80\x98\xe3\x80\x99\xe3\x80\x9a\xe3\x80\x9b\xe3\x80\x9c"
    "\xe3\x80\x9d\xe3\x80\x9e\xe3\x80\x9f\xe3\x80\xb0\xe3\x80\xbe\xe3\x80\xbf\xe2\x80\x93"
    "\xe2\x80\x94\xe2\x80\x98\xe2\x80\x99\xe2\x80\x9b\xe2\x80\x9c\xe2\x80\x9d\xe2\x80\x9e"
    "\xe2\x80\x9f\xe2\x80\xa6\xe2\x80\xa7\xef\xb9\x8f.";

static int is_cn_punct(uint32_t c)
{
    if (c < 0x80)
        return is_ascii_punct(c);
    size_t i = 0, n = sizeof(k_cn_punct) - 1;
    while (i < n)
        if (kvb_utf8_next(k_cn_punct, n, &i) == c)
            return 1;
    return 0;
}

/* ---- normalize_answer ---------------------------------------------------------------------- */
static int is_word_at(const uint32_t *s, size_t n, size_t i) { return i < n && kvb_uni_is_word(s[i]); }

/* re.sub(r"\b(a|an|the)\b", " ", text): the length of the article matched at i, or 0. The
 * alternatives are tried in order; each must end on a word boundary. */
static size_t article_at(const uint32_t *s, size_t n, size_t i)
{
    static const char *const arts[] = { "a", "an", "the" };
    if (i > 0 && kvb_uni_is_word(s[i - 1]))
        return 0; /* no \b before: the article's first letter is a word character */
    for (size_t k = 0; k < 3; k++) {
        size_t len = strlen(arts[k]), j;
        if (i + len > n)
            continue;
        for (j = 0; j < len && s[i + j] == (uint32_t)arts[k][j]; j++)
            ;
        if (j == len && !is_word_at(s, n, i + len))
            return len;
    }
    return 0;
}

int kvb_normalize_answer(kvb_sv s, kvb_strbuf *out)
{
    kvb_cps in = { 0 }, low = { 0 }, res = { 0 };
    int rc = KVB_ENOMEM;
    if (kvb_cps_decode(s, &in) || kvb_cps_lower(in.v, in.n, &low))
        goto done;
    /* remove_punc in place */
    size_t m = 0;
    for (size_t i = 0; i < low.n; i++)
        if (!is_ascii_punct(low.v[i]))
            low.v[m++] = low.v[i];
    low.n = m;
    /* remove_articles, then white_space_fix (" ".join(text.split())) in one pass: articles
     * become a space, i.e. a separator */
    int pending_space = 0;
    for (size_t i = 0; i < low.n;) {
        size_t a = article_at(low.v, low.n, i);
        uint32_t c = low.v[i];
        if (a || kvb_uni_is_space(c)) {
            pending_space = res.n > 0;
            i += a ? a : 1;
            continue;
        }
        if (pending_space && kvb_cps_push(&res, ' '))
            goto done;
        pending_space = 0;
        if (kvb_cps_push(&res, c))
            goto done;
        i++;
    }
    rc = kvb_cps_encode(res.v, res.n, out);
done:
    kvb_cps_release(&in);
    kvb_cps_release(&low);
    kvb_cps_release(&res);
    return rc;
}

int kvb_normalize_zh_answer(kvb_sv s, kvb_strbuf *out)
{
    kvb_cps in = { 0 }, low = { 0 };
    int rc = KVB_ENOMEM;
    if (kvb_cps_decode(s, &in) || kvb_cps_lower(in.v, in.n, &low))
        goto done;
    size_t m = 0;
    for (size_t i = 0; i < low.n; i++)
        if (!is_cn_punct(low.v[i]) && !kvb_uni_is_space(low.v[i]))
            low.v[m++] = low.v[i];
    rc = kvb_cps_encode(low.v, m, out);
done:
    kvb_cps_release(&in);
    kvb_cps_release(&low);
    return rc;
}

/* ---- tokens -------------------------------------------------------------------------------- */
int kvb_split_ws(kvb_sv s, kvb_sv **tok, size_t *ntok)
{
    size_t cap = 0, n = 0, i = 0;
    kvb_sv *v = NULL;
    while (i < s.n) {
        size_t start = i;
        uint32_t c = kvb_utf8_next(s.p, s.n, &i);
        if (kvb_uni_is_space(c))
            continue;
        size_t end = i;
        while (i < s.n) {
            size_t at = i;
            c = kvb_utf8_next(s.p, s.n, &i);
            if (kvb_uni_is_space(c)) {
                i = at;
                break;
            }
            end = i;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            kvb_sv *nv = kvb_realloc(v, cap * sizeof(*nv));
            if (!nv) {
                free(v);
                return KVB_ENOMEM;
            }
            v = nv;
        }
        v[n].p = s.p + start;
        v[n].n = end - start;
        n++;
    }
    *tok = v;
    *ntok = n;
    return 0;
}

static int sv_cmp(const void *a, const void *b)
{
    const kvb_sv *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = n ? memcmp(x->p, y->p, n) : 0;
    if (c)
        return c;
    return (x->n > y->n) - (x->n < y->n);
}

/* Sorts a and b in place. */
double kvb_f1_tokens(kvb_sv *a, size_t na, kvb_sv *b, size_t nb)
{
    if (na)
        qsort(a, na, sizeof(*a), sv_cmp);
    if (nb)
        qsort(b, nb, sizeof(*b), sv_cmp);
    size_t i = 0, j = 0, same = 0;
    while (i < na && j < nb) {
        int c = sv_cmp(&a[i], &b[j]);
        if (c == 0) {
            same++;
            i++;
            j++;
        } else if (c < 0)
            i++;
        else
            j++;
    }
    if (same == 0)
        return 0.0;
    /* f1_score's exact order of operations */
    double precision = 1.0 * (double)same / (double)na;
    double recall = 1.0 * (double)same / (double)nb;
    return (2 * precision * recall) / (precision + recall);
}

void kvb_toklist_init(kvb_toklist *t)
{
    memset(t, 0, sizeof(*t));
    kvb_strbuf_init(&t->buf);
}

void kvb_toklist_release(kvb_toklist *t)
{
    kvb_strbuf_release(&t->buf);
    free(t->off);
    memset(t, 0, sizeof(*t));
}

int kvb_toklist_add(kvb_toklist *t, const char *s, size_t n)
{
    if (t->n + 2 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        size_t *o = kvb_realloc(t->off, cap * sizeof(*o));
        if (!o)
            return t->oom = KVB_ENOMEM;
        t->off = o;
        t->cap = cap;
    }
    if (t->n == 0)
        t->off[0] = 0;
    if (kvb_strbuf_add(&t->buf, s, n))
        return t->oom = KVB_ENOMEM;
    t->off[++t->n] = t->buf.len;
    return 0;
}

static void seg_collect(const char *tok, size_t len, void *arg)
{
    kvb_toklist *t = arg;
    if (!t->oom)
        kvb_toklist_add(t, tok, len);
}

int kvb_segment(const kvb_segmenter *seg, kvb_sv text, kvb_toklist *out, kvb_error *e)
{
    if (!seg || !seg->cut)
        return kvb_errorf(e, KVB_EUNSUP, "zh tasks need the jieba segmenter");
    int rc = seg->cut(seg->ctx, text.p, text.n, seg_collect, out, e);
    if (rc)
        return rc;
    if (out->oom)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    return 0;
}
