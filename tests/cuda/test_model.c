/* tests/cuda/test_model.c: the forward-pass driver (kvb_cuda_model_*) end to end:
 *   - prefill logits against the CPU twin pipeline and against transformers' logits of the tiny
 *     Llama fixture (GQA 2, llama3 RoPE scaling), several prompt lengths;
 *   - decode steps (KV cache written by prefill, then one token at a time) against the twin's
 *     prefill of the same longer prefix and against transformers;
 *   - device memory: own accounting = planned bytes, and cudaMemGetInfo's free memory fell by at
 *     least that much;
 *   - a model that cannot fit is refused before anything is allocated;
 *   - random weights + the bench entry run and report positive times and floors.
 * Tolerance: 0.75% of the largest |logit| (see test_twins: bf16 rounding of activations moves
 * logits by ~0.3% of their range; GPU and twin round at the same places). */
#include "tiny_llama.h"

static void compare(const char *what, const float *got, const float *ref, int V)
{
    float mx = 0;
    for (int j = 0; j < V; j++) mx = fabsf(ref[j]) > mx ? fabsf(ref[j]) : mx;
    close_f32(what, got, ref, (size_t)V, 0.0075 * mx, 0);
}

/* Own accounting equals the plan exactly. With `driver` (a model of tens of MiB), cudaMemGetInfo's
 * free memory also fell by at least that much less 2 MiB: the driver maps device memory in 2 MiB
 * pages, and small allocations can land in a page the context had already mapped (an H200 showed
 * a drop of 0 for the 290 KB tiny model), while bigger ones cannot hide. */
static void check_accounting(const char *what, size_t own, size_t plan, int driver,
                             const kvb_cuda_info *i0, const kvb_cuda_info *i1)
{
    size_t drop = i0->mem_free >= i1->mem_free ? i0->mem_free - i1->mem_free : 0;
    int ok = own == plan && (!driver || drop + ((size_t)2 << 20) >= own);
    printf("%-4s %-48s own %zu, planned %zu, cudaMemGetInfo drop %zu\n", ok ? "ok" : "FAIL", what,
           own, plan, drop);
    if (!ok) g_fail = 1;
}

int main(void)
{
    kvb_cuda *c = open_or_skip("test_model");
    tiny_llama t;
    if (tiny_llama_load(&t, "tests/fixtures/cuda")) return 1;
    const int V = t.d.vocab;
    float *lg = xmalloc(sizeof(float) * V), *lr = xmalloc(sizeof(float) * V);
    kvb_cuda_model *m = NULL;
    kvb_cuda_info i0, i1;
    CU(kvb_cuda_info_get(c, &i0, E));
    size_t b0 = kvb_cuda_bytes(c);
    CU(kvb_cuda_model_create(c, &m, &t.d, E));
    CU(kvb_cuda_info_get(c, &i1, E));
    size_t own = kvb_cuda_bytes(c) - b0;
    check_accounting("device memory accounting (tiny model)", own, kvb_cuda_model_bytes(&t.d), 0,
                     &i0, &i1);
    char what[96];
    int lens[] = {1, 9, 33, t.n_ids};
    for (size_t i = 0; i < KVB_ARRAY_SIZE(lens); i++) {
        int n = lens[i];
        int32_t next = -1;
        CU(kvb_cuda_model_prefill(m, t.ids, n, lg, &next, E));
        kvb_ref_model_forward(&t.d, t.ids, n, lr);
        snprintf(what, sizeof what, "prefill %d tokens vs twin", n);
        compare(what, lg, lr, V);
        compare("  vs transformers", lg, t.logits + (size_t)(n - 1) * V, V);
        int am = 0;
        for (int j = 1; j < V; j++) am = lg[j] > lg[am] ? j : am;
        if (next != am) printf("FAIL   argmax on device %d, from logits %d\n", next, am), g_fail = 1;
    }
    /* decode: prefill 20, then feed the fixture's next tokens one by one */
    int n0 = 20;
    CU(kvb_cuda_model_prefill(m, t.ids, n0, NULL, NULL, E));
    for (int p = n0; p < t.n_ids; p++) {
        CU(kvb_cuda_model_decode(m, t.ids[p], p, lg, NULL, E));
        kvb_ref_model_forward(&t.d, t.ids, p + 1, lr);
        snprintf(what, sizeof what, "decode pos %d vs twin prefill of %d", p, p + 1);
        compare(what, lg, lr, V);
        compare("  vs transformers", lg, t.logits + (size_t)p * V, V);
    }
    int graph_ok = kvb_cuda_model_decode_graph(m);
    printf("%-4s %-48s %s\n", graph_ok ? "ok" : "FAIL", "decode steps replay one CUDA graph",
           graph_ok ? "captured at the first step" : "capture failed: decode ran eagerly");
    if (!graph_ok) g_fail = 1;
    kvb_cuda_model_free(m);
    int freed_ok = kvb_cuda_bytes(c) == b0;
    printf("%-4s %-48s %zu bytes held after free (%zu before)\n", freed_ok ? "ok" : "FAIL",
           "model free returns every byte", kvb_cuda_bytes(c), b0);
    if (!freed_ok) g_fail = 1;

    /* refusal: a vocabulary of 2^31/hidden rows x 64 layers does not fit anywhere */
    kvb_cuda_model_desc big = t.d;
    big.embed = NULL, big.layers = NULL, big.final_norm = NULL, big.lm_head = NULL;
    big.hidden = 65536, big.intermediate = 262144, big.n_layers = 64, big.vocab = 262144;
    kvb_error e = {0};
    size_t before = kvb_cuda_bytes(c);
    int rc = kvb_cuda_model_create(c, &m, &big, &e);
    int ok = rc == KVB_ENOMEM && strstr(e.msg, "needs") && kvb_cuda_bytes(c) == before;
    printf("%-4s %-48s %s\n", ok ? "ok" : "FAIL", "too-large model refused before allocating", e.msg);
    if (!ok) g_fail = 1;

    /* random weights, SmolLM2-like shape, and the bench entry */
    kvb_cuda_model_desc r = big;
    r.n_layers = 4, r.n_heads = 9, r.n_kv_heads = 3, r.head_dim = 64, r.hidden = 576;
    r.intermediate = 1536, r.vocab = 49152, r.max_tokens = 600, r.seed = 42;
    r.rope_theta = 100000, r.rope_factor = 0, r.tie_embeddings = 1;
    CU(kvb_cuda_info_get(c, &i0, E));
    b0 = kvb_cuda_bytes(c);
    CU(kvb_cuda_model_create(c, &m, &r, E));
    CU(kvb_cuda_info_get(c, &i1, E));
    check_accounting("device memory accounting (random 4 layers)", kvb_cuda_bytes(c) - b0,
                     kvb_cuda_model_bytes(&r), 1, &i0, &i1);
    kvb_cuda_bench_row row;
    CU(kvb_cuda_model_bench(m, 512, 16, &row, E));
    ok = row.prefill_s > 0 && row.decode_ms > 0 && row.prefill_floor_s > 0 && row.decode_floor_ms > 0;
    printf("%-4s %-48s prefill %.0f tok/s (%.1fx floor), decode %.3f ms (%.1fx floor)\n",
           ok ? "ok" : "FAIL", "bench on random weights (512 ctx, 16 steps)", row.prefill_tok_s,
           row.prefill_ratio, row.decode_ms, row.decode_ratio);
    if (!ok) g_fail = 1;
    kvb_cuda_model_free(m);
    free(lg), free(lr);
    tiny_llama_free(&t);
    kvb_cuda_close(c);
    return finish("test_model");
}
