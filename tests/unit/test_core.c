/* Unit tests of lib/core: strings, parsing, files, JSON limits, arena, pool. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

Test(core, strbuf_grows_and_formats)
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(kvb_strbuf_addf(&sb, "%d,", i), 0);
    cr_assert(!strncmp(sb.buf, "0,1,2,", 6));
    cr_assert_eq(sb.len, strlen(sb.buf));
    char *s = kvb_strbuf_detach(&sb);
    cr_assert_null(sb.buf);
    free(s);
}

Test(core, parse_long_rejects_garbage_and_range)
{
    long v;
    cr_assert_eq(kvb_parse_long("42", 0, 100, &v), 0);
    cr_assert_eq(v, 42);
    cr_assert_neq(kvb_parse_long("42x", 0, 100, &v), 0);
    cr_assert_neq(kvb_parse_long("101", 0, 100, &v), 0);
    cr_assert_neq(kvb_parse_long("", 0, 100, &v), 0);
    cr_assert_neq(kvb_parse_long("99999999999999999999999", 0, 100, &v), 0);
}

Test(core, split_csv)
{
    char **v;
    int n;
    cr_assert_eq(kvb_split_csv("a,bb,,c", &v, &n), 0);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(v[1], "bb");
    cr_assert_str_eq(v[2], "");
    kvb_free_strv(v, n);
}

Test(core, utf8_prefix)
{
    cr_assert_eq(kvb_utf8_valid_prefix("abc", 3), 3);
    cr_assert_eq(kvb_utf8_valid_prefix("a\xc3\xa9", 3), 3);
    cr_assert_eq(kvb_utf8_valid_prefix("a\xc3", 2), 1);          /* truncated */
    cr_assert_eq(kvb_utf8_valid_prefix("a\xed\xa0\x80", 4), 1);  /* surrogate */
    cr_assert_eq(kvb_utf8_valid_prefix("\xc0\x80", 2), 0);       /* overlong */
}

Test(core, atomic_write_and_bounded_read)
{
    char dir[] = "/tmp/kvb_core_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *sub = kvb_path_join(dir, "a/b/c");
    kvb_error e;
    cr_assert_eq(kvb_mkdir_p(sub, &e), 0);
    char *f = kvb_path_join(sub, "x.json");
    cr_assert_eq(kvb_write_file_atomic(f, "{\"a\": 1}", 8, &e), 0);
    char *data;
    size_t len;
    cr_assert_eq(kvb_read_file(f, 100, &data, &len, &e), 0);
    cr_assert_eq(len, 8);
    free(data);
    cr_assert_eq(kvb_read_file(f, 4, &data, &len, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "x.json") != NULL);
    cr_assert_eq(kvb_read_file("/nonexistent/file", 4, &data, &len, &e), KVB_EIO);
    unlink(f);
    free(f);
    free(sub);
}

Test(core, json_depth_limit_and_typed_getters)
{
    char deep[300];
    memset(deep, '[', sizeof(deep));
    cr_assert_eq(kvb_json_depth_ok(deep, sizeof(deep)), 0);
    cr_assert_null(kvb_json_parse_limited(deep, sizeof(deep)));
    const char *t = "{\"n\": 5, \"s\": \"x\", \"f\": 1.5}";
    cJSON *j = kvb_json_parse_limited(t, strlen(t));
    cr_assert_not_null(j);
    long long n;
    kvb_error e;
    cr_assert_eq(kvb_json_get_int(j, "n", 0, 10, &n, "t.json", &e), 0);
    cr_assert_eq(n, 5);
    cr_assert_eq(kvb_json_get_int(j, "n", 0, 4, &n, "t.json", &e), KVB_EINVAL);
    cr_assert_eq(kvb_json_get_int(j, "f", 0, 4, &n, "t.json", &e), KVB_EINVAL);
    cr_assert_eq(kvb_json_get_int(j, "missing", 0, 4, &n, "t.json", &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "t.json: field 'missing' is missing") != NULL);
    cJSON_Delete(j);
}

Test(core, arena_aligns_and_refuses_overflow)
{
    kvb_arena a;
    cr_assert_eq(kvb_arena_init(&a, 1024, NULL), 0);
    void *p = kvb_arena_alloc(&a, 10), *q = kvb_arena_alloc(&a, 10);
    cr_assert_eq((uintptr_t)q % 64, 0);
    cr_assert_neq(p, q);
    cr_assert_null(kvb_arena_alloc(&a, (size_t)-1));
    kvb_arena_reset(&a);
    cr_assert_eq(kvb_arena_alloc(&a, 1), p);
    kvb_arena_release(&a);
}

struct sum_arg {
    long parts[8];
};
static void sum_part(void *va, int ith, int nth)
{
    struct sum_arg *a = va;
    long s = 0;
    for (long i = ith; i < 100000; i += nth)
        s += i;
    a->parts[ith] = s;
}

Test(core, pool_runs_every_thread)
{
    kvb_pool *p;
    cr_assert_eq(kvb_pool_create(&p, 4, NULL), 0);
    for (int rep = 0; rep < 50; rep++) {
        struct sum_arg a = { { 0 } };
        kvb_pool_run(p, sum_part, &a);
        long s = 0;
        for (int i = 0; i < 4; i++)
            s += a.parts[i];
        cr_assert_eq(s, 99999L * 100000 / 2);
    }
    kvb_pool_free(p);
}
