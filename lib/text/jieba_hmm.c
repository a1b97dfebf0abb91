/* lib/text/jieba_hmm: jieba 0.42.1's finalseg (HMM for unknown words), re-implemented.
 *
 * Exactness: every score is the same sequence of double additions that finalseg.viterbi does,
 * in the same order, on the same table values (the Python literals are parsed with strtod,
 * which rounds correctly, as Python's float parser does), and ties are resolved the way
 * Python's max() over (prob, state_letter) tuples resolves them. MIN_FLOAT (-3.14e100) absorbs
 * ordinary log probabilities, so ties do happen and the tie rule matters. */
#include "text/jieba_hmm.h"

#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/utf8.h"

/* ---- Python literal parser --------------------------------------------------------------- */
/* The prob_*.py files are one assignment `P={...}` of a dict of dicts with string keys and float
 * values (plus an import line). This reads exactly that shape and rejects everything else. */

typedef struct pyparse {
    const char *base, *p, *end;
    const char *path;
    kvb_error *e;
} pyparse;

static int py_line(const pyparse *q)
{
    int line = 1;
    for (const char *s = q->base; s < q->p; s++)
        line += *s == '\n';
    return line;
}

static int py_fail(pyparse *q, const char *what)
{
    return kvb_errorf(q->e, KVB_EINVAL, "%s: line %d: %s", q->path, py_line(q), what);
}

static void py_skip(pyparse *q)
{
    while (q->p < q->end) {
        char c = *q->p;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            q->p++;
        } else if (c == '#') {
            while (q->p < q->end && *q->p != '\n')
                q->p++;
        } else {
            break;
        }
    }
}

static int py_expect(pyparse *q, char c)
{
    py_skip(q);
    if (q->p >= q->end || *q->p != c) {
        char msg[48];
        snprintf(msg, sizeof msg, "expected '%c'", c);
        return py_fail(q, msg);
    }
    q->p++;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A string literal holding exactly one code point ('B', '\u4e00', '中'). */
static int py_char(pyparse *q, uint32_t *out)
{
    py_skip(q);
    if (q->p < q->end && (*q->p == 'u' || *q->p == 'U'))
        q->p++;
    if (q->p >= q->end || (*q->p != '\'' && *q->p != '"'))
        return py_fail(q, "expected a string key");
    char quote = *q->p++;
    int count = 0;
    uint32_t cp = 0;
    while (q->p < q->end && *q->p != quote) {
        if (*q->p == '\n')
            return py_fail(q, "unterminated string");
        uint32_t c;
        if (*q->p == '\\') {
            q->p++;
            if (q->p >= q->end)
                return py_fail(q, "unterminated string");
            char k = *q->p++;
            int digits = k == 'u' ? 4 : k == 'U' ? 8 : k == 'x' ? 2 : 0;
            if (digits) {
                c = 0;
                for (int i = 0; i < digits; i++) {
                    int h = q->p < q->end ? hexval(*q->p) : -1;
                    if (h < 0)
                        return py_fail(q, "bad escape in string");
                    c = c * 16 + (uint32_t)h;
                    q->p++;
                }
                if (c > 0x10FFFF)
                    return py_fail(q, "bad escape in string");
            } else if (k == '\\' || k == '\'' || k == '"') {
                c = (uint32_t)k;
            } else {
                return py_fail(q, "unsupported escape in string");
            }
        } else {
            size_t len = kvb_text_utf8_decode(q->p, (size_t)(q->end - q->p), &c,
                                              KVB_TEXT_UTF8_ESCAPE);
            if (kvb_text_utf8_escaped(c))
                return py_fail(q, "invalid UTF-8 in string");
            q->p += len;
        }
        cp = c;
        count++;
    }
    if (q->p >= q->end)
        return py_fail(q, "unterminated string");
    q->p++;
    if (count != 1)
        return py_fail(q, "key is not a single character");
    *out = cp;
    return 0;
}

static int py_number(pyparse *q, double *out)
{
    py_skip(q);
    char buf[64];
    size_t n = 0;
    while (q->p + n < q->end && n + 1 < sizeof buf && strchr("+-.0123456789eE", q->p[n]) &&
           q->p[n])
        n++;
    memcpy(buf, q->p, n);
    buf[n] = 0;
    char *stop;
    double v = n ? strtod(buf, &stop) : 0.0;
    if (!n || *stop || v != v || v > 1e308 || v < -1e308)
        return py_fail(q, "expected a finite number");
    q->p += n;
    *out = v;
    return 0;
}

static int state_of(uint32_t c)
{
    switch (c) {
    case 'B': return KVB_HMM_B;
    case 'E': return KVB_HMM_E;
    case 'M': return KVB_HMM_M;
    case 'S': return KVB_HMM_S;
    default: return -1;
    }
}

/* After an item: ',' (possibly followed by the closing brace) or the closing brace.
 * Returns 1 when the dict is closed, 0 to continue, <0 on error. */
static int py_next(pyparse *q)
{
    py_skip(q);
    if (q->p < q->end && *q->p == ',') {
        q->p++;
        py_skip(q);
    } else if (q->p < q->end && *q->p != '}') {
        return py_fail(q, "expected ',' or '}'");
    }
    if (q->p < q->end && *q->p == '}') {
        q->p++;
        return 1;
    }
    return q->p < q->end ? 0 : py_fail(q, "unexpected end of file");
}

enum { TAB_START, TAB_TRANS, TAB_EMIT };

/* The inner dict of trans ({state: prob}) or emit ({char: prob}) for outer state st. */
static int py_inner(pyparse *q, kvb_jieba_hmm *h, int which, int st)
{
    int rc = py_expect(q, '{');
    if (rc)
        return rc;
    py_skip(q);
    if (q->p < q->end && *q->p == '}') {
        q->p++;
        return 0;
    }
    for (;;) {
        uint32_t key;
        double v;
        if ((rc = py_char(q, &key)) || (rc = py_expect(q, ':')) || (rc = py_number(q, &v)))
            return rc;
        if (which == TAB_TRANS) {
            int to = state_of(key);
            if (to < 0)
                return py_fail(q, "transition to an unknown state (not B, E, M or S)");
            h->trans[st][to] = v;
        } else if (key >= KVB_JIEBA_HAN_LO && key <= KVB_JIEBA_HAN_HI) {
            h->emit[(size_t)st * KVB_JIEBA_HAN_N + (key - KVB_JIEBA_HAN_LO)] = v;
        } /* other characters never reach the HMM (finalseg only feeds it re_han runs) */
        rc = py_next(q);
        if (rc)
            return rc < 0 ? rc : 0;
    }
}

static int py_table(pyparse *q, kvb_jieba_hmm *h, int which)
{
    /* find the line `P = {` */
    const char *s = q->base;
    for (;;) {
        while (s < q->end && (*s == ' ' || *s == '\t'))
            s++;
        if (s < q->end && *s == 'P') {
            q->p = s + 1;
            break;
        }
        const char *nl = memchr(s, '\n', (size_t)(q->end - s));
        if (!nl) {
            q->p = q->end;
            return py_fail(q, "no assignment 'P = {...}' found");
        }
        s = nl + 1;
    }
    int rc = py_expect(q, '=');
    if (rc || (rc = py_expect(q, '{')))
        return rc;
    unsigned seen = 0;
    py_skip(q);
    if (q->p < q->end && *q->p == '}')
        q->p++;
    else
        for (;;) {
            uint32_t key;
            if ((rc = py_char(q, &key)) || (rc = py_expect(q, ':')))
                return rc;
            int st = state_of(key);
            if (st < 0)
                return py_fail(q, "unknown HMM state (not B, E, M or S)");
            seen |= 1u << st;
            rc = which == TAB_START ? py_number(q, &h->start[st]) : py_inner(q, h, which, st);
            if (rc)
                return rc;
            rc = py_next(q);
            if (rc < 0)
                return rc;
            if (rc)
                break;
        }
    if (seen != 0xF)
        return py_fail(q, "table lacks one of the states B, E, M, S");
    py_skip(q);
    if (q->p != q->end)
        return py_fail(q, "unexpected text after the table");
    return 0;
}

static int load_table(kvb_jieba_hmm *h, const char *dir, const char *name, int which,
                      kvb_error *e)
{
    char *rel = kvb_path_join("finalseg", name);
    char *path = rel ? kvb_path_join(dir, rel) : NULL;
    free(rel);
    if (!path)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    char *data;
    size_t len;
    int rc = kvb_read_file(path, (size_t)64 << 20, &data, &len, e);
    if (rc == 0) {
        pyparse q = { data, data, data + len, path, e };
        rc = py_table(&q, h, which);
        free(data);
    }
    free(path);
    return rc;
}

int kvb_jieba_hmm_load(kvb_jieba_hmm *h, const char *dir, kvb_error *e)
{
    memset(h, 0, sizeof *h);
    size_t n = (size_t)KVB_HMM_NSTATES * KVB_JIEBA_HAN_N;
    h->emit = kvb_malloc(n * sizeof *h->emit);
    if (!h->emit)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory for the HMM emission table");
    for (size_t i = 0; i < n; i++)
        h->emit[i] = KVB_JIEBA_MIN_FLOAT;
    for (int a = 0; a < KVB_HMM_NSTATES; a++)
        for (int b = 0; b < KVB_HMM_NSTATES; b++)
            h->trans[a][b] = KVB_JIEBA_MIN_FLOAT;
    int rc = load_table(h, dir, "prob_start.py", TAB_START, e);
    if (!rc)
        rc = load_table(h, dir, "prob_trans.py", TAB_TRANS, e);
    if (!rc)
        rc = load_table(h, dir, "prob_emit.py", TAB_EMIT, e);
    if (rc)
        kvb_jieba_hmm_release(h);
    return rc;
}

void kvb_jieba_hmm_release(kvb_jieba_hmm *h)
{
    free(h->emit);
    h->emit = NULL;
}

/* ---- Viterbi ----------------------------------------------------------------------------- */

/* finalseg's PrevStatus: the two states each state may follow, in the order listed there. */
static const uint8_t prev_status[KVB_HMM_NSTATES][2] = {
    [KVB_HMM_B] = { KVB_HMM_E, KVB_HMM_S },
    [KVB_HMM_M] = { KVB_HMM_M, KVB_HMM_B },
    [KVB_HMM_S] = { KVB_HMM_S, KVB_HMM_E },
    [KVB_HMM_E] = { KVB_HMM_B, KVB_HMM_M },
};

static double emit_of(const kvb_jieba_hmm *h, int st, uint32_t cp)
{
    return h->emit[(size_t)st * KVB_JIEBA_HAN_N + (cp - KVB_JIEBA_HAN_LO)];
}

/* Viterbi over n >= 1 Han characters; leaves the best state path in path[0..n). */
static void viterbi(const kvb_jieba_hmm *h, const uint32_t *cp, size_t n, uint8_t *bp,
                    uint8_t *path)
{
    double v[KVB_HMM_NSTATES], nv[KVB_HMM_NSTATES];
    for (int y = 0; y < KVB_HMM_NSTATES; y++)
        v[y] = h->start[y] + emit_of(h, y, cp[0]);
    for (size_t t = 1; t < n; t++) {
        for (int y = 0; y < KVB_HMM_NSTATES; y++) {
            double em = emit_of(h, y, cp[t]);
            int a = prev_status[y][0], b = prev_status[y][1];
            double pa = v[a] + h->trans[a][y] + em;
            double pb = v[b] + h->trans[b][y] + em;
            /* max((pa, a), (pb, b)): the larger prob, on a tie the larger state letter */
            int take_b = pb > pa || (pb == pa && b > a);
            nv[y] = take_b ? pb : pa;
            bp[t * KVB_HMM_NSTATES + (size_t)y] = (uint8_t)(take_b ? b : a);
        }
        memcpy(v, nv, sizeof v);
    }
    /* max((V[E], 'E'), (V[S], 'S')) */
    int st = v[KVB_HMM_S] >= v[KVB_HMM_E] ? KVB_HMM_S : KVB_HMM_E;
    for (size_t t = n; t-- > 0;) {
        path[t] = (uint8_t)st;
        if (t)
            st = bp[t * KVB_HMM_NSTATES + (size_t)st];
    }
}

static int scratch_reserve(kvb_jieba_hmm_scratch *s, size_t n, kvb_error *e)
{
    if (n <= s->cap)
        return 0;
    size_t cap = n < 256 ? 256 : n + n / 2, bytes;
    if (kvb_mul_overflow(cap, KVB_HMM_NSTATES + 1, &bytes))
        return kvb_errorf(e, KVB_ENOMEM, "jieba: text too long for the HMM");
    uint8_t *bp = kvb_realloc(s->bp, bytes);
    if (!bp)
        return kvb_errorf(e, KVB_ENOMEM, "jieba: out of memory (%zu bytes for the HMM)", bytes);
    s->bp = bp;
    s->cap = cap;
    return 0;
}

#define EMIT(a, b) cb(text + off[a], off[b] - off[a], arg)

/* finalseg.__cut: Viterbi, then words from the B/M/E/S path. */
static int hmm_han_run(const kvb_jieba_hmm *h, const char *text, const uint32_t *cp,
                       const size_t *off, size_t n, kvb_jieba_hmm_scratch *s, kvb_strv_cb cb,
                       void *arg, kvb_error *e)
{
    int rc = scratch_reserve(s, n, e);
    if (rc)
        return rc;
    uint8_t *path = s->bp + s->cap * KVB_HMM_NSTATES;
    viterbi(h, cp, n, s->bp, path);
    size_t begin = 0, next = 0;
    for (size_t i = 0; i < n; i++) {
        if (path[i] == KVB_HMM_B) {
            begin = i;
        } else if (path[i] == KVB_HMM_E) {
            EMIT(begin, i + 1);
            next = i + 1;
        } else if (path[i] == KVB_HMM_S) {
            EMIT(i, i + 1);
            next = i + 1;
        }
    }
    if (next < n)
        EMIT(next, n);
    return 0;
}

static int is_alnum(uint32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_han(uint32_t c)
{
    return c >= KVB_JIEBA_HAN_LO && c <= KVB_JIEBA_HAN_HI;
}

/* A non-Han piece of finalseg.cut: re.split("([a-zA-Z0-9]+(?:\.\d+)?%?)"), every non-empty
 * part (matches and the text between them) is a token. The pieces reaching here hold only
 * re_han_default characters, so \d is ASCII 0-9 here. */
static void hmm_other_run(const char *text, const uint32_t *cp, const size_t *off, size_t n,
                          kvb_strv_cb cb, void *arg)
{
    size_t i = 0, gap = 0;
    while (i < n) {
        if (!is_alnum(cp[i])) {
            i++;
            continue;
        }
        if (gap < i)
            EMIT(gap, i);
        size_t j = i;
        while (j < n && is_alnum(cp[j]))
            j++;
        if (j + 1 < n && cp[j] == '.' && cp[j + 1] >= '0' && cp[j + 1] <= '9') {
            j += 2;
            while (j < n && cp[j] >= '0' && cp[j] <= '9')
                j++;
        }
        if (j < n && cp[j] == '%')
            j++;
        EMIT(i, j);
        i = gap = j;
    }
    if (gap < n)
        EMIT(gap, n);
}

int kvb_jieba_hmm_cut(const kvb_jieba_hmm *h, const char *text, const uint32_t *cp,
                      const size_t *off, size_t n, kvb_jieba_hmm_scratch *s, kvb_strv_cb cb,
                      void *arg, kvb_error *e)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        int han = is_han(cp[i]);
        while (j < n && is_han(cp[j]) == han)
            j++;
        if (han) {
            int rc = hmm_han_run(h, text, cp + i, off + i, j - i, s, cb, arg, e);
            if (rc)
                return rc;
        } else {
            hmm_other_run(text, cp + i, off + i, j - i, cb, arg);
        }
        i = j;
    }
    return 0;
}
