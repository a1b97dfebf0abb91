/* Needle-in-a-haystack construction on real tokenizers and the real essays: deterministic, the
 * needle present exactly once, at a sentence boundary at (or just before) the requested depth,
 * and the prompt exactly the requested length. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "longbench/niah.h"
#include "tokenizer/tokenizer.h"

#define ESSAYS "../shared/datasets/paul-graham-essays"

static kvb_tokenizer *load(const char *name)
{
    char dir[256];
    snprintf(dir, sizeof(dir), "../shared/tokenizers/%s", name);
    kvb_tokenizer *t;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_tokenizer_load_hf(&t, dir, &e), 0, "%s", e.msg);
    return t;
}

static int count_occurrences(const kvb_ids *hay, const kvb_ids *needle, size_t *at)
{
    int c = 0;
    for (size_t i = 0; i + needle->n <= hay->n; i++)
        if (!memcmp(hay->ids + i, needle->ids, needle->n * sizeof(int32_t))) {
            c++;
            *at = i;
        }
    return c;
}

static void check(const char *tok_name, const char *family, int add_bos)
{
    kvb_tokenizer *t = load(tok_name);
    kvb_niah_opts o = { ESSAYS, NULL, NULL, family, add_bos, 4096 };
    kvb_niah *a, *b;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_niah_open(&a, t, &o, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_niah_open(&b, t, &o, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_niah_essay_count(a), 49);
    cr_assert_eq(kvb_niah_essays_hash(a), kvb_niah_essays_hash(b));
    const kvb_ids *needle = kvb_niah_needle_ids(a);
    cr_assert(needle->n > 10);
    static const int lengths[] = { 512, 1024, 4096 };
    static const int depths[] = { 0, 10, 25, 50, 77, 90, 100 };
    for (size_t li = 0; li < 3; li++)
        for (size_t di = 0; di < 7; di++) {
            int L = lengths[li], D = depths[di], at1, at2;
            kvb_ids x, y;
            kvb_ids_init(&x);
            kvb_ids_init(&y);
            cr_assert_eq(kvb_niah_build(a, L, D, &x, &at1, &e), 0, "%s", e.msg);
            cr_assert_eq(kvb_niah_build(b, L, D, &y, &at2, &e), 0, "%s", e.msg);
            /* deterministic: same tokens from two independent constructions */
            cr_assert_eq(x.n, y.n);
            cr_assert(!memcmp(x.ids, y.ids, x.n * sizeof(int32_t)), "%s L=%d D=%d differs", tok_name, L, D);
            cr_assert_eq(at1, at2);
            /* exactly the requested length */
            cr_assert_eq((int)x.n, L, "%s L=%d D=%d: %zu ids", tok_name, L, D, x.n);
            /* the needle exactly once, where reported */
            size_t at = 0;
            cr_assert_eq(count_occurrences(&x, needle, &at), 1, "%s L=%d D=%d", tok_name, L, D);
            cr_assert_eq((int)at, at1);
            if (D == 100) {
                /* appended: only the tail of the frame follows */
                cr_assert((int)x.n - at1 - (int)needle->n < 64, "%s L=%d D=100", tok_name, L);
            }
            kvb_ids_release(&x);
            kvb_ids_release(&y);
        }
    /* depth 0 puts the needle right after the frame's head; the haystack split point grows
     * with the depth */
    int prev = -1;
    for (size_t di = 0; di < 7; di++) {
        kvb_ids x;
        kvb_ids_init(&x);
        int at;
        cr_assert_eq(kvb_niah_build(a, 4096, depths[di], &x, &at, &e), 0);
        cr_assert(at >= prev, "%s: depth %d at %d, before %d", tok_name, depths[di], at, prev);
        kvb_ids_release(&x);
        prev = at;
    }
    /* a too-short length is refused with a message */
    kvb_ids x;
    kvb_ids_init(&x);
    int at;
    cr_assert_eq(kvb_niah_build(a, 30, 50, &x, &at, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "niah") != NULL);
    cr_assert_eq(kvb_niah_build(a, 1024, 101, &x, &at, &e), KVB_EINVAL);
    kvb_ids_release(&x);
    kvb_niah_free(a);
    kvb_niah_free(b);
    kvb_tokenizer_free(t);
}

Test(niah, llama3_raw, .timeout = 120) { check("llama3-8b", NULL, 1); }
Test(niah, llama2_chat, .timeout = 120) { check("llama2-7b", "llama2", 1); }

Test(niah, depth_is_proportional, .timeout = 120)
{
    kvb_tokenizer *t = load("mistral-7b");
    kvb_niah_opts o = { ESSAYS, NULL, NULL, NULL, 1, 8192 };
    kvb_niah *a;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_niah_open(&a, t, &o, &e), 0, "%s", e.msg);
    kvb_ids x0, x;
    kvb_ids_init(&x0);
    int at0, at;
    cr_assert_eq(kvb_niah_build(a, 8192, 0, &x0, &at0, &e), 0);
    /* the haystack length H = L - frame - needle; the needle's haystack offset is at - at0 */
    int frame_tail = 0;
    {
        kvb_ids y;
        kvb_ids_init(&y);
        int aty;
        cr_assert_eq(kvb_niah_build(a, 8192, 100, &y, &aty, &e), 0);
        frame_tail = (int)y.n - aty - (int)kvb_niah_needle_ids(a)->n;
        kvb_ids_release(&y);
    }
    int H = 8192 - at0 - frame_tail - (int)kvb_niah_needle_ids(a)->n;
    for (int d = 10; d <= 90; d += 20) {
        kvb_ids_init(&x);
        cr_assert_eq(kvb_niah_build(a, 8192, d, &x, &at, &e), 0);
        int off = at - at0, want = (int)((long long)H * d / 100);
        cr_assert(off <= want && want - off < 150, "depth %d: offset %d, exact %d", d, off, want);
        kvb_ids_release(&x);
    }
    kvb_ids_release(&x0);
    kvb_niah_free(a);
    kvb_tokenizer_free(t);
}
