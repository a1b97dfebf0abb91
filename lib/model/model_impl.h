/* lib/model private header: the model struct, weight views and kernels shared by the loaders
 * (config.c, safetensors.c, load.c) and the forward pass (forward.c). */
#ifndef KVB_MODEL_IMPL_H
#define KVB_MODEL_IMPL_H

#include "gguf/gguf.h"
#include "model/backend.h"
#include "model/model.h"
#include "model/ops.h"
#include "tokenizer/tokenizer.h" /* model.c loads the tokenizer beside the weights */

/* ---- weights ---------------------------------------------------------------------------------- */
/* F32/BF16: plain rows. Q4_1/Q8_0: GGUF blocks kept as in the file (--weights gguf), rows of
 * cols/32 blocks, dequantized exactly on the fly (same values as dequantizing at load). */
enum kvb_wt_type { KVB_WT_F32 = 0, KVB_WT_BF16 = 1, KVB_WT_Q4_1 = 2, KVB_WT_Q8_0 = 3 };

/* Instruction sets of the GEMV kernels, lowest first. */
enum kvb_isa { KVB_ISA_SCALAR = 0, KVB_ISA_AVX2 = 1, KVB_ISA_AVX512 = 2 };

struct kvb_wt;
/* y[r0..r1) = W x for rows [r0, r1) */
typedef void (*kvb_gemv_fn)(const struct kvb_wt *w, const float *x, float *y, int r0, int r1);

/* A row-major matrix (rows, cols): rows are output features, cols input features, as in HF.
 * Its decode GEMV kernel is picked once, when the weight is bound (kvb_wt_bind), from its type
 * and the model's ISA, as ggml binds a vec_dot per tensor type: the forward pass only calls it. */
typedef struct kvb_wt {
    enum kvb_wt_type type;
    int rows, cols;
    const void *data; /* into an mmap or into `owned` */
    void *owned;      /* freed with the model, NULL when pointing into a file */
    int act_q8;       /* Q4_1/Q8_0 only: decode GEMV on 8-bit activations (kernels_q8.c) */
    kvb_gemv_fn gemv; /* set by kvb_wt_bind */
    enum kvb_isa isa; /* the ISA of that kernel (may be below the one asked for: no AVX-512
                         kernel for f32 or GGUF blocks) */
} kvb_wt;

typedef struct kvb_layer_w {
    float *attn_norm, *ffn_norm;          /* (hidden) */
    kvb_wt wq;                            /* (n_heads*head_dim, hidden) */
    kvb_wt wk, wv;                        /* (n_kv_heads*head_dim, hidden) */
    kvb_wt wo;                            /* (hidden, n_heads*head_dim) */
    kvb_wt w_gate, w_up;                  /* (intermediate, hidden) */
    kvb_wt w_down;                        /* (hidden, intermediate) */
} kvb_layer_w;

/* Opened safetensors file: mmap + parsed header. */
typedef struct kvb_st_tensor {
    char name[160];
    int dtype;            /* KVB_ST_* */
    int n_dims;
    int64_t shape[8];
    size_t begin, end;    /* byte offsets in the data section */
} kvb_st_tensor;
enum { KVB_ST_F32 = 0, KVB_ST_F16 = 1, KVB_ST_BF16 = 2, KVB_ST_OTHER = 3 };

typedef struct kvb_st_file {
    char *path;
    kvb_mmap map;
    const unsigned char *data; /* start of the data section */
    size_t data_size;
    int n;
    kvb_st_tensor *t;
} kvb_st_file;

int kvb_st_open(kvb_st_file *f, const char *path, kvb_error *e);
void kvb_st_close(kvb_st_file *f);
const kvb_st_tensor *kvb_st_find(const kvb_st_file *f, const char *name);

/* ---- the model ---------------------------------------------------------------------------------- */
struct kvb_model {
    kvb_model_config cfg;
    kvb_model_opts opts;
    char source[1024];        /* file or directory the weights came from ("random" otherwise) */
    char format[16];          /* "safetensors", "gguf", "random" */
    char file_dtype[16];      /* dtype of the weights in the file(s) */
    kvb_pool *pool;
    int nth;
    enum kvb_isa isa;         /* GEMV ISA asked for: the best, or $KVBENCH_ISA read at open */
    char gemv_kernels[32];    /* ISAs of the kernels bound to the weights, "avx512+avx2" */
    int prefill_bf16;         /* opts.prefill_bf16 granted: AVX-512 BF16 present and allowed by
                                 $KVBENCH_ISA, head_dim a multiple of 32 (kvb_model_finish) */

    kvb_wt embed;             /* (vocab, hidden) */
    kvb_wt lm_head;           /* (vocab, hidden); shares data with embed when tied */
    float *final_norm;        /* (hidden) */
    kvb_layer_w *layers;      /* (n_layers) */
    float *inv_freq;          /* (head_dim/2) RoPE inverse frequencies, llama3-scaled */
    size_t weight_bytes;

    kvb_st_file *st;          /* open safetensors files (weights may point into them) */
    int n_st;
    kvb_gguf *gguf;           /* open GGUF (kept for the tokenizer) */
    kvb_tokenizer *tok;

    int device;               /* KVB_DEVICE_CPU or _CUDA, resolved at open */
    const kvb_backend *be;    /* NULL: the CPU forward pass (forward.c) */
    void *be_ctx;
    int dev_max_tokens;       /* tokens the device cache holds */
    int dev_pos;              /* tokens the device holds for dev_cache's record */
    const kvb_cache *dev_cache;
    int32_t *dev_counts;      /* (n_layers, n_kv_heads) tokens the device holds per head, when
                                 it holds a method's selection */

    kvb_arena arena;          /* per-request activations, sized at prefill */
    struct kvb_fwd_bufs *bufs;/* decode buffers carved from the arena at prefill */
    const kvb_cache *bufs_cache;
};

/* config.c */
/* Parse an HF config.json object (or the "config" object of configs/models/<name>.json). */
int kvb_config_from_json(kvb_model_config *c, const struct cJSON *j, const char *file, kvb_error *e);
/* Check every field against sane bounds (sizes, divisibility, rope). */
int kvb_config_validate(const kvb_model_config *c, const char *file, kvb_error *e);
/* Model-name metadata (repo, template, budget, stops) from configs/models/<name>.json. */
int kvb_config_load_named(kvb_model_config *c, const char *name, kvb_error *e);
/* Fill name-level metadata from a known config whose architecture matches (by name hint first). */
void kvb_config_adopt_known(kvb_model_config *c, const char *hint);
/* The configs/ directory (see docs/model.md) and the repository root; NULL if not found. */
/* Resolve a model name to a directory or .gguf file; error lists the places looked at. */
int kvb_model_resolve(const char *name, const kvb_model_config *c, char *out, size_t n,
                      kvb_error *e);

/* load.c */
int kvb_load_hf(kvb_model *m, const char *dir, kvb_error *e);
int kvb_load_gguf(kvb_model *m, const char *path, kvb_error *e);
int kvb_load_random(kvb_model *m, kvb_error *e);
int kvb_model_finish(kvb_model *m, kvb_error *e); /* rope tables, GEMV kernels, byte counts */

/* kernels.c */
/* The best ISA this CPU runs. */
enum kvb_isa kvb_isa_best(void);
/* "scalar" / "avx2" / "avx512", capped at kvb_isa_best(); NULL or another name: the best.
 * kvb_model_open passes $KVBENCH_ISA (read once, never written). */
enum kvb_isa kvb_isa_parse(const char *name);
const char *kvb_isa_name(enum kvb_isa isa);
/* Binds w's GEMV kernel for `isa` (from its type and act_q8); returns the kernel's own ISA
 * (w->isa). Tests re-bind a weight to run another kernel on it. */
enum kvb_isa kvb_wt_bind(kvb_wt *w, enum kvb_isa isa);
/* y (rows) = W (rows, cols) x (cols), rows [r0, r1) only, on the bound kernel. */
static inline void kvb_gemv(const kvb_wt *w, const float *x, float *y, int r0, int r1)
{
    w->gemv(w, x, y, r0, r1);
}
/* Reference scalar GEMV (the scalar kernel). */
void kvb_gemv_ref(const kvb_wt *w, const float *x, float *y, int r0, int r1);
/* GGUF blocks x 8-bit activations (kernels_q8.c): llama.cpp's decode arithmetic for --weights
 * gguf-q8, AVX2 and its scalar twin. */
#define KVB_Q8_MAX_COLS 65536
int kvb_gemv_q8_supported(const kvb_wt *w);
void kvb_gemv_q8_avx2(const kvb_wt *w, const float *x, float *y, int r0, int r1);
void kvb_gemv_q8_ref(const kvb_wt *w, const float *x, float *y, int r0, int r1);
/* C (n, W.rows) = A (n, W.cols) W^T for output columns [c0, c1), single-threaded; wbuf holds
 * KVB_GEMM_NC * W.cols floats (bf16 weights are widened there, NC rows at a time). */
#define KVB_GEMM_NC 64
void kvb_gemm_rows(const kvb_wt *w, const float *a, int n, float *c, int ldc, int c0, int c1,
                   float *wbuf);
/* gemm_bf16.c: the same product on bf16 A and W with f32 accumulation (AVX-512 BF16), A packed
 * once per call and shared by the threads: per 16 rows, per k pair, 16 x 2 bf16 (rows past n
 * zero); k even. Blocks of 16 rows [b0, b1) per call, so threads can share the packing. wbuf:
 * KVB_GEMM_NC * k bf16 + k floats (W rows rounded to bf16 when W is not bf16). */
size_t kvb_gemm_packed_a_elems(int n, int k);
void kvb_gemm_pack_a_bf16(uint16_t *ap, const float *a, int n, int k, int b0, int b1);
void kvb_gemm_rows_bf16(const kvb_wt *w, const uint16_t *ap, int n, float *c, int ldc, int c0,
                        int c1, uint16_t *wbuf);
void kvb_gemm_rows_bf16_ref(const kvb_wt *w, const uint16_t *ap, int n, float *c, int ldc, int c0,
                            int c1, uint16_t *wbuf); /* the scalar twin */
/* The bf16 prefill's SwiGLU: g = silu(g) * u (AVX-512 exp; within a few ulp of kvb_silu) */
void kvb_swiglu_avx512(float *g, const float *u, size_t n);
/* One row of a weight matrix as f32. */
void kvb_wt_row(const kvb_wt *w, int r, float *out);
size_t kvb_wt_row_bytes(const kvb_wt *w);
/* conversions, RMSNorm, RoPE, SwiGLU: model/ops.h */

/* attn.c: prefill attention, f32 (sgemm blocks) and bf16 (flash-attention tiling). */
#define KVB_ATTN_B 64 /* queries per block (both), keys per block (bf16) */
/* f32: token-major rows of one layer, as the forward pass holds them */
typedef struct kvb_attn_rows {
    const float *q, *k, *v; /* (n, n_heads*hd), (n, n_kv_heads*hd) x 2 */
    float *out;             /* (n, n_heads*hd) */
    float *lse;             /* (n_heads, n) log-sum-exp of the scaled scores, or NULL */
    float *colsum;          /* (n_heads, n) column sums of the probabilities, added to, or NULL */
    int n, n_heads, n_kv_heads, hd;
} kvb_attn_rows;
/* Queries [r0, r1) (r1 - r0 <= KVB_ATTN_B) of query heads [h0, h0 + gn) sharing kv head kvh over
 * keys [0, r1). S: gn * KVB_ATTN_B * n floats; Q, O: gn * KVB_ATTN_B * hd. */
void kvb_attn_block_f32(const kvb_attn_rows *a, int kvh, int h0, int gn, int r0, int r1, float *S,
                        float *Q, float *O);
/* One work item: queries [r0, r0 + rows) (r0 a multiple of KVB_ATTN_B, rows <= KVB_ATTN_B) of gn
 * query heads that share one kv head, over keys [0, r0 + rows), causal. */
typedef struct kvb_fa_item {
    const float *q;           /* query r0 of the first head; head g at + g * hd */
    int q_stride;             /* floats between query rows */
    const uint16_t *kp, *vp;  /* this kv head's K and V packed by kvb_fa_pack */
    float *out;               /* like q */
    int out_stride;
    float *lse;               /* NULL, or (gn rows of lse_stride): lse[g * lse_stride + i] */
    int lse_stride;
    int r0, rows, gn, hd;     /* hd a multiple of 32 */
    float scale;              /* folded into q before its bf16 rounding */
} kvb_fa_item;
/* The CPU runs the AVX-512 BF16 kernel (vdpbf16ps). */
int kvb_fa_available(void);
/* bf16 elements of one kv head's packed K (and as many of V) for n keys. */
size_t kvb_fa_packed_elems(int n, int hd);
/* Keys [j0, j1) of rows k, v (n rows of `stride` floats; this kv head's first element) into kp:
 * per 16 keys, per dim pair, 16 x 2 bf16; and vp: per key pair, per dim, 2 bf16. j0 and j1
 * multiples of KVB_ATTN_B, or j1 = n (then the padding up to a multiple is zeros). */
void kvb_fa_pack(uint16_t *kp, uint16_t *vp, const float *k, const float *v, int stride, int n,
                 int hd, int j0, int j1);
/* scratch: kvb_fa_scratch_floats(gn, hd) floats, private to the caller. */
#define kvb_fa_scratch_floats(gn, hd) ((size_t)2 * (gn) * KVB_ATTN_B * (hd) + 2 * (size_t)(gn) * KVB_ATTN_B)
void kvb_fa_block_avx512(const kvb_fa_item *t, float *scratch);
void kvb_fa_block_ref(const kvb_fa_item *t, float *scratch); /* the scalar twin */

#endif
