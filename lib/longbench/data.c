/* LongBench record files: discovery, gzip/zip reading, strict line-by-line validation. */
#include "longbench/data.h"

#include "core/sha256.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* snprintf into a fixed buffer; 0 when it fitted (paths that do not fit are simply not found). */
static int fmt_fits(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fmt_fits(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

/* ---- decompression ----------------------------------------------------------------------- */

/* Inflate `in` (windowBits selects gzip/zlib auto-detect (47) or raw deflate (-15)) into a new
 * buffer; refuses output beyond KVB_LB_MAX_INFLATED_BYTES and truncated streams. */
static int inflate_all(const unsigned char *in, size_t n_in, int window_bits, size_t size_hint,
                       const char *name, char **out, size_t *out_len, kvb_error *e)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, window_bits) != Z_OK)
        return kvb_errorf(e, KVB_ENOMEM, "%s: cannot start zlib", name);
    size_t cap = size_hint && size_hint < KVB_LB_MAX_INFLATED_BYTES ? size_hint + 1 : (1u << 20);
    char *buf = kvb_malloc(cap);
    size_t len = 0;
    int rc = 0, done = 0;
    if (!buf) {
        inflateEnd(&z);
        return kvb_errorf(e, KVB_ENOMEM, "%s: out of memory", name);
    }
    size_t pos = 0;
    while (!done) {
        /* a zip bomb: past 64 MiB at more than 100x the compressed size, or past 1 GiB */
        if (len > KVB_LB_BOMB_BYTES && len / 100 > n_in) {
            rc = kvb_errorf(e, KVB_EINVAL,
                            "%s: inflates past %zu MiB at more than 100x its compressed size "
                            "(%zu bytes): refused as a zip bomb",
                            name, KVB_LB_BOMB_BYTES >> 20, n_in);
            break;
        }
        if (len + 1 >= cap) {
            if (cap >= KVB_LB_MAX_INFLATED_BYTES) {
                rc = kvb_errorf(e, KVB_EINVAL,
                                "%s: decompresses to more than %zu bytes: refused as a zip bomb",
                                name, KVB_LB_MAX_INFLATED_BYTES);
                break;
            }
            size_t ncap = KVB_MIN(cap * 2, KVB_LB_MAX_INFLATED_BYTES);
            char *nb = kvb_realloc(buf, ncap);
            if (!nb) {
                rc = kvb_errorf(e, KVB_ENOMEM, "%s: out of memory inflating", name);
                break;
            }
            buf = nb, cap = ncap;
        }
        /* zlib counts in uInt: feed at most 1 GiB at a time */
        size_t chunk_in = KVB_MIN(n_in - pos, (size_t)1 << 30);
        z.next_in = (unsigned char *)in + pos;
        z.avail_in = (uInt)chunk_in;
        z.next_out = (unsigned char *)buf + len;
        z.avail_out = (uInt)KVB_MIN(cap - 1 - len, (size_t)1 << 30);
        size_t out_before = z.avail_out;
        int zr = inflate(&z, Z_NO_FLUSH);
        pos += chunk_in - z.avail_in;
        len += out_before - z.avail_out;
        if (zr == Z_STREAM_END) {
            /* gzip allows concatenated members; anything else after the end is garbage */
            if (window_bits > 15 && pos < n_in && in[pos] == 0x1f) {
                inflateReset(&z);
                continue;
            }
            done = 1;
        } else if (zr == Z_BUF_ERROR) {
            if (pos >= n_in && z.avail_out > 0) {
                rc = kvb_errorf(e, KVB_EINVAL, "%s: compressed data is truncated", name);
                break;
            }
        } else if (zr != Z_OK) {
            rc = kvb_errorf(e, KVB_EINVAL, "%s: corrupt compressed data (%s)", name,
                            z.msg ? z.msg : "zlib error");
            break;
        } else if (pos >= n_in && z.avail_out > 0) {
            rc = kvb_errorf(e, KVB_EINVAL, "%s: compressed data is truncated", name);
            break;
        }
    }
    inflateEnd(&z);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[len] = 0;
    *out = buf;
    *out_len = len;
    return 0;
}

int kvb_lb_read_maybe_gz(const char *path, char **data, size_t *len, kvb_error *e)
{
    char *raw;
    size_t n;
    int rc = kvb_read_file(path, KVB_LB_MAX_FILE_BYTES, &raw, &n, e);
    if (rc)
        return rc;
    if (n >= 2 && (unsigned char)raw[0] == 0x1f && (unsigned char)raw[1] == 0x8b) {
        rc = inflate_all((unsigned char *)raw, n, 15 + 32, n * 4, path, data, len, e);
        free(raw);
        return rc;
    }
    *data = raw;
    *len = n;
    return 0;
}

/* ---- zip (the LongBench release ships data.zip) ------------------------------------------ */

static uint32_t rd16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const unsigned char *p) { return rd16(p) | rd16(p + 2) << 16; }

int kvb_lb_zip_read(const char *zip_path, const char *member, char **data, size_t *len,
                    kvb_error *e)
{
    kvb_mmap m;
    int rc = kvb_mmap_open(&m, zip_path, e);
    if (rc)
        return rc;
    const unsigned char *z = m.data;
    size_t n = m.size;
    /* end of central directory: 22 bytes + a comment of up to 65535 bytes */
    size_t eocd = (size_t)-1;
    for (size_t i = n >= 22 ? n - 22 : 0; n >= 22; i--) {
        if (rd32(z + i) == 0x06054b50) {
            eocd = i;
            break;
        }
        if (i == 0 || n - i > 22 + 65535)
            break;
    }
    if (eocd == (size_t)-1) {
        kvb_mmap_close(&m);
        return kvb_errorf(e, KVB_EINVAL, "%s: not a zip archive (no end of central directory)",
                          zip_path);
    }
    uint32_t n_entries = rd16(z + eocd + 10);
    size_t cd = rd32(z + eocd + 16), cd_size = rd32(z + eocd + 12);
    if (cd > eocd || cd_size > eocd - cd) {
        kvb_mmap_close(&m);
        return kvb_errorf(e, KVB_EINVAL, "%s: central directory out of bounds", zip_path);
    }
    size_t mlen = strlen(member), p = cd;
    for (uint32_t k = 0; k < n_entries; k++) {
        if (p + 46 > eocd || rd32(z + p) != 0x02014b50)
            break;
        uint32_t method = rd16(z + p + 10), csize = rd32(z + p + 20), usize = rd32(z + p + 24);
        size_t nlen = rd16(z + p + 28), xlen = rd16(z + p + 30), clen = rd16(z + p + 32);
        size_t loff = rd32(z + p + 42);
        if (p + 46 + nlen > eocd)
            break;
        if (nlen == mlen && !memcmp(z + p + 46, member, mlen)) {
            if (loff + 30 > n || rd32(z + loff) != 0x04034b50) {
                kvb_mmap_close(&m);
                return kvb_errorf(e, KVB_EINVAL, "%s: bad local header for %s", zip_path, member);
            }
            size_t dstart = loff + 30 + rd16(z + loff + 26) + rd16(z + loff + 28);
            if (dstart > n || csize > n - dstart) {
                kvb_mmap_close(&m);
                return kvb_errorf(e, KVB_EINVAL, "%s: %s extends past the end of the archive",
                                  zip_path, member);
            }
            if (method == 0) {
                char *b = kvb_malloc((size_t)csize + 1);
                if (!b) {
                    kvb_mmap_close(&m);
                    return kvb_errorf(e, KVB_ENOMEM, "%s: out of memory", zip_path);
                }
                memcpy(b, z + dstart, csize);
                b[csize] = 0;
                *data = b, *len = csize;
                rc = 0;
            } else if (method == 8) {
                kvb_strbuf name;
                kvb_strbuf_init(&name);
                kvb_strbuf_addf(&name, "%s:%s", zip_path, member);
                rc = inflate_all(z + dstart, csize, -15, usize, name.buf ? name.buf : member, data,
                                 len, e);
                kvb_strbuf_release(&name);
            } else {
                rc = kvb_errorf(e, KVB_EUNSUP, "%s: %s uses zip method %u (only stored/deflate)",
                                zip_path, member, method);
            }
            kvb_mmap_close(&m);
            return rc;
        }
        p += 46 + nlen + xlen + clen;
    }
    kvb_mmap_close(&m);
    return kvb_errorf(e, KVB_EIO, "%s: no member %s", zip_path, member);
}

/* ---- discovery --------------------------------------------------------------------------- */

/* Try the file names of one directory; returns 1 and sets *out when found. */
static int find_in_dir(const char *dir, const char *name, char **out)
{
    static const char *const fmts[] = { "%s/%s.jsonl", "%s/%s.jsonl.gz", "%s/data/%s.jsonl",
                                        "%s/data/%s.jsonl.gz" };
    char buf[4096];
    for (size_t i = 0; i < KVB_ARRAY_SIZE(fmts); i++) {
        if (fmt_fits(buf, sizeof(buf), fmts[i], dir, name) == 0 && kvb_file_exists(buf) && !kvb_is_dir(buf)) {
            *out = kvb_strdup(buf);
            return 1;
        }
    }
    if (fmt_fits(buf, sizeof(buf), "%s/data.zip", dir) == 0 && kvb_file_exists(buf)) {
        char member[512], *d;
        size_t n;
        fmt_fits(member, sizeof(member), "data/%s.jsonl", name);
        /* only probe the central directory: reading the member twice is cheap next to a run */
        if (kvb_lb_zip_read(buf, member, &d, &n, NULL) == 0) {
            free(d);
            kvb_strbuf sb;
            kvb_strbuf_init(&sb);
            kvb_strbuf_addf(&sb, "%s:%s", buf, member);
            *out = kvb_strbuf_detach(&sb);
            return 1;
        }
    }
    return 0;
}

/* Snapshots of the HF dataset repo: <hub>/datasets--THUDM--LongBench/snapshots/<rev>/ */
static int find_in_hub(const char *hub, const char *name, kvb_strbuf *searched, char **out)
{
    char snaps[4096];
    if (fmt_fits(snaps, sizeof(snaps), "%s/datasets--THUDM--LongBench/snapshots", hub))
        return 0;
    kvb_strbuf_addf(searched, "%s%s/*", searched->len ? ", " : "", snaps);
    if (!kvb_is_dir(snaps))
        return 0;
    /* the newest revision is the one `refs/main` names; fall back to any snapshot */
    char ref[4096], *rev = NULL;
    size_t rl;
    fmt_fits(ref, sizeof(ref), "%s/datasets--THUDM--LongBench/refs/main", hub);
    if (kvb_read_file(ref, 256, &rev, &rl, NULL) == 0) {
        while (rl && (rev[rl - 1] == '\n' || rev[rl - 1] == '\r' || rev[rl - 1] == ' '))
            rev[--rl] = 0;
        char d[4200];
        fmt_fits(d, sizeof(d), "%s/%s", snaps, rev);
        free(rev);
        if (strchr(d + strlen(snaps) + 1, '/') == NULL && find_in_dir(d, name, out))
            return 1;
    }
    DIR *d = opendir(snaps);
    int found = 0;
    for (struct dirent *de; d && !found && (de = readdir(d));) {
        if (de->d_name[0] == '.')
            continue;
        char sd[4400];
        found = fmt_fits(sd, sizeof(sd), "%s/%s", snaps, de->d_name) == 0 && find_in_dir(sd, name, out);
    }
    if (d)
        closedir(d);
    return found;
}

int kvb_lb_data_find(const char *task, const char *dir, int e_variant, char **path_out,
                     kvb_error *e)
{
    char name[256];
    *path_out = NULL;
    if (strlen(task) > 200 || strchr(task, '/') || !strcmp(task, "..") || !*task)
        return kvb_errorf(e, KVB_EINVAL, "bad task name '%.200s'", task);
    fmt_fits(name, sizeof(name), "%s%s", task, e_variant ? "_e" : "");
    if (dir) {
        if (!kvb_is_dir(dir))
            return kvb_errorf(e, KVB_EIO, "--data %s: not a directory", dir);
        if (find_in_dir(dir, name, path_out))
            return 0;
        return kvb_errorf(e, KVB_EIO,
                          "no records for task %s in %s (looked for %s.jsonl, %s.jsonl.gz, "
                          "data/%s.jsonl, data.zip)",
                          name, dir, name, name, name);
    }
    kvb_strbuf searched;
    kvb_strbuf_init(&searched);
    const char *env = getenv("KVBENCH_DATA");
    if (env && *env) {
        kvb_strbuf_addf(&searched, "$KVBENCH_DATA=%s", env);
        if (find_in_dir(env, name, path_out))
            goto found;
    }
    char hub[4096];
    int have_hub = 0; /* HF's rule: the first of the candidates that is set */
    for (int i = 0; !have_hub && i < 3; i++)
        have_hub = kvb_hf_hub_cache(i, hub, sizeof(hub)) == 1;
    if (have_hub && find_in_hub(hub, name, &searched, path_out))
        goto found;
    static const char *const local[] = { "datasets/longbench", "../shared/datasets/longbench-sample" };
    for (size_t i = 0; i < KVB_ARRAY_SIZE(local); i++) {
        kvb_strbuf_addf(&searched, "%s%s", searched.len ? ", " : "", local[i]);
        if (find_in_dir(local[i], name, path_out))
            goto found;
    }
    int rc = kvb_errorf(e, KVB_EIO,
                        "no records for LongBench task %s (searched %s); download the release with "
                        "scripts/fetch_longbench.sh or pass --data DIR",
                        name, searched.buf ? searched.buf : "");
    kvb_strbuf_release(&searched);
    return rc;
found:
    kvb_strbuf_release(&searched);
    return 0;
}

/* ---- records ----------------------------------------------------------------------------- */

void kvb_lb_record_release(kvb_lb_record *r)
{
    free(r->id);
    free(r->input);
    free(r->context);
    for (int i = 0; i < r->n_answers; i++)
        free(r->answers[i]);
    free(r->answers);
    for (int i = 0; i < r->n_classes; i++)
        free(r->all_classes[i]);
    free(r->all_classes);
    free(r->dataset);
    free(r->language);
    memset(r, 0, sizeof(*r));
}

/* A JSON array of strings into a new vector; `what` names the field in errors. */
static int str_array(const cJSON *a, const char *what, const char *file, long line, char ***out,
                     int *n, kvb_error *e)
{
    if (!cJSON_IsArray(a))
        return kvb_errorf(e, KVB_EINVAL, "%s:%ld: field '%s' is not a list of strings", file, line,
                          what);
    int cnt = cJSON_GetArraySize(a);
    char **v = kvb_calloc((size_t)KVB_MAX(cnt, 1), sizeof(char *));
    if (!v)
        return kvb_errorf(e, KVB_ENOMEM, "%s:%ld: out of memory", file, line);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, a)
    {
        if (!cJSON_IsString(it)) {
            for (int j = 0; j < i; j++)
                free(v[j]);
            free(v);
            return kvb_errorf(e, KVB_EINVAL, "%s:%ld: field '%s' item %d is not a string", file,
                              line, what, i);
        }
        v[i++] = kvb_strdup(it->valuestring);
    }
    *out = v;
    *n = cnt;
    return 0;
}

/* cJSON keeps strings NUL-terminated without a length, so a "\u0000" escape would cut a field
 * short. Such lines are rewritten before parsing: each "\u0000" escape becomes a private-use
 * code point absent from the line (the sentinel), turned back into NUL bytes afterwards. */
static int has_nul_escape(const char *s, size_t n)
{
    for (size_t i = 0; i + 6 <= n; i++)
        if (s[i] == '\\') {
            if (!strncmp(s + i + 1, "u0000", 5))
                return 1;
            i++; /* skip the escaped character (so "\\\\u0000" is not an escape) */
        }
    return 0;
}

/* UTF-8 of U+E000 + k, and its escaped spellings, absent from the line. */
static int pick_sentinel(const char *s, size_t n, char utf8[4])
{
    for (int k = 0; k < 0x1000; k++) {
        unsigned cp = 0xE000u + (unsigned)k;
        utf8[0] = (char)(0xE0 | (cp >> 12));
        utf8[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        utf8[2] = (char)(0x80 | (cp & 0x3F));
        utf8[3] = 0;
        char esc[8], escu[8];
        snprintf(esc, sizeof(esc), "u%04x", cp);
        snprintf(escu, sizeof(escu), "u%04X", cp);
        if (!memmem(s, n, utf8, 3) && !memmem(s, n, esc, 5) && !memmem(s, n, escu, 5))
            return 0;
    }
    return -1;
}

static char *replace_nul_escapes(const char *s, size_t n, const char *sent, size_t *out_len)
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n) {
            if (i + 6 <= n && !strncmp(s + i + 1, "u0000", 5)) {
                kvb_strbuf_add(&sb, sent, 3);
                i += 5;
            } else {
                kvb_strbuf_add(&sb, s + i, 2);
                i++;
            }
        } else {
            kvb_strbuf_add(&sb, s + i, 1);
        }
    }
    *out_len = sb.len;
    return kvb_strbuf_detach(&sb);
}

/* Copy of a string with each sentinel turned into a NUL byte; *len gets the byte length. */
static char *restore_nul(const char *v, const char *sent, size_t *len)
{
    size_t n = strlen(v);
    char *o = kvb_malloc(n + 1);
    if (!o)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (sent[0] && i + 3 <= n && !memcmp(v + i, sent, 3)) {
            o[k++] = 0;
            i += 2;
        } else {
            o[k++] = v[i];
        }
    }
    o[k] = 0;
    if (len)
        *len = k;
    return o;
}

static int get_string(const cJSON *o, const char *key, int required, const char *file, long line,
                      char **out, kvb_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return kvb_errorf(e, KVB_EINVAL, "%s:%ld: field '%s' is missing", file, line, key);
        return 0;
    }
    if (!cJSON_IsString(v))
        return kvb_errorf(e, KVB_EINVAL, "%s:%ld: field '%s' is not a string", file, line, key);
    *out = kvb_strdup(v->valuestring);
    return *out ? 0 : kvb_errorf(e, KVB_ENOMEM, "%s:%ld: out of memory", file, line);
}

/* Task names compare without LongBench-E's "_e" suffix. */
static int same_task(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 2 && !strcmp(a + la - 2, "_e"))
        la -= 2;
    if (lb > 2 && !strcmp(b + lb - 2, "_e"))
        lb -= 2;
    return la == lb && !strncmp(a, b, la);
}

int kvb_lb_record_parse(const char *text, size_t len, const char *task, const char *file,
                        long line, kvb_lb_record *r, kvb_error *e)
{
    memset(r, 0, sizeof(*r));
    r->n_classes = -1;
    r->line = line;
    if (kvb_utf8_valid_prefix(text, len) != len)
        return kvb_errorf(e, KVB_EINVAL, "%s:%ld: not valid UTF-8", file, line);
    char sent[4] = { 0 }, *rewritten = NULL;
    if (has_nul_escape(text, len)) {
        if (pick_sentinel(text, len, sent))
            return kvb_errorf(e, KVB_EINVAL, "%s:%ld: cannot represent its \\u0000 escapes", file,
                              line);
        rewritten = replace_nul_escapes(text, len, sent, &len);
        if (!rewritten)
            return kvb_errorf(e, KVB_ENOMEM, "%s:%ld: out of memory", file, line);
        text = rewritten;
    }
    cJSON *o = kvb_json_parse_limited(text, len);
    if (!o) {
        free(rewritten); /* found by fuzz_lbdata: leaked on a bad line with \u0000 escapes */
        return kvb_errorf(e, KVB_EINVAL, "%s:%ld: not valid JSON", file, line);
    }
    int rc = 0;
    if (!cJSON_IsObject(o)) {
        rc = kvb_errorf(e, KVB_EINVAL, "%s:%ld: not a JSON object", file, line);
        goto out;
    }
    if ((rc = get_string(o, "context", 1, file, line, &r->context, e)) ||
        (rc = get_string(o, "input", 1, file, line, &r->input, e)) ||
        (rc = get_string(o, "_id", 0, file, line, &r->id, e)) ||
        (rc = get_string(o, "dataset", 0, file, line, &r->dataset, e)) ||
        (rc = get_string(o, "language", 0, file, line, &r->language, e)))
        goto out;
    const cJSON *ans = cJSON_GetObjectItemCaseSensitive(o, "answers");
    if (!ans) {
        rc = kvb_errorf(e, KVB_EINVAL, "%s:%ld: field 'answers' is missing", file, line);
        goto out;
    }
    if ((rc = str_array(ans, "answers", file, line, &r->answers, &r->n_answers, e)))
        goto out;
    if (r->n_answers == 0) {
        rc = kvb_errorf(e, KVB_EINVAL, "%s:%ld: field 'answers' is empty", file, line);
        goto out;
    }
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(o, "all_classes");
    if (cls && !cJSON_IsNull(cls) &&
        (rc = str_array(cls, "all_classes", file, line, &r->all_classes, &r->n_classes, e)))
        goto out;
    const cJSON *lenj = cJSON_GetObjectItemCaseSensitive(o, "length");
    if (!lenj) {
        rc = kvb_errorf(e, KVB_EINVAL, "%s:%ld: field 'length' is missing", file, line);
        goto out;
    }
    if (!cJSON_IsNumber(lenj) || !isfinite(lenj->valuedouble) || lenj->valuedouble < 0 ||
        lenj->valuedouble > 1e15 || floor(lenj->valuedouble) != lenj->valuedouble) {
        rc = kvb_errorf(e, KVB_EINVAL, "%s:%ld: field 'length' is not a non-negative integer", file,
                        line);
        goto out;
    }
    r->length = (long long)lenj->valuedouble;
    r->context_len = strlen(r->context);
    r->input_len = strlen(r->input);
    if (sent[0]) {
        char *c = restore_nul(r->context, sent, &r->context_len);
        char *in = restore_nul(r->input, sent, &r->input_len);
        if (!c || !in) {
            free(c);
            free(in);
            rc = kvb_errorf(e, KVB_ENOMEM, "%s:%ld: out of memory", file, line);
            goto out;
        }
        free(r->context);
        free(r->input);
        r->context = c, r->input = in;
        /* answers and classes are compared as C strings: NULs there end the string */
        for (int i = 0; i < r->n_answers; i++) {
            char *a = restore_nul(r->answers[i], sent, NULL);
            if (a) {
                free(r->answers[i]);
                r->answers[i] = a;
            }
        }
    }
    if (task && r->dataset && !same_task(task, r->dataset)) {
        rc = kvb_errorf(e, KVB_EINVAL, "%s:%ld: record of task '%.100s' in the file of task '%s'",
                        file, line, r->dataset, task);
        goto out;
    }
    if (!r->id) {
        char b[300];
        snprintf(b, sizeof(b), "%s-line%ld", task ? task : "record", line);
        r->id = kvb_strdup(b);
    }
out:
    cJSON_Delete(o);
    free(rewritten);
    if (rc)
        kvb_lb_record_release(r);
    return rc;
}

void kvb_lb_dataset_release(kvb_lb_dataset *ds)
{
    for (size_t i = 0; i < ds->n; i++)
        kvb_lb_record_release(&ds->recs[i]);
    free(ds->recs);
    free(ds->path);
    memset(ds, 0, sizeof(*ds));
}

/* "<zip>:<member>" paths from kvb_lb_data_find read the member; others are files. */
static int read_records_file(const char *path, char **data, size_t *len, kvb_error *e)
{
    const char *colon = strstr(path, ".zip:");
    if (colon) {
        char zip[4096];
        size_t zl = (size_t)(colon - path) + 4;
        if (zl >= sizeof(zip))
            return kvb_errorf(e, KVB_EINVAL, "%s: path too long", path);
        memcpy(zip, path, zl);
        zip[zl] = 0;
        return kvb_lb_zip_read(zip, colon + 5, data, len, e);
    }
    return kvb_lb_read_maybe_gz(path, data, len, e);
}

int kvb_lb_data_load(const char *path, const char *task, int skip_bad, kvb_lb_dataset *ds,
                     kvb_error *e)
{
    memset(ds, 0, sizeof(*ds));
    char *data;
    size_t len;
    int rc = read_records_file(path, &data, &len, e);
    if (rc)
        return rc;
    ds->path = kvb_strdup(path);
    kvb_sha256_hex(data, len, ds->sha256);
    size_t cap = 0;
    long line = 0;
    for (size_t p = 0; p < len;) {
        const char *s = data + p;
        const char *nl = memchr(s, '\n', len - p);
        size_t n = nl ? (size_t)(nl - s) : len - p;
        p += n + (nl ? 1 : 0);
        line++;
        size_t k = n;
        while (k && (s[k - 1] == '\r' || s[k - 1] == ' ' || s[k - 1] == '\t'))
            k--;
        if (k == 0)
            continue; /* blank lines carry nothing (a trailing newline makes one) */
        if (ds->n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            kvb_lb_record *nr = kvb_realloc(ds->recs, nc * sizeof(*nr));
            if (!nr) {
                rc = kvb_errorf(e, KVB_ENOMEM, "%s: out of memory", path);
                break;
            }
            ds->recs = nr, cap = nc;
        }
        kvb_error le = { 0 };
        rc = kvb_lb_record_parse(s, k, task, path, line, &ds->recs[ds->n], &le);
        if (rc == 0) {
            ds->n++;
            continue;
        }
        if (skip_bad && rc == KVB_EINVAL) {
            if (ds->n_bad++ == 0)
                fmt_fits(ds->first_bad, sizeof(ds->first_bad), "%s", le.msg);
            rc = 0;
            continue;
        }
        if (e)
            *e = le;
        break;
    }
    free(data);
    if (rc == 0 && ds->n == 0)
        rc = ds->n_bad ? kvb_errorf(e, KVB_EINVAL, "%s: no valid record (%zu bad lines; first: %s)",
                                    path, ds->n_bad, ds->first_bad)
                       : kvb_errorf(e, KVB_EINVAL, "%s: empty file (no records)", path);
    if (rc)
        kvb_lb_dataset_release(ds);
    return rc;
}
