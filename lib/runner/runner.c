/* The loop of `kvbench run`, over any task source (runner.h). */
#include "runner/runner.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kvb_source_release(kvb_source *s)
{
    if (s->release)
        s->release(s->ctx);
    memset(s, 0, sizeof(*s));
}

size_t kvb_run_estimate_bytes(const kvb_model_config *c, long n_prompt, long n_new)
{
    double t = (double)(n_prompt + n_new);
    double kv = 2.0 * c->n_layers * c->n_kv_heads * c->head_dim * t * 4;
    /* hidden states, MLP, logits, one row of attention scores per head */
    double act = 4.0 * n_prompt * (4.0 * c->hidden + 2.0 * c->intermediate) +
                 4.0 * c->vocab + 4.0 * c->n_heads * (double)n_prompt * 8;
    double s = kv + act;
    return s > 1e18 ? (size_t)1e18 : (size_t)s;
}

size_t kvb_run_mem_limit(size_t max_memory, size_t weight_bytes)
{
    if (max_memory)
        return max_memory > weight_bytes ? max_memory - weight_bytes : 0;
    size_t avail = kvb_available_memory();
    return avail ? avail : (size_t)1 << 62; /* unknown: do not guess */
}

/* ---- one record ---------------------------------------------------------------------------- */

static void fill_record(kvb_run_record *rec, const kvb_gen_result *g, long n, double score)
{
    rec->score = score;
    rec->prompt_tokens = n;
    rec->gen_tokens = (long)g->out.n;
    rec->kv_bytes_prefill = (double)g->prefill.bytes;
    rec->kv_bytes_decode = (double)g->end.bytes;
    rec->kv_bytes_peak = (double)g->peak_bytes;
    rec->kv_full16_bytes = (double)g->end.full16_bytes;
    rec->keep_ratio = g->prefill.tokens_full ? (double)g->prefill.tokens / g->prefill.tokens_full : 1;
    rec->prefill_s = g->t_prefill;
    rec->decode_s = g->t_decode;
    /* an infinite gap (a one-token vocabulary, every other logit masked) has no JSON number */
    rec->has_margin = isfinite(g->margin);
    rec->margin = g->margin;
    rec->margin_step = g->margin_step;
}

/* The prediction line: LongBench's fields first (eval.py reads pred/answers/all_classes), then
 * kvbench's. */
static char *pred_line(const kvb_source *s, long i, const char *id, const char *pred,
                       kvb_run_record *rec, kvb_error *e)
{
    cJSON *line = cJSON_CreateObject();
    cJSON_AddStringToObject(line, "pred", pred);
    int rc = s->fields(s->ctx, i, pred, line, rec, e);
    if (!rc) {
        cJSON_AddStringToObject(line, "_id", id);
        rc = kvb_pred_add_fields(line, i, rec, e);
    }
    char *text = rc ? NULL : cJSON_PrintUnformatted(line);
    cJSON_Delete(line);
    if (!rc && !text)
        kvb_errorf(e, KVB_ENOMEM, "out of memory");
    return text;
}

static int run_item(kvb_runner *r, const kvb_source *s, long i, const char *id,
                    const kvb_ids *ids, const kvb_gen_opts *gen, kvb_run_task *t, kvb_error *e)
{
    const kvb_model_config *c = kvb_model_get_config(r->m);
    int n = (int)ids->n, rc;
    size_t need = kvb_run_estimate_bytes(c, n, gen->max_new_tokens);
    if (need > r->mem_limit) {
        if (!r->skip_oversized)
            return kvb_errorf(e, KVB_ENOMEM,
                              "%s %s: %d prompt tokens need about %.2f GiB for the cache and "
                              "activations, more than the %.2f GiB allowed (--max-memory); pass "
                              "--skip-oversized to skip such records",
                              s->task, id, n, need / 1073741824.0, r->mem_limit / 1073741824.0);
        r->n_oversized++;
        t->n_bad++;
        fprintf(stderr, "kvbench: %s %s: skipped, needs %.2f GiB (--max-memory)\n", s->task, id,
                need / 1073741824.0);
        return 0;
    }
    kvb_cache_shape shape = { c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim,
                              n + gen->max_new_tokens + 1, c->family };
    kvb_cache *cache = NULL;
    if ((rc = kvb_cache_create(&cache, r->method, &shape, r->params, r->n_params,
                               kvb_model_pool(r->m), e)))
        return rc;
    kvb_gen_result g;
    rc = kvb_generate(r->m, cache, ids->ids, n, gen, &g, e);
    kvb_cache_free(cache);
    if (rc) {
        kvb_gen_result_release(&g);
        return kvb_error_prefix(e, "%s %s", s->task, id);
    }
    double score = 0;
    kvb_run_record rec;
    memset(&rec, 0, sizeof(rec));
    char *text = NULL, *mem = NULL;
    if (!(rc = s->score(s->ctx, i, g.text, &score, e))) {
        fill_record(&rec, &g, n, score);
        if (!(text = pred_line(s, i, id, g.text, &rec, e)))
            rc = e ? e->code : KVB_ENOMEM;
        else
            mem = kvb_mem_trace_json(id, i, &g);
    }
    kvb_gen_result_release(&g);
    if (!rc)
        rc = kvb_rundir_commit(r->dir, id, text, mem, e);
    if (!rc)
        rc = kvb_run_task_add_record(t, &rec, e);
    free(text);
    free(mem);
    return rc;
}

/* ---- one task ------------------------------------------------------------------------------ */

/* One record done: advance the bar with the task's running token rate. */
static void progress_step(kvb_progress *pg, long done, const kvb_run_task *t)
{
    char extra[128];
    double s = t->prefill_s + t->decode_s;
    snprintf(extra, sizeof(extra), "%s %.1f tok/s", t->name,
             s > 0 ? (t->prompt_tokens + t->gen_tokens) / s : 0);
    kvb_progress_update(pg, done, extra);
}

static void gen_opts(const kvb_runner *r, const kvb_source *s, kvb_gen_opts *gen)
{
    const kvb_model_config *c = kvb_model_get_config(r->m);
    memset(gen, 0, sizeof(*gen));
    gen->max_new_tokens = s->max_new_tokens;
    gen->min_new_tokens = s->min_new_tokens;
    gen->trace_every = r->trace_every;
    gen->cleanup_spaces = r->cleanup;
    for (int i = 0; i < c->n_stop && gen->n_stop < 15; i++)
        gen->stop_ids[gen->n_stop++] = c->stop_ids[i];
    for (int i = 0; i < s->n_stop && gen->n_stop < 16; i++)
        gen->stop_ids[gen->n_stop++] = s->stop_ids[i];
}

int kvb_run_source(kvb_runner *r, const kvb_source *s, kvb_error *e)
{
    char key[300];
    snprintf(key, sizeof(key), "data.%s", s->task);
    int rc;
    if ((rc = kvb_rundir_fp_check(r->dir, key, s->data_sha256, e)) ||
        (rc = kvb_rundir_fp_save(r->dir, e)))
        return rc;
    kvb_run_task *t = kvb_run_add_task(r->run, s->task, s->metric, e);
    if (!t)
        return e ? e->code : KVB_EINVAL;
    if (s->buckets)
        kvb_run_task_want_buckets(t);
    t->n_bad = s->n_bad;
    if ((rc = kvb_run_add_data_file(r->run, s->task, s->data_sha256, e)) ||
        (rc = kvb_rundir_task_begin(r->dir, s->task, t, e)))
        return rc;
    kvb_gen_opts gen;
    gen_opts(r, s, &gen);
    long n_use = r->limit >= 0 ? KVB_MIN(s->n, r->limit) : s->n, todo = 0;
    for (long i = r->shard_i; i < n_use; i += r->shard_n)
        todo++;
    kvb_progress pg;
    kvb_progress_begin(&pg, s->task, todo, s->unit);
    double t0 = kvb_now();
    long k = 0;
    for (long i = r->shard_i; i < n_use && !rc; i += r->shard_n, k++) {
        char buf[128];
        const char *id = s->id(s->ctx, i, buf, sizeof(buf));
        if (kvb_rundir_is_done(r->dir, id))
            continue;
        if (r->stop && *r->stop)
            break;
        kvb_ids ids;
        kvb_ids_init(&ids);
        rc = s->prompt(s->ctx, i, &ids, e);
        if (!rc)
            rc = run_item(r, s, i, id, &ids, &gen, t, e);
        kvb_ids_release(&ids);
        progress_step(&pg, k + 1, t);
    }
    kvb_progress_end(&pg);
    t->wall_s += kvb_now() - t0;
    return rc;
}
