/* Token ids identical to Hugging Face on a 3 MB corpus, for the three shared tokenizer.json files
 * and the SmolLM2 GGUF: with and without BOS, decode (with and without special tokens) equal to
 * HF's decode, and decode(encode(x)) == x wherever HF gives that. Tolerance: none, every id and
 * every decoded byte must match. Fixtures: scripts/oracle/tokenizer_fixtures.py. */
#include <criterion/criterion.h>

#include "tokenizer/tokenizer.h"
#include "tokenizer_fixture.h"

static void run_corpus(const char *name, const char *path)
{
    char msg[1024] = "";
    fix_corpus c = { 0 };
    cr_assert_eq(fix_corpus_load(&c, msg, sizeof msg), 0, "%s", msg);

    kvb_tokenizer *t = NULL;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_tokenizer_load_path(&t, path, &e), 0, "%s", e.msg);

    char fn[256];
    snprintf(fn, sizeof fn, FIX_DIR "%s.ids.gz", name);
    fix_ids f = { 0 };
    f.buf = (unsigned char *)fix_read_gz(fn, &f.len);
    cr_assert_not_null(f.buf, "cannot read %s", fn);
    snprintf(fn, sizeof fn, FIX_DIR "%s.json", name);
    cJSON *meta = NULL;
    cr_assert_eq(kvb_json_load(fn, 1 << 26, &meta, &e), 0, "%s", e.msg);
    const cJSON *pm = cJSON_GetObjectItem(meta, "pieces");
    cr_assert_eq((size_t)cJSON_GetArraySize(pm), c.n);
    int32_t bos = (int32_t)cJSON_GetObjectItem(meta, "bos")->valueint;
    cr_assert_eq(kvb_tokenizer_bos(t), bos, "%s: BOS %d, HF says %d", name, kvb_tokenizer_bos(t),
                 bos);

    size_t bad = 0, total = 0, roundtrips = 0;
    kvb_ids want, got;
    kvb_ids_init(&want);
    kvb_ids_init(&got);
    for (size_t i = 0; i < c.n; i++) {
        const fix_piece *p = &c.p[i];
        const cJSON *m = cJSON_GetArrayItem(pm, (int)i);
        uint32_t n, v;
        want.n = 0;
        cr_assert_eq(fix_varint(&f, &n), 0, "%s: ids file truncated", name);
        for (uint32_t k = 0; k < n; k++) {
            cr_assert_eq(fix_varint(&f, &v), 0, "%s: ids file truncated", name);
            kvb_ids_push(&want, (int32_t)v);
        }
        total += n;
        /* without BOS */
        got.n = 0;
        cr_assert_eq(kvb_tokenizer_encode(t, p->data, p->len, 0, &got, &e), 0, "%s", e.msg);
        if (got.n != want.n || memcmp(got.ids, want.ids, want.n * sizeof(int32_t))) {
            size_t k = 0;
            while (k < got.n && k < want.n && got.ids[k] == want.ids[k])
                k++;
            if (bad++ < 8)
                cr_log_error("%s: piece %s: ids differ at %zu (got %d, HF %d; %zu vs %zu ids)",
                             name, p->name, k, k < got.n ? got.ids[k] : -1,
                             k < want.n ? want.ids[k] : -1, got.n, want.n);
            continue;
        }
        /* with BOS: the model's BOS, then the same ids */
        got.n = 0;
        cr_assert_eq(kvb_tokenizer_encode(t, p->data, p->len, 1, &got, &e), 0, "%s", e.msg);
        if (got.n != want.n + 1 || got.ids[0] != bos ||
            memcmp(got.ids + 1, want.ids, want.n * sizeof(int32_t))) {
            if (bad++ < 8)
                cr_log_error("%s: piece %s: ids with BOS differ", name, p->name);
            continue;
        }
        /* decode, keeping and skipping special tokens, against HF's decode */
        for (int skip = 0; skip < 2; skip++) {
            kvb_strbuf d;
            kvb_strbuf_init(&d);
            cr_assert_eq(kvb_tokenizer_decode(t, want.ids, want.n, skip, &d, &e), 0, "%s", e.msg);
            const cJSON *dm = cJSON_GetObjectItem(m, skip ? "dec_skip" : "dec");
            double wl = cJSON_GetArrayItem(dm, 0)->valuedouble;
            double wc = cJSON_GetArrayItem(dm, 1)->valuedouble;
            if ((double)d.len != wl || (double)fix_crc(d.buf ? d.buf : "", d.len) != wc) {
                if (bad++ < 8)
                    cr_log_error("%s: piece %s: decode(skip_special=%d) differs from HF (%zu vs "
                                 "%.0f bytes)", name, p->name, skip, d.len, wl);
            }
            if (!skip && cJSON_IsTrue(cJSON_GetObjectItem(m, "roundtrip")) &&
                kvb_utf8_valid_prefix(p->data, p->len) == p->len) {
                roundtrips++;
                if (d.len != p->len || memcmp(d.buf, p->data, p->len)) {
                    if (bad++ < 8)
                        cr_log_error("%s: piece %s: decode(encode(x)) != x", name, p->name);
                }
            }
            kvb_strbuf_release(&d);
        }
    }
    cr_log_info("%s: %zu pieces, %zu ids, %zu round trips checked, %zu mismatches", name, c.n,
                total, roundtrips, bad);
    cr_expect_eq(f.pos, f.len, "%s: ids file has trailing data", name);
    cr_assert_eq(bad, 0, "%s: %zu mismatches against HF (first ones logged above)", name, bad);
    kvb_ids_release(&want);
    kvb_ids_release(&got);
    cJSON_Delete(meta);
    free(f.buf);
    kvb_tokenizer_free(t);
    fix_corpus_free(&c);
}

Test(tokenizer_corpus, llama3_8b)
{
    run_corpus("llama3-8b", SHARED_TOK "llama3-8b");
}

Test(tokenizer_corpus, llama2_7b)
{
    run_corpus("llama2-7b", SHARED_TOK "llama2-7b");
}

Test(tokenizer_corpus, mistral_7b)
{
    run_corpus("mistral-7b", SHARED_TOK "mistral-7b/tokenizer.json");
}

Test(tokenizer_corpus, smollm2_gguf)
{
    if (!kvb_file_exists(SMOL_GGUF))
        cr_skip_test("%s missing: run `make model` first", SMOL_GGUF);
    run_corpus("smollm2-135m", SMOL_GGUF);
}
