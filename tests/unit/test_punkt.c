/* lib/text/punkt against NLTK's sent_tokenize (tests/fixtures/ruler/punkt.json, written by
 * scripts/oracle/punkt.py): identical sentence lists (byte spans) on RULER-like essay haystacks
 * (rebuilt here from the essays as RULER's niah.py builds them; their sha256 is checked first),
 * hand-made hard cases and random strings of tricky pieces (drawn again with lib/core/pyrandom).
 * Needs `make ruler-data` (the parameters) and the essays (../shared or `make data`); without the
 * parameters the test is skipped, except under CI=true, where it fails. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/pyrandom.h"
#include "core/sha256.h"
#include "text/punkt.h"
#include "text/unitab.h"

#define FIXTURE "tests/fixtures/ruler/punkt.json"

static kvb_punkt *load_params(void)
{
    char dir[4096];
    if (!kvb_punkt_default_dir(dir, sizeof(dir))) {
        const char *ci = getenv("CI");
        cr_assert(!(ci && !strcmp(ci, "true")), "datasets/ruler/punkt_tab/english missing under "
                                                "CI: run `make ruler-data`");
        cr_skip_test("datasets/ruler/punkt_tab/english missing: run `make ruler-data`");
    }
    kvb_punkt *p = NULL;
    kvb_error e = {0};
    cr_assert_eq(kvb_punkt_load(dir, &p, &e), 0, "%s", e.msg);
    return p;
}

static cJSON *load_fixture(void)
{
    cJSON *j = NULL;
    kvb_error e = {0};
    cr_assert_eq(kvb_json_load(FIXTURE, 1 << 24, &j, &e), 0, "%s", e.msg);
    return j;
}

/* sent_tokenize(text) against the [gap, length] pairs of want */
static void expect_spans(const kvb_punkt *p, const char *text, size_t len, const cJSON *want,
                         const char *what)
{
    kvb_punkt_span *sp = NULL;
    size_t n = 0;
    kvb_error e = {0};
    cr_assert_eq(kvb_punkt_sentences(p, text, len, &sp, &n, &e), 0, "%s", e.msg);
    size_t i = 0, end = 0;
    for (const cJSON *w = want->child; w; w = w->next, i++) {
        size_t a = end + (size_t)w->child->valuedouble;
        size_t b = a + (size_t)w->child->next->valuedouble;
        cr_assert(i < n, "%s: %zu sentences, NLTK has more; next is \"%.*s\"", what, n,
                  (int)(b - a), text + a);
        cr_assert(sp[i].start == a && sp[i].end == b,
                  "%s: sentence %zu is \"%.*s\", NLTK \"%.*s\"", what, i,
                  (int)(sp[i].end - sp[i].start), text + sp[i].start, (int)(b - a), text + a);
        end = b;
    }
    cr_assert_eq(n, i, "%s: %zu sentences, NLTK %zu", what, n, i);
    free(sp);
}

Test(punkt, hard_cases)
{
    kvb_punkt *p = load_params();
    cJSON *j = load_fixture();
    int k = 0;
    for (const cJSON *c = cJSON_GetObjectItem(j, "hard")->child; c; c = c->next, k++) {
        const char *t = cJSON_GetObjectItem(c, "text")->valuestring;
        char what[64];
        snprintf(what, sizeof(what), "hard case %d", k);
        expect_spans(p, t, strlen(t), cJSON_GetObjectItem(c, "spans"), what);
    }
    cr_expect_gt(k, 20);
    cJSON_Delete(j);
    kvb_punkt_free(p);
}

Test(punkt, random_pieces)
{
    kvb_punkt *p = load_params();
    cJSON *j = load_fixture();
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    int k = 0;
    for (const cJSON *r = cJSON_GetObjectItem(j, "random")->child; r; r = r->next) {
        const cJSON *pcs = cJSON_GetObjectItem(r, "pieces");
        size_t npieces = (size_t)cJSON_GetArraySize(pcs);
        int64_t max = (int64_t)cJSON_GetObjectItem(r, "max_pieces")->valuedouble;
        kvb_pyrandom rng;
        kvb_pyrandom_seed(&rng, (int64_t)cJSON_GetObjectItem(r, "seed")->valuedouble);
        for (const cJSON *c = cJSON_GetObjectItem(r, "cases")->child; c; c = c->next, k++) {
            int64_t len;
            kvb_error e = {0};
            cr_assert_eq(kvb_pyrandom_randint(&rng, 1, max, &len, &e), 0);
            sb.len = 0;
            kvb_strbuf_adds(&sb, "");
            for (int64_t i = 0; i < len; i++) {
                size_t at = kvb_pyrandom_choice(&rng, npieces);
                kvb_strbuf_adds(&sb, cJSON_GetArrayItem(pcs, (int)at)->valuestring);
            }
            char what[64];
            snprintf(what, sizeof(what), "random case %d", k);
            expect_spans(p, sb.buf, sb.len, c, what);
        }
    }
    cr_expect_gt(k, 600);
    kvb_strbuf_release(&sb);
    cJSON_Delete(j);
    kvb_punkt_free(p);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* RULER's essay: every .txt of dir in name order, concatenated, whitespace runs (str.isspace)
 * made one space */
static char *essay_words(const char *dir, size_t *len)
{
    DIR *d = opendir(dir);
    cr_assert(d, "cannot open %s", dir);
    char *names[256];
    int n = 0;
    for (struct dirent *de; (de = readdir(d)) && n < 256;) {
        size_t l = strlen(de->d_name);
        if (l > 4 && !strcmp(de->d_name + l - 4, ".txt"))
            names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), cmp_str);
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    for (int i = 0; i < n; i++) {
        char path[4096], *data;
        size_t dl;
        kvb_error e = {0};
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        cr_assert_eq(kvb_read_file(path, 1 << 26, &data, &dl, &e), 0, "%s", e.msg);
        for (size_t k = 0; k < dl;) {
            size_t at = k;
            uint32_t c = kvb_utf8_next(data, dl, &k);
            if (!kvb_uni_is_space(c)) {
                kvb_strbuf_add(&sb, data + at, k - at);
            } else if (!sb.len || sb.buf[sb.len - 1] != ' ') {
                kvb_strbuf_add(&sb, " ", 1);
            }
        }
        free(data);
        free(names[i]);
    }
    *len = sb.len;
    return kvb_strbuf_detach(&sb);
}

Test(punkt, essay_haystacks)
{
    kvb_punkt *p = load_params();
    const char *dir = kvb_is_dir("datasets/paul-graham-essays") ? "datasets/paul-graham-essays"
                                                                  : "../shared/datasets/paul-graham-essays";
    cr_assert(kvb_is_dir(dir), "no essays: ../shared/datasets/paul-graham-essays or `make data`");
    size_t len;
    char *all = essay_words(dir, &len);
    cJSON *j = load_fixture();
    for (const cJSON *h = cJSON_GetObjectItem(j, "haystacks")->child; h; h = h->next) {
        /* " ".join(words[:n]).strip(): the text up to the n-th space, without the outer ones */
        size_t words = (size_t)cJSON_GetObjectItem(h, "words")->valuedouble, end = 0, seen = 0;
        while (end < len && !(all[end] == ' ' && ++seen == words))
            end++;
        size_t a = 0;
        while (a < end && all[a] == ' ')
            a++;
        while (end > a && all[end - 1] == ' ')
            end--;
        char hex[65], what[64];
        kvb_sha256_hex(all + a, end - a, hex);
        cr_assert_str_eq(hex, cJSON_GetObjectItem(h, "sha256")->valuestring,
                         "haystack of %zu words: not the text the oracle saw (other essays?)",
                         words);
        snprintf(what, sizeof(what), "haystack of %zu words", words);
        expect_spans(p, all + a, end - a, cJSON_GetObjectItem(h, "spans"), what);
    }
    cJSON_Delete(j);
    free(all);
    kvb_punkt_free(p);
}

/* a parameter directory with the four files, one of them replaced or left out */
static void make_params(const char *dir, const char *bad_name, const char *bad_text)
{
    static const char *names[] = {"abbrev_types.txt", "collocations.tab", "sent_starters.txt",
                                  "ortho_context.tab"};
    static const char *texts[] = {"mr\ndr\n", "##number##\tabreast\n", "however\n", "the\t32\n"};
    for (int i = 0; i < 4; i++) {
        int bad = bad_name && !strcmp(names[i], bad_name);
        if (bad && !bad_text)
            continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "wb");
        cr_assert(f);
        fputs(bad ? bad_text : texts[i], f);
        fclose(f);
    }
}

static void clean(const char *dir)
{
    static const char *names[] = {"abbrev_types.txt", "collocations.tab", "sent_starters.txt",
                                  "ortho_context.tab"};
    char path[512];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

Test(punkt, bad_parameter_files)
{
    struct {
        const char *name, *text, *msg;
        int code;
    } cases[] = {
        {NULL, NULL, NULL, 0},
        {"ortho_context.tab", NULL, "ortho_context.tab", KVB_EIO},
        {"abbrev_types.txt", NULL, "abbrev_types.txt", KVB_EIO},
        {"ortho_context.tab", "the\t32\nmr\tx\n", "ortho_context.tab:2: flags are not an integer",
         KVB_EINVAL},
        {"ortho_context.tab", "the 32\n", "ortho_context.tab:1: not", KVB_EINVAL},
        {"sent_starters.txt", "ok\n\xff\xfe\n", "sent_starters.txt: not valid UTF-8", KVB_EINVAL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char dir[] = "/tmp/kvb_punkt_XXXXXX";
        cr_assert(mkdtemp(dir));
        make_params(dir, cases[i].name, cases[i].text);
        kvb_punkt *p = NULL;
        kvb_error e = {0};
        int rc = kvb_punkt_load(dir, &p, &e);
        cr_expect_eq(rc, cases[i].code, "case %zu: %d (%s)", i, rc, e.msg);
        if (cases[i].msg)
            cr_expect(strstr(e.msg, cases[i].msg) && !strchr(e.msg, '\n'), "case %zu: %s", i,
                      e.msg);
        if (!rc) { /* the small parameters are in force: "Mr." is an abbreviation */
            kvb_punkt_span *sp;
            size_t n;
            const char *t = "Mr. Smith came. He left.";
            cr_expect_eq(kvb_punkt_sentences(p, t, strlen(t), &sp, &n, &e), 0);
            cr_expect_eq(n, 2);
            free(sp);
        }
        kvb_punkt_free(p);
        clean(dir);
    }
}
