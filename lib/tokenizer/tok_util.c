/* lib/tokenizer: token table, string hash, merge table, UTF-8 helpers, GPT-2 byte map. */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- ids vector --------------------------------------------------------------------------- */
void kvb_ids_init(kvb_ids *v)
{
    v->ids = NULL;
    v->n = v->cap = 0;
}

int kvb_ids_push(kvb_ids *v, int32_t id)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *p = kvb_realloc(v->ids, cap * sizeof *p);
        if (!p)
            return KVB_ENOMEM;
        v->ids = p;
        v->cap = cap;
    }
    v->ids[v->n++] = id;
    return 0;
}

void kvb_ids_release(kvb_ids *v)
{
    free(v->ids);
    kvb_ids_init(v);
}

/* ---- hashing ------------------------------------------------------------------------------ */
/* A multiply-xorshift hash over 8-byte words: fast on short tokens, good enough spread. */
uint64_t kvb_tok_hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)s[i] << (8 * i);
    h = (h ^ w) * 0x94d049bb133111ebull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h;
}

kvb_tokenizer *kvb_tok_new(const char *src)
{
    kvb_tokenizer *t = kvb_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->src = kvb_strdup(src ? src : "tokenizer");
    t->bos_id = t->eos_id = t->unk_id = -1;
    for (int i = 0; i < 256; i++)
        t->byte_tok[i] = -1;
    for (int i = 0; i < 128; i++)
        t->ascii_tok[i] = -1;
    if (!t->src) {
        free(t);
        return NULL;
    }
    return t;
}

/* Grows the per-id arrays to hold id; new ids have no token yet. */
static int ensure_ids(kvb_tokenizer *t, int32_t id, kvb_error *e)
{
    if (id < 0 || id >= KVB_TOK_MAX_VOCAB)
        return kvb_errorf(e, KVB_EINVAL, "%s: token id %d out of range [0, %d)", t->src, id,
                          KVB_TOK_MAX_VOCAB);
    if (id < t->n_vocab)
        return 0;
    int n = id + 1;
    if (n > t->id_cap) {
        int want = t->id_cap ? t->id_cap : 1024;
        while (want < n)
            want *= 2;
        uint32_t *off = kvb_realloc(t->tok_off, (size_t)want * sizeof *off);
        if (off)
            t->tok_off = off;
        uint32_t *len = kvb_realloc(t->tok_len, (size_t)want * sizeof *len);
        if (len)
            t->tok_len = len;
        uint8_t *attr = kvb_realloc(t->attr, (size_t)want);
        if (attr)
            t->attr = attr;
        if (!off || !len || !attr)
            return kvb_errorf(e, KVB_ENOMEM, "%s: out of memory for %d tokens", t->src, n);
        t->id_cap = want;
    }
    for (int i = t->n_vocab; i < n; i++) {
        t->tok_off[i] = 0;
        t->tok_len[i] = UINT32_MAX;
        t->attr[i] = 0;
    }
    t->n_vocab = n;
    return 0;
}

int kvb_tok_add_token(kvb_tokenizer *t, int32_t id, const char *s, size_t n, kvb_error *e)
{
    int rc = ensure_ids(t, id, e);
    if (rc)
        return rc;
    if (n > KVB_TOK_MAX_TOKEN_BYTES)
        return kvb_errorf(e, KVB_EINVAL, "%s: token %d is %zu bytes long (limit %d)", t->src, id,
                          n, KVB_TOK_MAX_TOKEN_BYTES);
    if (t->pool_len + n + 1 > t->pool_cap) {
        size_t cap = t->pool_cap ? t->pool_cap : 1 << 16;
        while (cap < t->pool_len + n + 1)
            cap *= 2;
        if (cap > UINT32_MAX)
            return kvb_errorf(e, KVB_ENOMEM, "%s: token strings exceed 4 GiB", t->src);
        char *p = kvb_realloc(t->pool, cap);
        if (!p)
            return kvb_errorf(e, KVB_ENOMEM, "%s: out of memory for token strings", t->src);
        t->pool = p;
        t->pool_cap = cap;
    }
    memcpy(t->pool + t->pool_len, s, n);
    t->pool[t->pool_len + n] = 0;
    t->tok_off[id] = (uint32_t)t->pool_len;
    t->tok_len[id] = (uint32_t)n;
    t->pool_len += n + 1;
    return 0;
}

/* Builds the string -> id table; on duplicate strings the lower id wins (model vocab ids come
 * first in every file we read). */
int kvb_tok_hash_build(kvb_tokenizer *t, kvb_error *e)
{
    size_t cap = 16;
    while (cap < (size_t)t->n_vocab * 2)
        cap *= 2;
    free(t->h.slot);
    t->h.slot = kvb_calloc(cap, sizeof *t->h.slot);
    if (!t->h.slot)
        return kvb_errorf(e, KVB_ENOMEM, "%s: out of memory for the vocabulary", t->src);
    t->h.mask = cap - 1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (t->tok_len[id] == UINT32_MAX)
            continue;
        const char *s = t->pool + t->tok_off[id];
        size_t n = t->tok_len[id];
        size_t i = kvb_tok_hash_bytes(s, n) & t->h.mask;
        for (;;) {
            uint32_t v = t->h.slot[i];
            if (!v) {
                t->h.slot[i] = (uint32_t)id + 1;
                break;
            }
            if (t->tok_len[v - 1] == n && !memcmp(t->pool + t->tok_off[v - 1], s, n))
                break;
            i = (i + 1) & t->h.mask;
        }
    }
    return 0;
}

int32_t kvb_tok_lookup(const kvb_tokenizer *t, const char *s, size_t n)
{
    if (!t->h.slot)
        return -1;
    size_t i = kvb_tok_hash_bytes(s, n) & t->h.mask;
    for (;;) {
        uint32_t v = t->h.slot[i];
        if (!v)
            return -1;
        if (t->tok_len[v - 1] == n && !memcmp(t->pool + t->tok_off[v - 1], s, n))
            return (int32_t)(v - 1);
        i = (i + 1) & t->h.mask;
    }
}

/* ---- merges ------------------------------------------------------------------------------- */
int kvb_tok_merges_alloc(kvb_tokenizer *t, size_t n, kvb_error *e)
{
    if (n > KVB_TOK_MAX_MERGES)
        return kvb_errorf(e, KVB_EINVAL, "%s: %zu merges (limit %d)", t->src, n,
                          KVB_TOK_MAX_MERGES);
    size_t cap = 16;
    while (cap < n * 2 + 2)
        cap *= 2;
    t->merges = kvb_calloc(cap, sizeof *t->merges);
    if (!t->merges)
        return kvb_errorf(e, KVB_ENOMEM, "%s: out of memory for %zu merges", t->src, n);
    t->merge_mask = cap - 1;
    return 0;
}

static inline size_t merge_slot(uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (size_t)key;
}

/* Returns 1 if the pair was already present (HF keeps the first rank). */
int kvb_tok_merge_add(kvb_tokenizer *t, int32_t l, int32_t r, int32_t rank, int32_t id)
{
    uint64_t key = (((uint64_t)(uint32_t)l << 32) | (uint32_t)r) + 1;
    size_t i = merge_slot(key) & t->merge_mask;
    while (t->merges[i].key) {
        if (t->merges[i].key == key)
            return 1;
        i = (i + 1) & t->merge_mask;
    }
    t->merges[i].key = key;
    t->merges[i].rank = rank;
    t->merges[i].id = id;
    t->n_merges++;
    return 0;
}

const kvb_tok_merge *kvb_tok_merge_find(const kvb_tokenizer *t, int32_t l, int32_t r)
{
    if (!t->merges)
        return NULL;
    uint64_t key = (((uint64_t)(uint32_t)l << 32) | (uint32_t)r) + 1;
    size_t i = merge_slot(key) & t->merge_mask;
    for (;;) {
        const kvb_tok_merge *m = &t->merges[i];
        if (m->key == key)
            return m;
        if (!m->key)
            return NULL;
        i = (i + 1) & t->merge_mask;
    }
}

/* ---- GPT-2 byte map ----------------------------------------------------------------------- */
/* Printable Latin-1 bytes map to themselves; the other 68 bytes map, in byte order, to
 * U+0100.. so that every byte is a visible character. */
static int byte_is_self(unsigned b)
{
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

/* The 68 other bytes are 0..32, 127..160 and 173, numbered in that order from U+0100. */
uint32_t kvb_tok_byte_to_cp(unsigned b)
{
    if (byte_is_self(b))
        return b;
    if (b <= 32)
        return 256 + b;
    if (b >= 127 && b <= 160)
        return 256 + 33 + (b - 127);
    return 256 + 33 + 34; /* 173 */
}

int kvb_tok_cp_to_byte(uint32_t cp)
{
    if (cp < 256)
        return byte_is_self(cp) ? (int)cp : -1;
    if (cp < 256 + 33)
        return (int)(cp - 256);
    if (cp < 256 + 33 + 34)
        return (int)(cp - 256 - 33 + 127);
    return cp == 256 + 33 + 34 ? 173 : -1;
}

int kvb_tok_unmap_bytelevel(const char *s, size_t n, char *out, size_t *outn)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, k = 0;
    while (i < n) {
        uint32_t cp;
        int l = kvb_text_utf8_decode(u + i, n - i, &cp, KVB_TEXT_UTF8_REPLACE);
        int b = kvb_tok_cp_to_byte(cp);
        if (b < 0)
            return 0;
        out[k++] = (char)b;
        i += (size_t)l;
    }
    *outn = k;
    return 1;
}

int kvb_tok_utf8_sanitize(const char *str, size_t n, kvb_strbuf *sb)
{
    size_t i = 0, run = 0;
    while (i < n) {
        if ((unsigned char)str[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t l = kvb_text_utf8_decode(str + i, n - i, &cp, KVB_TEXT_UTF8_REPLACE);
        if (cp != 0xFFFD) { /* a U+FFFD of the input is rewritten as itself */
            i += l;
            continue;
        }
        if (kvb_strbuf_add(sb, str + run, i - run) || kvb_strbuf_add(sb, "\xEF\xBF\xBD", 3))
            return KVB_ENOMEM;
        i += l;
        run = i;
    }
    return kvb_strbuf_add(sb, str + run, n - run) ? KVB_ENOMEM : 0;
}

/* Unicode White_Space (what Rust's char::is_whitespace and Python's str.strip use). */
int kvb_tok_is_whitespace(uint32_t c)
{
    return (c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* PCRE2 with UTF + UCP (Unicode properties for \s \w \d and case folding), JIT when available.
 * Text reaching the matcher is sanitized UTF-8, so the per-call UTF check is skipped. */
pcre2_code *kvb_tok_regex(const char *pattern, size_t len, int literal, kvb_error *e,
                          const char *src)
{
    int err;
    PCRE2_SIZE off;
    uint32_t opts = literal ? PCRE2_UTF | PCRE2_LITERAL : PCRE2_UTF | PCRE2_UCP;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, opts, &err, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        kvb_errorf(e, KVB_EINVAL, "%s: regex '%.*s' does not compile at offset %zu: %s", src,
                   (int)KVB_MIN(len, 200), pattern, (size_t)off, (char *)msg);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter on failure */
    return re;
}
