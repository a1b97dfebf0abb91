/* Benchmark driver of scripts/bench/jieba.sh (built by that script against build/libkvbench.a):
 * segments every text of a corpus file (records "<byte length>\n<bytes>") with kvb_jieba_cut,
 * best of --repeat passes, and prints one JSON line: load seconds, bytes, tokens, seconds, MB/s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "text/jieba.h"

static void count(const char *tok, size_t len, void *arg)
{
    (void)tok;
    (void)len;
    (*(size_t *)arg)++;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: jieba_speed CORPUS [REPEAT]\n");
        return 2;
    }
    long repeat = argc > 2 ? atol(argv[2]) : 3;
    kvb_error e;
    char *data;
    size_t len;
    if (kvb_read_file(argv[1], (size_t)1 << 32, &data, &len, &e)) {
        fprintf(stderr, "jieba_speed: %s\n", e.msg);
        return 2;
    }
    double t0 = kvb_now();
    kvb_jieba *j;
    if (kvb_jieba_load(&j, NULL, &e)) {
        fprintf(stderr, "jieba_speed: %s\n", e.msg);
        return 2;
    }
    double load = kvb_now() - t0, best = 1e30;
    size_t tokens = 0, bytes = 0, texts = 0;
    for (long r = 0; r < repeat; r++) {
        tokens = bytes = texts = 0;
        t0 = kvb_now();
        for (char *p = data, *end = data + len; p < end;) {
            char *stop;
            unsigned long long n = strtoull(p, &stop, 10);
            if (stop == p || *stop != '\n' || n > (unsigned long long)(end - stop - 1)) {
                fprintf(stderr, "jieba_speed: %s: bad record at byte %zu\n", argv[1],
                        (size_t)(p - data));
                return 2;
            }
            p = stop + 1;
            if (kvb_jieba_cut(j, p, n, count, &tokens, &e)) {
                fprintf(stderr, "jieba_speed: %s\n", e.msg);
                return 1;
            }
            p += n;
            bytes += n;
            texts++;
        }
        double dt = kvb_now() - t0;
        if (dt < best)
            best = dt;
    }
    printf("{\"impl\": \"kvbench-c\", \"load_s\": %.4f, \"texts\": %zu, \"bytes\": %zu, "
           "\"tokens\": %zu, \"seconds\": %.4f, \"mb_per_s\": %.3f}\n",
           load, texts, bytes, tokens, best, bytes / best / 1e6);
    kvb_jieba_free(j);
    free(data);
    return 0;
}
