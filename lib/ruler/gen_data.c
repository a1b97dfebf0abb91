/* The data RULER's generators read, read as Python reads it: wonderwords' word lists
 * (readlines + rstrip), RULER's english_words.json (its values), and the Paul Graham essays
 * (RULER's PaulGrahamEssays.json, or the essay files it is built from). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "longbench/niah.h"
#include "ruler/gen_internal.h"
#include "text/unitab.h"

#define RG_MAX_DATA_BYTES ((size_t)1 << 30)

void rg_words_release(rg_words *w)
{
    if (!w->buf)
        for (size_t i = 0; i < w->n; i++)
            free(w->w[i]);
    free(w->w);
    free(w->buf);
    memset(w, 0, sizeof *w);
}

/* ---- where the data lies ------------------------------------------------------------------- */
static char *data_dir(const kvb_ruler_gen_opts *o)
{
    if (o->words_dir)
        return kvb_strdup(o->words_dir);
    const char *env = getenv("KVBENCH_RULER_DATA");
    if (env && *env)
        return kvb_strdup(env);
    if (kvb_is_dir("datasets/ruler"))
        return kvb_strdup("datasets/ruler");
    const char *home = kvb_config_home();
    char *p = home ? kvb_path_join(home, "datasets/ruler") : NULL;
    if (p && kvb_is_dir(p))
        return p;
    free(p);
    return kvb_strdup("datasets/ruler");
}

char *rg_data_file(const kvb_ruler_gen_opts *o, const char *name, kvb_error *e)
{
    char *dir = data_dir(o);
    char *path = dir ? kvb_path_join(dir, name) : NULL;
    free(dir);
    if (!path) {
        kvb_errorf(e, KVB_ENOMEM, "ruler: out of memory");
        return NULL;
    }
    if (!kvb_file_exists(path)) {
        kvb_errorf(e, KVB_EIO, "%s: missing (run `make ruler-data`, or point KVBENCH_RULER_DATA "
                   "at a directory holding it)", path);
        free(path);
        return NULL;
    }
    return path;
}

/* Python's text mode: UTF-8 (else UnicodeDecodeError) with universal newlines ("\r\n", "\r" ->
 * "\n"), in place. */
static int read_text(const char *path, char **text, size_t *len, kvb_error *e)
{
    int rc = kvb_read_file(path, RG_MAX_DATA_BYTES, text, len, e);
    if (rc)
        return rc;
    size_t ok = kvb_utf8_valid_prefix(*text, *len);
    if (ok != *len) {
        free(*text);
        return kvb_errorf(e, KVB_EINVAL, "%s: not valid UTF-8 (byte %zu)", path, ok);
    }
    char *s = *text, *d = *text;
    for (size_t i = 0; i < *len; i++) {
        if (s[i] == '\r') {
            *d++ = '\n';
            if (i + 1 < *len && s[i + 1] == '\n')
                i++;
        } else {
            *d++ = s[i];
        }
    }
    *d = '\0';
    *len = (size_t)(d - *text);
    return 0;
}

static int words_push(rg_words *w, size_t *cap, char *s)
{
    if (w->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 1024;
        char **nw = kvb_realloc(w->w, nc * sizeof *nw);
        if (!nw)
            return KVB_ENOMEM;
        w->w = nw;
        *cap = nc;
    }
    w->w[w->n++] = s;
    return 0;
}

/* Length of s[0..n) without its trailing Python whitespace (str.rstrip()). */
static size_t rstrip_len(const char *s, size_t n)
{
    size_t i = 0, keep = 0;
    while (i < n) {
        uint32_t c = kvb_utf8_next(s, n, &i);
        if (!kvb_uni_is_space(c))
            keep = i;
    }
    return keep;
}

/* ---- word lists ---------------------------------------------------------------------------- */
int rg_words_load(const kvb_ruler_gen_opts *o, const char *name, rg_words *out, kvb_error *e)
{
    memset(out, 0, sizeof *out);
    char *path = rg_data_file(o, name, e);
    if (!path)
        return e ? e->code : KVB_EIO;
    char *text;
    size_t len, cap = 0;
    int rc = read_text(path, &text, &len, e);
    free(path);
    if (rc)
        return rc;
    out->buf = text;
    /* readlines(): a line ends after '\n'; the text after the last '\n' is a line if non-empty */
    for (size_t at = 0; at < len && !rc;) {
        char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        text[at + rstrip_len(text + at, end - at)] = '\0';
        rc = words_push(out, &cap, text + at);
        at = end + 1;
    }
    if (rc) {
        rg_words_release(out);
        return kvb_errorf(e, KVB_ENOMEM, "%s: out of memory", name);
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void rg_words_sort_unique(rg_words *w)
{
    if (!w->n)
        return;
    qsort(w->w, w->n, sizeof *w->w, cmp_str);
    size_t k = 1;
    for (size_t i = 1; i < w->n; i++) {
        if (strcmp(w->w[i], w->w[k - 1])) {
            w->w[k++] = w->w[i];
        } else if (!w->buf) {
            free(w->w[i]);
        }
    }
    w->n = k;
}

int rg_english_words_load(const kvb_ruler_gen_opts *o, rg_words *out, kvb_error *e)
{
    memset(out, 0, sizeof *out);
    char *path = rg_data_file(o, "english_words.json", e);
    if (!path)
        return e ? e->code : KVB_EIO;
    cJSON *j;
    int rc = kvb_json_load(path, RG_MAX_DATA_BYTES, &j, e);
    if (rc) {
        free(path);
        return rc;
    }
    size_t cap = 0;
    if (!cJSON_IsObject(j))
        rc = kvb_errorf(e, KVB_EINVAL, "%s: not a JSON object of words", path);
    for (const cJSON *it = j->child; it && !rc; it = it->next) {
        char *s = cJSON_IsString(it) ? kvb_strdup(it->valuestring) : NULL;
        if (!cJSON_IsString(it))
            rc = kvb_errorf(e, KVB_EINVAL, "%s: value of '%s' is not a string", path, it->string);
        else if (!s || words_push(out, &cap, s))
            rc = kvb_errorf(e, KVB_ENOMEM, "%s: out of memory", path);
        if (rc)
            free(s);
    }
    cJSON_Delete(j);
    free(path);
    if (rc)
        rg_words_release(out);
    return rc;
}

/* ---- the essays ---------------------------------------------------------------------------- */
/* RULER's download script: text += open(f).read() for the essay files, sorted by path. */
static int essays_from_dir(const char *dir, kvb_strbuf *text, kvb_error *e)
{
    DIR *d = opendir(dir);
    if (!d)
        return kvb_errorf(e, KVB_EIO, "%s: cannot open the essays directory", dir);
    rg_words names = { 0 };
    size_t cap = 0;
    int rc = 0;
    for (struct dirent *de; !rc && (de = readdir(d));) {
        size_t n = strlen(de->d_name);
        if (de->d_name[0] == '.' || n < 5 || strcmp(de->d_name + n - 4, ".txt"))
            continue;
        char *s = kvb_strdup(de->d_name);
        if (!s || words_push(&names, &cap, s)) {
            free(s);
            rc = kvb_errorf(e, KVB_ENOMEM, "%s: out of memory", dir);
        }
    }
    closedir(d);
    if (!rc && !names.n)
        rc = kvb_errorf(e, KVB_EIO, "%s: no *.txt essays (run `make data`)", dir);
    qsort(names.w, names.n, sizeof *names.w, cmp_str);
    for (size_t i = 0; i < names.n && !rc; i++) {
        char *path = kvb_path_join(dir, names.w[i]), *t = NULL;
        size_t len;
        rc = path ? read_text(path, &t, &len, e) : kvb_errorf(e, KVB_ENOMEM, "out of memory");
        if (!rc && kvb_strbuf_add(text, t, len))
            rc = kvb_errorf(e, KVB_ENOMEM, "%s: out of memory", path);
        free(t);
        free(path);
    }
    rg_words_release(&names);
    return rc;
}

static int essays_from_json(const char *path, kvb_strbuf *text, kvb_error *e)
{
    cJSON *j;
    int rc = kvb_json_load(path, RG_MAX_DATA_BYTES, &j, e);
    if (rc)
        return rc;
    const char *s;
    rc = kvb_json_get_str(j, "text", &s, path, e);
    if (!rc && kvb_strbuf_adds(text, s))
        rc = kvb_errorf(e, KVB_ENOMEM, "%s: out of memory", path);
    cJSON_Delete(j);
    return rc;
}

/* re.sub(r'\s+', " ", text).split(" "), the words pointing into text (which words now owns) */
static int split_essay(char *text, size_t len, rg_words *out)
{
    size_t cap = 0, i = 0, d = 0, start = 0;
    char *s = text;
    while (i < len) {
        size_t at = i;
        uint32_t c = kvb_utf8_next(text, len, &i);
        if (!kvb_uni_is_space(c)) {
            memmove(s + d, text + at, i - at);
            d += i - at;
            continue;
        }
        while (i < len) { /* the rest of the run of whitespace */
            size_t at2 = i;
            if (!kvb_uni_is_space(kvb_utf8_next(text, len, &i))) {
                i = at2;
                break;
            }
        }
        s[d++] = '\0';
        if (words_push(out, &cap, NULL))
            return KVB_ENOMEM;
        out->w[out->n - 1] = (char *)(uintptr_t)start; /* an offset until the text is final */
        start = d;
    }
    s[d] = '\0';
    if (words_push(out, &cap, (char *)(uintptr_t)start))
        return KVB_ENOMEM;
    for (size_t k = 0; k < out->n; k++)
        out->w[k] = s + (uintptr_t)out->w[k];
    return 0;
}

int rg_essay_words_load(const kvb_ruler_gen_opts *o, rg_words *out, kvb_error *e)
{
    memset(out, 0, sizeof *out);
    const char *src = o->essays_path ? o->essays_path : kvb_niah_essays_dir();
    if (!src)
        return kvb_errorf(e, KVB_EIO, "ruler: no Paul Graham essays found (run `make data`, or "
                                      "set KVBENCH_ESSAYS)");
    kvb_strbuf text;
    kvb_strbuf_init(&text);
    int rc = kvb_is_dir(src) ? essays_from_dir(src, &text, e) : essays_from_json(src, &text, e);
    if (!rc && !text.len)
        rc = kvb_errorf(e, KVB_EINVAL, "%s: the essays hold no text", src);
    if (rc) {
        kvb_strbuf_release(&text);
        return rc;
    }
    size_t len = text.len;
    out->buf = kvb_strbuf_detach(&text);
    if (split_essay(out->buf, len, out)) {
        rg_words_release(out);
        return kvb_errorf(e, KVB_ENOMEM, "%s: out of memory", src);
    }
    return 0;
}
