/* lib/text/punkt.c: see punkt.h. The text is worked on as code points (NLTK works on a Python
 * str), with the byte offset of each kept to return byte spans. Names follow punkt.py's. */
#include "text/punkt.h"

#include <stdlib.h>
#include <string.h>

#include "text/punkt_uni.h"
#include "text/text.h"
#include "text/unitab.h"

/* ---- character classes ------------------------------------------------------------------- */
int kvb_punkt_is_word(uint32_t c)
{
    return kvb_uni_in_ranges(kvb_punkt_uni_word, kvb_punkt_uni_word_n, c);
}
int kvb_punkt_is_digit(uint32_t c)
{
    return kvb_uni_in_ranges(kvb_punkt_uni_digit, kvb_punkt_uni_digit_n, c);
}
int kvb_punkt_is_space(uint32_t c)
{
    return kvb_uni_in_ranges(kvb_punkt_uni_space, kvb_punkt_uni_space_n, c);
}
int kvb_punkt_is_upper(uint32_t c)
{
    return kvb_uni_in_ranges(kvb_punkt_uni_upper, kvb_punkt_uni_upper_n, c);
}
int kvb_punkt_is_lower(uint32_t c)
{
    return kvb_uni_in_ranges(kvb_punkt_uni_lower, kvb_punkt_uni_lower_n, c);
}

#define IS_SP(c) kvb_punkt_is_space(c)

/* PunktLanguageVars._re_non_word_chars: punctuation that cannot be inside a word */
static int non_word(uint32_t c)
{
    return (c < 0x80 && c && strchr(")\";}]*:@'({[?!", (int)c)) || c == 0x2018 || c == 0x2019 ||
           c == 0x201C || c == 0x201D || c == 0xAB || c == 0xBB;
}

/* the complement of _re_word_start: characters that do not start a word token */
static int not_word_start(uint32_t c)
{
    return c < 0x80 && c && strchr("(\"`{[:;&#*@)}]-,", (int)c);
}

/* re_boundary_realignment's closing punctuation */
static int closing(uint32_t c)
{
    return (c < 0x80 && c && strchr("\")']}", (int)c)) || c == 0x2018 || c == 0x2019 ||
           c == 0x201C || c == 0x201D || c == 0xAB || c == 0xBB;
}

/* string.whitespace, which _get_last_whitespace_index uses (ASCII only) */
static int ascii_ws(uint32_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* ---- the parameters ------------------------------------------------------------------------- */
/* a set of strings with an int each (open addressing, FNV-1a) */
typedef struct strmap {
    char **key;
    int *val;
    size_t cap, n;
} strmap;

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static const int *strmap_get(const strmap *m, const char *s, size_t n)
{
    if (!m->cap)
        return NULL;
    for (size_t h = fnv(s, n) & (m->cap - 1);; h = (h + 1) & (m->cap - 1)) {
        if (!m->key[h])
            return NULL;
        if (strlen(m->key[h]) == n && !memcmp(m->key[h], s, n))
            return &m->val[h];
    }
}

static int strmap_grow(strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    strmap g = {kvb_calloc(cap, sizeof(char *)), kvb_calloc(cap, sizeof(int)), cap, m->n};
    if (!g.key || !g.val) {
        free(g.key);
        free(g.val);
        return KVB_ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->key[i])
            continue;
        size_t h = fnv(m->key[i], strlen(m->key[i])) & (cap - 1);
        while (g.key[h])
            h = (h + 1) & (cap - 1);
        g.key[h] = m->key[i];
        g.val[h] = m->val[i];
    }
    free(m->key);
    free(m->val);
    *m = g;
    return 0;
}

/* set s[0..n) to v (a later line of the file wins, as in the Python dict) */
static int strmap_put(strmap *m, const char *s, size_t n, int v)
{
    int *have = (int *)strmap_get(m, s, n);
    if (have) {
        *have = v;
        return 0;
    }
    if (2 * (m->n + 1) > m->cap && strmap_grow(m))
        return KVB_ENOMEM;
    size_t h = fnv(s, n) & (m->cap - 1);
    while (m->key[h])
        h = (h + 1) & (m->cap - 1);
    if (!(m->key[h] = kvb_malloc(n + 1)))
        return KVB_ENOMEM;
    memcpy(m->key[h], s, n);
    m->key[h][n] = 0;
    m->val[h] = v;
    m->n++;
    return 0;
}

static void strmap_release(strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->key[i]);
    free(m->key);
    free(m->val);
}

struct kvb_punkt {
    strmap abbrev, colloc, starters, ortho; /* colloc keys: "typ\tnext_typ" */
};

/* orthographic context flags (punkt.py's _ORTHO_*) */
enum { BEG_UC = 1 << 1, MID_UC = 1 << 2, UNK_UC = 1 << 3, BEG_LC = 1 << 4, MID_LC = 1 << 5,
       UNK_LC = 1 << 6 };
#define ORTHO_UC (BEG_UC | MID_UC | UNK_UC)
#define ORTHO_LC (BEG_LC | MID_LC | UNK_LC)

/* Python's int() of a line's second field, as NLTK's tab2intdict reads it (no _ separators) */
static int parse_int(const char *s, size_t n, int *out)
{
    while (n && kvb_uni_is_space((unsigned char)*s))
        s++, n--;
    while (n && kvb_uni_is_space((unsigned char)s[n - 1]))
        n--;
    size_t i = (n && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
    if (i == n)
        return -1;
    long v = 0;
    for (size_t j = i; j < n; j++) {
        if (s[j] < '0' || s[j] > '9' || v > 100000000)
            return -1;
        v = v * 10 + (s[j] - '0');
    }
    *out = (int)(s[0] == '-' ? -v : v);
    return 0;
}

enum { TXT_SET, TAB_PAIRS, TAB_INT };

/* one line of a parameter file into m (NLTK's PunktDecoder: txt2set, tab2tups, tab2intdict) */
static int load_line(strmap *m, int kind, const char *s, size_t n, const char *path, long line,
                     kvb_error *e)
{
    if (kind == TXT_SET || kind == TAB_PAIRS) /* a pair is kept as its line: "a\tb" */
        return strmap_put(m, s, n, 1) ? kvb_errorf(e, KVB_ENOMEM, "%s: out of memory", path) : 0;
    const char *tab = memchr(s, '\t', n);
    int v;
    if (!tab || memchr(tab + 1, '\t', n - (size_t)(tab + 1 - s)))
        return kvb_errorf(e, KVB_EINVAL, "%s:%ld: not \"type<TAB>flags\"", path, line);
    if (parse_int(tab + 1, n - (size_t)(tab + 1 - s), &v))
        return kvb_errorf(e, KVB_EINVAL, "%s:%ld: flags are not an integer", path, line);
    if (strmap_put(m, s, (size_t)(tab - s), v))
        return kvb_errorf(e, KVB_ENOMEM, "%s: out of memory", path);
    return 0;
}

static int load_file(strmap *m, const char *dir, const char *name, int kind, kvb_error *e)
{
    char *path = kvb_path_join(dir, name), *data = NULL;
    size_t len = 0;
    if (!path)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    int rc = kvb_read_file(path, (size_t)64 << 20, &data, &len, e);
    if (rc == 0 && kvb_utf8_valid_prefix(data, len) != len)
        rc = kvb_errorf(e, KVB_EINVAL, "%s: not valid UTF-8 (at byte %zu)", path,
                        kvb_utf8_valid_prefix(data, len));
    /* Python reads text files with universal newlines: \n, \r\n and \r end a line */
    long line = 1;
    for (size_t i = 0; rc == 0 && i < len; line++) {
        size_t j = i;
        while (j < len && data[j] != '\n' && data[j] != '\r')
            j++;
        rc = load_line(m, kind, data + i, j - i, path, line, e);
        i = j + (j < len && data[j] == '\r' && j + 1 < len && data[j + 1] == '\n' ? 2 : 1);
    }
    free(data);
    free(path);
    return rc;
}

void kvb_punkt_free(kvb_punkt *p)
{
    if (!p)
        return;
    strmap_release(&p->abbrev);
    strmap_release(&p->colloc);
    strmap_release(&p->starters);
    strmap_release(&p->ortho);
    free(p);
}

int kvb_punkt_load(const char *dir, kvb_punkt **out, kvb_error *e)
{
    kvb_punkt *p = kvb_calloc(1, sizeof(*p));
    if (!p)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    int rc = load_file(&p->colloc, dir, "collocations.tab", TAB_PAIRS, e);
    if (!rc)
        rc = load_file(&p->starters, dir, "sent_starters.txt", TXT_SET, e);
    if (!rc)
        rc = load_file(&p->abbrev, dir, "abbrev_types.txt", TXT_SET, e);
    if (!rc)
        rc = load_file(&p->ortho, dir, "ortho_context.tab", TAB_INT, e);
    if (rc) {
        kvb_punkt_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

const char *kvb_punkt_default_dir(char *buf, size_t n)
{
    static const char rel[] = "datasets/ruler/punkt_tab/english";
    if (kvb_is_dir(rel)) {
        snprintf(buf, n, "%s", rel);
        return buf;
    }
    const char *home = kvb_config_home();
    if (home) {
        snprintf(buf, n, "%s/%s", home, rel);
        if (kvb_is_dir(buf))
            return buf;
    }
    return NULL;
}

/* ---- tokens (PunktToken) ------------------------------------------------------------------- */
typedef struct ptok {
    const uint32_t *s; /* the token's characters */
    size_t n;
    char *type; /* tok.lower(), or "##number##" for a number (UTF-8) */
    size_t type_len;
    unsigned period_final : 1, sentbreak : 1, abbr : 1, ellipsis : 1;
} ptok;

/* _RE_NUMERIC: ^-?[\.,]?\d[\d,\.-]*\.?$ (the optional final period is inside the class) */
static int is_numeric(const uint32_t *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i < n && (s[i] == '.' || s[i] == ','))
        i++;
    if (i == n || !kvb_punkt_is_digit(s[i]))
        return 0;
    for (i++; i < n; i++)
        if (!kvb_punkt_is_digit(s[i]) && s[i] != ',' && s[i] != '.' && s[i] != '-')
            return 0;
    return 1;
}

/* the UTF-8 of Python's s[0..n).lower() into sb (reset first) */
static int lower_utf8(const uint32_t *s, size_t n, kvb_cps *tmp, kvb_strbuf *sb)
{
    tmp->n = 0;
    sb->len = 0;
    if (sb->buf)
        sb->buf[0] = 0;
    if (kvb_cps_lower(s, n, tmp) || kvb_cps_encode(tmp->v, tmp->n, sb))
        return KVB_ENOMEM;
    return 0;
}

static size_t type_no_period_len(const ptok *t)
{
    return t->type_len > 1 && t->type[t->type_len - 1] == '.' ? t->type_len - 1 : t->type_len;
}

static size_t type_no_sentperiod_len(const ptok *t)
{
    return t->sentbreak ? type_no_period_len(t) : t->type_len;
}

static int is_initial(const ptok *t)
{
    return t->n == 2 && t->s[1] == '.' && kvb_punkt_is_word(t->s[0]) &&
           !kvb_punkt_is_digit(t->s[0]);
}

static int is_ellipsis(const ptok *t)
{
    if (t->n < 2)
        return 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->s[i] != '.')
            return 0;
    return 1;
}

/* ---- Punkt's word tokenizer (PunktLanguageVars.word_tokenize) ------------------------------- */
/* length of _re_multi_char_punct at s[p] within [0, n): -{2,} | \.{2,} | (?:\.\s){2,}\. */
static size_t multi_char(const uint32_t *s, size_t n, size_t p)
{
    size_t q = p;
    if (p + 1 < n && s[p] == '-' && s[p + 1] == '-') {
        while (q < n && s[q] == '-')
            q++;
        return q - p;
    }
    if (p + 1 < n && s[p] == '.' && s[p + 1] == '.') {
        while (q < n && s[q] == '.')
            q++;
        return q - p;
    }
    size_t pairs = 0;
    while (q + 1 < n && s[q] == '.' && IS_SP(s[q + 1]))
        q += 2, pairs++;
    if (pairs >= 2 && q < n && s[q] == '.')
        return q + 1 - p;
    if (pairs >= 3) /* backtrack one pair: its period ends the match */
        return 2 * (pairs - 1) + 1;
    return 0;
}

/* whether a word token may end before s[q] (the lookahead of _word_tokenize_fmt) */
static int word_ends_at(const uint32_t *s, size_t n, size_t q)
{
    if (q == n || IS_SP(s[q]) || non_word(s[q]) || multi_char(s, n, q))
        return 1;
    return s[q] == ',' &&
           (q + 1 == n || IS_SP(s[q + 1]) || non_word(s[q + 1]) || multi_char(s, n, q + 1));
}

typedef struct tokvec {
    ptok *v;
    size_t n, cap;
} tokvec;

static int tokvec_push(tokvec *tv, const uint32_t *s, size_t n)
{
    if (tv->n == tv->cap) {
        size_t cap = tv->cap ? 2 * tv->cap : 16;
        ptok *v = kvb_realloc(tv->v, cap * sizeof(*v));
        if (!v)
            return KVB_ENOMEM;
        tv->v = v;
        tv->cap = cap;
    }
    tv->v[tv->n++] = (ptok){.s = s, .n = n};
    return 0;
}

/* the tokens of one line s[0..n) */
static int word_tokenize(const uint32_t *s, size_t n, tokvec *tv)
{
    for (size_t p = 0; p < n;) {
        size_t len = multi_char(s, n, p);
        if (!len && !IS_SP(s[p])) {
            len = 1;
            if (!not_word_start(s[p])) /* \S+? up to the first possible word end */
                while (!word_ends_at(s, n, p + len))
                    len++;
        }
        if (!len) {
            p++;
            continue;
        }
        if (tokvec_push(tv, s + p, len))
            return KVB_ENOMEM;
        p += len;
    }
    return 0;
}

/* _tokenize_words: lines split at \n, blank lines (str.strip() empty) skipped */
static int tokenize_words(const uint32_t *s, size_t n, tokvec *tv)
{
    for (size_t a = 0; a <= n;) {
        size_t b = a;
        while (b < n && s[b] != '\n')
            b++;
        int blank = 1;
        for (size_t i = a; i < b && blank; i++)
            blank = kvb_uni_is_space(s[i]);
        if (!blank && word_tokenize(s + a, b - a, tv))
            return KVB_ENOMEM;
        a = b + 1;
    }
    return 0;
}

/* ---- annotation ----------------------------------------------------------------------------- */
typedef struct work {
    const kvb_punkt *p;
    tokvec tv;
    kvb_cps tmp;
    kvb_strbuf sb;
    char *types; /* the tokens' types, back to back */
    size_t types_len, types_cap;
} work;

static int in_set(const strmap *m, const char *s, size_t n)
{
    return strmap_get(m, s, n) != NULL;
}

/* the type of every token (stored in w->types) */
static int set_types(work *w)
{
    w->types_len = 0;
    size_t *off = kvb_calloc(w->tv.n + 1, sizeof(size_t));
    if (!off)
        return KVB_ENOMEM;
    for (size_t i = 0; i < w->tv.n; i++) {
        ptok *t = &w->tv.v[i];
        if (lower_utf8(t->s, t->n, &w->tmp, &w->sb)) {
            free(off);
            return KVB_ENOMEM;
        }
        const char *ty = w->sb.buf ? w->sb.buf : "";
        size_t tl = w->sb.len;
        if (is_numeric(w->tmp.v, w->tmp.n))
            ty = "##number##", tl = 10;
        if (w->types_len + tl + 1 > w->types_cap) {
            size_t cap = 2 * (w->types_len + tl + 1) + 64;
            char *v = kvb_realloc(w->types, cap);
            if (!v) {
                free(off);
                return KVB_ENOMEM;
            }
            w->types = v;
            w->types_cap = cap;
        }
        off[i] = w->types_len;
        memcpy(w->types + w->types_len, ty, tl);
        w->types[w->types_len + tl] = 0;
        t->type_len = tl;
        w->types_len += tl + 1;
    }
    for (size_t i = 0; i < w->tv.n; i++) /* the buffer may have moved while it grew */
        w->tv.v[i].type = w->types + off[i];
    free(off);
    return 0;
}

/* whether lower(s[0..n)) is a known abbreviation (the first pass's two look-ups) */
static int known_abbrev(work *w, const uint32_t *s, size_t n, int *yes)
{
    if (lower_utf8(s, n, &w->tmp, &w->sb))
        return KVB_ENOMEM;
    const char *l = w->sb.buf ? w->sb.buf : "";
    size_t ln = w->sb.len;
    const char *dash = ln ? memrchr(l, '-', ln) : NULL;
    *yes = in_set(&w->p->abbrev, l, ln) ||
           (dash && in_set(&w->p->abbrev, dash + 1, ln - (size_t)(dash + 1 - l)));
    return 0;
}

static int first_pass(work *w, ptok *t)
{
    t->period_final = t->s[t->n - 1] == '.';
    if (t->n == 1 && (t->s[0] == '.' || t->s[0] == '?' || t->s[0] == '!')) {
        t->sentbreak = 1;
    } else if (is_ellipsis(t)) {
        t->ellipsis = 1;
    } else if (t->period_final && !(t->n >= 2 && t->s[t->n - 2] == '.')) {
        int abbr;
        if (known_abbrev(w, t->s, t->n - 1, &abbr))
            return KVB_ENOMEM;
        if (abbr)
            t->abbr = 1;
        else
            t->sentbreak = 1;
    }
    return 0;
}

enum { ORTHO_FALSE, ORTHO_TRUE, ORTHO_UNKNOWN };

/* _ortho_heuristic: whether t starts a sentence */
static int ortho_heuristic(const kvb_punkt *p, const ptok *t)
{
    if (t->n == 1 && t->s[0] < 0x80 && t->s[0] && strchr(";:,.!?", (int)t->s[0]))
        return ORTHO_FALSE;
    const int *f = strmap_get(&p->ortho, t->type, type_no_sentperiod_len(t));
    int oc = f ? *f : 0;
    if (kvb_punkt_is_upper(t->s[0]) && (oc & ORTHO_LC) && !(oc & MID_UC))
        return ORTHO_TRUE;
    if (kvb_punkt_is_lower(t->s[0]) && ((oc & ORTHO_UC) || !(oc & BEG_LC)))
        return ORTHO_FALSE;
    return ORTHO_UNKNOWN;
}

/* _second_pass_annotation of t1 followed by t2 (t2 as the first pass left it) */
static int second_pass(work *w, ptok *t1, const ptok *t2)
{
    const kvb_punkt *p = w->p;
    if (!t1->period_final)
        return 0;
    size_t tl = type_no_period_len(t1), nl = type_no_sentperiod_len(t2);
    int initial = is_initial(t1);
    /* collocation look-up: "typ\tnext_typ" */
    w->sb.len = 0;
    if (kvb_strbuf_add(&w->sb, t1->type, tl) || kvb_strbuf_add(&w->sb, "\t", 1) ||
        kvb_strbuf_add(&w->sb, t2->type, nl))
        return KVB_ENOMEM;
    if (in_set(&p->colloc, w->sb.buf, w->sb.len)) {
        t1->sentbreak = 0;
        t1->abbr = 1;
        return 0;
    }
    if ((t1->abbr || t1->ellipsis) && !initial) {
        if (ortho_heuristic(p, t2) == ORTHO_TRUE) {
            t1->sentbreak = 1;
            return 0;
        }
        if (kvb_punkt_is_upper(t2->s[0]) && in_set(&p->starters, t2->type, nl)) {
            t1->sentbreak = 1;
            return 0;
        }
    }
    if (initial || (tl == 10 && !memcmp(t1->type, "##number##", 10))) {
        int h = ortho_heuristic(p, t2);
        if (h == ORTHO_FALSE) {
            t1->sentbreak = 0;
            t1->abbr = 1;
            return 0;
        }
        const int *f = strmap_get(&p->ortho, t2->type, nl);
        if (h == ORTHO_UNKNOWN && initial && kvb_punkt_is_upper(t2->s[0]) &&
            !((f ? *f : 0) & ORTHO_LC)) {
            t1->sentbreak = 0;
            t1->abbr = 1;
        }
    }
    return 0;
}

/* text_contains_sentbreak(s[0..n)): a sentence break before the last token */
static int contains_sentbreak(work *w, const uint32_t *s, size_t n, int *yes)
{
    w->tv.n = 0;
    *yes = 0;
    if (tokenize_words(s, n, &w->tv) || set_types(w))
        return KVB_ENOMEM;
    ptok *t = w->tv.v;
    for (size_t i = 0; i < w->tv.n; i++)
        if (first_pass(w, &t[i]))
            return KVB_ENOMEM;
    for (size_t i = 0; i + 1 < w->tv.n; i++) {
        if (second_pass(w, &t[i], &t[i + 1]))
            return KVB_ENOMEM;
        if (t[i].sentbreak) {
            *yes = 1;
            return 0;
        }
    }
    return 0;
}

/* ---- sentences (span_tokenize) -------------------------------------------------------------- */
typedef struct cand { /* a match of period_context_re */
    size_t pos;       /* the ., ? or ! */
    size_t after_end; /* end of the after_tok group */
    size_t next_tok;  /* start of next_tok, or SIZE_MAX when the match is before punctuation */
} cand;

/* the next match of period_context_re at or after *from */
static int next_candidate(const uint32_t *s, size_t n, size_t *from, cand *c)
{
    for (size_t i = *from; i < n; i++) {
        if (s[i] != '.' && s[i] != '?' && s[i] != '!')
            continue;
        if (i + 1 < n && non_word(s[i + 1])) {
            *c = (cand){i, i + 2, SIZE_MAX};
            *from = i + 1;
            return 1;
        }
        size_t j = i + 1;
        while (j < n && IS_SP(s[j]))
            j++;
        if (j > i + 1 && j < n) { /* \s+ then \S+ */
            size_t k = j;
            while (k < n && !IS_SP(s[k]))
                k++;
            *c = (cand){i, k, j};
            *from = i + 1;
            return 1;
        }
    }
    return 0;
}

typedef struct spanvec {
    kvb_punkt_span *v;
    size_t n, cap;
} spanvec;

static int span_push(spanvec *sv, size_t a, size_t b)
{
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? 2 * sv->cap : 64;
        kvb_punkt_span *v = kvb_realloc(sv->v, cap * sizeof(*v));
        if (!v)
            return KVB_ENOMEM;
        sv->v = v;
        sv->cap = cap;
    }
    sv->v[sv->n++] = (kvb_punkt_span){a, b};
    return 0;
}

/* _slices_from_text for one candidate whose context is s[ctx, c->after_end): a break ends a
 * slice at the candidate and starts the next at next_tok (or after the candidate) */
static int consider(work *w, const uint32_t *s, size_t ctx, const cand *c, size_t *last_break,
                    spanvec *slices)
{
    int brk;
    if (contains_sentbreak(w, s + ctx, c->after_end - ctx, &brk))
        return KVB_ENOMEM;
    if (!brk)
        return 0;
    if (span_push(slices, *last_break, c->pos + 1))
        return KVB_ENOMEM;
    *last_break = c->next_tok != SIZE_MAX ? c->next_tok : c->pos + 1;
    return 0;
}

/* _match_potential_end_contexts + _slices_from_text: the unaligned slices, in code points */
static int slices_from_text(work *w, const uint32_t *s, size_t n, spanvec *slices)
{
    size_t from = 0, last_break = 0;
    size_t prev_start = 0, prev_stop = 0; /* previous_slice: the word before the previous match */
    int have_prev = 0;
    cand prev = {0}, c;
    while (next_candidate(s, n, &from, &c)) {
        /* the word before: after the last ASCII whitespace since the previous word's end (an
         * index 0 counts as none, as in NLTK), else the previous word's start */
        size_t ws = 0;
        for (size_t i = c.pos; i > prev_stop; i--)
            if (ascii_ws(s[i - 1])) {
                ws = i - 1 - prev_stop;
                break;
            }
        size_t word_start = ws ? prev_stop + ws + 1 : prev_start;
        if (have_prev && prev_stop <= word_start &&
            consider(w, s, prev_start, &prev, &last_break, slices))
            return KVB_ENOMEM;
        prev = c;
        have_prev = 1;
        prev_start = word_start;
        prev_stop = c.pos;
    }
    if (have_prev && consider(w, s, prev_start, &prev, &last_break, slices))
        return KVB_ENOMEM;
    size_t end = n; /* len(text.rstrip()) */
    while (end > 0 && kvb_uni_is_space(s[end - 1]))
        end--;
    return span_push(slices, last_break, end);
}

/* re_boundary_realignment.match(s[a, b)): closing punctuation (lazily, at least one) followed by
 * whitespace, "--" or the end; returns the match's end and its closing characters in *k, or 0 */
static size_t realign_match(const uint32_t *s, size_t a, size_t b, size_t *k)
{
    for (size_t p = a; p < b && closing(s[p]);) {
        p++;
        *k = p - a;
        if (p < b && IS_SP(s[p])) {
            while (p < b && IS_SP(s[p]))
                p++;
            return p;
        }
        if (p == b || (p + 1 < b && s[p] == '-' && s[p + 1] == '-') || s[p] == '\n')
            return p;
    }
    return 0;
}

/* _realign_boundaries over the slices, into out */
static int realign(const uint32_t *s, const spanvec *in, spanvec *out)
{
    size_t shift = 0;
    for (size_t i = 0; i < in->n; i++) {
        size_t a = in->v[i].start + shift, b = in->v[i].end;
        if (i + 1 == in->n) {
            if (a < b && span_push(out, a, b))
                return KVB_ENOMEM;
            continue;
        }
        size_t k = 0, m = realign_match(s, in->v[i + 1].start, in->v[i + 1].end, &k);
        if (m) {
            if (span_push(out, a, in->v[i + 1].start + k))
                return KVB_ENOMEM;
            shift = m - in->v[i + 1].start;
        } else {
            shift = 0;
            if (a < b && span_push(out, a, b))
                return KVB_ENOMEM;
        }
    }
    return 0;
}

int kvb_punkt_sentences(const kvb_punkt *p, const char *text, size_t len, kvb_punkt_span **spans,
                        size_t *n, kvb_error *e)
{
    *spans = NULL;
    *n = 0;
    uint32_t *s = kvb_calloc(len + 1, sizeof(uint32_t));
    size_t *off = kvb_calloc(len + 1, sizeof(size_t));
    work w = {.p = p};
    kvb_strbuf_init(&w.sb);
    spanvec slices = {0}, out = {0};
    int rc = (s && off) ? 0 : KVB_ENOMEM;
    size_t ncp = 0;
    for (size_t i = 0; rc == 0 && i < len; ncp++) {
        off[ncp] = i;
        s[ncp] = kvb_utf8_next(text, len, &i);
    }
    if (rc == 0) {
        off[ncp] = len;
        rc = slices_from_text(&w, s, ncp, &slices);
    }
    if (rc == 0)
        rc = realign(s, &slices, &out);
    if (rc == 0) {
        for (size_t i = 0; i < out.n; i++) /* code points to bytes */
            out.v[i] = (kvb_punkt_span){off[out.v[i].start], off[out.v[i].end]};
        *spans = out.v;
        *n = out.n;
    } else {
        free(out.v);
    }
    free(slices.v);
    free(w.tv.v);
    free(w.types);
    kvb_cps_release(&w.tmp);
    kvb_strbuf_release(&w.sb);
    free(s);
    free(off);
    return rc ? kvb_errorf(e, rc, "sentence split of %zu bytes: out of memory", len) : 0;
}
