/* Needle in a haystack: the deterministic scorer and the grid parser (no tokenizer needed). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "longbench/niah.h"

/* ---- scoring ------------------------------------------------------------------------------- */

/* Lower-case ASCII words (letters and digits); everything else separates. */
static int words(const char *s, char ***out, int *n)
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        kvb_strbuf_add(&sb, isalnum(*p) || *p >= 0x80 ? (const char[]){ (char)tolower(*p) } : ",",
                       1);
    int rc = kvb_split_csv(sb.buf ? sb.buf : "", out, n);
    kvb_strbuf_release(&sb);
    if (rc)
        return rc;
    int k = 0; /* drop empty items */
    for (int i = 0; i < *n; i++) {
        if ((*out)[i][0])
            (*out)[k++] = (*out)[i];
        else
            free((*out)[i]);
    }
    *n = k;
    return 0;
}

static int has_word(char **v, int n, const char *w)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(v[i], w))
            return 1;
    return 0;
}

static const char *const stop_words[] = {
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "at", "is", "are", "was", "be",
    "it", "for", "with", "by", "as", "that", "this", "what", "which", "who", "do", "does",
};

static int is_key(const char *w, char **q, int nq)
{
    for (size_t i = 0; i < KVB_ARRAY_SIZE(stop_words); i++)
        if (!strcmp(w, stop_words[i]))
            return 0;
    return !has_word(q, nq, w);
}

double kvb_niah_score_recall(const char *needle, const char *question, const char *answer)
{
    char **nw = NULL, **qw = NULL, **aw = NULL;
    int nn = 0, nq = 0, na = 0, keys = 0, hit = 0;
    if (words(needle, &nw, &nn) || words(question, &qw, &nq) || words(answer, &aw, &na))
        goto out;
    for (int i = 0; i < nn; i++) {
        if (!is_key(nw[i], qw, nq) || has_word(nw, i, nw[i]))
            continue; /* each distinct key word once */
        keys++;
        hit += has_word(aw, na, nw[i]);
    }
out:
    kvb_free_strv(nw, nn);
    kvb_free_strv(qw, nq);
    kvb_free_strv(aw, na);
    return keys ? (double)hit / keys : 0.0;
}

int kvb_niah_score_exact(const char *needle, const char *question, const char *answer)
{
    char **nw = NULL, **qw = NULL, **aw = NULL;
    int nn = 0, nq = 0, na = 0, found = 0;
    if (words(needle, &nw, &nn) || words(question, &qw, &nq) || words(answer, &aw, &na))
        goto out;
    int first = -1, last = -1;
    for (int i = 0; i < nn; i++)
        if (is_key(nw[i], qw, nq)) {
            if (first < 0)
                first = i;
            last = i;
        }
    if (first < 0)
        goto out;
    int span = last - first + 1;
    for (int i = 0; i + span <= na && !found; i++) {
        int j = 0;
        while (j < span && !strcmp(aw[i + j], nw[first + j]))
            j++;
        found = j == span;
    }
out:
    kvb_free_strv(nw, nn);
    kvb_free_strv(qw, nq);
    kvb_free_strv(aw, na);
    return found;
}

int kvb_niah_parse_grid(const char *s, int lo, int hi, int **vals, int *n, const char *what,
                        kvb_error *e)
{
    char **items;
    int cnt;
    *vals = NULL;
    *n = 0;
    if (!s || !*s || kvb_split_csv(s, &items, &cnt) || cnt == 0)
        return kvb_errorf(e, KVB_EINVAL, "--%s: expected a comma-separated list", what);
    int *v = kvb_calloc((size_t)cnt, sizeof(int)), rc = 0;
    for (int i = 0; i < cnt && !rc; i++) {
        long x;
        if (!v || kvb_parse_long(items[i], lo, hi, &x))
            rc = kvb_errorf(e, KVB_EINVAL, "--%s: '%s' is not an integer in [%d, %d]", what,
                            items[i], lo, hi);
        else {
            for (int j = 0; j < i; j++)
                if (v[j] == x)
                    rc = kvb_errorf(e, KVB_EINVAL, "--%s: %ld given twice", what, x);
            v[i] = (int)x;
        }
    }
    kvb_free_strv(items, cnt);
    if (rc) {
        free(v);
        return rc;
    }
    *vals = v;
    *n = cnt;
    return 0;
}
