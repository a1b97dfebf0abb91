/* lib/model: model names and configs, HF (config.json + safetensors) and GGUF loaders, and the
 * Llama-family CPU forward pass. K/V after RoPE go through a kvb_cache (lib/kvcache). */
#ifndef KVB_MODEL_H
#define KVB_MODEL_H

#include "core/core.h"
#include "kvcache/kvcache.h"

/* The model hands out the tokenizer it loaded from its own files (kvb_model_tokenizer); the type
 * is enough here, its API is lib/tokenizer's. */
typedef struct kvb_tokenizer kvb_tokenizer;

typedef struct kvb_model kvb_model;

typedef struct kvb_model_config {
    char name[64];          /* kvbench name ("llama3-8b") or the file/dir base name */
    char repo_id[128];      /* HF repo id when known */
    char arch[64];          /* "LlamaForCausalLM", "MistralForCausalLM" */
    char chat_template[16]; /* LongBench default family: llama2 | llama3 | mistral | chatml | none */
    int n_layers, n_heads, n_kv_heads, head_dim;
    int hidden, intermediate, vocab, max_position;
    double rms_eps, rope_theta;
    /* rope_scaling "llama3" (rope_type), or none when factor == 0 */
    double rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_original_max_position;
    int tie_embeddings;
    int longbench_max_length; /* prompt budget in tokens (model2maxlen) */
    int32_t stop_ids[8];      /* model stop tokens (eos, eot...) */
    int n_stop;
    char family[16];          /* llama2 | llama3 | mistral | smollm2 | llama (unknown): cache
                                 method defaults per model (kvb_cache_shape.model_family) */
} kvb_model_config;

/* Where prefill and decode run. AUTO: cuda when this binary has the CUDA backend (make cuda)
 * and kvb_device_probe finds a usable GPU, else cpu (kvb_device_resolve). */
enum { KVB_DEVICE_AUTO = 0, KVB_DEVICE_CPU = 1, KVB_DEVICE_CUDA = 2 };

typedef struct kvb_model_opts {
    int device;         /* KVB_DEVICE_*; the model resolves AUTO at open */
    int device_index;   /* GPU ordinal for cuda (--device cuda:N) */
    int device_tokens;  /* tokens the GPU cache holds (prompt + generated); 0 = the model's context
                           (at most KVB_CUDA_MAX_TOKENS): bench sets its longest context + steps */
    int threads;        /* 0 = all cores */
    int random_weights; /* build from the config alone, seeded */
    uint64_t seed;
    int weights_bf16;   /* hold weights as bf16 (default) or f32 (0) */
    int weights_gguf;   /* GGUF files: keep Q4_1/Q8_0 tensors quantized (read 3x fewer bytes per
                           decode step; exact dequantization on the fly); others as weights_bf16 */
    int gguf_act_q8;    /* with weights_gguf: decode quantizes activations to 8 bits (one scale
                           per 4) and multiplies in integers, as llama.cpp does with one scale per
                           32 (--weights gguf-q8): faster, not exact */
    int prefill_bf16;   /* prefill attention on bf16 Q/K/V/P with f32 accumulation where the CPU
                           has AVX-512 BF16 (else, or 0: f32 throughout, the exact path) */
    int config_only;    /* with random_weights: no weights at all (info, planning); prefill and
                           decode then fail */
} kvb_model_opts;

/* name_or_path: a kvbench model name (configs/models/<name>.json, resolved through
 * $KVBENCH_MODELS, the HF cache, ./models), an HF model directory or a .gguf file. */
int kvb_model_open(kvb_model **m, const char *name_or_path, const kvb_model_opts *o, kvb_error *e);
void kvb_model_free(kvb_model *m);
const kvb_model_config *kvb_model_get_config(const kvb_model *m);
const kvb_tokenizer *kvb_model_tokenizer(const kvb_model *m); /* NULL with random weights and no tokenizer */
kvb_pool *kvb_model_pool(kvb_model *m);
size_t kvb_model_weight_bytes(const kvb_model *m);
/* What identifies a model in run.json (sha256 hex): its architecture numbers and the size of its
 * weights; weights = "file", or e.g. "random seed N", which makes another model. */
void kvb_model_fingerprint(const kvb_model_config *c, size_t weight_bytes, const char *weights,
                           char hex[65]);

/* Run the prompt through every layer (K/V into the cache); logits of the last position
 * (vocab floats) into `logits`. The cache must have been reset for n tokens. */
int kvb_model_prefill(kvb_model *m, kvb_cache *c, const int32_t *ids, int n, float *logits,
                      kvb_error *e);
/* One decode step: token `id` at absolute position `pos` (RoPE uses pos). */
int kvb_model_decode(kvb_model *m, kvb_cache *c, int32_t id, int pos, float *logits, kvb_error *e);

/* Like kvb_model_prefill, but logits of every position, (n, vocab) row-major (oracle tests). */
int kvb_model_prefill_all(kvb_model *m, kvb_cache *c, const int32_t *ids, int n, float *logits,
                          kvb_error *e);

/* Human-readable facts for `kvbench info`: source file/dir, format, dtype of the file(s) and
 * of the weights held, GEMV kernel set. Pointers live as long as the model. */
typedef struct kvb_model_info {
    const char *source, *format, *file_dtype, *held_dtype;
    const char *isa;        /* GEMV kernel set ("avx512+avx2"), or the device backend ("cuda") */
    const char *prefill;    /* arithmetic of the prefill: "bf16 (avx512_bf16)", "f32" or, on a
                               device, "bf16 (cuda: ...)" */
    size_t n_params;
} kvb_model_info;
void kvb_model_get_info(const kvb_model *m, kvb_model_info *out);
/* KV bytes per token of a full 16-bit cache: 2 (K,V) * layers * kv heads * head_dim * 2. */
size_t kvb_model_kv_bytes_per_token(const kvb_model_config *c);
/* The config of a kvbench model name without opening any weights (planning, `list`). */
int kvb_model_config_by_name(const char *name, kvb_model_config *out, kvb_error *e);
/* Where --model points: a path (HF directory or .gguf file) as given, else a model name resolved
 * as kvb_model_open does ($KVBENCH_MODELS, the HF cache, ./models). out: PATH_MAX bytes. */
int kvb_model_locate(const char *name_or_path, char *out, size_t n, kvb_error *e);

/* ---- devices (lib/model/device.c; the CUDA backend is lib/model/backend_cuda.c, linked only
 * into `make cuda` binaries) ---- */
/* "cpu", "cuda", "cuda:N" or "auto" -> KVB_DEVICE_* and the GPU ordinal. */
int kvb_device_parse(const char *s, int *device, int *index, kvb_error *e);
const char *kvb_device_name(int device); /* "cpu" / "cuda" / "auto" */
/* 0 when `device` can run here; KVB_EUNSUP with one line otherwise: "--device cuda: this binary
 * has no CUDA backend (build it with make cuda)" or "--device cuda: no CUDA device: <reason>". */
int kvb_device_probe(int device, int index, kvb_error *e);
/* AUTO -> cuda if kvb_device_probe(cuda) succeeds, else cpu; others as given (not probed). */
int kvb_device_resolve(int device, int index);
/* The cache methods a device runs: 0, or KVB_EUNSUP naming the method (checked before the model
 * loads: never a silent CPU fallback). The CPU runs every method. */
int kvb_device_check_method(int device, const char *method, const kvb_cache_param *params,
                            int n_params, kvb_error *e);

typedef struct kvb_device_info {
    int device;             /* KVB_DEVICE_CPU or KVB_DEVICE_CUDA */
    int index;              /* GPU ordinal */
    char gpu[256];          /* GPU name, "" on cpu */
    char driver[32];        /* CUDA driver API version "12.8", "" on cpu */
    char runtime[32];       /* CUDA runtime version the binary runs with, "" on cpu */
    size_t model_bytes;     /* device bytes the model plans (weights, cache, activations) */
    size_t peak_bytes;      /* device bytes allocated at most so far (0 before open) */
    size_t kv_bytes;        /* device bytes of the K/V decode reads now: the full cache, or the
                               caches of the tokens a method kept (allocated with room for the
                               tokens still to come) */
    size_t mem_free, mem_total; /* cudaMemGetInfo at the time of the call */
    int max_tokens;         /* tokens the device cache holds (prompt + generated) */
    double hbm_gbs;         /* floors of the GPU (kvb_cuda_info): memory bandwidth, GB/s */
    double bf16_tflops;     /* dense bf16 tensor-core peak, TFLOP/s (0: unknown architecture) */
} kvb_device_info;
/* The device of an open model and its figures (the CPU: device = KVB_DEVICE_CPU, rest 0). */
void kvb_model_device_info(const kvb_model *m, kvb_device_info *out);
/* Plan a model of config c on a device without loading weights: bytes needed, free, fits.
 * Refuses (KVB_ENOMEM, naming the bytes needed and free) a model that does not fit. */
int kvb_device_plan(const kvb_model_config *c, int device, int index, kvb_device_info *out,
                    kvb_error *e);

/* ---- floors (kvbench bench) ---- */
double kvb_measure_read_bandwidth(kvb_pool *p); /* bytes/s, all pool threads reading */
double kvb_measure_gemm_peak(kvb_pool *p);      /* flop/s of f32 sgemm on all pool threads */
double kvb_model_prefill_flops(const kvb_model_config *c, int n);
/* The CPU's FMA peak from its clock and vector width, not measured:
 *   flop/s = threads x clock x (FMA lanes per cycle per core) x 2 (multiply + add) x dot,
 * lanes per cycle = 16 f32 (two 256-bit FMA pipes: AVX2 CPUs, and AMD family 0x19, Zen 3/4,
 * whose AVX-512 is double-pumped on those pipes) or 32 (other AVX-512 CPUs: two 512-bit FMA
 * ports); dot = 2 for bf16 dot products (vdpbf16ps: two products per lane), 1 for f32. clock =
 * sysfs cpuinfo_max_freq where the kernel exposes it, else /proc/cpuinfo's "cpu MHz" (a VM's
 * nominal clock: turbo can exceed it). desc gets the formula with its numbers. 0 if unknown. */
double kvb_cpu_fma_peak(int threads, int bf16, char *desc, size_t n);
/* The prefill runs on bf16 dot products (opts.prefill_bf16 granted on this CPU). */
int kvb_model_prefill_is_bf16(const kvb_model *m);
size_t kvb_model_decode_bytes(const kvb_model *m, const kvb_cache *c);

/* Argmax with ties to the lowest id (as torch.argmax). */
int32_t kvb_argmax(const float *x, int n);
/* The same, and *second: the largest value at any other index (-inf when n == 1; equal to the
 * maximum on a tie), in the same pass. */
int32_t kvb_argmax2(const float *x, int n, float *second);

#endif
