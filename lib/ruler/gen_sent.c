/* RULER's sent_tokenize (nltk.tokenize), through lib/text/punkt. */
#include <stdlib.h>
#include <string.h>

#include "ruler/gen_internal.h"
#include "text/punkt.h"

static int load_punkt(rg_gen *g)
{
    char *probe = rg_data_file(g->o, "punkt_tab/english/ortho_context.tab", g->e);
    if (!probe)
        return g->e ? g->e->code : KVB_EIO;
    char *dir = probe;
    dir[strlen(dir) - strlen("/ortho_context.tab")] = '\0';
    int rc = kvb_punkt_load(dir, &g->punkt, g->e);
    free(probe);
    return rc;
}

int rg_sent_tokenize(rg_gen *g, const char *text, size_t len, rg_words *out)
{
    memset(out, 0, sizeof *out);
    int rc = g->punkt ? 0 : load_punkt(g);
    kvb_punkt_span *sp = NULL;
    size_t n = 0, bytes = 0;
    if (!rc)
        rc = kvb_punkt_sentences(g->punkt, text, len, &sp, &n, g->e);
    for (size_t i = 0; i < n && !rc; i++)
        bytes += sp[i].end - sp[i].start + 1;
    if (!rc && (!(out->buf = kvb_malloc(bytes + 1)) ||
                !(out->w = kvb_calloc(n ? n : 1, sizeof *out->w))))
        rc = kvb_errorf(g->e, KVB_ENOMEM, "ruler: out of memory");
    char *d = out->buf;
    for (size_t i = 0; i < n && !rc; i++) {
        size_t m = sp[i].end - sp[i].start;
        memcpy(d, text + sp[i].start, m);
        d[m] = '\0';
        out->w[out->n++] = d;
        d += m + 1;
    }
    free(sp);
    if (rc)
        rg_words_release(out);
    return rc;
}
