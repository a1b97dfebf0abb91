/* lib/text/jieba: jieba 0.42.1 precise mode with HMM (jieba.cut(x, cut_all=False)).
 *
 * The steps, each as jieba does them (see docs/jieba.md for the details):
 *   1. Split the text into runs of re_han_default characters ([\u4E00-\u9FD5a-zA-Z0-9+#&._%-])
 *      and everything else. Outside the runs every character is a token, except that "\r\n"
 *      is one token (re_skip_default "(\r\n|\s)" then per-character output).
 *   2. In a run: the DAG of dictionary words (prefix dictionary: every prefix of every word is
 *      present, with frequency 0 unless it is a word itself) and the route of maximum
 *      sum of log(freq) - log(total), right to left, ties going to the longer word.
 *   3. Consecutive single-character words of the route are buffered; a buffer of 2+ characters
 *      that is not itself a dictionary word goes to the HMM (jieba_hmm.c).
 *
 * The prefix dictionary is a trie whose edges live in one open-addressing hash table keyed by
 * (parent node, code point): ~500k nodes for jieba's dict.txt, built in ~0.1 s. */
#include "text/jieba.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "text/jieba_hmm.h"
#include "core/utf8.h"

#define NO_NODE UINT32_MAX
#define EMPTY_KEY UINT64_MAX

/* key and value side by side: one cache line per probe */
typedef struct kvb_jieba_edge {
    uint64_t key;
    uint32_t child;
} kvb_jieba_edge;

struct kvb_jieba {
    /* trie nodes; node 0 is the root (the empty prefix) */
    uint64_t *freq; /* frequency; 0 = a prefix only */
    double *lp;     /* log(freq) - log(total), the route weight of a word */
    uint32_t n_nodes, cap_nodes;
    /* edges: key (parent << 21 | code point) -> child node; the root's children in the Basic
     * Multilingual Plane also sit in a direct table, since every DAG walk starts there */
    kvb_jieba_edge *edge;
    uint64_t hmask;
    uint32_t *root_bmp; /* 0x10000 entries, NO_NODE where absent */
    uint32_t n_edges;
    uint64_t total;
    double logtotal;
    kvb_jieba_hmm hmm;
};

/* ---- trie -------------------------------------------------------------------------------- */

static uint64_t edge_key(uint32_t parent, uint32_t cp)
{
    return ((uint64_t)parent << 21) | cp;
}

static uint64_t edge_slot(const kvb_jieba *j, uint64_t key)
{
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return (h ^ (h >> 31)) & j->hmask;
}

static uint32_t trie_child(const kvb_jieba *j, uint32_t parent, uint32_t cp)
{
    if (parent == 0 && cp < 0x10000)
        return j->root_bmp[cp];
    uint64_t key = edge_key(parent, cp);
    for (uint64_t s = edge_slot(j, key);; s = (s + 1) & j->hmask) {
        if (j->edge[s].key == key)
            return j->edge[s].child;
        if (j->edge[s].key == EMPTY_KEY)
            return NO_NODE;
    }
}

static int edges_resize(kvb_jieba *j, uint64_t cap)
{
    kvb_jieba_edge *edge = kvb_calloc(cap, sizeof *edge);
    if (!edge)
        return KVB_ENOMEM;
    for (uint64_t s = 0; s < cap; s++)
        edge[s].key = EMPTY_KEY;
    kvb_jieba_edge *old = j->edge;
    uint64_t omask = j->hmask;
    j->edge = edge;
    j->hmask = cap - 1;
    for (uint64_t s = 0; old && s <= omask; s++) {
        if (old[s].key == EMPTY_KEY)
            continue;
        uint64_t t = edge_slot(j, old[s].key);
        while (edge[t].key != EMPTY_KEY)
            t = (t + 1) & j->hmask;
        edge[t] = old[s];
    }
    free(old);
    return 0;
}

static uint32_t node_new(kvb_jieba *j)
{
    if (j->n_nodes == j->cap_nodes) {
        uint32_t cap = j->cap_nodes ? j->cap_nodes * 2 : 1u << 16;
        if (cap >= (1u << 31))
            return NO_NODE;
        uint64_t *f = kvb_realloc(j->freq, (size_t)cap * sizeof *f);
        if (!f)
            return NO_NODE;
        j->freq = f;
        double *lp = kvb_realloc(j->lp, (size_t)cap * sizeof *lp);
        if (!lp)
            return NO_NODE;
        j->lp = lp;
        j->cap_nodes = cap;
    }
    j->freq[j->n_nodes] = 0;
    j->lp[j->n_nodes] = 0;
    return j->n_nodes++;
}

/* The child of parent for cp, created if absent. NO_NODE when out of memory. */
static uint32_t trie_add(kvb_jieba *j, uint32_t parent, uint32_t cp)
{
    if ((uint64_t)(j->n_edges + 1) * 2 > j->hmask + 1 &&
        edges_resize(j, (j->hmask + 1) * 2) != 0)
        return NO_NODE;
    uint64_t key = edge_key(parent, cp);
    uint64_t s = edge_slot(j, key);
    for (; j->edge[s].key != EMPTY_KEY; s = (s + 1) & j->hmask)
        if (j->edge[s].key == key)
            return j->edge[s].child;
    uint32_t child = node_new(j);
    if (child == NO_NODE)
        return NO_NODE;
    j->edge[s].key = key;
    j->edge[s].child = child;
    j->n_edges++;
    if (parent == 0 && cp < 0x10000)
        j->root_bmp[cp] = child;
    return child;
}

/* ---- loading ----------------------------------------------------------------------------- */

static int bad_line(const char *path, size_t lineno, kvb_error *e)
{
    return kvb_errorf(e, KVB_EINVAL,
                      "%s: line %zu: invalid dictionary entry (expected 'word frequency [tag]')",
                      path, lineno);
}

static int is_ascii_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* One line of dict.txt, as gen_pfdict reads it: strip ASCII whitespace, split on ' ', the first
 * field is the word, the second its integer frequency; the rest (the tag) is ignored. */
static int add_line(kvb_jieba *j, const char *s, const char *end, const char *path, size_t lineno,
                    kvb_error *e)
{
    while (s < end && is_ascii_space(*s))
        s++;
    while (end > s && is_ascii_space(end[-1]))
        end--;
    const char *sp = memchr(s, ' ', (size_t)(end - s));
    if (!sp || sp == s)
        return bad_line(path, lineno, e);
    const char *f = sp + 1, *fend = memchr(f, ' ', (size_t)(end - f));
    if (!fend)
        fend = end;
    if (f == fend || kvb_utf8_valid_prefix(s, (size_t)(end - s)) != (size_t)(end - s))
        return bad_line(path, lineno, e);
    uint64_t freq = 0;
    for (const char *p = f; p < fend; p++) {
        if (*p < '0' || *p > '9' || freq > (UINT64_MAX - 9) / 10)
            return bad_line(path, lineno, e);
        freq = freq * 10 + (uint64_t)(*p - '0');
    }
    if (j->total > UINT64_MAX - freq)
        return bad_line(path, lineno, e);
    j->total += freq;
    uint32_t node = 0;
    for (const char *p = s; p < sp;) {
        uint32_t cp;
        p += kvb_text_utf8_decode(p, (size_t)(sp - p), &cp, KVB_TEXT_UTF8_ESCAPE);
        node = trie_add(j, node, cp);
        if (node == NO_NODE)
            return kvb_errorf(e, KVB_ENOMEM, "%s: out of memory building the dictionary", path);
    }
    j->freq[node] = freq; /* a later duplicate overrides, as lfreq[word] = freq does */
    return 0;
}

static int load_dict(kvb_jieba *j, const char *dir, kvb_error *e)
{
    char *path = kvb_path_join(dir, "dict.txt");
    if (!path)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    char *data;
    size_t len;
    int rc = kvb_read_file(path, (size_t)512 << 20, &data, &len, e);
    if (rc) {
        free(path);
        return rc;
    }
    rc = edges_resize(j, (uint64_t)1 << 20);
    j->root_bmp = rc ? NULL : kvb_malloc(0x10000 * sizeof *j->root_bmp);
    if (!j->root_bmp)
        rc = KVB_ENOMEM;
    else
        memset(j->root_bmp, 0xFF, 0x10000 * sizeof *j->root_bmp);
    if (!rc && node_new(j) == NO_NODE)
        rc = KVB_ENOMEM;
    if (rc)
        kvb_errorf(e, KVB_ENOMEM, "%s: out of memory building the dictionary", path);
    size_t lineno = 0;
    for (const char *s = data, *end = data + len; !rc && s < end;) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *stop = nl ? nl : end;
        rc = add_line(j, s, stop, path, ++lineno, e);
        s = nl ? nl + 1 : end;
    }
    if (!rc && j->total == 0)
        rc = kvb_errorf(e, KVB_EINVAL, "%s: no words with a positive frequency", path);
    free(data);
    free(path);
    if (rc)
        return rc;
    /* jieba: log(FREQ[w]) - log(total), both logs of the integers converted to double */
    j->logtotal = log((double)j->total);
    for (uint32_t n = 0; n < j->n_nodes; n++)
        if (j->freq[n])
            j->lp[n] = log((double)j->freq[n]) - j->logtotal;
    return 0;
}

int kvb_jieba_load(kvb_jieba **out, const char *dir, kvb_error *e)
{
    *out = NULL;
    if (!dir || !*dir) {
        const char *env = getenv("KVBENCH_JIEBA_DIR");
        dir = env && *env ? env : KVB_JIEBA_DEFAULT_DIR;
    }
    kvb_jieba *j = kvb_calloc(1, sizeof *j);
    if (!j)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    int rc = load_dict(j, dir, e);
    if (!rc)
        rc = kvb_jieba_hmm_load(&j->hmm, dir, e);
    if (rc) {
        kvb_jieba_free(j);
        return rc;
    }
    *out = j;
    return 0;
}

void kvb_jieba_free(kvb_jieba *j)
{
    if (!j)
        return;
    free(j->freq);
    free(j->lp);
    free(j->edge);
    free(j->root_bmp);
    kvb_jieba_hmm_release(&j->hmm);
    free(j);
}

/* ---- cutting ----------------------------------------------------------------------------- */

/* Per-call working memory for one run of re_han_default characters. */
typedef struct cut_ctx {
    const kvb_jieba *j;
    const char *text;
    kvb_strv_cb cb;
    void *arg;
    kvb_error *e;
    uint32_t *cp;  /* code points of the run */
    size_t *off;   /* byte offsets into text, n + 1 of them */
    double *score; /* route[i][0], n + 1 of them */
    size_t *next;  /* route[i][1]: last character of the word starting at i */
    size_t n, cap;
    kvb_jieba_hmm_scratch hmm;
} cut_ctx;

static int ctx_push(cut_ctx *c, uint32_t cp, size_t off)
{
    if (c->n + 1 >= c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        uint32_t *a = kvb_realloc(c->cp, cap * sizeof *a);
        if (a)
            c->cp = a;
        size_t *b = a ? kvb_realloc(c->off, cap * sizeof *b) : NULL;
        if (b)
            c->off = b;
        double *d = b ? kvb_realloc(c->score, cap * sizeof *d) : NULL;
        if (d)
            c->score = d;
        size_t *x = d ? kvb_realloc(c->next, cap * sizeof *x) : NULL;
        if (!x)
            return kvb_errorf(c->e, KVB_ENOMEM, "jieba: out of memory (%zu characters)", cap);
        c->next = x;
        c->cap = cap;
    }
    c->cp[c->n] = cp;
    c->off[c->n] = off;
    c->n++;
    return 0;
}

/* calc(): route[i] = max over dictionary words w = s[i..x] of (lp(w) + route[x+1], x); a
 * character that starts no word is a word of frequency 0, weighted log(1) - log(total). */
static void calc_route(cut_ctx *c)
{
    const kvb_jieba *j = c->j;
    size_t n = c->n;
    c->score[n] = 0.0;
    for (size_t i = n; i-- > 0;) {
        double best = 0;
        size_t bestx = i;
        int found = 0;
        uint32_t node = 0;
        for (size_t x = i; x < n; x++) {
            node = trie_child(j, node, c->cp[x]);
            if (node == NO_NODE)
                break;
            if (!j->freq[node])
                continue;
            double s = j->lp[node] + c->score[x + 1];
            /* tuples (score, x) with x increasing: >= keeps the larger x on a tie */
            if (!found || s >= best) {
                best = s;
                bestx = x;
                found = 1;
            }
        }
        if (!found)
            best = (0.0 - j->logtotal) + c->score[i + 1];
        c->score[i] = best;
        c->next[i] = bestx;
    }
}

#define EMIT(a, b) c->cb(c->text + c->off[a], c->off[b] - c->off[a], c->arg)

/* Frequency of the dictionary entry spelled by characters [a, b), 0 if none. */
static uint64_t word_freq(const cut_ctx *c, size_t a, size_t b)
{
    uint32_t node = 0;
    for (size_t i = a; i < b && node != NO_NODE; i++)
        node = trie_child(c->j, node, c->cp[i]);
    return node == NO_NODE ? 0 : c->j->freq[node];
}

/* The buffered single-character words [a, b) of __cut_DAG. */
static int flush_buf(cut_ctx *c, size_t a, size_t b)
{
    if (b - a == 1) {
        EMIT(a, b);
        return 0;
    }
    if (!word_freq(c, a, b))
        return kvb_jieba_hmm_cut(&c->j->hmm, c->text, c->cp + a, c->off + a, b - a, &c->hmm,
                                 c->cb, c->arg, c->e);
    for (size_t i = a; i < b; i++)
        EMIT(i, i + 1);
    return 0;
}

/* __cut_DAG over the run held in c. */
static int cut_run(cut_ctx *c)
{
    calc_route(c);
    size_t n = c->n, x = 0, buf = SIZE_MAX;
    while (x < n) {
        size_t y = c->next[x] + 1;
        if (y - x == 1) {
            if (buf == SIZE_MAX)
                buf = x;
        } else {
            if (buf != SIZE_MAX) {
                int rc = flush_buf(c, buf, x);
                if (rc)
                    return rc;
                buf = SIZE_MAX;
            }
            EMIT(x, y);
        }
        x = y;
    }
    return buf != SIZE_MAX ? flush_buf(c, buf, n) : 0;
}

/* re_han_default: [\u4E00-\u9FD5a-zA-Z0-9+#&\._%\-] */
static int han_default(uint32_t cp)
{
    if (cp >= 0x4E00 && cp <= 0x9FD5)
        return 1;
    if (cp >= 0x80)
        return 0;
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
           (cp && strchr("+#&._%-", (int)cp));
}

int kvb_jieba_cut(const kvb_jieba *j, const char *text, size_t len, kvb_strv_cb cb, void *arg,
                  kvb_error *e)
{
    cut_ctx c = { .j = j, .text = text, .cb = cb, .arg = arg, .e = e };
    const unsigned char *s = (const unsigned char *)text;
    int rc = 0;
    size_t pos = 0;
    while (pos < len && !rc) {
        uint32_t cp;
        size_t k = kvb_text_utf8_decode(s + pos, len - pos, &cp, KVB_TEXT_UTF8_ESCAPE);
        if (!han_default(cp)) {
            /* outside the runs: one token per character, "\r\n" together */
            if (cp == '\r' && pos + 1 < len && s[pos + 1] == '\n')
                k = 2;
            cb(text + pos, k, arg);
            pos += k;
            continue;
        }
        c.n = 0;
        while (pos < len && han_default(cp)) {
            if ((rc = ctx_push(&c, cp, pos)) != 0)
                break;
            pos += k;
            if (pos < len)
                k = kvb_text_utf8_decode(s + pos, len - pos, &cp, KVB_TEXT_UTF8_ESCAPE);
        }
        if (!rc) {
            c.off[c.n] = pos;
            rc = cut_run(&c);
        }
    }
    free(c.cp);
    free(c.off);
    free(c.score);
    free(c.next);
    free(c.hmm.bp);
    return rc;
}
