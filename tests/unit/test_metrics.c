/* LongBench metrics: the worked examples of specs/longbench-simlayerkv-kivi.md part D, the quirks
 * of metrics.py and its libraries one by one, Python/numpy number semantics, the task table.
 * Expected values were computed with Python 3.11 + rouge 1.0.1 + fuzzywuzzy 0.18 (difflib) +
 * numpy 2.4, the same stack as scripts/oracle/metric_fixtures.py. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "longbench/metrics.h"
#include "longbench/score.h"
#include "longbench/tasks.h"

static kvb_sv S(const char *s)
{
    kvb_sv v = { s, strlen(s) };
    return v;
}

static double qa(const char *p, const char *g)
{
    double s = -1;
    cr_assert_eq(kvb_qa_f1_score(S(p), S(g), &s), 0);
    return s;
}

static double rouge(const char *p, const char *g)
{
    double s = -1;
    cr_assert_eq(kvb_rouge_score(S(p), S(g), KVB_ROUGE_RECON_FRAMES, &s), 0);
    return s;
}

static double code(const char *p, const char *g)
{
    double s = -1;
    cr_assert_eq(kvb_code_sim_score(S(p), S(g), &s), 0);
    return s;
}

#define NORM(in, want)                                                                             \
    do {                                                                                           \
        char *s_ = norm(in);                                                                       \
        cr_assert_str_eq(s_, want);                                                                \
        free(s_);                                                                                  \
    } while (0)

static char *norm(const char *s)
{
    kvb_strbuf b;
    kvb_strbuf_init(&b);
    cr_assert_eq(kvb_normalize_answer(S(s), &b), 0);
    return b.buf ? b.buf : calloc(1, 1);
}

#define EQ(got, want) cr_assert_eq((got), (want), "%s: %.17g, want %.17g", #got, (double)(got), (double)(want))

Test(metrics, qa_f1_spec_examples)
{
    EQ(qa("The cat sat", "a cat sat down"), 0.8);
    EQ(qa("Paris, France.", "Paris"), 0.6666666666666666);
    EQ(qa("the the", "The"), 0.0);
    EQ(qa("", ""), 0.0);
    EQ(qa("x b b", "b b c"), 0.6666666666666666); /* Counter: multiset overlap */
}

Test(metrics, normalize_answer_python_semantics)
{
    NORM("The Quick, Brown fox!", "quick brown fox");
    NORM("theater another an-apple", "theater another anapple");
    NORM("x_the_y a.b", "xthey ab"); /* '_' and '.' are punctuation */
    NORM("ΣΑΣ ΟΔΥΣΣΕΥΣ", "σας οδυσσευς"); /* Final_Sigma */
    NORM("İ", "i\xcc\x87");               /* U+0130 -> i + U+0307 */
    NORM("a\xc2\xa0" "b\xe3\x80\x80" "c\xc2\x85" "d", "b c d");
    NORM("caf\xc3\xa9 the\xcc\x81", "café \xcc\x81"); /* U+0301 is \\W: "the" still a word */
    NORM("\xef\xbc\xa1\xef\xbc\xa2", "\xef\xbd\x81\xef\xbd\x82"); /* ＡＢ */
}

Test(metrics, rouge_spec_examples)
{
    EQ(rouge("the cat sat on the mat", "the cat is on the mat"), 0.7999999950000002);
    EQ(rouge("The cat sat. It was happy.", "the cat sat happily"), 0.39999999520000007);
    EQ(rouge("", "abc"), 0.0);  /* ValueError("Hypothesis is empty.") -> 0.0 */
    EQ(rouge("abc", ""), 0.0);
    EQ(rouge("...", "abc"), 0.0); /* only empty pieces: no sentence */
    EQ(rouge("a b a b", "a b"), 0.999999995);
}

/* rouge's recursive LCS rebuild: ref [w r1..ra], hyp [w h1..hb] need a + b + 2 nested calls;
 * eval.py's stack leaves room for 991 (990 under rouge_zh_score). */
static double rouge_calls(size_t calls, int frames)
{
    size_t a = 5, b = calls - 2 - a;
    kvb_strbuf r, h;
    kvb_strbuf_init(&r);
    kvb_strbuf_init(&h);
    kvb_strbuf_adds(&r, "w");
    kvb_strbuf_adds(&h, "w");
    for (size_t i = 0; i < a; i++)
        kvb_strbuf_addf(&r, " r%zu", i);
    for (size_t i = 0; i < b; i++)
        kvb_strbuf_addf(&h, " h%zu", i);
    double s = -1;
    cr_assert_eq(kvb_rouge_score(S(h.buf), S(r.buf), frames, &s), 0);
    kvb_strbuf_release(&r);
    kvb_strbuf_release(&h);
    return s;
}

Test(metrics, rouge_recursion_limit)
{
    EQ(rouge_calls(991, KVB_ROUGE_RECON_FRAMES), 0.0020181633508845067); /* Python: passes */
    EQ(rouge_calls(992, KVB_ROUGE_RECON_FRAMES), 0.0);                   /* RecursionError */
    EQ(rouge_calls(990, KVB_ROUGE_ZH_RECON_FRAMES) > 0, 1);
    EQ(rouge_calls(991, KVB_ROUGE_ZH_RECON_FRAMES), 0.0);
    EQ(rouge_calls(5000, KVB_ROUGE_RECON_FRAMES), 0.0); /* long texts never allocate n*m */
}

Test(metrics, code_sim_spec_examples)
{
    EQ(code("```python\n    return a + b\n", "    return a+b"), 0.93);
    EQ(code("\n\nfoo(bar)", "foo(baz)"), 0.88); /* round(87.5) = 88 */
    EQ(code("# comment\nx = 1", "x = 1"), 1.0);
    EQ(code("#", ""), 1.0);  /* no usable line: "" == "" -> 100 before the empty check */
    EQ(code("", "x"), 0.0);
    EQ(code("a // b\nc", "c"), 1.0);
    int r;
    cr_assert_eq(kvb_fuzz_ratio(S("abcdefgh"), S("aijklmno"), &r), 0);
    EQ(r, 12); /* 12.5 rounds half to even, not to 13 */
}

Test(metrics, difflib_autojunk)
{
    /* len(b) = 225 >= 200: 'a' (150x) and ' ' (60x) are popular and only extend matches */
    char a[400], b[400];
    strcpy(b, "x = self.");
    memset(b + 9, 'a', 150);
    strcpy(b + 159, "(b, c)");
    memset(b + 165, ' ', 60);
    b[225] = 0;
    strcpy(a, "x = self.");
    memset(a + 9, 'a', 140);
    strcpy(a + 149, "(b, d)");
    memset(a + 155, ' ', 40);
    a[195] = 0;
    double ratio;
    cr_assert_eq(kvb_difflib_ratio(S(a), S(b), &ratio), 0);
    EQ(ratio, 0.9238095238095239);
    int r;
    cr_assert_eq(kvb_fuzz_ratio(S(a), S(b), &r), 0);
    EQ(r, 92);
}

Test(metrics, count_retrieval_classification)
{
    double s;
    kvb_error e;
    cr_assert_eq(kvb_count_score(S("There are 12 unique paragraphs out of 30"), S("12"), &s), 0);
    EQ(s, 0.5);
    cr_assert_eq(kvb_count_score(S("\xef\xbc\x91\xef\xbc\x92 or 12"), S("12"), &s), 0); /* １２: \d */
    EQ(s, 0.5);
    cr_assert_eq(kvb_retrieval_score(S("Paragraph 5 or Paragraph 15"), S("Paragraph 5"), 0, &s, &e), 0);
    EQ(s, 0.5);
    cr_assert_eq(kvb_retrieval_score(S("Paragraph 05"), S("Paragraph 5"), 0, &s, &e), 0);
    EQ(s, 0.0);
    cr_assert_eq(kvb_retrieval_score(S("段落3"), S("段落3"), 1, &s, &e), 0);
    EQ(s, 1.0);
    cr_assert_eq(kvb_retrieval_score(S("x"), S("no number"), 0, &s, &e), KVB_EINVAL);
    kvb_sv c1[] = { S("Entity"), S("Description"), S("Human") };
    cr_assert_eq(kvb_classification_score(S("Entity or Description"), S("Entity"), c1, 3, &s), 0);
    EQ(s, 0.5);
    /* the list-mutation quirk: "a" and "ab" are both substrings of gt "abc" and get removed in
     * turn, except that removing "a" makes the loop skip "ab" */
    kvb_sv c2[] = { S("a"), S("ab"), S("abc") };
    cr_assert_eq(kvb_classification_score(S("a ab abc"), S("abc"), c2, 3, &s), 0);
    EQ(s, 0.5);
    kvb_sv c3[] = { S("City"), S("Other location") };
    cr_assert_eq(kvb_classification_score(S("none"), S("City"), c3, 2, &s), 0);
    EQ(s, 0.0); /* the difflib fallback of metrics.py is dead code */
}

Test(metrics, record_rules)
{
    const kvb_task *trec = kvb_task_find("trec"), *qasper = kvb_task_find("qasper");
    kvb_sv cls[] = { S("Human"), S("Entity") };
    kvb_sv ans[] = { S("Entity") };
    double s;
    kvb_error e;
    cr_assert_eq(kvb_metric_record(trec, NULL, S("\n\nEntity\nHuman"), ans, 1, cls, 2, &s, &e), 0);
    EQ(s, 1.0); /* first line only */
    kvb_sv ans2[] = { S("dog"), S("the cat"), S("cat sat") };
    cr_assert_eq(kvb_metric_record(qasper, NULL, S("a cat"), ans2, 3, NULL, 0, &s, &e), 0);
    EQ(s, 1.0); /* max over answers */
    cr_assert_eq(kvb_metric_record(qasper, NULL, S("x"), NULL, 0, NULL, 0, &s, &e), 0);
    EQ(s, 0.0);
    const kvb_task *dureader = kvb_task_find("dureader");
    cr_assert_eq(kvb_metric_record(dureader, NULL, S("x"), ans, 1, NULL, 0, &s, &e), KVB_EUNSUP);
    cr_assert(strstr(e.msg, "zh tasks need the jieba segmenter"));
}

Test(score, python_and_numpy_numbers)
{
    EQ(kvb_py_round(100 * (0.8 + 0.6666666666666666 + 0) / 3, 2), 48.89);
    EQ(kvb_py_round(2.675, 2), 2.67); /* 2.67499999... */
    EQ(kvb_py_round(0.125, 2), 0.12); /* exact tie: half to even */
    EQ(kvb_np_round(2.675, 2), 2.68); /* numpy: rint(267.49999999999997 -> 267.5 * ...) */
    double xs[153];
    for (int i = 0; i < 153; i++)
        xs[i] = i < 10 ? 0.1 : i < 13 ? 0.7 : 1.0 / 3;
    EQ(kvb_np_mean(xs, 153), 0.32527233115468407); /* pairwise; a plain loop gives ...846 */
    EQ(kvb_np_round(100 * kvb_np_mean(xs, 153), 2), 32.53);
    cr_assert(isnan(kvb_np_mean(xs, 0)));
    static const struct { double v; const char *s; } r[] = {
        { 48.89, "48.89" }, { 7.0, "7.0" }, { 100.0, "100.0" }, { 0.1, "0.1" }, { 1e-05, "1e-05" },
        { 1e16, "1e+16" }, { 1234567890123456.0, "1234567890123456.0" }, { 0.0001, "0.0001" },
        { 123456789012345678.0, "1.2345678901234568e+17" }, { 2.5e-7, "2.5e-07" },
        { 0.30000000000000004, "0.30000000000000004" }, { 0.0, "0.0" }, { NAN, "NaN" },
    };
    for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
        char buf[64];
        kvb_py_repr(r[i].v, 1, buf, sizeof(buf));
        cr_assert_str_eq(buf, r[i].s);
    }
}

Test(tasks, table_and_sets)
{
    cr_assert_eq(kvb_task_count(), 21);
    const kvb_task *t = kvb_task_find("repobench-p");
    cr_assert(t && t->metric == KVB_METRIC_CODE_SIM && t->max_new_tokens == 64 && t->skip_chat);
    cr_assert_eq(kvb_task_find("qasper_e"), kvb_task_find("qasper"));
    cr_assert_null(kvb_task_find("qasper_x"));
    cr_assert_eq(kvb_task_find("gov_report")->max_new_tokens, 512);
    cr_assert(kvb_task_find("samsum")->first_line && !kvb_task_find("lcc")->first_line);
    const kvb_task **v;
    int n;
    kvb_error e;
    static const struct { const char *spec; int n; } sets[] = {
        { "en16", 16 }, { "all", 21 }, { "e", 13 }, { "zh", 5 }, { "trec,lcc", 2 }, { "en16,lsht", 17 },
        { "zh,en16", 21 },
    };
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
        cr_assert_eq(kvb_taskset_parse(sets[i].spec, &v, &n, &e), 0, "%s: %s", sets[i].spec, e.msg);
        cr_assert_eq(n, sets[i].n, "%s", sets[i].spec);
        free(v);
    }
    cr_assert_eq(kvb_taskset_parse("lcc,trec", &v, &n, &e), 0);
    cr_assert_str_eq(v[0]->key, "lcc"); /* list order kept */
    free(v);
    cr_assert_eq(kvb_taskset_parse("trec,trec", &v, &n, &e), KVB_EINVAL);
    cr_assert_eq(kvb_taskset_parse("trec,,lcc", &v, &n, &e), KVB_EINVAL);
    cr_assert_eq(kvb_taskset_parse("nosuch", &v, &n, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "narrativeqa"));
    cr_assert_eq(kvb_taskset_parse("", &v, &n, &e), KVB_EINVAL);
}
