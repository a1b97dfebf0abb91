/* Replays a fuzz corpus without libFuzzer: `replay DIR...` feeds every file to the harness.
 * Built with gcc by `make test`, so CI exercises every crash ever found in seconds. */
#include "fuzz.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

int main(int argc, char **argv)
{
    long n = 0;
    for (int a = 1; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        if (!d) {
            fprintf(stderr, "replay: cannot open %s\n", argv[a]);
            return 2;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            char *p = kvb_path_join(argv[a], de->d_name), *data;
            size_t len;
            if (!kvb_read_file(p, (size_t)1 << 28, &data, &len, NULL)) {
                LLVMFuzzerTestOneInput((const uint8_t *)data, len);
                free(data);
                n++;
            }
            free(p);
        }
        closedir(d);
    }
    printf("replayed %ld inputs\n", n);
    return 0;
}
