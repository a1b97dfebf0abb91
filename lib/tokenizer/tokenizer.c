/* lib/tokenizer: the object's lifecycle and accessors, shared by both loaders. */
#include "tok_internal.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

/* Tables derived once every token is known: the lookup hash, the byte and ASCII symbol ids the
 * BPE model starts from, and the first bytes of added tokens. */
int kvb_tok_finalize(kvb_tokenizer *t, kvb_error *e)
{
    int rc = kvb_tok_hash_build(t, e);
    if (rc)
        return rc;
    for (int i = 0; i < 128; i++) {
        char c = (char)i;
        t->ascii_tok[i] = kvb_tok_lookup(t, &c, 1);
    }
    for (int b = 0; b < 256; b++) {
        if (t->byte_level) {
            char c = (char)b;
            t->byte_tok[b] = kvb_tok_lookup(t, &c, 1);
        } else if (t->byte_fallback) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", b);
            t->byte_tok[b] = kvb_tok_lookup(t, name, 6);
        }
    }
    /* only where pieces can be long: no pre-tokenizer cutting them, no whole-piece lookup */
    if (!t->byte_level && !t->ignore_merges) {
        rc = kvb_tok_cpairs_build(t, e);
        if (rc)
            return rc;
    }
    memset(t->added_first, 0, sizeof t->added_first);
    t->any_normalized_added = 0;
    kvb_strbuf nb;
    kvb_strbuf_init(&nb);
    for (int k = 0; k < t->n_added && !rc; k++) {
        kvb_tok_added *a = &t->added[k];
        free(a->pat);
        a->pat = NULL;
        if (a->normalized && t->n_norm) {
            t->any_normalized_added = 1;
            rc = kvb_tok_normalize(t, a->content, a->len, &nb);
            if (!rc && nb.len == 0)
                rc = kvb_errorf(e, KVB_EINVAL, "%s: added token '%s' normalizes to nothing",
                                t->src, a->content);
            if (!rc && !(a->pat = kvb_malloc(nb.len + 1)))
                rc = KVB_ENOMEM;
            if (!rc) {
                memcpy(a->pat, nb.buf, nb.len);
                a->pat[nb.len] = 0;
                a->plen = nb.len;
                t->added_first[1][(unsigned char)a->pat[0]] = 1;
            }
        } else {
            a->normalized = 0; /* without normalizers both classes match the raw text */
            if (!(a->pat = kvb_strdup(a->content)))
                rc = KVB_ENOMEM;
            a->plen = a->len;
            if (!rc)
                t->added_first[0][(unsigned char)a->pat[0]] = 1;
        }
    }
    kvb_strbuf_release(&nb);
    if (rc == KVB_ENOMEM)
        return kvb_errorf(e, rc, "%s: out of memory", t->src);
    return rc;
}

void kvb_tokenizer_free(kvb_tokenizer *t)
{
    if (!t)
        return;
    free(t->src);
    free(t->pool);
    free(t->tok_off);
    free(t->tok_len);
    free(t->attr);
    free(t->h.slot);
    free(t->merges);
    free(t->cpairs);
    for (int i = 0; i < t->n_norm; i++) {
        free(t->norm[i].a);
        free(t->norm[i].b);
        if (t->norm[i].re)
            pcre2_code_free(t->norm[i].re);
    }
    for (int i = 0; i < t->n_pre; i++) {
        if (t->pre[i].re)
            pcre2_code_free(t->pre[i].re);
        free(t->pre[i].replacement);
    }
    for (int i = 0; i < t->n_dec; i++) {
        free(t->dec[i].a);
        free(t->dec[i].b);
    }
    for (int i = 0; i < t->n_added; i++) {
        free(t->added[i].content);
        free(t->added[i].pat);
    }
    free(t->added);
    free(t);
}

int kvb_tokenizer_vocab_size(const kvb_tokenizer *t)
{
    return t->n_vocab;
}

int32_t kvb_tokenizer_bos(const kvb_tokenizer *t)
{
    return t->bos_id;
}

int kvb_tokenizer_file_adds_bos(const kvb_tokenizer *t)
{
    return t->file_adds_bos;
}

int kvb_tokenizer_default_add_bos(const kvb_tokenizer *t, const char *chat_template,
                                  const char *model_name)
{
    const char *src = t ? kvb_tokenizer_source(t) : NULL;
    size_t l = src ? strlen(src) : 0;
    if (l >= 14 && !strcmp(src + l - 14, "tokenizer.json"))
        return t->file_adds_bos;
    const char *f = chat_template ? chat_template : "", *n = model_name ? model_name : "";
    if (!strcmp(f, "llama2") || !strcmp(f, "llama3") || !strcmp(f, "mistral"))
        return 1;
    if (strstr(n, "llama") || strstr(n, "mistral") || strstr(n, "Llama") || strstr(n, "Mistral"))
        return strstr(n, "smol") == NULL && strstr(n, "Smol") == NULL;
    return 0;
}

int32_t kvb_tokenizer_eos(const kvb_tokenizer *t)
{
    return t->eos_id;
}

int kvb_tokenizer_is_special(const kvb_tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab && (t->attr[id] & KVB_TOKA_SPECIAL);
}

/* token: as written in the vocabulary file ("<|eot_id|>", "▁the", "Ġthe"). */
int32_t kvb_tokenizer_token_id(const kvb_tokenizer *t, const char *token)
{
    size_t n = strlen(token);
    for (int k = 0; k < t->n_added; k++)
        if (t->added[k].len == n && !memcmp(t->added[k].content, token, n))
            return t->added[k].id;
    if (t->byte_level) {
        char *raw = kvb_malloc(n + 1);
        size_t m;
        int32_t id = -1;
        if (raw && kvb_tok_unmap_bytelevel(token, n, raw, &m))
            id = kvb_tok_lookup(t, raw, m);
        free(raw);
        if (id >= 0)
            return id;
    }
    return kvb_tok_lookup(t, token, n);
}

const char *kvb_tokenizer_source(const kvb_tokenizer *t)
{
    return t->src;
}

/* ---- loading by path -------------------------------------------------------------------- */
static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

/* The one .gguf file in dir (NULL if none or several). */
static char *find_gguf_in(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char *found = NULL;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (has_suffix(de->d_name, ".gguf") && n++ == 0)
            found = kvb_path_join(dir, de->d_name);
    closedir(d);
    if (n != 1) {
        free(found);
        return NULL;
    }
    return found;
}

static int load_gguf_file(kvb_tokenizer **t, const char *path, kvb_error *e)
{
    kvb_gguf g;
    int rc = kvb_gguf_open(&g, path, e);
    if (rc)
        return rc;
    rc = kvb_tokenizer_load_gguf(t, &g, e);
    kvb_gguf_close(&g);
    return rc;
}

int kvb_tokenizer_load_path(kvb_tokenizer **t, const char *path, kvb_error *e)
{
    *t = NULL;
    if (has_suffix(path, ".gguf"))
        return load_gguf_file(t, path, e);
    if (kvb_is_dir(path)) {
        char *tj = kvb_path_join(path, "tokenizer.json");
        int have = tj && kvb_file_exists(tj);
        free(tj);
        if (!have) {
            /* a directory with one GGUF model in it */
            char *g = find_gguf_in(path);
            if (g) {
                int rc = load_gguf_file(t, g, e);
                free(g);
                return rc;
            }
            return kvb_errorf(e, KVB_EINVAL, "%s: no tokenizer (no tokenizer.json, no single "
                              ".gguf file)", path);
        }
    } else if (!kvb_file_exists(path)) {
        return kvb_errorf(e, KVB_EIO, "%s: no such file or directory", path);
    }
    return kvb_tokenizer_load_hf(t, path, e);
}
