/* RULER's scripts/data/synthetic/variable_tracking.py on its noise haystack (synthetic.yaml's vt):
 * chains "VAR X = 12345", "VAR Y = VAR X ", ... inserted between noise lines. The script first
 * makes a one-sample in-context example at length 500 (3-letter names, value 12345, no answer
 * split), then the samples, each with that example put before the task template after renaming
 * its variables and value. */
#include <stdlib.h>
#include <string.h>

#include "ruler/gen_internal.h"
#include "text/text.h"

static const char NOISE[] = "The grass is green. The sky is blue. The sun is yellow. Here we go. "
                            "There and back again.";
static const char UPPER[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

typedef struct vt {
    rg_gen *g;
    int is_icl;
    long incremental, max_seq_length;
    const char *tmpl;
    kvb_strbuf input;
    rg_words chains;       /* this_chain of every chain, flat: num_hops + 1 lines each */
    int n_chains;
    char **vars0;          /* vars[0]: the answer */
    int n_vars0;
    rg_words vars_all;
} vt;

/* ''.join(random.choices(string.ascii_uppercase, k=k)).upper() */
static char *random_name(rg_gen *g, size_t k)
{
    size_t *idx = kvb_calloc(k ? k : 1, sizeof *idx);
    char *s = idx ? kvb_malloc(k + 1) : NULL;
    if (s) {
        kvb_pyrandom_choices(&g->rnd, 26, k, idx);
        for (size_t i = 0; i < k; i++)
            s[i] = UPPER[idx[i]];
        s[k] = '\0';
    }
    free(idx);
    return s;
}

static int words_add(rg_words *w, char *s)
{
    char **nw = s ? kvb_realloc(w->w, (w->n + 1) * sizeof *nw) : NULL;
    if (!nw) {
        free(s);
        return KVB_ENOMEM;
    }
    w->w = nw;
    w->w[w->n++] = s;
    return 0;
}

static size_t count_unique(const rg_words *w)
{
    size_t u = 0;
    for (size_t i = 0; i < w->n; i++) {
        size_t j = 0;
        while (j < i && strcmp(w->w[j], w->w[i]))
            j++;
        u += j == i;
    }
    return u;
}

/* generate_chains: RG_RAISED where a repeated name makes RULER's script index past a chain */
static int generate_chains(vt *c, int num_chains, int num_hops)
{
    rg_gen *g = c->g;
    if (c->is_icl)
        num_hops = KVB_MIN(10, num_hops);
    size_t k = c->is_icl ? 3 : 5, want = (size_t)((num_hops + 1) * num_chains);
    rg_words_release(&c->vars_all);
    rg_words_release(&c->chains);
    int rc = 0;
    for (size_t i = 0; i < want && !rc; i++)
        rc = words_add(&c->vars_all, random_name(g, k));
    while (!rc && count_unique(&c->vars_all) < want)
        rc = words_add(&c->vars_all, random_name(g, k));
    size_t step = (size_t)num_hops + 1;
    c->n_chains = 0;
    for (size_t i = 0; i < c->vars_all.n && !rc; i += step) {
        size_t have = KVB_MIN(step, c->vars_all.n - i);
        char **v = c->vars_all.w + i, line[128];
        if (c->is_icl) {
            snprintf(line, sizeof line, "VAR %s = 12345", v[0]);
        } else {
            int64_t x;
            rc = kvb_nprandom_randint(&g->np, 10000, 99999, &x, g->e);
            snprintf(line, sizeof line, "VAR %s = %lld", v[0], (long long)x);
        }
        if (!rc)
            rc = words_add(&c->chains, kvb_strdup(line));
        for (size_t j = 0; j < (size_t)num_hops && !rc; j++) {
            if (j + 1 >= have)
                return RG_RAISED; /* this_vars[j+1]: IndexError */
            snprintf(line, sizeof line, "VAR %s = VAR %s ", v[j + 1], v[j]);
            rc = words_add(&c->chains, kvb_strdup(line));
        }
        c->n_chains++;
    }
    c->vars0 = c->vars_all.w;
    c->n_vars0 = (int)KVB_MIN(step, c->vars_all.n);
    return rc;
}

static int generate_input_output(vt *c, long n)
{
    rg_gen *g = c->g;
    const kvb_ruler_task *t = g->t;
    int rc = generate_chains(c, t->num_chains, t->num_hops);
    if (rc)
        return rc;
    size_t len = (size_t)n, clen = (size_t)t->num_hops + 1;
    const char **lines = kvb_calloc(len + c->chains.n, sizeof *lines);
    size_t *pos = kvb_calloc(clen, sizeof *pos);
    rc = lines && pos ? 0 : KVB_ENOMEM;
    for (size_t i = 0; i < len && !rc; i++)
        lines[i] = NOISE;
    for (int ch = 0; ch < c->n_chains && !rc; ch++) {
        /* sorted(random.sample(range(len(sentences)), len(chain))), then insert(pos + j) */
        if (clen > len) {
            rc = RG_RAISED;
            break;
        }
        if ((rc = kvb_pyrandom_sample(&g->rnd, len, clen, pos, g->e)))
            break;
        for (size_t a = 1; a < clen; a++) /* insertion sort: five positions */
            for (size_t b = a; b > 0 && pos[b - 1] > pos[b]; b--) {
                size_t tmp = pos[b];
                pos[b] = pos[b - 1];
                pos[b - 1] = tmp;
            }
        for (size_t j = 0; j < clen; j++) {
            size_t at = pos[j] + j;
            memmove(lines + at + 1, lines + at, (len - at) * sizeof *lines);
            lines[at] = c->chains.w[(size_t)ch * clen + j];
            len++;
        }
    }
    kvb_strbuf ctx;
    kvb_strbuf_init(&ctx);
    if (!rc)
        rc = rg_join(&ctx, "\n", (char *const *)lines, len);
    free(lines);
    free(pos);
    char *context = rc ? NULL : rg_replace(ctx.buf, ". \n", ".\n");
    kvb_strbuf_release(&ctx);
    if (!rc && !context)
        rc = KVB_ENOMEM;
    if (!rc) {
        /* value = chains[0][0].split("=")[-1].strip(): the digits after "= " */
        const char *value = strrchr(c->chains.w[0], '=') + 2;
        char num_v[16];
        snprintf(num_v, sizeof num_v, "%d", t->num_hops + 1);
        rg_kv kv[] = { { "context", context }, { "query", value }, { "num_v", num_v } };
        c->input.len = 0;
        rc = rg_format(c->tmpl, kv, 3, &c->input, g->e);
    }
    free(context);
    return rc == KVB_ENOMEM ? kvb_errorf(g->e, rc, "ruler: out of memory") : rc;
}

static int probe(rg_gen *g, void *ctx, long n, long *total)
{
    vt *c = ctx;
    int rc = generate_input_output(c, n);
    if (!rc)
        rc = rg_tokens(g, c->input.buf, total);
    return rc;
}

/* randomize_icl: the last num_hops + 1 words (the answer's names) renamed, 12345 re-drawn */
static char *randomize_icl(vt *c, const char *icl)
{
    rg_gen *g = c->g;
    kvb_sv *tok = NULL;
    size_t nt = 0;
    size_t a, b;
    rg_strip(icl, strlen(icl), &a, &b);
    kvb_sv whole = { icl + a, b - a };
    if (kvb_split_ws(whole, &tok, &nt))
        return NULL;
    char *s = kvb_strdup(icl);
    size_t want = (size_t)g->t->num_hops + 1, first = nt > want ? nt - want : 0;
    for (size_t i = first; s && i < nt; i++) {
        char *item = kvb_malloc(tok[i].n + 1);
        char *name = item ? random_name(g, tok[i].n) : NULL; /* the names are ASCII */
        char *n = NULL;
        if (name) {
            memcpy(item, tok[i].p, tok[i].n);
            item[tok[i].n] = '\0';
            n = rg_replace(s, item, name);
        }
        free(item);
        free(name);
        free(s);
        s = n;
    }
    free(tok);
    int64_t x;
    if (!s || kvb_nprandom_randint(&g->np, 10000, 99999, &x, g->e)) {
        free(s);
        return NULL;
    }
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)x);
    char *n = rg_replace(s, "12345", num);
    free(s);
    return n;
}

/* one sample of sys_vartrack_w_noise_random; icl: the example text (NULL in the first call) */
static int one_sample(vt *c, long num_noises, const char *icl, long ttg, char **text, long *len)
{
    rg_gen *g = c->g;
    long used = num_noises;
    for (int tries = 0;; tries++) {
        int rc = generate_input_output(c, used);
        char *in = NULL;
        if (!rc && icl) { /* the example goes before the task template */
            const char *at = strstr(c->input.buf, "Memorize and track t");
            char *r = at ? randomize_icl(c, icl) : NULL;
            kvb_strbuf sb;
            kvb_strbuf_init(&sb);
            if (!at)
                rc = RG_RAISED; /* str.index: ValueError */
            else if (!r || kvb_strbuf_add(&sb, c->input.buf, (size_t)(at - c->input.buf)) ||
                     kvb_strbuf_adds(&sb, r) || kvb_strbuf_adds(&sb, "\n") ||
                     kvb_strbuf_adds(&sb, at))
                rc = kvb_errorf(g->e, KVB_ENOMEM, "ruler: out of memory");
            free(r);
            in = kvb_strbuf_detach(&sb);
        } else if (!rc) {
            in = kvb_strdup(c->input.buf);
        }
        if (!rc && in && g->o->remove_newline_tab) {
            char *r = rg_remove_newline_tab(in);
            free(in);
            in = r;
        }
        if (!rc && !in)
            rc = kvb_errorf(g->e, KVB_ENOMEM, "ruler: out of memory");
        if (!rc && !(rc = rg_tokens(g, in, len)))
            *len += ttg;
        if (!rc && *len <= c->max_seq_length) {
            *text = in;
            return 0;
        }
        free(in);
        if (rc && rc != RG_RAISED)
            return rc;
        if (used > c->incremental)
            used -= c->incremental;
        else if (tries > 1000)
            return kvb_errorf(g->e, KVB_EINVAL, "ruler: vt: length %ld is too small: no sample of "
                              "%ld noise lines fits", c->max_seq_length, used);
    }
}

/* the search of sys_vartrack_w_noise_random; example_tokens + ttg are added to each probe */
static int search(vt *c, long extra, long *best)
{
    rg_gen *g = c->g;
    long inc = c->incremental, st;
    int rc = probe(g, c, inc, &st);
    if (rc)
        return rc == RG_RAISED ? kvb_errorf(g->e, KVB_EINVAL, "ruler: vt: RULER's generator "
                                            "raises on its first sample") : rc;
    double per = (double)st / (double)inc;
    long est = (long)(((double)c->max_seq_length / per) * 3);
    long saved = g->max_seq_length; /* rg_search compares with g->max_seq_length - extra */
    g->max_seq_length = c->max_seq_length - extra;
    rc = rg_search(g, probe, c, inc, KVB_MAX(est, inc * 2), inc, best);
    g->max_seq_length = saved;
    return rc;
}

static int run(vt *c, kvb_ruler_samples *out)
{
    rg_gen *g = c->g;
    const rg_base *base = g->base;
    /* the in-context example: is_icl, max_seq_length 500, no tokens to generate, the model
     * template left out (template != TASKS' template + answer prefix) */
    char *bare = kvb_malloc(strlen(base->template) + strlen(base->answer_prefix) + 1);
    if (!bare)
        return kvb_errorf(g->e, KVB_ENOMEM, "ruler: out of memory");
    strcat(strcpy(bare, base->template), base->answer_prefix);
    c->is_icl = 1;
    c->tmpl = bare;
    c->max_seq_length = 500;
    c->incremental = 5;
    long best, len;
    char *icl_in = NULL;
    int rc = search(c, 0, &best);
    if (!rc)
        rc = one_sample(c, best, NULL, 0, &icl_in, &len);
    kvb_strbuf icl;
    kvb_strbuf_init(&icl);
    if (!rc) { /* icl_example['input'] + " " + ' '.join(icl_example['outputs']) + '\n' */
        rc = kvb_strbuf_adds(&icl, icl_in) | kvb_strbuf_add(&icl, " ", 1) |
             rg_join(&icl, " ", c->vars0, (size_t)c->n_vars0) | kvb_strbuf_add(&icl, "\n", 1);
        if (rc)
            rc = kvb_errorf(g->e, KVB_ENOMEM, "ruler: out of memory");
    }
    free(icl_in);
    free(bare);
    /* the samples */
    c->is_icl = 0;
    c->tmpl = g->tmpl;
    c->max_seq_length = g->o->max_seq_length;
    c->incremental = g->o->max_seq_length < 4096 ? 5 : 10;
    long example_tokens = 0, ttg = base->tokens_to_generate;
    if (!rc)
        rc = rg_tokens(g, icl.buf, &example_tokens);
    if (!rc)
        rc = search(c, example_tokens + ttg, &best);
    for (long i = 0; i < g->o->num_samples && !rc; i++) {
        char *text = NULL;
        out->n = i + 1;
        out->s[i].index = i;
        rc = one_sample(c, best, icl.buf, ttg, &text, &len);
        if (!rc) /* remove_newline_tab is already applied */
            rc = rg_emit(g, &out->s[i], text, 0, c->vars0, c->n_vars0, len);
        free(text);
    }
    kvb_strbuf_release(&icl);
    return rc;
}

int rg_gen_vt(rg_gen *g, kvb_ruler_samples *out)
{
    vt c = { .g = g };
    kvb_strbuf_init(&c.input);
    int rc = run(&c, out);
    kvb_strbuf_release(&c.input);
    rg_words_release(&c.chains);
    rg_words_release(&c.vars_all);
    return rc;
}
