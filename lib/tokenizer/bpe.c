/* lib/tokenizer: the BPE model. One pre-tokenized piece becomes symbols (bytes for byte-level
 * vocabularies, characters otherwise, with byte fallback and unk fusing as HF's BPE does), then
 * pairs are merged lowest rank first, leftmost first on ties (HF's Word::merge_all order), with a
 * binary heap of candidate pairs and a linked list of symbols: O(n log n) per piece. A per-call
 * cache maps pieces already seen to their ids. */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- cache: piece bytes -> ids ------------------------------------------------------------ */
#define CACHE_MAX_PIECE 256 /* longer pieces are rare and not worth keeping (HF does the same) */

typedef struct cache_ent {
    uint64_t hash;
    uint32_t key_off, key_len; /* into kbuf */
    uint32_t ids_off, ids_len; /* into ibuf */
} cache_ent;

/* A small direct-mapped memo of merge-table lookups: the big table misses the CPU caches on
 * every probe, while the pairs of one text repeat (Zipf). */
#define PAIR_MEMO 16384
typedef struct pair_memo {
    uint64_t key; /* as in the merge table; 0 = empty */
    int32_t rank, id; /* rank -1: no such merge */
} pair_memo;

struct kvb_bpe_cache {
    cache_ent *slot; /* key_len == UINT32_MAX: empty */
    size_t mask, used;
    kvb_strbuf kbuf;
    kvb_ids ibuf;
    pair_memo memo[PAIR_MEMO];
};

static int find_merge(const kvb_tokenizer *t, kvb_bpe_cache *c, int32_t l, int32_t r,
                      int32_t *rank, int32_t *id)
{
    uint64_t key = (((uint64_t)(uint32_t)l << 32) | (uint32_t)r) + 1;
    pair_memo *m = NULL;
    if (c) {
        uint64_t h = key * 0x9E3779B97F4A7C15ull;
        m = &c->memo[h >> (64 - 14)];
        if (m->key == key) {
            *rank = m->rank;
            *id = m->id;
            return m->rank >= 0;
        }
    }
    const kvb_tok_merge *mg = kvb_tok_merge_find(t, l, r);
    *rank = mg ? mg->rank : -1;
    *id = mg ? mg->id : -1;
    if (m) {
        m->key = key;
        m->rank = *rank;
        m->id = *id;
    }
    return mg != NULL;
}

static int cache_alloc(kvb_bpe_cache *c, size_t cap)
{
    cache_ent *s = kvb_malloc(cap * sizeof *s);
    if (!s)
        return KVB_ENOMEM;
    for (size_t i = 0; i < cap; i++)
        s[i].key_len = UINT32_MAX;
    c->slot = s;
    c->mask = cap - 1;
    c->used = 0;
    return 0;
}

kvb_bpe_cache *kvb_bpe_cache_new(void)
{
    kvb_bpe_cache *c = kvb_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    kvb_strbuf_init(&c->kbuf);
    kvb_ids_init(&c->ibuf);
    if (cache_alloc(c, 4096)) {
        free(c);
        return NULL;
    }
    return c;
}

void kvb_bpe_cache_free(kvb_bpe_cache *c)
{
    if (!c)
        return;
    free(c->slot);
    kvb_strbuf_release(&c->kbuf);
    kvb_ids_release(&c->ibuf);
    free(c);
}

static const cache_ent *cache_get(const kvb_bpe_cache *c, uint64_t h, const char *s, size_t n)
{
    size_t i = h & c->mask;
    for (;;) {
        const cache_ent *x = &c->slot[i];
        if (x->key_len == UINT32_MAX)
            return NULL;
        if (x->hash == h && x->key_len == n && !memcmp(c->kbuf.buf + x->key_off, s, n))
            return x;
        i = (i + 1) & c->mask;
    }
}

static int cache_grow(kvb_bpe_cache *c)
{
    cache_ent *old = c->slot;
    size_t oldcap = c->mask + 1;
    if (cache_alloc(c, oldcap * 2)) {
        c->slot = old;
        return KVB_ENOMEM;
    }
    for (size_t k = 0; k < oldcap; k++) {
        if (old[k].key_len == UINT32_MAX)
            continue;
        size_t i = old[k].hash & c->mask;
        while (c->slot[i].key_len != UINT32_MAX)
            i = (i + 1) & c->mask;
        c->slot[i] = old[k];
        c->used++;
    }
    free(old);
    return 0;
}

static void cache_put(kvb_bpe_cache *c, uint64_t h, const char *s, size_t n, const int32_t *ids,
                      size_t nid)
{
    /* a failed insert only costs speed */
    if ((c->used + 1) * 2 > c->mask + 1 && cache_grow(c))
        return;
    if (c->kbuf.len + n > UINT32_MAX / 2 || c->ibuf.n + nid > UINT32_MAX / 2)
        return;
    size_t koff = c->kbuf.len, ioff = c->ibuf.n;
    if (kvb_strbuf_add(&c->kbuf, s, n))
        return;
    for (size_t k = 0; k < nid; k++)
        if (kvb_ids_push(&c->ibuf, ids[k]))
            return;
    size_t i = h & c->mask;
    while (c->slot[i].key_len != UINT32_MAX)
        i = (i + 1) & c->mask;
    c->slot[i] = (cache_ent){ h, (uint32_t)koff, (uint32_t)n, (uint32_t)ioff, (uint32_t)nid };
    c->used++;
}

/* ---- symbols and the merge heap ----------------------------------------------------------- */
typedef struct sym {
    int32_t id;
    int32_t prev, next; /* -1 at the ends */
    int alive;
} sym;

typedef struct cand {
    int32_t rank, pos; /* ordered by (rank, pos) */
    int32_t l, r, id;  /* the pair as pushed: stale when the symbols changed since */
} cand;

static inline int cand_less(const cand *a, const cand *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

typedef struct heap {
    cand *v;
    size_t n, cap;
} heap;

static int heap_push(heap *h, cand c)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        cand *v = kvb_realloc(h->v, cap * sizeof *v);
        if (!v)
            return KVB_ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &h->v[p]))
            break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = c;
    return 0;
}

static cand heap_pop(heap *h)
{
    cand top = h->v[0], last = h->v[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n)
            break;
        size_t m = (l + 1 < n && cand_less(&h->v[l + 1], &h->v[l])) ? l + 1 : l;
        if (!cand_less(&h->v[m], &last))
            break;
        h->v[i] = h->v[m];
        i = m;
    }
    if (n)
        h->v[i] = last;
    return top;
}

static int push_pair(const kvb_tokenizer *t, kvb_bpe_cache *c, heap *h, const sym *s,
                     int32_t pos)
{
    int32_t nx = s[pos].next, rank, id;
    if (nx < 0 || !find_merge(t, c, s[pos].id, s[nx].id, &rank, &id))
        return 0;
    return heap_push(h, (cand){ rank, pos, s[pos].id, s[nx].id, id });
}

/* Initial symbols of a piece, as HF's BPE::merge_word builds them. */
static int initial_symbols(const kvb_tokenizer *t, const char *s, size_t n, sym **out,
                           size_t *nout)
{
    sym *v = kvb_malloc((n + 1) * sizeof *v);
    if (!v)
        return KVB_ENOMEM;
    size_t k = 0;
    if (t->byte_level) {
        for (size_t i = 0; i < n; i++) {
            int32_t id = t->byte_tok[(unsigned char)s[i]];
            if (id >= 0)
                v[k++].id = id;
            else if (t->unk_id >= 0 && !(t->fuse_unk && k && v[k - 1].id == t->unk_id))
                v[k++].id = t->unk_id;
        }
    } else {
        const unsigned char *u = (const unsigned char *)s;
        int pending_unk = 0; /* HF keeps a pending unk and flushes it before the next known char */
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            int l = kvb_text_utf8_decode(u + i, n - i, &cp, KVB_TEXT_UTF8_REPLACE);
            int32_t id = cp < 128 ? t->ascii_tok[cp] : kvb_tok_lookup(t, s + i, (size_t)l);
            if (id >= 0) {
                if (pending_unk)
                    v[k++].id = t->unk_id;
                pending_unk = 0;
                v[k++].id = id;
            } else {
                int ok = t->byte_fallback;
                for (int b = 0; ok && b < l; b++)
                    ok = t->byte_tok[u[i + b]] >= 0;
                if (ok) {
                    /* as HF: byte tokens go in without flushing a pending unk first */
                    for (int b = 0; b < l; b++)
                        v[k++].id = t->byte_tok[u[i + b]];
                } else if (t->unk_id >= 0) {
                    if (pending_unk && !t->fuse_unk)
                        v[k++].id = t->unk_id;
                    pending_unk = 1;
                }
            }
            i += (size_t)l;
        }
        if (pending_unk)
            v[k++].id = t->unk_id;
    }
    for (size_t i = 0; i < k; i++) {
        v[i].prev = (int32_t)i - 1;
        v[i].next = i + 1 < k ? (int32_t)i + 1 : -1;
        v[i].alive = 1;
    }
    *out = v;
    *nout = k;
    return 0;
}

static int merge_all(const kvb_tokenizer *t, kvb_bpe_cache *c, sym *s, size_t n)
{
    heap h = { 0 };
    int rc = 0;
    for (size_t i = 0; i + 1 < n && !rc; i++)
        rc = push_pair(t, c, &h, s, (int32_t)i);
    while (!rc && h.n) {
        cand cd = heap_pop(&h);
        sym *a = &s[cd.pos];
        if (!a->alive || a->next < 0 || a->id != cd.l || s[a->next].id != cd.r)
            continue; /* stale: one side was merged since the pair was pushed */
        sym *b = &s[a->next];
        a->id = cd.id;
        a->next = b->next;
        b->alive = 0;
        if (b->next >= 0)
            s[b->next].prev = cd.pos;
        if (a->prev >= 0)
            rc = push_pair(t, c, &h, s, a->prev);
        if (!rc)
            rc = push_pair(t, c, &h, s, cd.pos);
    }
    free(h.v);
    return rc;
}

/* ---- cutting long pieces where no merge can reach across ------------------------------- */
static inline uint64_t cpair_key(uint32_t a, uint32_t b)
{
    return ((uint64_t)a << 21 | b) + 1;
}

static inline size_t cpair_slot(uint64_t k)
{
    k *= 0x9E3779B97F4A7C15ull;
    return (size_t)(k >> 20);
}

static int cpair_has(const kvb_tokenizer *t, uint32_t a, uint32_t b)
{
    uint64_t k = cpair_key(a, b);
    for (size_t i = cpair_slot(k) & t->cpair_mask;; i = (i + 1) & t->cpair_mask) {
        if (t->cpairs[i] == k)
            return 1;
        if (!t->cpairs[i])
            return 0;
    }
}

int kvb_tok_cpairs_build(kvb_tokenizer *t, kvb_error *e)
{
    size_t total = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (t->tok_len[id] != UINT32_MAX)
            total += t->tok_len[id];
    size_t cap = 1024;
    while (cap < total * 2)
        cap *= 2;
    free(t->cpairs);
    t->cpairs = kvb_calloc(cap, sizeof *t->cpairs);
    if (!t->cpairs)
        return kvb_errorf(e, KVB_ENOMEM, "%s: out of memory", t->src);
    t->cpair_mask = cap - 1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (t->tok_len[id] == UINT32_MAX)
            continue;
        const unsigned char *s = (const unsigned char *)t->pool + t->tok_off[id];
        size_t n = t->tok_len[id];
        uint32_t prev = 0;
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            int l = kvb_text_utf8_decode(s + i, n - i, &cp, KVB_TEXT_UTF8_REPLACE);
            if (i) {
                uint64_t k = cpair_key(prev, cp);
                size_t j = cpair_slot(k) & t->cpair_mask;
                while (t->cpairs[j] && t->cpairs[j] != k)
                    j = (j + 1) & t->cpair_mask;
                t->cpairs[j] = k;
            }
            prev = cp;
            i += (size_t)l;
        }
    }
    return 0;
}

static int bpe_piece(const kvb_tokenizer *t, kvb_bpe_cache *c, const char *s, size_t n,
                     kvb_ids *out);

/* Characters that are tokens themselves (not byte-fallback, not unk). */
static int plain_char(const kvb_tokenizer *t, const char *s, int l, uint32_t cp)
{
    return cp < 128 ? t->ascii_tok[cp] >= 0 : kvb_tok_lookup(t, s, (size_t)l) >= 0;
}

int kvb_bpe_word(const kvb_tokenizer *t, kvb_bpe_cache *c, const char *s, size_t n, kvb_ids *out)
{
    if (!t->cpairs || n <= 64)
        return bpe_piece(t, c, s, n, out);
    const unsigned char *u = (const unsigned char *)s;
    size_t start = 0;
    uint32_t prev = 0;
    int prev_plain = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int l = kvb_text_utf8_decode(u + i, n - i, &cp, KVB_TEXT_UTF8_REPLACE);
        int plain = plain_char(t, s + i, l, cp);
        if (i > start && plain && prev_plain && !cpair_has(t, prev, cp)) {
            int rc = bpe_piece(t, c, s + start, i - start, out);
            if (rc)
                return rc;
            start = i;
        }
        prev = cp;
        prev_plain = plain;
        i += (size_t)l;
    }
    return bpe_piece(t, c, s + start, n - start, out);
}

static int bpe_piece(const kvb_tokenizer *t, kvb_bpe_cache *c, const char *s, size_t n,
                     kvb_ids *out)
{
    if (n == 0)
        return 0;
    /* the cache first: what it holds is what the steps below gave for the same piece */
    uint64_t hsh = 0;
    if (c && n <= CACHE_MAX_PIECE) {
        hsh = kvb_tok_hash_bytes(s, n);
        const cache_ent *x = cache_get(c, hsh, s, n);
        if (x) {
            for (uint32_t k = 0; k < x->ids_len; k++)
                if (kvb_ids_push(out, c->ibuf.ids[x->ids_off + k]))
                    return KVB_ENOMEM;
            return 0;
        }
    }
    if (t->ignore_merges) {
        int32_t id = kvb_tok_lookup(t, s, n);
        if (id >= 0)
            return kvb_ids_push(out, id);
    }
    sym *v;
    size_t k;
    int rc = initial_symbols(t, s, n, &v, &k);
    if (rc)
        return rc;
    rc = merge_all(t, c, v, k);
    size_t start = out->n;
    for (int32_t i = k ? 0 : -1; !rc && i >= 0; i = v[i].next)
        rc = kvb_ids_push(out, v[i].id);
    free(v);
    if (!rc && c && n <= CACHE_MAX_PIECE)
        /* out->ids is NULL when a piece produced no symbol and nothing was pushed yet
         * (found by fuzz_tokjson: NULL + 0 is undefined) */
        cache_put(c, hsh, s, n, out->ids ? out->ids + start : NULL, out->n - start);
    return rc;
}
