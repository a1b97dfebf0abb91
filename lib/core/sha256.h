/* SHA-256 (FIPS 180-4), for fingerprints of data files in run.json. */
#ifndef KVB_SHA256_H
#define KVB_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct kvb_sha256 {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t n;
} kvb_sha256;

void kvb_sha256_init(kvb_sha256 *s);
void kvb_sha256_update(kvb_sha256 *s, const void *data, size_t n);
void kvb_sha256_final(kvb_sha256 *s, unsigned char out[32]);
/* Hex digest of a buffer into hex[65]. */
void kvb_sha256_hex(const void *data, size_t n, char hex[65]);

#endif
