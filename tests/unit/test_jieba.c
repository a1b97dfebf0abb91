/* Unit tests of lib/text/jieba: token-for-token identity with Python jieba 0.42.1
 * (jieba.cut(x, cut_all=False, HMM=True)) on every Chinese text of the LongBench records in
 * ../shared/datasets and on our generated mixed corpus; behaviour on invalid UTF-8; errors for
 * missing or corrupt data files; $KVBENCH_JIEBA_DIR.
 *
 * Fixtures: tests/fixtures/jieba/ (scripts/oracle/jieba_fixtures.py). Tolerance: none, every
 * token boundary must match. The dictionary is jieba's own data, found as kvb_jieba_load finds
 * it ($KVBENCH_JIEBA_DIR, else /usr/lib/python3/dist-packages/jieba from python3-jieba). */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "jieba_fixture.h"
#include "text/jieba.h"

#define FIXTURES "tests/fixtures/jieba/"
#define DATASETS "../shared/datasets/"

/* ---- collecting tokens ------------------------------------------------------------------- */

typedef struct toks {
    const char *text; /* the text being cut: tokens must tile it in order */
    size_t pos;
    int tiled;
    size_t *len, n, cap;
} toks;

static void collect(const char *tok, size_t len, void *arg)
{
    toks *t = arg;
    if (tok != t->text + t->pos || len == 0)
        t->tiled = 0;
    t->pos += len;
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 256;
        t->len = realloc(t->len, t->cap * sizeof *t->len);
        cr_assert_not_null(t->len);
    }
    t->len[t->n++] = len;
}

static void cut(const kvb_jieba *j, const char *text, size_t n, toks *t)
{
    kvb_error e;
    t->text = text;
    t->pos = 0;
    t->tiled = 1;
    t->n = 0;
    cr_assert_eq(kvb_jieba_cut(j, text, n, collect, t, &e), 0);
    cr_assert(t->tiled && t->pos == n, "tokens do not tile the text");
}

static kvb_jieba *load_default(void)
{
    kvb_jieba *j;
    kvb_error e;
    int rc = kvb_jieba_load(&j, NULL, &e);
    cr_assert_eq(rc, 0, "cannot load jieba's data (install python3-jieba: make deps): %s", e.msg);
    return j;
}

/* ---- the expected-token fixtures --------------------------------------------------------- */

typedef struct expect_rec {
    const unsigned char *sha;  /* 32 bytes */
    const unsigned char *lens; /* ntok varints */
    uint64_t ntok;
    int used;
} expect_rec;

typedef struct expect_set {
    unsigned char *data;
    size_t size;
    expect_rec *rec;
    size_t n;
} expect_set;

static void expect_load(expect_set *s, const char *path)
{
    static const char magic[] = "kvbench-jieba-expected v1\n";
    s->data = gz_slurp(path, &s->size);
    cr_assert_not_null(s->data, "cannot read %s", path);
    cr_assert(s->size >= sizeof magic - 1 && !memcmp(s->data, magic, sizeof magic - 1),
              "%s: not a jieba expectation file", path);
    const unsigned char *p = s->data + sizeof magic - 1, *end = s->data + s->size;
    size_t cap = 0;
    s->rec = NULL;
    s->n = 0;
    while (p < end) {
        if (s->n == cap) {
            cap = cap ? 2 * cap : 1024;
            s->rec = realloc(s->rec, cap * sizeof *s->rec);
            cr_assert_not_null(s->rec);
        }
        expect_rec *r = &s->rec[s->n++];
        cr_assert(end - p >= 32, "%s: truncated", path);
        r->sha = p;
        p += 32;
        cr_assert(varint_get(&p, end, &r->ntok), "%s: truncated", path);
        r->lens = p;
        r->used = 0;
        for (uint64_t i = 0; i < r->ntok; i++) {
            uint64_t v;
            cr_assert(varint_get(&p, end, &v), "%s: truncated", path);
        }
    }
}

static void expect_free(expect_set *s)
{
    free(s->data);
    free(s->rec);
}

static int rec_cmp(const void *a, const void *b)
{
    return memcmp(((const expect_rec *)a)->sha, ((const expect_rec *)b)->sha, 32);
}

/* Lookup by sha256 (after expect_sort). */
static expect_rec *expect_find(expect_set *s, const unsigned char sha[32])
{
    expect_rec key = { .sha = sha };
    return bsearch(&key, s->rec, s->n, sizeof *s->rec, rec_cmp);
}

static void expect_sort(expect_set *s)
{
    qsort(s->rec, s->n, sizeof *s->rec, rec_cmp);
}

/* Compare t's tokens with r; on a mismatch print where (once per text) and return 0. */
static int same_tokens(const expect_rec *r, const toks *t, const char *what)
{
    const unsigned char *p = r->lens;
    size_t off = 0;
    for (size_t i = 0; i < t->n || i < r->ntok; i++) {
        uint64_t want = 0;
        if (i < r->ntok)
            varint_get(&p, r->lens + 10 * r->ntok, &want);
        size_t got = i < t->n ? t->len[i] : 0;
        if (i >= t->n || i >= r->ntok || want != got) {
            size_t a = off > 30 ? off - 30 : 0;
            size_t b = KVB_MIN(t->pos, off + 60);
            fprintf(stderr, "%s: token %zu at byte %zu: got %zu bytes, want %llu; text: \"%.*s\"\n",
                    what, i, off, got, (unsigned long long)want, (int)(b - a), t->text + a);
            return 0;
        }
        off += got;
    }
    return 1;
}

/* ---- 1. LongBench records ---------------------------------------------------------------- */

typedef struct lb_run {
    kvb_jieba *j;
    expect_set ex;
    toks t;
    size_t texts, bytes, tokens, bad, unknown;
} lb_run;

static void check_text(lb_run *r, const char *text, size_t n, const char *where)
{
    unsigned char sha[32];
    sha256(text, n, sha);
    expect_rec *rec = expect_find(&r->ex, sha);
    if (!rec) {
        if (r->unknown++ < 3)
            fprintf(stderr, "%s: text not in the fixture: \"%.40s\"\n", where, text);
        return;
    }
    if (rec->used)
        return; /* the same text again (answers repeat across models) */
    rec->used = 1;
    cut(r->j, text, n, &r->t);
    r->texts++;
    r->bytes += n;
    r->tokens += r->t.n;
    if (!same_tokens(rec, &r->t, where))
        r->bad++;
}

static void check_field(lb_run *r, const cJSON *obj, const char *key, const char *where)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v))
        return;
    const cJSON *item = v;
    int is_list = cJSON_IsArray(v);
    if (is_list)
        item = v->child;
    for (; item; item = is_list ? item->next : NULL) {
        cr_assert(cJSON_IsString(item), "%s: field '%s' is not text", where, key);
        size_t n;
        char *text = json_text(item, &n);
        cr_assert_not_null(text);
        check_text(r, text, n, where);
        free(text);
    }
}

static void check_jsonl(lb_run *r, const char *path, const char *const *fields)
{
    char *data;
    size_t len;
    kvb_error e;
    cr_assert_eq(kvb_read_file(path, (size_t)1 << 30, &data, &len, &e), 0,
                 "%s (the LongBench data of ../shared/datasets)", e.msg);
    size_t lineno = 0;
    for (char *s = data, *end = data + len; s < end;) {
        char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = (size_t)((nl ? nl : end) - s);
        lineno++;
        if (n) {
            char *safe = json_hide_nuls(s, n);
            cr_assert_not_null(safe, "%s:%zu: cannot prepare the line", path, lineno);
            cJSON *obj = cJSON_Parse(safe);
            cr_assert_not_null(obj, "%s:%zu: bad JSON", path, lineno);
            char where[512];
            snprintf(where, sizeof where, "%s:%zu", path, lineno);
            for (int f = 0; fields[f]; f++)
                check_field(r, obj, fields[f], where);
            cJSON_Delete(obj);
            free(safe);
        }
        s = nl ? nl + 1 : end;
    }
    free(data);
}

/* The same texts, in the same order, as scripts/oracle/jieba_fixtures.py dataset_texts(). */
Test(jieba, longbench_texts_match_python, .timeout = 300)
{
    static const char *const sample_fields[] = { "context", "input", "answers", NULL };
    static const char *const pred_fields[] = { "pred", "answers", "all_classes", NULL };
    static const char *const sample_tasks[] = { "multifieldqa_zh", "passage_retrieval_zh" };
    static const char *const zh_tasks[] = { "multifieldqa_zh", "dureader", "vcsum", "lsht",
                                            "passage_retrieval_zh" };
    static const char *const models[] = { "llama2-7b", "llama2-7b-chat-4k", "llama3-8b-instruct",
                                          "qwen3-8b" };
    lb_run r = { .j = load_default() };
    expect_load(&r.ex, FIXTURES "longbench_expected.bin.gz");
    expect_sort(&r.ex);
    char path[512];
    for (size_t i = 0; i < KVB_ARRAY_SIZE(sample_tasks); i++) {
        snprintf(path, sizeof path, DATASETS "longbench-sample/%s.jsonl", sample_tasks[i]);
        check_jsonl(&r, path, sample_fields);
    }
    for (size_t m = 0; m < KVB_ARRAY_SIZE(models); m++)
        for (size_t i = 0; i < KVB_ARRAY_SIZE(zh_tasks); i++) {
            snprintf(path, sizeof path, DATASETS "longbench-pred/%s/%s.jsonl", models[m],
                     zh_tasks[i]);
            check_jsonl(&r, path, pred_fields);
        }
    size_t unused = 0;
    for (size_t i = 0; i < r.ex.n; i++)
        unused += !r.ex.rec[i].used;
    fprintf(stderr, "jieba longbench: %zu texts, %zu bytes, %zu tokens, %zu differ\n", r.texts,
            r.bytes, r.tokens, r.bad);
    cr_expect_eq(r.unknown, 0, "%zu texts of the datasets are not in the fixture", r.unknown);
    cr_expect_eq(unused, 0, "%zu fixture texts were not found in the datasets", unused);
    cr_expect_eq(r.bad, 0, "%zu of %zu texts segment differently from Python jieba", r.bad,
                 r.texts);
    cr_expect_gt(r.bytes, 8000000);
    expect_free(&r.ex);
    free(r.t.len);
    kvb_jieba_free(r.j);
}

/* ---- 2. the generated mixed corpus ------------------------------------------------------- */

Test(jieba, mixed_corpus_matches_python, .timeout = 300)
{
    static const char magic[] = "kvbench-jieba-corpus v1\n";
    kvb_jieba *j = load_default();
    expect_set ex;
    expect_load(&ex, FIXTURES "mixed_expected.bin.gz");
    size_t size;
    unsigned char *data = gz_slurp(FIXTURES "mixed_corpus.bin.gz", &size);
    cr_assert_not_null(data);
    cr_assert(size > sizeof magic && !memcmp(data, magic, sizeof magic - 1));
    const unsigned char *p = data + sizeof magic - 1, *end = data + size;
    toks t = { 0 };
    size_t i = 0, bad = 0, bytes = 0;
    while (p < end) {
        uint64_t n;
        cr_assert(varint_get(&p, end, &n) && n <= (uint64_t)(end - p), "corpus truncated");
        cr_assert_lt(i, ex.n, "more corpus texts than expectations");
        unsigned char sha[32];
        sha256(p, n, sha);
        cr_assert(!memcmp(sha, ex.rec[i].sha, 32), "corpus text %zu: sha256 differs", i);
        cut(j, (const char *)p, n, &t);
        char what[64];
        snprintf(what, sizeof what, "mixed corpus text %zu", i);
        bad += !same_tokens(&ex.rec[i], &t, what);
        bytes += n;
        p += n;
        i++;
    }
    cr_expect_eq(i, ex.n);
    cr_expect_geq(bytes, 1000000);
    cr_expect_eq(bad, 0, "%zu of %zu corpus texts segment differently from Python jieba", bad, i);
    free(t.len);
    free(data);
    expect_free(&ex);
    kvb_jieba_free(j);
}

/* ---- 3. literal cases -------------------------------------------------------------------- */

/* "a|b|c" -> tokens a, b, c; expectations printed by Python jieba 0.42.1. */
static void expect_cut(const kvb_jieba *j, const char *text, size_t n, const char *want)
{
    toks t = { 0 };
    cut(j, text, n, &t);
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    size_t off = 0;
    for (size_t i = 0; i < t.n; i++) {
        if (i)
            kvb_strbuf_add(&sb, "|", 1);
        kvb_strbuf_add(&sb, text + off, t.len[i]);
        off += t.len[i];
    }
    cr_expect_str_eq(sb.buf ? sb.buf : "", want);
    kvb_strbuf_release(&sb);
    free(t.len);
}

#define EXPECT_CUT(j, s, want) expect_cut(j, s, sizeof(s) - 1, want)

Test(jieba, known_sentences)
{
    kvb_jieba *j = load_default();
    EXPECT_CUT(j, "我来到北京清华大学", "我|来到|北京|清华大学");
    EXPECT_CUT(j, "他来到了网易杭研大厦", "他|来到|了|网易|杭研|大厦"); /* 杭研: HMM */
    EXPECT_CUT(j, "iPhone12手机 3.14% C++ a.b.c 1.2.3版本 e-mail",
               "iPhone12|手机| |3.14%| |C++| |a|.|b|.|c| |1.2|.|3|版本| |e|-|mail");
    EXPECT_CUT(j, "第一行\r\n第二行\r\r\n", "第一行|\r\n|第二行|\r|\r\n");
    EXPECT_CUT(j, "，。  \t", "，|。| | |\t");
    EXPECT_CUT(j, "", "");
    kvb_jieba_free(j);
}

/* ---- 4. invalid UTF-8 -------------------------------------------------------------------- */

/* Defined behaviour: a byte that does not start a valid UTF-8 sequence (stray continuation,
 * truncated, overlong, surrogate, > U+10FFFF) is one character of no class: a one-byte token
 * of its own, which also ends the run of words around it. */
Test(jieba, invalid_utf8_bytes_are_single_tokens)
{
    kvb_jieba *j = load_default();
    EXPECT_CUT(j, "北京\xff大学", "北京|\xff|大学");
    EXPECT_CUT(j, "ab\x80\x80" "cd", "ab|\x80|\x80|cd");
    EXPECT_CUT(j, "中\xe4\xb8", "中|\xe4|\xb8");          /* truncated at the end */
    EXPECT_CUT(j, "\xc0\xaf" "x", "\xc0|\xaf|x");          /* overlong '/' */
    EXPECT_CUT(j, "\xed\xa0\x80", "\xed|\xa0|\x80");       /* UTF-16 surrogate */
    EXPECT_CUT(j, "\xf4\x90\x80\x80", "\xf4|\x90|\x80|\x80"); /* > U+10FFFF */
    /* random bytes: never a crash, always a tiling of the input */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    char buf[4096];
    toks t = { 0 };
    for (int round = 0; round < 200; round++) {
        size_t n = (size_t)(round * 20) % sizeof buf;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* bias towards UTF-8 lead bytes of CJK and ASCII letters */
            unsigned v = (unsigned)(x >> 32);
            buf[i] = (char)(v % 4 == 0 ? 0xE4 + v % 6 : v % 4 == 1 ? 'a' + v % 26 : v & 0xFF);
        }
        cut(j, buf, n, &t);
    }
    free(t.len);
    kvb_jieba_free(j);
}

/* ---- 5. data files: errors and $KVBENCH_JIEBA_DIR ---------------------------------------- */

static void write_text(const char *dir, const char *name, const char *text)
{
    char *path = kvb_path_join(dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
    free(path);
}

/* A small, valid data directory: four words and an HMM that knows three characters. */
static void make_tiny_dir(char *dir)
{
    cr_assert_not_null(mkdtemp(dir));
    char *fs = kvb_path_join(dir, "finalseg");
    cr_assert_eq(mkdir(fs, 0700), 0);
    free(fs);
    write_text(dir, "dict.txt", "甲 1000 n\n乙 1000\n甲乙 1 n\n丙丁 5 x\n");
    write_text(dir, "finalseg/prob_start.py",
               "P={'B': -0.26, 'E': -3.14e+100, 'M': -3.14e+100, 'S': -1.46}\n");
    write_text(dir, "finalseg/prob_trans.py",
               "P={'B': {'E': -0.51, 'M': -0.91},\n 'E': {'B': -0.58, 'S': -0.80},\n"
               " 'M': {'E': -0.33, 'M': -1.26},\n 'S': {'B': -0.72, 'S': -0.66}}\n");
    write_text(dir, "finalseg/prob_emit.py",
               "from __future__ import unicode_literals\n\n"
               "P={'B': {'\\u620a': -1.0, '\\u5df1': -9.0},\n"
               " 'E': {'\\u5df1': -1.0, '庚': -9.0},\n"
               " 'M': {},\n"
               " 'S': {'庚': -1.0, u'\\u620a': -9.0}}\n");
}

static void remove_tiny_dir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(jieba, tiny_dictionary_semantics)
{
    char dir[] = "/tmp/kvb_jieba_XXXXXX";
    make_tiny_dir(dir);
    kvb_jieba *j;
    kvb_error e;
    cr_assert_eq(kvb_jieba_load(&j, dir, &e), 0, "%s", e.msg);
    /* the route prefers 甲 + 乙 (1000 each) to 甲乙 (1); the single characters are buffered,
     * and a buffer that is itself a word is output character by character, not via the HMM */
    EXPECT_CUT(j, "甲乙", "甲|乙");
    EXPECT_CUT(j, "丙丁甲", "丙丁|甲");
    /* 戊己庚: unknown, so the HMM: 戊 is B, 己 is E, 庚 is S */
    EXPECT_CUT(j, "戊己庚", "戊己|庚");
    EXPECT_CUT(j, "戊己庚a1.5%", "戊己|庚|a1.5%");
    kvb_jieba_free(j);
    remove_tiny_dir(dir);
}

Test(jieba, env_dir_is_honoured_and_argument_wins)
{
    char dir[] = "/tmp/kvb_jieba_XXXXXX";
    make_tiny_dir(dir);
    kvb_jieba *j;
    kvb_error e;
    cr_assert_eq(setenv("KVBENCH_JIEBA_DIR", dir, 1), 0);
    cr_assert_eq(kvb_jieba_load(&j, NULL, &e), 0, "%s", e.msg);
    EXPECT_CUT(j, "丙丁", "丙丁"); /* a word only in the tiny dictionary */
    kvb_jieba_free(j);
    cr_assert_eq(setenv("KVBENCH_JIEBA_DIR", "/nonexistent/jieba", 1), 0);
    cr_assert_eq(kvb_jieba_load(&j, dir, &e), 0, "%s", e.msg);
    kvb_jieba_free(j);
    cr_assert_neq(kvb_jieba_load(&j, NULL, &e), 0);
    cr_expect(strstr(e.msg, "/nonexistent/jieba/dict.txt"), "%s", e.msg);
    unsetenv("KVBENCH_JIEBA_DIR");
    remove_tiny_dir(dir);
}

static void expect_load_error(const char *dir, int code, const char *in_msg)
{
    kvb_jieba *j = (kvb_jieba *)1;
    kvb_error e;
    int rc = kvb_jieba_load(&j, dir, &e);
    cr_expect_eq(rc, code, "load returned %d: %s", rc, e.msg);
    cr_expect_null(j);
    cr_expect(strstr(e.msg, in_msg), "'%s' not in '%s'", in_msg, e.msg);
    cr_expect(!strchr(e.msg, '\n'), "error is not one line: %s", e.msg);
}

Test(jieba, missing_or_corrupt_data_files)
{
    expect_load_error("/nonexistent/dir", KVB_EIO, "/nonexistent/dir/dict.txt");
    char dir[] = "/tmp/kvb_jieba_XXXXXX";
    make_tiny_dir(dir);
    char want[512];

    static const char *const bad_dicts[] = { "甲 1\n乙 x\n", "甲 1\n乙\n", "甲 1\n\n",
                                             "甲 1\n乙 -3\n", "甲 1\n\xff 3\n", "甲 1\n乙  3\n" };
    for (size_t i = 0; i < KVB_ARRAY_SIZE(bad_dicts); i++) {
        write_text(dir, "dict.txt", bad_dicts[i]);
        snprintf(want, sizeof want, "%s/dict.txt: line 2: invalid dictionary entry", dir);
        expect_load_error(dir, KVB_EINVAL, want);
    }
    write_text(dir, "dict.txt", "甲 0\n");
    expect_load_error(dir, KVB_EINVAL, "no words with a positive frequency");
    write_text(dir, "dict.txt", "甲 5\n");

    static const char *const bad_emit[] = {
        "P={'B': {'\\u620a': -1.0}, 'E': {}, 'M': {}}\n",                /* no S */
        "P={'B': {'\\u620a': x}, 'E': {}, 'M': {}, 'S': {}}\n",          /* not a number */
        "P={'B': {'ab': -1.0}, 'E': {}, 'M': {}, 'S': {}}\n",            /* key of 2 chars */
        "P={'B': {'\\u620a': -1.0}, 'E': {}, 'M': {}, 'S': {}\n",        /* unclosed */
        "P={'B': {'\\u620a': -1.0}, 'E': {}, 'M': {}, 'S': {}, 'X': {}}\n", /* state X */
        "P={'B': {'\\u62': -1.0}, 'E': {}, 'M': {}, 'S': {}}\n",         /* bad escape */
        "nothing here\n",
    };
    for (size_t i = 0; i < KVB_ARRAY_SIZE(bad_emit); i++) {
        write_text(dir, "finalseg/prob_emit.py", bad_emit[i]);
        snprintf(want, sizeof want, "%s/finalseg/prob_emit.py: line ", dir);
        expect_load_error(dir, KVB_EINVAL, want);
    }
    char *trans = kvb_path_join(dir, "finalseg/prob_trans.py");
    cr_assert_eq(unlink(trans), 0);
    free(trans);
    snprintf(want, sizeof want, "%s/finalseg/prob_trans.py", dir);
    expect_load_error(dir, KVB_EIO, want);
    remove_tiny_dir(dir);
}
