/* Files: bounded reads, atomic writes, mmap, directories. */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int kvb_read_file(const char *path, size_t max_bytes, char **data, size_t *len, kvb_error *e)
{
    *data = NULL;
    if (len)
        *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kvb_errorf(e, KVB_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return kvb_errorf(e, KVB_EIO, "%s: not a regular file", path);
    }
    if ((size_t)st.st_size > max_bytes) {
        close(fd);
        return kvb_errorf(e, KVB_EINVAL, "%s: file is %lld bytes, more than the %zu accepted", path,
                          (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = kvb_malloc(n + 1);
    if (!buf) {
        close(fd);
        return kvb_errorf(e, KVB_ENOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        free(buf);
        return kvb_errorf(e, KVB_EIO, "%s: short read (%zu of %zu bytes)", path, got, n);
    }
    buf[n] = 0;
    *data = buf;
    if (len)
        *len = n;
    return 0;
}

static void fsync_dir_of(const char *path)
{
    char *copy = kvb_strdup(path);
    if (!copy)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

int kvb_write_file_atomic(const char *path, const void *data, size_t len, kvb_error *e)
{
    size_t plen = strlen(path);
    char *tmp = kvb_malloc(plen + 32);
    if (!tmp)
        return kvb_errorf(e, KVB_ENOMEM, "%s: out of memory", path);
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        int rc = kvb_errorf(e, KVB_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    const char *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    int ok = done == len && fsync(fd) == 0;
    ok = (close(fd) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int rc = kvb_errorf(e, KVB_EIO, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return rc;
    }
    free(tmp);
    fsync_dir_of(path);
    return 0;
}

int kvb_mkdir_p(const char *path, kvb_error *e)
{
    char *p = kvb_strdup(path);
    if (!p)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0755) < 0 && errno != EEXIST) {
                int rc = kvb_errorf(e, KVB_EIO, "%s: cannot create directory: %s", p, strerror(errno));
                free(p);
                return rc;
            }
            *s = c;
            if (!c)
                break;
        }
    }
    free(p);
    if (!kvb_is_dir(path))
        return kvb_errorf(e, KVB_EIO, "%s: exists and is not a directory", path);
    return 0;
}

int kvb_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int kvb_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *kvb_path_join(const char *a, const char *b)
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    size_t la = strlen(a);
    if (kvb_strbuf_add(&sb, a, la) ||
        ((la && a[la - 1] != '/') && kvb_strbuf_adds(&sb, "/")) || kvb_strbuf_adds(&sb, b)) {
        kvb_strbuf_release(&sb);
        return NULL;
    }
    return kvb_strbuf_detach(&sb);
}

int kvb_mmap_open(kvb_mmap *m, const char *path, kvb_error *e)
{
    m->data = NULL;
    m->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kvb_errorf(e, KVB_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return kvb_errorf(e, KVB_EIO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return kvb_errorf(e, KVB_EINVAL, "%s: file is empty", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return kvb_errorf(e, KVB_EIO, "%s: mmap failed: %s", path, strerror(errno));
    m->data = p;
    m->size = (size_t)st.st_size;
    return 0;
}

void kvb_mmap_close(kvb_mmap *m)
{
    if (m->data)
        munmap(m->data, m->size);
    m->data = NULL;
    m->size = 0;
}
