/* Bad input to the model loaders: each must fail with one message naming the file and the
 * problem (status KVB_EINVAL/KVB_EUNSUP, i.e. exit 2), never crash or allocate absurdly. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/model.h"

#define TINY "tests/fixtures/model/llama2/bf16"

static char tmpdir[64];

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/kvb_model_bad_XXXXXX");
    cr_assert(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

static void write_file(const char *name, const void *data, size_t n)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static char *slurp(const char *path, size_t *n)
{
    char *d;
    kvb_error e;
    cr_assert_eq(kvb_read_file(path, 64 << 20, &d, n, &e), 0, "%s", e.msg);
    return d;
}

static void copy_config(const char *from_key, const char *to)
{
    size_t n;
    char *cfg = slurp(TINY "/config.json", &n);
    if (from_key) {
        char *p = strstr(cfg, from_key);
        cr_assert(p, "%s not in config", from_key);
        size_t kl = strlen(from_key), tl = strlen(to);
        char *out = malloc(n + tl + 1);
        size_t pre = (size_t)(p - cfg);
        memcpy(out, cfg, pre);
        memcpy(out + pre, to, tl);
        memcpy(out + pre + tl, p + kl, n - pre - kl);
        write_file("config.json", out, n - kl + tl);
        free(out);
    } else
        write_file("config.json", cfg, n);
    free(cfg);
}

/* Open tmpdir (or a file in it) and expect failure whose message has every needle. */
static void expect_fail(const char *name, const char *n1, const char *n2)
{
    char p[256];
    snprintf(p, sizeof(p), "%s%s%s", tmpdir, name ? "/" : "", name ? name : "");
    kvb_model_opts o = { .threads = 1, .weights_bf16 = 1 };
    kvb_model *m = NULL;
    kvb_error e = { 0 };
    int rc = kvb_model_open(&m, p, &o, &e);
    cr_assert(rc == KVB_EINVAL || rc == KVB_EUNSUP, "rc %d (%s)", rc, e.msg);
    cr_assert_null(m);
    cr_assert(strstr(e.msg, n1), "'%s' not in: %s", n1, e.msg);
    if (n2)
        cr_assert(strstr(e.msg, n2), "'%s' not in: %s", n2, e.msg);
    cr_assert_null(strchr(e.msg, '\n'), "not one line: %s", e.msg);
}

/* A safetensors file with a given JSON header and data size. */
static void write_st(const char *header, size_t data_bytes)
{
    size_t hl = strlen(header), n = 8 + hl + data_bytes;
    unsigned char *b = calloc(1, n);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    write_file("model.safetensors", b, n);
    free(b);
}

TestSuite(badinput, .init = setup, .fini = teardown);

Test(badinput, safetensors_header_past_eof)
{
    copy_config(NULL, NULL);
    unsigned char b[100] = { 0x40, 0x42, 0x0f, 0 }; /* header length 1000000 */
    write_file("model.safetensors", b, sizeof(b));
    expect_fail(NULL, "model.safetensors", "header length");
}

Test(badinput, safetensors_truncated)
{
    copy_config(NULL, NULL);
    size_t n;
    char *d = slurp(TINY "/model.safetensors", &n);
    write_file("model.safetensors", d, n / 2);
    free(d);
    expect_fail(NULL, "model.safetensors", "out of the");
}

Test(badinput, safetensors_offsets_out_of_range)
{
    copy_config(NULL, NULL);
    write_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,99999999]}}", 32);
    expect_fail(NULL, "model.safetensors", "data_offsets");
}

Test(badinput, safetensors_overlap)
{
    copy_config(NULL, NULL);
    write_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 32);
    expect_fail(NULL, "model.safetensors", "overlap");
}

Test(badinput, safetensors_unknown_dtype)
{
    copy_config(NULL, NULL);
    write_st("{\"a\":{\"dtype\":\"Q9\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16);
    expect_fail(NULL, "model.safetensors", "unknown dtype");
}

Test(badinput, safetensors_size_vs_shape)
{
    copy_config(NULL, NULL);
    write_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[0,16]}}", 16);
    expect_fail(NULL, "model.safetensors", "do not hold its shape");
}

Test(badinput, safetensors_not_json)
{
    copy_config(NULL, NULL);
    write_st("{\"a\": [[[[", 16);
    expect_fail(NULL, "model.safetensors", "JSON");
}

Test(badinput, shape_vs_config)
{
    copy_config("\"intermediate_size\": 128", "\"intermediate_size\": 100");
    size_t n;
    char *d = slurp(TINY "/model.safetensors", &n);
    write_file("model.safetensors", d, n);
    free(d);
    expect_fail(NULL, "model.safetensors", "config says");
}

Test(badinput, missing_tensor_sharded)
{
    copy_config(NULL, NULL);
    const char *idx = "{\"weight_map\": {\"model.embed_tokens.weight\": \"a.safetensors\"}}";
    write_file("model.safetensors.index.json", idx, strlen(idx));
    write_st("{\"model.embed_tokens.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    char from[300], to[300];
    snprintf(from, sizeof(from), "%s/model.safetensors", tmpdir);
    snprintf(to, sizeof(to), "%s/a.safetensors", tmpdir);
    cr_assert_eq(rename(from, to), 0);
    expect_fail(NULL, "index.json", "missing");
}

Test(badinput, shard_name_escapes_directory)
{
    copy_config(NULL, NULL);
    const char *idx = "{\"weight_map\": {\"x\": \"../../etc/passwd\"}}";
    write_file("model.safetensors.index.json", idx, strlen(idx));
    expect_fail(NULL, "index.json", "shard file name");
}

Test(badinput, no_weights)
{
    copy_config(NULL, NULL);
    expect_fail(NULL, tmpdir, "no weights");
}

Test(badinput, config_missing_field)
{
    copy_config("\"hidden_size\"", "\"hidden_sizeX\"");
    expect_fail(NULL, "config.json", "hidden_size");
}

Test(badinput, config_absurd_layers)
{
    copy_config("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 100000000");
    expect_fail(NULL, "config.json", "num_hidden_layers");
}

Test(badinput, config_absurd_total)
{
    /* each field in range, the product (~4e11 parameters, > 2^40 bytes as f32) is not */
    copy_config("\"intermediate_size\": 128", "\"intermediate_size\": 1048576");
    char p[256];
    snprintf(p, sizeof(p), "%s/config.json", tmpdir);
    size_t n;
    char *d = slurp(p, &n);
    char *h = strstr(d, "\"hidden_size\": 64,");
    cr_assert(h);
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    kvb_strbuf_add(&sb, d, (size_t)(h - d));
    kvb_strbuf_adds(&sb, "\"hidden_size\": 65536,");
    kvb_strbuf_adds(&sb, h + strlen("\"hidden_size\": 64,"));
    write_file("config.json", sb.buf, sb.len);
    kvb_strbuf_release(&sb);
    free(d);
    expect_fail(NULL, "config.json", "absurd");
}

Test(badinput, config_heads_not_multiple)
{
    copy_config("\"num_key_value_heads\": 4", "\"num_key_value_heads\": 3");
    expect_fail(NULL, "config.json", "kv heads");
}

Test(badinput, config_unsupported_rope)
{
    copy_config("\"rope_type\": \"default\"", "\"rope_type\": \"yarn\"");
    expect_fail(NULL, "config.json", "yarn");
}

/* ---- GGUF -------------------------------------------------------------------------------------- */
typedef struct gbuf {
    unsigned char b[4096];
    size_t n;
} gbuf;

static void put(gbuf *g, const void *p, size_t n)
{
    memcpy(g->b + g->n, p, n);
    g->n += n;
}
static void put_u32(gbuf *g, uint32_t v) { put(g, &v, 4); }
static void put_u64(gbuf *g, uint64_t v) { put(g, &v, 8); }
static void put_str(gbuf *g, const char *s)
{
    put_u64(g, strlen(s));
    put(g, s, strlen(s));
}

/* header + one string kv (general.architecture=llama) + one F32 tensor of 8 elements */
static void write_gguf(uint32_t version, uint64_t n_tensors, uint32_t kv_type, uint64_t offset,
                       const char *magic)
{
    gbuf g = { .n = 0 };
    put(&g, magic, 4);
    put_u32(&g, version);
    put_u64(&g, n_tensors);
    put_u64(&g, 1);
    put_str(&g, "general.architecture");
    put_u32(&g, kv_type);
    put_str(&g, "llama");
    put_str(&g, "token_embd.weight");
    put_u32(&g, 1);
    put_u64(&g, 8);
    put_u32(&g, 0);
    put_u64(&g, offset);
    while (g.n % 32)
        g.b[g.n++] = 0;
    float z[8] = { 0 };
    put(&g, z, sizeof(z));
    write_file("m.gguf", g.b, g.n);
}

Test(badinput, gguf_bad_magic)
{
    write_gguf(3, 1, 8, 0, "GGUX");
    expect_fail("m.gguf", "m.gguf", "magic");
}

Test(badinput, gguf_bad_version)
{
    write_gguf(99, 1, 8, 0, "GGUF");
    expect_fail("m.gguf", "m.gguf", "version");
}

Test(badinput, gguf_bad_count)
{
    write_gguf(3, (uint64_t)1 << 60, 8, 0, "GGUF");
    expect_fail("m.gguf", "m.gguf", "tensors");
}

Test(badinput, gguf_bad_type)
{
    write_gguf(3, 1, 77, 0, "GGUF");
    expect_fail("m.gguf", "m.gguf", "type");
}

Test(badinput, gguf_bad_offset)
{
    write_gguf(3, 1, 8, 1 << 20, "GGUF");
    expect_fail("m.gguf", "m.gguf", "past the end");
}

Test(badinput, gguf_not_a_model)
{
    /* a valid GGUF that lacks llama metadata */
    write_gguf(3, 1, 8, 0, "GGUF");
    expect_fail("m.gguf", "m.gguf", "block_count");
}

Test(badinput, unknown_name_lists_places)
{
    kvb_model *m;
    kvb_error e;
    setenv("KVBENCH_MODELS", tmpdir, 1);
    kvb_model_opts o = { .threads = 1, .weights_bf16 = 1 };
    cr_assert_eq(kvb_model_open(&m, "llama2-7b", &o, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, tmpdir), "%s", e.msg);
    cr_assert(strstr(e.msg, "models--meta-llama--Llama-2-7b-chat-hf"), "%s", e.msg);
    cr_assert_eq(kvb_model_open(&m, "no-such-model", &o, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "unknown model"), "%s", e.msg);
    unsetenv("KVBENCH_MODELS");
}
