/* lib/core/pyrandom.c: see pyrandom.h. The algorithms are CPython's Modules/_randommodule.c and
 * Lib/random.py (3.11) and numpy's random/src/distributions (legacy RandomState), written from
 * their documented behaviour and checked against both on the oracle fixture. */
#include "core/pyrandom.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- MT19937 (Matsumoto & Nishimura 1998, the 2002 initialisation) ------------------------ */
#define MT_M 397
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UPPER 0x80000000u
#define MT_LOWER 0x7fffffffu

static void mt_init_genrand(kvb_mt19937 *s, uint32_t seed)
{
    s->mt[0] = seed;
    for (int i = 1; i < KVB_MT19937_N; i++)
        s->mt[i] = 1812433253u * (s->mt[i - 1] ^ (s->mt[i - 1] >> 30)) + (uint32_t)i;
    s->pos = KVB_MT19937_N;
}

static void mt_init_by_array(kvb_mt19937 *s, const uint32_t *key, size_t n)
{
    uint32_t *mt = s->mt;
    mt_init_genrand(s, 19650218u);
    size_t i = 1, j = 0;
    for (size_t k = KVB_MT19937_N > n ? KVB_MT19937_N : n; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
        if (++i >= KVB_MT19937_N) {
            mt[0] = mt[KVB_MT19937_N - 1];
            i = 1;
        }
        if (++j >= n)
            j = 0;
    }
    for (size_t k = KVB_MT19937_N - 1; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        if (++i >= KVB_MT19937_N) {
            mt[0] = mt[KVB_MT19937_N - 1];
            i = 1;
        }
    }
    mt[0] = 0x80000000u; /* assures a non-zero initial state */
}

static uint32_t mt_twist(uint32_t a, uint32_t b, uint32_t far)
{
    uint32_t y = (a & MT_UPPER) | (b & MT_LOWER);
    return far ^ (y >> 1) ^ ((y & 1u) ? MT_MATRIX_A : 0u);
}

static uint32_t mt_next(kvb_mt19937 *s)
{
    uint32_t *mt = s->mt;
    if (s->pos >= KVB_MT19937_N) {
        int k = 0;
        for (; k < KVB_MT19937_N - MT_M; k++)
            mt[k] = mt_twist(mt[k], mt[k + 1], mt[k + MT_M]);
        for (; k < KVB_MT19937_N - 1; k++)
            mt[k] = mt_twist(mt[k], mt[k + 1], mt[k + MT_M - KVB_MT19937_N]);
        mt[k] = mt_twist(mt[k], mt[0], mt[MT_M - 1]);
        s->pos = 0;
    }
    uint32_t y = mt[s->pos++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* ---- Python: seeding and raw bits ---------------------------------------------------------- */
void kvb_pyrandom_seed_words(kvb_pyrandom *r, const uint32_t *words, size_t n)
{
    /* CPython keys init_by_array with as many words as |seed| has significant bits (one word for
     * 0), so high zero words do not count */
    while (n > 0 && words[n - 1] == 0)
        n--;
    static const uint32_t zero = 0;
    if (n == 0)
        mt_init_by_array(&r->mt, &zero, 1);
    else
        mt_init_by_array(&r->mt, words, n);
}

void kvb_pyrandom_seed(kvb_pyrandom *r, int64_t seed)
{
    /* |INT64_MIN| does not fit int64: negate in uint64 */
    uint64_t m = seed < 0 ? 0u - (uint64_t)seed : (uint64_t)seed;
    uint32_t w[2] = {(uint32_t)m, (uint32_t)(m >> 32)};
    kvb_pyrandom_seed_words(r, w, 2);
}

double kvb_pyrandom_random(kvb_pyrandom *r)
{
    uint32_t a = mt_next(&r->mt) >> 5, b = mt_next(&r->mt) >> 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

void kvb_pyrandom_getrandbits(kvb_pyrandom *r, int k, uint32_t *words)
{
    assert(k >= 0);
    for (int i = 0; k > 0; i++, k -= 32) {
        uint32_t w = mt_next(&r->mt);
        words[i] = k < 32 ? w >> (32 - k) : w; /* a partial top word keeps its high bits */
    }
}

uint64_t kvb_pyrandom_getrandbits64(kvb_pyrandom *r, int k)
{
    assert(k >= 0 && k <= 64);
    uint32_t w[2] = {0, 0};
    kvb_pyrandom_getrandbits(r, k, w);
    return (uint64_t)w[1] << 32 | w[0];
}

static int bit_length(uint64_t n)
{
    return n ? 64 - __builtin_clzll(n) : 0;
}

uint64_t kvb_pyrandom_randbelow(kvb_pyrandom *r, uint64_t n)
{
    assert(n >= 1); /* Python's callers never ask for 0 (it would loop forever there) */
    int k = bit_length(n);
    uint64_t v;
    do
        v = kvb_pyrandom_getrandbits64(r, k);
    while (v >= n);
    return v;
}

/* ---- Python: integers from ranges ---------------------------------------------------------- */
/* The ranges are counted in uint64 so that every int64 range (up to 2^64 - 1 values) works as
 * it does in Python; start + step * i wraps back into int64 because the result lies in it. */
int kvb_pyrandom_randrange(kvb_pyrandom *r, int64_t start, int64_t stop, int64_t step,
                           int64_t *out, kvb_error *e)
{
    if (step == 0)
        return kvb_errorf(e, KVB_EINVAL, "zero step for randrange()");
    if (step > 0 ? stop <= start : stop >= start)
        return kvb_errorf(e, KVB_EINVAL, "empty range for randrange() (%lld, %lld, %lld)",
                          (long long)start, (long long)stop, (long long)step);
    uint64_t width = step > 0 ? (uint64_t)stop - (uint64_t)start : (uint64_t)start - (uint64_t)stop;
    uint64_t s = step > 0 ? (uint64_t)step : 0u - (uint64_t)step;
    uint64_t n = width / s + (width % s != 0); /* Python's ceiling division of the width */
    uint64_t i = kvb_pyrandom_randbelow(r, n);
    *out = (int64_t)((uint64_t)start + (uint64_t)step * i);
    return 0;
}

int kvb_pyrandom_randint(kvb_pyrandom *r, int64_t a, int64_t b, int64_t *out, kvb_error *e)
{
    if (a > b)
        return kvb_errorf(e, KVB_EINVAL, "empty range for randint(%lld, %lld)", (long long)a,
                          (long long)b);
    uint64_t n = (uint64_t)b - (uint64_t)a + 1;
    if (n == 0) /* all 2^64 values: Python would draw 65 bits; nobody needs this */
        return kvb_errorf(e, KVB_EUNSUP, "randint over the whole int64 range is not supported");
    *out = (int64_t)((uint64_t)a + kvb_pyrandom_randbelow(r, n));
    return 0;
}

/* ---- Python: sequences --------------------------------------------------------------------- */
size_t kvb_pyrandom_choice(kvb_pyrandom *r, size_t n)
{
    return (size_t)kvb_pyrandom_randbelow(r, n);
}

void kvb_pyrandom_choices(kvb_pyrandom *r, size_t n, size_t k, size_t *out)
{
    double dn = (double)n;
    for (size_t i = 0; i < k; i++)
        out[i] = (size_t)floor(kvb_pyrandom_random(r) * dn);
}

static void swap_bytes(unsigned char *a, unsigned char *b, size_t size)
{
    unsigned char t[64];
    for (size_t off = 0; off < size; off += sizeof(t)) {
        size_t m = size - off < sizeof(t) ? size - off : sizeof(t);
        memcpy(t, a + off, m);
        memcpy(a + off, b + off, m);
        memcpy(b + off, t, m);
    }
}

void kvb_pyrandom_shuffle(kvb_pyrandom *r, void *base, size_t n, size_t size)
{
    unsigned char *p = base;
    for (size_t i = n > 0 ? n - 1 : 0; i >= 1; i--) {
        size_t j = (size_t)kvb_pyrandom_randbelow(r, (uint64_t)i + 1);
        if (j != i)
            swap_bytes(p + i * size, p + j * size, size);
    }
}

int kvb_pyrandom_sample_pool(size_t n, size_t k)
{
    /* CPython compares n with the memory of a k-element set, in its units: 21 plus, for k > 5,
     * the set's table size 4^ceil(log4(3k)) computed through floating log as math.log does */
    if (k <= 5)
        return n <= 21;
    double c = ceil(log((double)k * 3) / log(4.0));
    if (c >= 31) /* 4^31 + 21 exceeds any population this process can index */
        return 1;
    return n <= 21 + ((size_t)1 << (2 * (int)c));
}

/* the set of the rejection algorithm: open addressing on indices + 1 (0 marks a free slot) */
typedef struct index_set {
    size_t *slot, mask;
} index_set;

static int set_insert_new(index_set *s, size_t v)
{
    size_t h = (v * 0x9E3779B97F4A7C15ull) & s->mask;
    for (; s->slot[h]; h = (h + 1) & s->mask)
        if (s->slot[h] == v + 1)
            return 0;
    s->slot[h] = v + 1;
    return 1;
}

static int sample_rejection(kvb_pyrandom *r, size_t n, size_t k, size_t *out, kvb_error *e)
{
    size_t cap = 16;
    while (cap < 2 * k)
        cap *= 2;
    index_set s = {kvb_calloc(cap, sizeof(size_t)), cap - 1};
    if (!s.slot)
        return kvb_errorf(e, KVB_ENOMEM, "sample of %zu from %zu: out of memory", k, n);
    for (size_t i = 0; i < k; i++) {
        size_t j;
        do
            j = (size_t)kvb_pyrandom_randbelow(r, n);
        while (!set_insert_new(&s, j));
        out[i] = j;
    }
    free(s.slot);
    return 0;
}

static int sample_pool(kvb_pyrandom *r, size_t n, size_t k, size_t *out, kvb_error *e)
{
    size_t *pool = kvb_calloc(n ? n : 1, sizeof(size_t));
    if (!pool)
        return kvb_errorf(e, KVB_ENOMEM, "sample of %zu from %zu: out of memory", k, n);
    for (size_t i = 0; i < n; i++)
        pool[i] = i;
    for (size_t i = 0; i < k; i++) {
        size_t j = (size_t)kvb_pyrandom_randbelow(r, n - i);
        out[i] = pool[j];
        pool[j] = pool[n - i - 1]; /* the last unselected one fills the hole */
    }
    free(pool);
    return 0;
}

int kvb_pyrandom_sample(kvb_pyrandom *r, size_t n, size_t k, size_t *out, kvb_error *e)
{
    if (k > n)
        return kvb_errorf(e, KVB_EINVAL, "Sample larger than population (%zu > %zu)", k, n);
    return kvb_pyrandom_sample_pool(n, k) ? sample_pool(r, n, k, out, e)
                                          : sample_rejection(r, n, k, out, e);
}

/* ---- numpy's legacy RandomState ------------------------------------------------------------ */
int kvb_nprandom_seed(kvb_nprandom *r, int64_t seed, kvb_error *e)
{
    if (seed < 0 || seed > (int64_t)UINT32_MAX)
        return kvb_errorf(e, KVB_EINVAL, "np.random.seed(%lld): seed must be between 0 and 2**32 - 1",
                          (long long)seed);
    mt_init_genrand(&r->mt, (uint32_t)seed);
    return 0;
}

/* numpy's mt19937_next64: the first word is the high half */
static uint64_t np_next64(kvb_mt19937 *s)
{
    uint64_t hi = mt_next(s);
    return hi << 32 | mt_next(s);
}

int kvb_nprandom_randint(kvb_nprandom *r, int64_t low, int64_t high, int64_t *out, kvb_error *e)
{
    if (low >= high)
        return kvb_errorf(e, KVB_EINVAL, "np.random.randint(%lld, %lld): low >= high",
                          (long long)low, (long long)high);
    /* the closed range [low, high - 1], as numpy's bounded-integer fill takes it */
    uint64_t rng = (uint64_t)high - 1 - (uint64_t)low, v = 0;
    if (rng != 0) {
        uint64_t mask = rng;
        for (int sh = 1; sh < 64; sh <<= 1)
            mask |= mask >> sh;
        if (rng <= UINT32_MAX)
            do
                v = mt_next(&r->mt) & mask;
            while (v > rng);
        else
            do
                v = np_next64(&r->mt) & mask;
            while (v > rng);
    }
    *out = (int64_t)((uint64_t)low + v);
    return 0;
}
