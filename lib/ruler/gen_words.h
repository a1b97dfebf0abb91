/* lib/ruler: the i-th of niah.py's sorted adjective-noun needles without building all of them
 * (gen_words.c); private to lib/ruler. */
#ifndef KVB_RULER_GEN_WORDS_H
#define KVB_RULER_GEN_WORDS_H

#include "ruler/gen_internal.h"

struct cluster;
typedef struct rg_pairs {
    const rg_words *adjs, *nouns; /* each sorted and unique; borrowed */
    struct cluster *clusters;
    size_t n_clusters;
    size_t total; /* len(sorted(set(words))) */
} rg_pairs;

int rg_pairs_init(rg_pairs *p, const rg_words *adjs, const rg_words *nouns);
void rg_pairs_release(rg_pairs *p);
/* the i-th string (i < total) into buf; KVB_EINVAL when it does not fit */
int rg_pairs_get(const rg_pairs *p, size_t i, char *buf, size_t size);

#endif
