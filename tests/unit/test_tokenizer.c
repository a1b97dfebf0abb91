/* lib/tokenizer unit tests: pipeline stages the shipped tokenizers do not use (on small
 * tokenizers trained by the oracle script, ids and decode compared exactly with HF), chat
 * templates against HF's own templates, streaming decode, accessors, and hostile input
 * (malformed tokenizer.json files, random bytes). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_fixture.h"

static kvb_tokenizer *load(const char *path)
{
    kvb_tokenizer *t = NULL;
    kvb_error e = { 0 };
    int rc = kvb_tokenizer_load_path(&t, path, &e);
    cr_assert_eq(rc, 0, "%s", e.msg);
    return t;
}

static void encode(const kvb_tokenizer *t, const char *s, size_t n, int bos, kvb_ids *out)
{
    kvb_error e = { 0 };
    out->n = 0;
    cr_assert_eq(kvb_tokenizer_encode(t, s, n, bos, out, &e), 0, "%s", e.msg);
}

/* ---- synthetic tokenizers (Metaspace, Digits, Split behaviours, added-token flags) ------- */
static void run_synth(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, FIX_DIR "synth/%s.json", name);
    kvb_tokenizer *t = load(path);
    snprintf(path, sizeof path, FIX_DIR "synth/%s.expected.json", name);
    cJSON *exp = NULL;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_json_load(path, 1 << 24, &exp, &e), 0, "%s", e.msg);
    const cJSON *x;
    kvb_ids got;
    kvb_ids_init(&got);
    int bad = 0, n = 0;
    cJSON_ArrayForEach(x, exp) {
        const char *text = cJSON_GetObjectItem(x, "text")->valuestring;
        const cJSON *ids = cJSON_GetObjectItem(x, "ids");
        encode(t, text, strlen(text), 0, &got);
        int same = (size_t)cJSON_GetArraySize(ids) == got.n;
        for (size_t k = 0; same && k < got.n; k++)
            same = cJSON_GetArrayItem(ids, (int)k)->valueint == got.ids[k];
        if (!same && bad++ < 5) {
            char *want = cJSON_PrintUnformatted(ids);
            cr_log_error("%s: ids of \"%s\": HF %s, got %zu ids", name, text, want, got.n);
            for (size_t k = 0; k < got.n && k < 40; k++)
                cr_log_error("  %d", got.ids[k]);
            free(want);
        }
        for (int skip = 0; skip < 2 && same; skip++) {
            const char *want = cJSON_GetObjectItem(x, skip ? "dec_skip" : "dec")->valuestring;
            kvb_strbuf d;
            kvb_strbuf_init(&d);
            cr_assert_eq(kvb_tokenizer_decode(t, got.ids, got.n, skip, &d, &e), 0, "%s", e.msg);
            if (strcmp(d.buf, want) && bad++ < 5)
                cr_log_error("%s: decode(skip=%d) of \"%s\": HF \"%s\", got \"%s\"", name, skip,
                             text, want, d.buf);
            kvb_strbuf_release(&d);
        }
        n++;
    }
    cr_assert_eq(bad, 0, "%s: %d of %d texts differ from HF", name, bad, n);
    kvb_ids_release(&got);
    cJSON_Delete(exp);
    kvb_tokenizer_free(t);
}

Test(tokenizer_synth, metaspace_bytefallback)
{
    run_synth("metaspace");
}

Test(tokenizer_synth, normalizers_digits_split_behaviours)
{
    run_synth("splits");
}

Test(tokenizer_synth, no_decoder_joins_with_spaces)
{
    run_synth("nodecoder");
}

/* ---- chat templates -------------------------------------------------------------------- */
static void check_chat(const char *family, const char *tokpath, const char *bos_text)
{
    cJSON *chat = NULL;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_json_load(FIX_DIR "chat.json", 1 << 20, &chat, &e), 0, "%s", e.msg);
    kvb_tokenizer *t = load(tokpath);
    const cJSON *prompts = cJSON_GetObjectItem(chat, "prompts");
    const cJSON *cases = cJSON_GetObjectItem(chat, family);
    kvb_ids got;
    kvb_ids_init(&got);
    for (int i = 0; i < cJSON_GetArraySize(prompts); i++) {
        const char *p = cJSON_GetArrayItem(prompts, i)->valuestring;
        const cJSON *c = cJSON_GetArrayItem(cases, i);
        kvb_strbuf sb;
        kvb_strbuf_init(&sb);
        kvb_strbuf_adds(&sb, bos_text);
        cr_assert_eq(kvb_chat_template_apply(family, p, &sb, &e), 0, "%s", e.msg);
        cr_assert_str_eq(sb.buf, cJSON_GetObjectItem(c, "text")->valuestring,
                         "%s template of prompt %d differs from HF's", family, i);
        /* ids: the template text without BOS text, BOS as the family wants */
        const char *body = sb.buf + strlen(bos_text);
        encode(t, body, strlen(body), kvb_chat_template_adds_bos(family), &got);
        const cJSON *ids = cJSON_GetObjectItem(c, "ids");
        cr_assert_eq(got.n, (size_t)cJSON_GetArraySize(ids), "%s prompt %d: %zu ids, HF %d",
                     family, i, got.n, cJSON_GetArraySize(ids));
        for (size_t k = 0; k < got.n; k++)
            cr_assert_eq(got.ids[k], cJSON_GetArrayItem(ids, (int)k)->valueint,
                         "%s prompt %d: id %zu", family, i, k);
        kvb_strbuf_release(&sb);
    }
    kvb_ids_release(&got);
    kvb_tokenizer_free(t);
    cJSON_Delete(chat);
}

Test(tokenizer_chat, llama3_matches_hf_template)
{
    check_chat("llama3", SHARED_TOK "llama3-8b", "<|begin_of_text|>");
}

Test(tokenizer_chat, chatml_matches_smollm2_template)
{
    if (!kvb_file_exists(SMOL_GGUF))
        cr_skip_test("%s missing: run `make model` first", SMOL_GGUF);
    check_chat("chatml", SMOL_GGUF, "");
}

Test(tokenizer_chat, llama2_longbench_and_mistral_and_none)
{
    kvb_error e = { 0 };
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    cr_assert_eq(kvb_chat_template_apply("llama2", " q ", &sb, &e), 0);
    cr_assert_str_eq(sb.buf, "[INST] q [/INST]"); /* LongBench: f"[INST]{prompt}[/INST]" */
    sb.len = 0;
    cr_assert_eq(kvb_chat_template_apply("mistral", "q", &sb, &e), 0);
    cr_assert_str_eq(sb.buf, "[INST] q [/INST]");
    sb.len = 0;
    cr_assert_eq(kvb_chat_template_apply("none", "q\n", &sb, &e), 0);
    cr_assert_str_eq(sb.buf, "q\n");
    cr_assert_eq(kvb_chat_template_apply("vicuna", "q", &sb, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "vicuna"));
    cr_assert(kvb_chat_template_valid("chatml") && !kvb_chat_template_valid("llama4"));
    cr_assert(kvb_chat_template_adds_bos("llama2") && !kvb_chat_template_adds_bos("chatml"));
    /* Llama-2: "[INST]" is not a token; the ids as the README of ../shared lists them */
    kvb_tokenizer *t = load(SHARED_TOK "llama2-7b");
    kvb_ids ids;
    kvb_ids_init(&ids);
    sb.len = 0;
    kvb_chat_template_apply("llama2", "Hi", &sb, &e);
    encode(t, sb.buf, sb.len, 1, &ids);
    cr_assert_geq(ids.n, 5);
    cr_assert_eq(ids.ids[0], 1);
    cr_assert_eq(ids.ids[1], 518);   /* ▁[ */
    cr_assert_eq(ids.ids[2], 25580); /* INST */
    cr_assert_eq(ids.ids[3], 29962); /* ] */
    kvb_ids_release(&ids);
    kvb_tokenizer_free(t);
    kvb_strbuf_release(&sb);
}

/* ---- accessors ------------------------------------------------------------------------- */
Test(tokenizer_api, ids_and_special_tokens)
{
    kvb_tokenizer *t = load(SHARED_TOK "llama3-8b");
    cr_assert_eq(kvb_tokenizer_vocab_size(t), 128256);
    cr_assert_eq(kvb_tokenizer_bos(t), 128000);
    cr_assert_eq(kvb_tokenizer_eos(t), 128001);
    cr_assert_eq(kvb_tokenizer_token_id(t, "<|eot_id|>"), 128009);
    cr_assert_eq(kvb_tokenizer_token_id(t, "Ġworld"), 1917);
    cr_assert_eq(kvb_tokenizer_token_id(t, "no such token string"), -1);
    cr_assert(kvb_tokenizer_is_special(t, 128009));
    cr_assert(!kvb_tokenizer_is_special(t, 1917));
    cr_assert_eq(kvb_tokenizer_file_adds_bos(t), 0); /* ByteLevel post-processor: no BOS */
    kvb_tokenizer_free(t);
    if (kvb_file_exists(SMOL_GGUF)) {
        t = load(SMOL_GGUF);
        cr_assert_eq(kvb_tokenizer_vocab_size(t), 49152);
        cr_assert_eq(kvb_tokenizer_bos(t), 1);
        cr_assert_eq(kvb_tokenizer_eos(t), 2);
        cr_assert_eq(kvb_tokenizer_file_adds_bos(t), 0); /* tokenizer.ggml.add_bos_token false */
        cr_assert(kvb_tokenizer_is_special(t, 2));
        cr_assert_eq(kvb_tokenizer_token_id(t, "<|im_end|>"), 2);
        kvb_tokenizer_free(t);
    }
    t = load(SHARED_TOK "llama2-7b/tokenizer.json");
    cr_assert_eq(kvb_tokenizer_vocab_size(t), 32000);
    cr_assert_eq(kvb_tokenizer_bos(t), 1);
    cr_assert_eq(kvb_tokenizer_eos(t), 2);
    cr_assert_eq(kvb_tokenizer_token_id(t, "▁the"), 278);
    cr_assert_eq(kvb_tokenizer_file_adds_bos(t), 1); /* TemplateProcessing "<s> $A" */
    kvb_ids ids;
    kvb_ids_init(&ids);
    encode(t, "\n", 1, 0, &ids); /* samsum's stop token: encode("\n")[-1] == 13 (spec A.7) */
    cr_assert_eq(ids.n, 2);
    cr_assert_eq(ids.ids[0], 29871);
    cr_assert_eq(ids.ids[1], 13);
    kvb_ids_release(&ids);
    kvb_tokenizer_free(t);
}

/* ---- streaming decode ------------------------------------------------------------------ */
static void stream_check(const char *tokpath, const char *text)
{
    kvb_tokenizer *t = load(tokpath);
    kvb_ids ids;
    kvb_ids_init(&ids);
    encode(t, text, strlen(text), 1, &ids);
    kvb_error e = { 0 };
    kvb_strbuf full, acc;
    kvb_strbuf_init(&full);
    kvb_strbuf_init(&acc);
    kvb_strbuf_add(&acc, "", 0);
    cr_assert_eq(kvb_tokenizer_decode(t, ids.ids, ids.n, 1, &full, &e), 0);
    kvb_detok_stream s;
    kvb_detok_stream_init(&s, t, 1);
    for (size_t i = 0; i < ids.n; i++) {
        kvb_strbuf chunk;
        kvb_strbuf_init(&chunk);
        cr_assert_eq(kvb_detok_stream_push(&s, ids.ids[i], &chunk, &e), 0, "%s", e.msg);
        /* every chunk is whole characters: valid UTF-8 on its own */
        cr_assert_eq(kvb_utf8_valid_prefix(chunk.buf ? chunk.buf : "", chunk.len), chunk.len,
                     "chunk %zu splits a UTF-8 character", i);
        kvb_strbuf_add(&acc, chunk.buf ? chunk.buf : "", chunk.len);
        kvb_strbuf_release(&chunk);
    }
    cr_assert_eq(kvb_detok_stream_flush(&s, &acc, &e), 0);
    cr_assert_eq(acc.len, full.len);
    cr_assert_eq(memcmp(acc.buf, full.buf, full.len), 0, "streamed text differs from decode");
    cr_assert_str_eq(full.buf, text);
    kvb_detok_stream_release(&s);
    kvb_strbuf_release(&full);
    kvb_strbuf_release(&acc);
    kvb_ids_release(&ids);
    kvb_tokenizer_free(t);
}

static const char *STREAM_TEXT = "Emoji 👨‍👩‍👧‍👦 and 中文字符 и кириллица 🇺🇸 é\u0301 done.";

Test(tokenizer_stream, byte_level_never_splits_characters)
{
    stream_check(SHARED_TOK "llama3-8b", STREAM_TEXT);
}

Test(tokenizer_stream, byte_fallback_never_splits_characters)
{
    stream_check(SHARED_TOK "llama2-7b", STREAM_TEXT);
}

/* ---- invalid UTF-8: replaced as Python's decode('utf-8', 'replace') --------------------- */
Test(tokenizer_input, invalid_utf8_is_replaced_like_python)
{
    kvb_tokenizer *t = load(SHARED_TOK "llama3-8b");
    kvb_ids a, b;
    kvb_ids_init(&a);
    kvb_ids_init(&b);
    /* ED A0 80 (an encoded surrogate) is three maximal invalid subparts: three U+FFFD */
    encode(t, "x\xed\xa0\x80y", 5, 0, &a);
    encode(t, "x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdy", 11, 0, &b);
    cr_assert_eq(a.n, b.n);
    cr_assert_eq(memcmp(a.ids, b.ids, a.n * sizeof(int32_t)), 0);
    /* a truncated sequence (E4 B8) is one subpart: one U+FFFD */
    encode(t, "\xe4\xb8!", 3, 0, &a);
    encode(t, "\xef\xbf\xbd!", 4, 0, &b);
    cr_assert_eq(a.n, b.n);
    cr_assert_eq(memcmp(a.ids, b.ids, a.n * sizeof(int32_t)), 0);
    kvb_ids_release(&a);
    kvb_ids_release(&b);
    kvb_tokenizer_free(t);
}

/* Random bytes (seeded) through every tokenizer: no crash, ids in range, decode works. */
Test(tokenizer_input, random_bytes_never_crash)
{
    const char *paths[] = { SHARED_TOK "llama3-8b", SHARED_TOK "mistral-7b",
                            FIX_DIR "synth/splits.json", FIX_DIR "synth/metaspace.json" };
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    for (size_t p = 0; p < KVB_ARRAY_SIZE(paths); p++) {
        kvb_tokenizer *t = load(paths[p]);
        kvb_ids ids;
        kvb_ids_init(&ids);
        for (int it = 0; it < 300; it++) {
            char buf[256];
            size_t n = (size_t)(it % 97) + 1;
            for (size_t k = 0; k < n; k++) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                /* bias towards UTF-8 structure and special-token punctuation */
                static const char pick[] = "<|>s/ \n\xe4\xb8\xad\xf0\x9f\x98\x80\xc3\xa9\x80\xff";
                buf[k] = (seed >> 40) & 1 ? pick[(seed >> 8) % (sizeof pick - 1)] : (char)seed;
            }
            encode(t, buf, n, 1, &ids);
            for (size_t k = 0; k < ids.n; k++)
                cr_assert(ids.ids[k] >= 0 && ids.ids[k] < kvb_tokenizer_vocab_size(t));
            kvb_strbuf d;
            kvb_strbuf_init(&d);
            kvb_error e = { 0 };
            cr_assert_eq(kvb_tokenizer_decode(t, ids.ids, ids.n, it & 1, &d, &e), 0);
            cr_assert_eq(kvb_utf8_valid_prefix(d.buf, d.len), d.len, "decode is not UTF-8");
            kvb_strbuf_release(&d);
        }
        kvb_ids_release(&ids);
        kvb_tokenizer_free(t);
    }
}

/* ---- malformed tokenizer files ---------------------------------------------------------- */
static char tmpdir[64];

static const char *write_tmp(const char *name, const char *content)
{
    static char path[256];
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/kvb_tok_test_XXXXXX");
        cr_assert_not_null(mkdtemp(tmpdir));
    }
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs(content, f);
    fclose(f);
    return path;
}

static void expect_fail(const char *content, int code, const char *needle)
{
    const char *path = write_tmp("tokenizer.json", content);
    kvb_tokenizer *t = NULL;
    kvb_error e = { 0 };
    int rc = kvb_tokenizer_load_path(&t, path, &e);
    cr_assert_eq(rc, code, "expected %d for %.80s, got %d (%s)", code, content, rc, e.msg);
    cr_assert_null(t);
    cr_assert(strstr(e.msg, path), "message does not name the file: %s", e.msg);
    cr_assert(strstr(e.msg, needle), "message '%s' lacks '%s'", e.msg, needle);
    cr_assert_null(strchr(e.msg, '\n'), "message is not one line: %s", e.msg);
}

#define BPE_OK "{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}"

Test(tokenizer_bad, malformed_files_give_one_line_errors)
{
    expect_fail("this is not JSON", KVB_EINVAL, "not valid JSON");
    expect_fail("[1, 2]", KVB_EINVAL, "not a JSON object");
    expect_fail("{\"normalizer\": null}", KVB_EINVAL, "'model' is missing");
    expect_fail("{\"model\": {\"type\":\"Unigram\",\"vocab\":[[\"a\",0.0]]}}", KVB_EUNSUP,
                "'Unigram' is not supported");
    expect_fail("{\"model\": {\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", KVB_EUNSUP,
                "'WordPiece' is not supported");
    expect_fail("{\"model\": {\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a c\"]}}",
                KVB_EINVAL, "'c' that is not in model.vocab");
    expect_fail("{\"model\": {\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}}",
                KVB_EINVAL, "'ab' that is not in model.vocab");
    expect_fail("{\"model\": {\"type\":\"BPE\",\"vocab\":{\"a\":\"zero\"},\"merges\":[]}}",
                KVB_EINVAL, "is not a token id");
    expect_fail("{\"model\": {\"type\":\"BPE\",\"vocab\":[\"a\"],\"merges\":[]}}", KVB_EINVAL,
                "model.vocab is missing or not an object");
    expect_fail("{\"model\": {\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":{}}}", KVB_EINVAL,
                "model.merges is not an array");
    expect_fail("{\"model\": {\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[42]}}", KVB_EINVAL,
                "merges[0]");
    expect_fail("{\"model\": {\"type\":\"BPE\",\"vocab\":{\"a\":99999999999},\"merges\":[]}}",
                KVB_EINVAL, "is not a token id");
    expect_fail("{\"model\": {\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":0},\"merges\":[]}}",
                KVB_EINVAL, "given twice");
    expect_fail("{\"model\": " BPE_OK ", \"normalizer\": {\"type\":\"NFKC\"}}", KVB_EUNSUP,
                "normalizer 'NFKC' is not supported");
    expect_fail("{\"model\": " BPE_OK ", \"pre_tokenizer\": {\"type\":\"Whitespace\"}}",
                KVB_EUNSUP, "pre_tokenizer 'Whitespace' is not supported");
    expect_fail("{\"model\": " BPE_OK ", \"pre_tokenizer\": {\"type\":\"Split\",\"pattern\":"
                "{\"Regex\":\"(\"},\"behavior\":\"Isolated\"}}", KVB_EINVAL, "does not compile");
    expect_fail("{\"model\": " BPE_OK ", \"decoder\": {\"type\":\"WordPiece\"}}", KVB_EUNSUP,
                "decoder 'WordPiece' is not supported");
    expect_fail("{\"model\": " BPE_OK ", \"added_tokens\": [{\"id\":-3,\"content\":\"x\"}]}",
                KVB_EINVAL, "added_tokens[0]");
    expect_fail("{\"model\": " BPE_OK ", \"added_tokens\": {}}", KVB_EINVAL,
                "'added_tokens' is not an array");
    /* deep nesting is refused before cJSON recurses */
    char deep[400];
    memset(deep, '[', 300);
    deep[300] = 0;
    expect_fail(deep, KVB_EINVAL, "nested deeper");
}

Test(tokenizer_bad, minimal_bpe_loads_and_encodes)
{
    const char *path = write_tmp("ok.json", "{\"model\": " BPE_OK "}");
    kvb_tokenizer *t = load(path);
    kvb_ids ids;
    kvb_ids_init(&ids);
    encode(t, "abba", 4, 1, &ids); /* no BOS known: add_bos adds nothing */
    cr_assert_eq(ids.n, 3);
    cr_assert_eq(ids.ids[0], 2);
    cr_assert_eq(ids.ids[1], 1);
    cr_assert_eq(ids.ids[2], 0);
    kvb_ids_release(&ids);
    kvb_tokenizer_free(t);
}

Test(tokenizer_bad, directory_without_tokenizer)
{
    char dir[] = "/tmp/kvb_tok_nodir_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    kvb_tokenizer *t = NULL;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_tokenizer_load_path(&t, dir, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, dir) && strstr(e.msg, "no tokenizer"), "%s", e.msg);
    rmdir(dir);
    cr_assert_eq(kvb_tokenizer_load_path(&t, "/nonexistent/tok.json", &e), KVB_EIO);
    cr_assert(strstr(e.msg, "/nonexistent/tok.json"));
}

Test(tokenizer_bad, decode_rejects_out_of_range_ids)
{
    kvb_tokenizer *t = load(SHARED_TOK "mistral-7b");
    int32_t ids[] = { 1, 32000 };
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    kvb_error e = { 0 };
    cr_assert_eq(kvb_tokenizer_decode(t, ids, 2, 0, &sb, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "32000"));
    kvb_strbuf_release(&sb);
    kvb_tokenizer_free(t);
}

/* ---- transformers' decode (clean_up_tokenization_spaces) -------------------------------- */
Test(tokenizer_decode, matches_transformers_decode)
{
    cJSON *chat = NULL;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_json_load(FIX_DIR "chat.json", 1 << 22, &chat, &e), 0, "%s", e.msg);
    const char *names[] = { "llama2-7b", "llama3-8b", "mistral-7b" };
    for (size_t k = 0; k < KVB_ARRAY_SIZE(names); k++) {
        char path[128];
        snprintf(path, sizeof path, SHARED_TOK "%s", names[k]);
        kvb_tokenizer *t = load(path);
        cr_assert_eq(kvb_tokenizer_cleans_up_spaces(t), !strcmp(names[k], "llama3-8b"));
        const cJSON *rows = cJSON_GetObjectItem(cJSON_GetObjectItem(chat, "transformers_decode"),
                                                names[k]), *r;
        cr_assert(cJSON_GetArraySize(rows) > 10);
        cJSON_ArrayForEach(r, rows) {
            const cJSON *ja = cJSON_GetObjectItem(r, "ids"), *x;
            kvb_ids ids;
            kvb_ids_init(&ids);
            cJSON_ArrayForEach(x, ja) kvb_ids_push(&ids, (int32_t)x->valueint);
            kvb_strbuf sb;
            kvb_strbuf_init(&sb);
            kvb_strbuf_adds(&sb, "prefix kept: ");
            cr_assert_eq(kvb_tokenizer_decode_hf(t, ids.ids, ids.n, 1, &sb, &e), 0, "%s", e.msg);
            cr_assert_str_eq(sb.buf + 13, cJSON_GetObjectItem(r, "text")->valuestring, "%s",
                             names[k]);
            cr_assert_eq(strncmp(sb.buf, "prefix kept: ", 13), 0);
            kvb_strbuf_release(&sb);
            kvb_ids_release(&ids);
        }
        kvb_tokenizer_free(t);
    }
    cJSON_Delete(chat);
}
