/* Needle in a haystack: haystack from the essays, needle insertion on token ids, scoring. */
#include "longbench/niah.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

/* What follows the haystack in the user message (kvbench's wording, see docs/niah.md). */
#define NIAH_TAIL_FMT "\n\nAnswer the question using only the text above.\nQuestion: %s\nAnswer:"
#define NIAH_MARK "\x01kvbench-haystack\x01"

struct kvb_niah {
    const kvb_tokenizer *t;
    kvb_ids hay;      /* haystack ids, at least max_length long */
    kvb_ids head;     /* prompt ids before the haystack (BOS, chat prefix) */
    kvb_ids tail;     /* prompt ids after it (question, chat suffix) */
    kvb_ids needle;   /* encode(" " + needle) */
    unsigned char *boundary; /* boundary[i]: a sentence may start at haystack index i */
    uint64_t hash;
    int n_essays;
};

const char *kvb_niah_essays_dir(void)
{
    const char *env = getenv("KVBENCH_ESSAYS");
    if (env && *env && kvb_is_dir(env))
        return env;
    if (kvb_is_dir("datasets/paul-graham-essays"))
        return "datasets/paul-graham-essays";
    if (kvb_is_dir("../shared/datasets/paul-graham-essays"))
        return "../shared/datasets/paul-graham-essays";
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

/* Sorted *.txt names of dir. */
static int list_essays(const char *dir, char ***names, int *n, kvb_error *e)
{
    DIR *d = opendir(dir);
    if (!d)
        return kvb_errorf(e, KVB_EIO, "%s: cannot open the essays directory", dir);
    char **v = NULL;
    int cnt = 0, cap = 0;
    for (struct dirent *de; (de = readdir(d));) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".txt") || de->d_name[0] == '.')
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 64;
            char **nv = kvb_realloc(v, (size_t)cap * sizeof(*v));
            if (!nv)
                break;
            v = nv;
        }
        v[cnt++] = kvb_strdup(de->d_name);
    }
    closedir(d);
    if (cnt == 0) {
        free(v);
        return kvb_errorf(e, KVB_EIO, "%s: no *.txt essays (run `make data`)", dir);
    }
    qsort(v, (size_t)cnt, sizeof(*v), cmp_str);
    *names = v;
    *n = cnt;
    return 0;
}

/* A sentence can start after a token whose text ends in . ? ! or a newline (spaces ignored). */
static int ends_sentence(const kvb_tokenizer *t, int32_t id)
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    int r = 0;
    if (kvb_tokenizer_decode(t, &id, 1, 0, &sb, NULL) == 0 && sb.len) {
        size_t k = sb.len;
        while (k && sb.buf[k - 1] == ' ')
            k--;
        r = k && strchr(".?!\n", sb.buf[k - 1]) != NULL;
    }
    kvb_strbuf_release(&sb);
    return r;
}

/* head/tail ids: the chat template applied around a marker, split there. */
static int build_frame(kvb_niah *n, const kvb_niah_opts *o, const char *question, kvb_error *e)
{
    kvb_strbuf user, chat;
    kvb_strbuf_init(&user);
    kvb_strbuf_init(&chat);
    kvb_strbuf_adds(&user, NIAH_MARK);
    kvb_strbuf_addf(&user, NIAH_TAIL_FMT, question);
    int rc = 0;
    const char *full = user.buf;
    if (o->chat_family && strcmp(o->chat_family, "none")) {
        if ((rc = kvb_chat_template_apply(o->chat_family, user.buf, &chat, e)))
            goto out;
        full = chat.buf;
    }
    const char *m = strstr(full, NIAH_MARK);
    if (!m) {
        rc = kvb_errorf(e, KVB_EINVAL, "niah: the chat template lost the haystack marker");
        goto out;
    }
    if ((rc = kvb_tokenizer_encode(n->t, full, (size_t)(m - full), o->add_bos, &n->head, e)))
        goto out;
    const char *after = m + strlen(NIAH_MARK);
    rc = kvb_tokenizer_encode(n->t, after, strlen(after), 0, &n->tail, e);
out:
    kvb_strbuf_release(&user);
    kvb_strbuf_release(&chat);
    return rc;
}

int kvb_niah_check(const kvb_niah_opts *o, kvb_error *e)
{
    if (!o->essays_dir && !kvb_niah_essays_dir())
        return kvb_errorf(e, KVB_EIO, "niah: no Paul Graham essays found (run `make data`, or set "
                                      "KVBENCH_ESSAYS)");
    if ((o->needle && !*o->needle) || (o->question && !*o->question))
        return kvb_errorf(e, KVB_EINVAL, "niah: empty needle or question");
    return 0;
}

int kvb_niah_open(kvb_niah **out, const kvb_tokenizer *t, const kvb_niah_opts *o, kvb_error *e)
{
    *out = NULL;
    int rc = kvb_niah_check(o, e);
    if (rc)
        return rc;
    const char *dir = o->essays_dir ? o->essays_dir : kvb_niah_essays_dir();
    const char *needle = o->needle ? o->needle : KVB_NIAH_NEEDLE;
    const char *question = o->question ? o->question : KVB_NIAH_QUESTION;
    kvb_niah *n = kvb_calloc(1, sizeof(*n));
    if (!n)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    n->t = t;
    kvb_ids_init(&n->hay);
    kvb_ids_init(&n->head);
    kvb_ids_init(&n->tail);
    kvb_ids_init(&n->needle);
    char **names = NULL;
    int cnt = 0;
    kvb_strbuf nb;
    kvb_strbuf_init(&nb);
    kvb_strbuf_addf(&nb, " %s", needle);
    if ((rc = kvb_tokenizer_encode(t, nb.buf, nb.len, 0, &n->needle, e)) ||
        (rc = build_frame(n, o, question, e)) || (rc = list_essays(dir, &names, &cnt, e)))
        goto fail;
    n->n_essays = cnt;
    n->hash = 1469598103934665603ull;
    size_t want = (size_t)KVB_MAX(o->max_length, 1);
    /* read essays in order (wrapping around) until the haystack is long enough */
    for (int i = 0; n->hay.n < want; i++) {
        if (i >= cnt && n->hay.n == 0) {
            rc = kvb_errorf(e, KVB_EINVAL, "%s: the essays hold no text", dir);
            goto fail;
        }
        char *path = kvb_path_join(dir, names[i % cnt]), *text;
        size_t len;
        rc = kvb_read_file(path, 64u << 20, &text, &len, e);
        free(path);
        if (rc)
            goto fail;
        if (i < cnt) {
            n->hash = fnv(n->hash, names[i], strlen(names[i]) + 1);
            n->hash = fnv(n->hash, text, len);
        }
        rc = kvb_tokenizer_encode(t, text, len, 0, &n->hay, e);
        free(text);
        if (rc)
            goto fail;
    }
    n->boundary = kvb_calloc(n->hay.n + 1, 1);
    if (!n->boundary) {
        rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
        goto fail;
    }
    n->boundary[0] = 1;
    for (size_t i = 1; i <= n->hay.n && i <= want; i++)
        n->boundary[i] = (unsigned char)ends_sentence(t, n->hay.ids[i - 1]);
    kvb_free_strv(names, cnt);
    kvb_strbuf_release(&nb);
    *out = n;
    return 0;
fail:
    if (names)
        kvb_free_strv(names, cnt);
    kvb_strbuf_release(&nb);
    kvb_niah_free(n);
    return rc;
}

void kvb_niah_free(kvb_niah *n)
{
    if (!n)
        return;
    kvb_ids_release(&n->hay);
    kvb_ids_release(&n->head);
    kvb_ids_release(&n->tail);
    kvb_ids_release(&n->needle);
    free(n->boundary);
    free(n);
}

const kvb_ids *kvb_niah_needle_ids(const kvb_niah *n) { return &n->needle; }
uint64_t kvb_niah_essays_hash(const kvb_niah *n) { return n->hash; }
int kvb_niah_essay_count(const kvb_niah *n) { return n->n_essays; }

int kvb_niah_build(const kvb_niah *n, int length, int depth_pct, kvb_ids *out, int *needle_at,
                   kvb_error *e)
{
    if (depth_pct < 0 || depth_pct > 100)
        return kvb_errorf(e, KVB_EINVAL, "niah: depth %d%% is outside [0, 100]", depth_pct);
    long fixed = (long)(n->head.n + n->tail.n + n->needle.n);
    long h = (long)length - fixed;
    if (h < 1)
        return kvb_errorf(e, KVB_EINVAL,
                          "niah: length %d leaves no room for the haystack (%ld tokens of prompt "
                          "and needle)",
                          length, fixed);
    if ((size_t)h > n->hay.n)
        return kvb_errorf(e, KVB_EINVAL, "niah: length %d needs %ld haystack tokens, %zu read",
                          length, h, n->hay.n);
    /* depth 100 appends; otherwise back up from floor(h*depth/100) to a sentence boundary */
    long p = depth_pct == 100 ? h : (long)((long long)h * depth_pct / 100);
    while (p > 0 && p < h && !n->boundary[p])
        p--;
    int rc = 0;
    for (size_t i = 0; i < n->head.n && !rc; i++)
        rc = kvb_ids_push(out, n->head.ids[i]);
    for (long i = 0; i < p && !rc; i++)
        rc = kvb_ids_push(out, n->hay.ids[i]);
    *needle_at = (int)out->n;
    for (size_t i = 0; i < n->needle.n && !rc; i++)
        rc = kvb_ids_push(out, n->needle.ids[i]);
    for (long i = p; i < h && !rc; i++)
        rc = kvb_ids_push(out, n->hay.ids[i]);
    for (size_t i = 0; i < n->tail.n && !rc; i++)
        rc = kvb_ids_push(out, n->tail.ids[i]);
    return rc ? kvb_errorf(e, KVB_ENOMEM, "out of memory") : 0;
}
