/* The generation loop of lib/runner/generate on the real SmolLM2 (models/, `make model`):
 * greedy and deterministic, max_new_tokens honoured, stop ids end generation (the stop token is
 * kept in the output ids, as HF's generate keeps eos), min_new_tokens masks them at the first
 * step (samsum), and the accounting is filled. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "longbench/prompt.h"
#include "runner/generate.h"
#include "numeric_paths.h"

static kvb_model *m;
static kvb_ids prompt;

static void setup(void)
{
    kvb_error e = { 0 };
    kvb_model_opts o = { .threads = test_threads(2), .weights_bf16 = 1 };
    cr_assert_eq(kvb_model_open(&m, "smollm2-135m", &o, &e), 0, "%s (run `make model`)", e.msg);
    const kvb_tokenizer *t = kvb_model_get_config(m) ? kvb_model_tokenizer(m) : NULL;
    cr_assert_not_null(t);
    kvb_ids_init(&prompt);
    kvb_lb_prompt_opts po = { 0, "chatml", 0, 0 };
    const char *text = "List three colours of the rainbow.";
    int tr;
    cr_assert_eq(kvb_lb_prompt_ids(t, text, strlen(text), &po, &prompt, &tr, &e), 0, "%s", e.msg);
}

static void teardown(void)
{
    kvb_ids_release(&prompt);
    kvb_model_free(m);
}

static void gen_with(const char *method, const kvb_cache_param *p, int np, const kvb_ids *ids,
                     const kvb_gen_opts *o, kvb_gen_result *r)
{
    const kvb_model_config *c = kvb_model_get_config(m);
    kvb_cache_shape shape = { c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim,
                              (int)ids->n + o->max_new_tokens + 1, c->family };
    kvb_cache *cache;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_cache_create(&cache, method, &shape, p, np, kvb_model_pool(m), &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_generate(m, cache, ids->ids, (int)ids->n, o, r, &e), 0, "%s", e.msg);
    kvb_cache_free(cache);
}

static void gen(const kvb_gen_opts *o, kvb_gen_result *r)
{
    gen_with("full", NULL, 0, &prompt, o, r);
}

TestSuite(pipeline, .init = setup, .fini = teardown, .timeout = 300);

Test(pipeline, greedy_stops_and_min_tokens)
{
    kvb_gen_opts o;
    memset(&o, 0, sizeof(o));
    o.max_new_tokens = 6;
    kvb_gen_result a, b;
    gen(&o, &a);
    gen(&o, &b);
    /* no stop ids: exactly max_new_tokens, identical twice */
    cr_assert_eq(a.out.n, 6);
    cr_assert_eq(a.stopped_by, 0);
    cr_assert(!memcmp(a.out.ids, b.out.ids, 6 * sizeof(int32_t)));
    cr_assert_str_eq(a.text, b.text);
    cr_assert_eq(a.n_prompt, (int)prompt.n);
    cr_assert(a.prefill.bytes > 0 && a.end.bytes >= a.prefill.bytes && a.peak_bytes >= a.end.bytes);
    cr_assert_eq(a.end.tokens, a.end.tokens_full); /* full cache keeps everything */
    /* the prompt plus all generated tokens but the last went through the model */
    long heads = kvb_model_get_config(m)->n_kv_heads;
    cr_assert_eq(a.layers_end[0].tokens_full, (long)(prompt.n + 5) * heads, "%ld", a.layers_end[0].tokens_full);
    cr_assert_eq(a.end.tokens_full, a.layers_end[0].tokens_full * a.n_layers);
    int32_t first = a.out.ids[0], third = a.out.ids[2];
    kvb_gen_result_release(&b);

    /* the third token as a stop id: generation ends there, the stop token included */
    o.stop_ids[0] = third;
    o.n_stop = 1;
    gen(&o, &b);
    cr_assert_eq(b.out.n, 3);
    cr_assert_eq(b.stopped_by, 1);
    cr_assert(!memcmp(b.out.ids, a.out.ids, 3 * sizeof(int32_t)));
    kvb_gen_result_release(&b);

    /* the first token as a stop id: one token; with min_new_tokens = 1 it is masked at step one */
    o.stop_ids[0] = first;
    gen(&o, &b);
    cr_assert_eq(b.out.n, 1);
    kvb_gen_result_release(&b);
    o.min_new_tokens = 1;
    gen(&o, &b);
    cr_assert_neq(b.out.ids[0], first);
    cr_assert(b.out.n >= 1);
    kvb_gen_result_release(&b);

    char *j = kvb_mem_trace_json("rec-1", 7, &a);
    cr_assert_not_null(j);
    cr_assert(strstr(j, "\"_id\":\"rec-1\",\"_index\":7") && strstr(j, "\"layers_end\":[{") &&
              strstr(j, "\"peak_kv_bytes\":"), "%s", j);
    free(j);
    kvb_gen_result_release(&a);
}

Test(pipeline_text, post_process)
{
    char *s = kvb_post_process("smollm2-135m", " keep \n as is ");
    cr_assert_str_eq(s, " keep \n as is ");
    free(s);
    s = kvb_post_process("xgen-7b-8k", "  Assistant: hi Assistant:\n");
    cr_assert_str_eq(s, " hi "); /* strip() first, then the replace */
    free(s);
    s = kvb_post_process("internlm-7b-8k", "answer<eoa>junk");
    cr_assert_str_eq(s, "answer");
    free(s);
}

/* ---- memory trace -------------------------------------------------------------------------- */

/* The default k is the smallest that keeps every record within KVB_TRACE_MAX_POINTS points. */
Test(pipeline_text, trace_every_default_is_smallest_fitting)
{
    cr_assert_eq(kvb_trace_every(64, 0), 1);   /* steps 0..63: 64 points */
    cr_assert_eq(kvb_trace_every(65, 0), 2);
    cr_assert_eq(kvb_trace_every(512, 5), 5);  /* asked for */
    cr_assert_eq(kvb_trace_points(5, 2), 4);   /* 0 2 4 5 */
    cr_assert_eq(kvb_trace_points(4, 2), 3);   /* 0 2 4 */
    for (int max_new = 0; max_new <= 5000; max_new++) {
        const int last = max_new > 0 ? max_new - 1 : 0, k = kvb_trace_every(max_new, 0);
        cr_assert_leq(kvb_trace_points(last, k), KVB_TRACE_MAX_POINTS, "max_new %d", max_new);
        if (k > 1)
            cr_assert_gt(kvb_trace_points(last, k - 1), KVB_TRACE_MAX_POINTS, "max_new %d", max_new);
        /* a shorter generation never has more points */
        for (int l = 0; l < last; l += 97)
            cr_assert_leq(kvb_trace_points(l, k), KVB_TRACE_MAX_POINTS);
    }
}

static void expect_steps(const kvb_gen_result *r, const int *steps, int n)
{
    cr_assert_eq(r->n_trace, n, "%d points, expected %d", r->n_trace, n);
    for (int i = 0; i < n; i++)
        cr_assert_eq(r->trace_step[i], steps[i], "point %d: step %d, expected %d", i,
                     r->trace_step[i], steps[i]);
}

/* The trace of a `full` cache is real: every step adds exactly one token's K and V in every layer
 * (f16, the default: 2 x 2 bytes x head_dim x kv heads), the layers sum to the total, the first point is the
 * end of prefill and the last the end of decoding; a fabricated (e.g. interpolated) or
 * mis-stepped series fails. */
Test(pipeline, trace_points_and_full_growth)
{
    const kvb_model_config *c = kvb_model_get_config(m);
    const size_t per_token = (size_t)c->n_layers * c->n_kv_heads * c->head_dim * 2 * 2;
    kvb_gen_opts o;
    memset(&o, 0, sizeof(o));
    o.max_new_tokens = 6;
    kvb_gen_result r;
    const struct { int every, n; int steps[8]; } cases[] = {
        { 0, 6, { 0, 1, 2, 3, 4, 5 } }, /* default: every step fits in 64 points */
        { 2, 4, { 0, 2, 4, 5 } },       /* the last step is always there */
        { 5, 2, { 0, 5 } },
        { 9, 2, { 0, 5 } },
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        o.trace_every = cases[k].every;
        gen(&o, &r);
        cr_assert_eq(r.out.n, 6);
        cr_assert_eq(r.trace_every, cases[k].every ? cases[k].every : 1);
        expect_steps(&r, cases[k].steps, cases[k].n);
        for (int i = 0; i < r.n_trace; i++) {
            cr_assert_eq(r.trace[i].bytes, (prompt.n + (size_t)r.trace_step[i]) * per_token,
                         "step %d: %zu bytes", r.trace_step[i], r.trace[i].bytes);
            cr_assert_eq(r.trace[i].tokens, (long)(prompt.n + r.trace_step[i]) * c->n_kv_heads * c->n_layers);
            size_t sum = 0;
            for (int l = 0; l < r.n_layers; l++) {
                const kvb_cache_layer_stats *s = &r.trace_layers[(size_t)i * r.n_layers + l];
                sum += s->k_bytes + s->v_bytes + s->meta_bytes + s->residual_bytes;
            }
            cr_assert_eq(sum, r.trace[i].bytes, "step %d: layers %zu, total %zu", r.trace_step[i], sum,
                         r.trace[i].bytes);
        }
        cr_assert_eq(r.prefill.bytes, r.trace[0].bytes);
        cr_assert_eq(r.end.bytes, r.trace[r.n_trace - 1].bytes);
        cr_assert_eq(r.layers_prefill, r.trace_layers);
        cr_assert_eq(r.prefill_peak_bytes, r.prefill.bytes); /* full never holds more than it keeps */
        kvb_gen_result_release(&r);
    }

    /* a stop token at the third token: steps 0..2, the last one included with k = 2 */
    o.trace_every = 2;
    gen(&o, &r);
    o.stop_ids[0] = r.out.ids[2];
    o.n_stop = 1;
    kvb_gen_result_release(&r);
    gen(&o, &r);
    cr_assert_eq(r.out.n, 3);
    expect_steps(&r, (const int[]){ 0, 2 }, 2);
    kvb_gen_result_release(&r);
    o.trace_every = 4;
    gen(&o, &r);
    expect_steps(&r, (const int[]){ 0, 2 }, 2);

    /* the JSON line carries the same series: kv_bytes per point, layer_bytes summing to it */
    char *j = kvb_mem_trace_json("rec-2", 3, &r);
    cJSON *o_ = cJSON_Parse(j);
    cr_assert_not_null(o_, "%s", j);
    const cJSON *t = cJSON_GetObjectItem(o_, "trace");
    cr_assert_eq(cJSON_GetObjectItem(t, "every")->valuedouble, 4);
    const cJSON *steps = cJSON_GetObjectItem(t, "step"), *bytes = cJSON_GetObjectItem(t, "kv_bytes"),
                *layers = cJSON_GetObjectItem(t, "layer_bytes");
    cr_assert_eq(cJSON_GetArraySize(steps), 2);
    cr_assert_eq(cJSON_GetArraySize(bytes), 2);
    cr_assert_eq(cJSON_GetArraySize(layers), 2);
    for (int i = 0; i < 2; i++) {
        const cJSON *row = cJSON_GetArrayItem(layers, i);
        cr_assert_eq(cJSON_GetArraySize(row), c->n_layers);
        double sum = 0;
        for (int l = 0; l < c->n_layers; l++)
            sum += cJSON_GetArrayItem(row, l)->valuedouble;
        cr_assert_eq(sum, cJSON_GetArrayItem(bytes, i)->valuedouble);
        cr_assert_eq(cJSON_GetArrayItem(bytes, i)->valuedouble, (double)r.trace[i].bytes);
    }
    cr_assert_eq(cJSON_GetObjectItem(o_, "prefill_peak_kv_bytes")->valuedouble, (double)r.prefill_peak_bytes);
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(o_, "prefill"), "kv_bytes")->valuedouble,
                 (double)r.prefill.bytes); /* the old end-point fields stay */
    cJSON_Delete(o_);
    free(j);
    kvb_gen_result_release(&r);
}

/* ZigZagKV holds every layer of the prompt in fp16 until prefill ends: the prefill peak is that
 * (measured, not estimated) and strictly more than what it keeps; SnapKV keeps what it selects
 * layer by layer, so its peak is its end of prefill; SimLayerKV's series is not a line. */
Test(pipeline, prefill_peak_of_compressing_methods)
{
    const kvb_model_config *c = kvb_model_get_config(m);
    const kvb_tokenizer *tok = kvb_model_tokenizer(m);
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    for (int i = 0; i < 6; i++)
        kvb_strbuf_adds(&sb, "The quick brown fox jumps over the lazy dog near the river bank. ");
    kvb_ids ids;
    kvb_ids_init(&ids);
    kvb_lb_prompt_opts po = { 0, "chatml", 0, 0 };
    int tr;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_lb_prompt_ids(tok, sb.buf, sb.len, &po, &ids, &tr, &e), 0, "%s", e.msg);
    kvb_strbuf_release(&sb);
    cr_assert_gt(ids.n, 64);
    const kvb_cache_param p[] = { { "budget", "32" } };
    kvb_gen_opts o;
    memset(&o, 0, sizeof(o));
    o.max_new_tokens = 3;
    kvb_gen_result r;
    gen_with("ZigZagKV", p, 1, &ids, &o, &r);
    const size_t full16 = ids.n * (size_t)c->n_layers * c->n_kv_heads * c->head_dim * 2 * 2;
    cr_assert_eq(r.prefill_peak_bytes, full16, "%zu vs %zu", r.prefill_peak_bytes, full16);
    cr_assert_gt(r.prefill_peak_bytes, r.prefill.bytes);
    cr_assert_geq(r.peak_bytes, r.prefill_peak_bytes);
    kvb_gen_result_release(&r);
    gen_with("SnapKV", p, 1, &ids, &o, &r);
    cr_assert_eq(r.prefill_peak_bytes, r.prefill.bytes);
    cr_assert_lt(r.prefill.bytes, full16);
    kvb_gen_result_release(&r);

    /* SimLayerKV with threshold 0 makes every layer lazy at the first decode step: the series
     * drops there and then grows by one fp16 token per step, which no straight line between the
     * end points reproduces */
    const kvb_cache_param sp[] = { { "threshold", "0" }, { "recent", "16" } };
    o.max_new_tokens = 5;
    gen_with("SimLayerKV", sp, 2, &ids, &o, &r);
    cr_assert_eq(r.n_trace, 5);
    cr_assert_eq(r.prefill_peak_bytes, r.prefill.bytes);
    cr_assert_eq(r.trace[0].bytes, full16);
    cr_assert_lt(r.trace[1].bytes, r.trace[0].bytes / 2);
    for (int i = 2; i < r.n_trace; i++)
        cr_assert_eq(r.trace[i].bytes - r.trace[i - 1].bytes, full16 / ids.n, "step %d", i);
    kvb_gen_result_release(&r);
    kvb_ids_release(&ids);
}

/* The greedy margin: recomputed here step by step from the model's own logits (prefill, then one
 * decode per chosen token), its minimum and step must be what kvb_generate reports. */
Test(pipeline, smallest_top2_gap_and_its_step)
{
    kvb_gen_opts o;
    memset(&o, 0, sizeof(o));
    o.max_new_tokens = 5;
    kvb_gen_result r;
    gen(&o, &r);
    const kvb_model_config *c = kvb_model_get_config(m);
    kvb_cache_shape shape = { c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim,
                              (int)prompt.n + 8, c->family };
    kvb_cache *cache;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_cache_create(&cache, "full", &shape, NULL, 0, kvb_model_pool(m), &e), 0);
    float *lg = malloc(sizeof(float) * c->vocab);
    cr_assert_eq(kvb_cache_reset(cache, (int)prompt.n, &e), 0);
    cr_assert_eq(kvb_model_prefill(m, cache, prompt.ids, (int)prompt.n, lg, &e), 0, "%s", e.msg);
    float best_gap = 0;
    int best_step = -1;
    for (int s = 0; s < 5; s++) {
        int32_t top = kvb_argmax(lg, c->vocab);
        cr_assert_eq(top, r.out.ids[s]);
        float second = -INFINITY;
        for (int v = 0; v < c->vocab; v++)
            if (v != top && lg[v] > second)
                second = lg[v];
        if (best_step < 0 || lg[top] - second < best_gap)
            best_gap = lg[top] - second, best_step = s;
        if (s < 4)
            cr_assert_eq(kvb_model_decode(m, cache, top, (int)prompt.n + s, lg, &e), 0, "%s", e.msg);
    }
    cr_assert_eq(r.margin_step, best_step);
    cr_assert_float_eq(r.margin, best_gap, 0.0f, "%g vs %g", r.margin, best_gap);
    cr_assert_gt(r.margin, 0.0f);
    free(lg);
    kvb_cache_free(cache);
    kvb_gen_result_release(&r);
}
