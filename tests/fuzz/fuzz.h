/* Shared helpers for the libFuzzer harnesses: present an input buffer as a file path. */
#ifndef KVB_FUZZ_H
#define KVB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes data into an anonymous memory file and returns its /proc path in buf (fd in *fd). */
static inline const char *kvb_fuzz_as_file(const uint8_t *data, size_t size, char *buf, size_t n,
                                           int *fd)
{
    *fd = memfd_create("kvb_fuzz", 0);
    if (*fd < 0)
        return NULL;
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(*fd, data + done, size - done);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    snprintf(buf, n, "/proc/self/fd/%d", *fd);
    return buf;
}

#endif
