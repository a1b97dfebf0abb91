/* lib/core/pyrandom: CPython's `random` module and numpy's legacy `np.random.RandomState`,
 * bit-exact, so that generators ported from Python (RULER's scripts/data/synthetic/ scripts) draw the
 * same numbers for the same seed. Both sit on the same Mersenne Twister (MT19937, Matsumoto and
 * Nishimura's reference algorithm, as CPython's _randommodule.c and numpy's mt19937.c use it);
 * they differ in seeding and in how they turn 32-bit words into numbers.
 *
 * Everything here returns indices, not elements: the caller keeps its own arrays (choice returns
 * the index into a sequence of n, sample returns k indices into a population of n). The state
 * structs are plain values (no allocation, copyable); zero-initialised ones must be seeded first.
 *
 * Checked against CPython 3.11 and numpy 2.3 by tests/unit/test_pyrandom.c on the fixture that
 * scripts/oracle/pyrandom.py writes (tests/fixtures/ruler/pyrandom.json). */
#ifndef KVB_CORE_PYRANDOM_H
#define KVB_CORE_PYRANDOM_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define KVB_MT19937_N 624

typedef struct kvb_mt19937 {
    uint32_t mt[KVB_MT19937_N];
    int pos; /* next word to hand out; N: regenerate first */
} kvb_mt19937;

/* ---- Python's random.Random --------------------------------------------------------------- */
typedef struct kvb_pyrandom {
    kvb_mt19937 mt;
} kvb_pyrandom;

/* random.seed(seed) / random.Random(seed) for an int: init_by_array on the 32-bit words of
 * |seed|, least significant first ([0] for 0). */
void kvb_pyrandom_seed(kvb_pyrandom *r, int64_t seed);
/* The same for an int of any size given as its 32-bit words, least significant first (the
 * magnitude; n == 0 means 0). */
void kvb_pyrandom_seed_words(kvb_pyrandom *r, const uint32_t *words, size_t n);

/* random.random(): 53 random bits in [0, 1) from two words */
double kvb_pyrandom_random(kvb_pyrandom *r);
/* random.getrandbits(k), k >= 0: the value as (k + 31) / 32 words, least significant first (none
 * for k == 0); word i is one draw, and the last one keeps only its top (k mod 32) bits, shifted
 * down. getrandbits(128) is RULER's uuid4 source: uuid.UUID(int=...) reads these words as a
 * 128-bit little-endian integer. */
void kvb_pyrandom_getrandbits(kvb_pyrandom *r, int k, uint32_t *words);
/* getrandbits(k) for 0 <= k <= 64 as one number */
uint64_t kvb_pyrandom_getrandbits64(kvb_pyrandom *r, int k);
/* Random._randbelow(n), n >= 1: getrandbits(n.bit_length()) until the draw is below n */
uint64_t kvb_pyrandom_randbelow(kvb_pyrandom *r, uint64_t n);
/* random.randrange(start, stop, step): KVB_EINVAL for Python's ValueError (empty range, zero
 * step); any int64 range works. */
int kvb_pyrandom_randrange(kvb_pyrandom *r, int64_t start, int64_t stop, int64_t step,
                           int64_t *out, kvb_error *e);
/* random.randint(a, b) = randrange(a, b + 1): KVB_EINVAL when a > b, KVB_EUNSUP for the one
 * range of 2^64 values (INT64_MIN, INT64_MAX) */
int kvb_pyrandom_randint(kvb_pyrandom *r, int64_t a, int64_t b, int64_t *out, kvb_error *e);
/* random.choice(seq) for len(seq) == n >= 1: the index */
size_t kvb_pyrandom_choice(kvb_pyrandom *r, size_t n);
/* random.choices(seq, k=k) without weights for len(seq) == n >= 1: k indices,
 * floor(random() * n) each */
void kvb_pyrandom_choices(kvb_pyrandom *r, size_t n, size_t k, size_t *out);
/* random.shuffle(x) on an array of n elements of size bytes each, in place */
void kvb_pyrandom_shuffle(kvb_pyrandom *r, void *base, size_t n, size_t size);
/* random.sample(population, k) for len(population) == n: k distinct indices in selection order.
 * CPython picks one of two algorithms by the size of a k-element set (kvb_pyrandom_sample_pool
 * says which); both are reproduced, as they consume the stream differently. KVB_EINVAL when
 * k > n (Python's ValueError), KVB_ENOMEM when the work array cannot be had. */
int kvb_pyrandom_sample(kvb_pyrandom *r, size_t n, size_t k, size_t *out, kvb_error *e);
/* 1 when sample(n, k) uses the pool (partial Fisher-Yates on a copy of the population), 0 when it
 * draws with rejection of repeats (CPython: n <= 21 + 4^ceil(log4(3k)) for k > 5, else n <= 21) */
int kvb_pyrandom_sample_pool(size_t n, size_t k);

/* ---- numpy's legacy RandomState (np.random.seed, np.random.randint) ------------------------- */
typedef struct kvb_nprandom {
    kvb_mt19937 mt;
} kvb_nprandom;

/* np.random.seed(seed) for an int in [0, 2^32 - 1] (else KVB_EINVAL, numpy's ValueError): the
 * reference init_genrand(seed), not init_by_array as Python's random.seed. */
int kvb_nprandom_seed(kvb_nprandom *r, int64_t seed, kvb_error *e);
/* np.random.randint(low, high) with the default dtype (int64): one value in [low, high);
 * KVB_EINVAL when low >= high. numpy draws 32-bit (64-bit when high - 1 - low needs more) words
 * masked to the bit length of high - 1 - low until one is <= it; low == high - 1 draws nothing. */
int kvb_nprandom_randint(kvb_nprandom *r, int64_t low, int64_t high, int64_t *out, kvb_error *e);

#endif
