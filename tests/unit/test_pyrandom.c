/* lib/core/pyrandom against CPython's random and numpy's legacy RandomState, replaying the calls
 * of tests/fixtures/ruler/pyrandom.json (scripts/oracle/pyrandom.py) in their order. Exact: every
 * integer, index list and double (as float.hex) must be equal, and a call Python rejected must be
 * rejected here without drawing (the call after it would see the shift). Also np.linspace and
 * RULER's depths against numpy. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/pynum.h"
#include "core/pyrandom.h"

#define FIXTURE "tests/fixtures/ruler/pyrandom.json"

static cJSON *load(void)
{
    cJSON *j = NULL;
    kvb_error e = {0};
    cr_assert_eq(kvb_json_load(FIXTURE, 1 << 24, &j, &e), 0, "%s", e.msg);
    return j;
}

static const cJSON *get(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    cr_assert(v, "fixture: no \"%s\"", k);
    return v;
}

/* an integer the oracle wrote as a JSON number (|x| < 2^53) or a decimal string */
static int64_t i64(const cJSON *v)
{
    if (cJSON_IsString(v))
        return (int64_t)strtoll(v->valuestring, NULL, 10);
    return (int64_t)v->valuedouble;
}

static uint64_t u64(const cJSON *v)
{
    if (cJSON_IsString(v))
        return strtoull(v->valuestring, NULL, 10);
    return (uint64_t)v->valuedouble;
}

static void expect_indices(const size_t *got, size_t k, const cJSON *want, const char *what)
{
    cr_assert_eq((size_t)cJSON_GetArraySize(want), k, "%s: length", what);
    size_t i = 0;
    for (const cJSON *w = want->child; w; w = w->next, i++)
        cr_assert_eq(got[i], (size_t)u64(w), "%s: [%zu] = %zu, Python %" PRIu64, what, i, got[i],
                     u64(w));
}

typedef struct gens {
    kvb_pyrandom py, py2;
    kvb_nprandom np;
} gens;

static void seed_all(gens *g, const cJSON *seeds)
{
    static const char *names[] = {"py", "py2"};
    kvb_pyrandom *st[] = {&g->py, &g->py2};
    for (int i = 0; i < 2; i++) {
        const cJSON *s = cJSON_GetObjectItem(seeds, names[i]);
        if (!s)
            continue;
        const cJSON *ws = get(s, "words");
        uint32_t w[8] = {0};
        size_t n = 0;
        for (const cJSON *x = ws->child; x && n < 8; x = x->next)
            w[n++] = (uint32_t)u64(x);
        kvb_pyrandom_seed_words(st[i], w, n);
        const cJSON *v = get(s, "value");
        if (cJSON_IsNumber(v) || strlen(v->valuestring) < 19) { /* the int64 entry point too */
            kvb_pyrandom check;
            kvb_pyrandom_seed(&check, i64(v));
            cr_assert(memcmp(&check, st[i], sizeof(check)) == 0, "seed %s: int64 vs words",
                      cJSON_PrintUnformatted(v));
        }
    }
    const cJSON *s = cJSON_GetObjectItem(seeds, "np");
    if (s) {
        kvb_error e = {0};
        cr_assert_eq(kvb_nprandom_seed(&g->np, i64(s), &e), 0, "%s", e.msg);
    }
}

/* one call of a Python generator, checked against its recorded result or ValueError */
static void replay_py(kvb_pyrandom *r, const cJSON *op, const char *what)
{
    const char *name = get(op, "op")->valuestring;
    const cJSON *out = cJSON_GetObjectItem(op, "out");
    int want_err = cJSON_IsTrue(cJSON_GetObjectItem(op, "error"));
    kvb_error e = {0};
    if (!strcmp(name, "random")) {
        double got = kvb_pyrandom_random(r), want = strtod(out->valuestring, NULL);
        cr_assert_eq(got, want, "%s: %a, Python %a", what, got, want);
    } else if (!strcmp(name, "getrandbits")) {
        int k = (int)i64(get(op, "k"));
        uint32_t w[8] = {0};
        kvb_pyrandom_getrandbits(r, k, w);
        size_t i = 0;
        cr_assert_eq(cJSON_GetArraySize(out), (k + 31) / 32, "%s: words", what);
        for (const cJSON *x = out->child; x; x = x->next, i++)
            cr_assert_eq(w[i], (uint32_t)u64(x), "%s: word %zu", what, i);
    } else if (!strcmp(name, "randbelow")) {
        uint64_t got = kvb_pyrandom_randbelow(r, u64(get(op, "n")));
        cr_assert_eq(got, u64(out), "%s: %" PRIu64 ", Python %" PRIu64, what, got, u64(out));
    } else if (!strcmp(name, "randrange") || !strcmp(name, "randint")) {
        int64_t got = 0;
        int rc = !strcmp(name, "randint")
                     ? kvb_pyrandom_randint(r, i64(get(op, "a")), i64(get(op, "b")), &got, &e)
                     : kvb_pyrandom_randrange(r, i64(get(op, "start")), i64(get(op, "stop")),
                                              i64(get(op, "step")), &got, &e);
        if (want_err) {
            cr_assert_eq(rc, KVB_EINVAL, "%s: Python raised ValueError", what);
            cr_assert(e.msg[0], "%s: no message", what);
        } else {
            cr_assert_eq(rc, 0, "%s: %s", what, e.msg);
            cr_assert_eq(got, i64(out), "%s: %" PRId64 ", Python %" PRId64, what, got, i64(out));
        }
    } else if (!strcmp(name, "choice")) {
        size_t got = kvb_pyrandom_choice(r, (size_t)u64(get(op, "n")));
        cr_assert_eq(got, (size_t)u64(out), "%s", what);
    } else if (!strcmp(name, "choices")) {
        size_t k = (size_t)u64(get(op, "k"));
        size_t *got = calloc(k + 1, sizeof(size_t));
        kvb_pyrandom_choices(r, (size_t)u64(get(op, "n")), k, got);
        expect_indices(got, k, out, what);
        free(got);
    } else if (!strcmp(name, "shuffle")) {
        /* elements of 100 bytes (more than one swap chunk), each tagged with its index */
        size_t n = (size_t)u64(get(op, "n"));
        unsigned char(*el)[100] = calloc(n + 1, 100);
        size_t *got = calloc(n + 1, sizeof(size_t));
        for (size_t i = 0; i < n; i++)
            for (size_t b = 0; b < 100; b += sizeof(size_t))
                memcpy(el[i] + b, &i, b + sizeof(size_t) <= 100 ? sizeof(size_t) : 100 - b);
        kvb_pyrandom_shuffle(r, el, n, 100);
        for (size_t i = 0; i < n; i++) {
            memcpy(&got[i], el[i], sizeof(size_t));
            for (size_t b = 0; b + sizeof(size_t) <= 100; b += sizeof(size_t))
                cr_assert(memcmp(el[i] + b, &got[i], sizeof(size_t)) == 0, "%s: torn element", what);
        }
        expect_indices(got, n, out, what);
        free(got);
        free(el);
    } else if (!strcmp(name, "sample")) {
        size_t n = (size_t)u64(get(op, "n")), k = (size_t)u64(get(op, "k"));
        cr_assert_eq(kvb_pyrandom_sample_pool(n, k), cJSON_IsTrue(get(op, "pool")),
                     "%s: pool vs set rule", what);
        size_t *got = calloc(k + 1, sizeof(size_t));
        int rc = kvb_pyrandom_sample(r, n, k, got, &e);
        if (want_err) {
            cr_assert_eq(rc, KVB_EINVAL, "%s: Python raised ValueError", what);
        } else {
            cr_assert_eq(rc, 0, "%s: %s", what, e.msg);
            expect_indices(got, k, out, what);
        }
        free(got);
    } else {
        cr_assert_fail("fixture: unknown op %s", name);
    }
}

static void replay_np(kvb_nprandom *r, const cJSON *op, const char *what)
{
    kvb_error e = {0};
    int64_t got = 0;
    int rc = kvb_nprandom_randint(r, i64(get(op, "low")), i64(get(op, "high")), &got, &e);
    if (cJSON_IsTrue(cJSON_GetObjectItem(op, "error"))) {
        cr_assert_eq(rc, KVB_EINVAL, "%s: numpy raised ValueError", what);
        return;
    }
    cr_assert_eq(rc, 0, "%s: %s", what, e.msg);
    int64_t want = i64(get(op, "out"));
    cr_assert_eq(got, want, "%s: %" PRId64 ", numpy %" PRId64, what, got, want);
}

Test(pyrandom, replays_python_and_numpy)
{
    cJSON *j = load();
    int n_ops = 0, n_pool = 0, n_set = 0, n_err = 0;
    for (const cJSON *c = get(j, "cases")->child; c; c = c->next) {
        gens g;
        memset(&g, 0, sizeof(g));
        seed_all(&g, get(c, "seeds"));
        int i = 0;
        for (const cJSON *op = get(c, "ops")->child; op; op = op->next, i++, n_ops++) {
            char what[200];
            const char *w = get(op, "r")->valuestring;
            snprintf(what, sizeof(what), "%s, call %d (%s %s)", get(c, "name")->valuestring, i, w,
                     get(op, "op")->valuestring);
            if (!strcmp(w, "np"))
                replay_np(&g.np, op, what);
            else
                replay_py(!strcmp(w, "py") ? &g.py : &g.py2, op, what);
            n_err += cJSON_IsTrue(cJSON_GetObjectItem(op, "error"));
            if (!strcmp(get(op, "op")->valuestring, "sample")) {
                n_pool += cJSON_IsTrue(get(op, "pool"));
                n_set += !cJSON_IsTrue(get(op, "pool"));
            }
        }
    }
    /* the fixture must exercise both sample algorithms and the rejected calls */
    cr_expect_gt(n_ops, 1000);
    cr_expect_gt(n_pool, 10);
    cr_expect_gt(n_set, 10);
    cr_expect_gt(n_err, 5);
    cJSON_Delete(j);
}

Test(pyrandom, linspace_and_ruler_depths)
{
    cJSON *j = load();
    for (const cJSON *c = get(j, "linspace")->child; c; c = c->next) {
        size_t num = (size_t)u64(get(c, "num"));
        double *v = calloc(num + 1, sizeof(double));
        kvb_np_linspace(strtod(get(c, "start")->valuestring, NULL),
                        strtod(get(c, "stop")->valuestring, NULL), num,
                        cJSON_IsTrue(get(c, "endpoint")), v);
        const cJSON *w = get(c, "out")->child, *ri = get(c, "round_int")->child;
        cr_assert_eq((size_t)cJSON_GetArraySize(get(c, "out")), num);
        for (size_t i = 0; i < num; i++, w = w->next, ri = ri->next) {
            double want = strtod(w->valuestring, NULL);
            cr_assert_eq(v[i], want, "linspace num %zu [%zu]: %a, numpy %a", num, i, v[i], want);
            cr_assert_eq((int64_t)kvb_np_round(v[i], 0), i64(ri), "np.round [%zu]", i);
        }
        free(v);
    }
    cJSON_Delete(j);
}

Test(pyrandom, rejects_bad_arguments)
{
    kvb_pyrandom r;
    kvb_nprandom np;
    kvb_error e = {0};
    int64_t v;
    kvb_pyrandom_seed(&r, 1);
    cr_expect_eq(kvb_pyrandom_randint(&r, INT64_MIN, INT64_MAX, &v, &e), KVB_EUNSUP);
    cr_expect_eq(kvb_pyrandom_randrange(&r, 0, 5, 0, &v, &e), KVB_EINVAL);
    /* ranges of 2^63 and more values stay inside their bounds */
    cr_expect_eq(kvb_pyrandom_randint(&r, 0, INT64_MAX, &v, &e), 0);
    cr_expect_geq(v, 0);
    cr_expect_eq(kvb_pyrandom_randrange(&r, INT64_MAX, INT64_MIN, -1, &v, &e), 0);
    cr_expect_gt(v, INT64_MIN);
    cr_expect_eq(kvb_nprandom_seed(&np, -1, &e), KVB_EINVAL);
    cr_expect_eq(kvb_nprandom_seed(&np, (int64_t)1 << 32, &e), KVB_EINVAL);
    cr_expect(strstr(e.msg, "2**32") != NULL, "%s", e.msg);
    /* the sample rule at its edges (CPython: 21 for k <= 5, 21 + 4^ceil(log4(3k)) above) */
    cr_expect(kvb_pyrandom_sample_pool(21, 5) && !kvb_pyrandom_sample_pool(22, 5));
    cr_expect(kvb_pyrandom_sample_pool(85, 6) && !kvb_pyrandom_sample_pool(86, 6));
    cr_expect(kvb_pyrandom_sample_pool(1045, 300) && !kvb_pyrandom_sample_pool(1046, 300));
}
