/* kernels/device.cu: device probe, context, memory accounting, physical floors. */
#include <stdlib.h>
#include <string.h>

#include "common.cuh"

/* ---- probe --------------------------------------------------------------------------------- */
int kvb_cuda_probe(int device, kvb_error *e)
{
    int n = 0;
    cudaError_t st = cudaGetDeviceCount(&n);
    if (st != cudaSuccess) {
        cudaGetLastError(); /* not sticky: clear it so later calls start clean */
        if (st == cudaErrorInsufficientDriver)
            return kvb_cu_err(e, KVB_EUNSUP,
                              "no CUDA device: no NVIDIA driver, or one older than this CUDA "
                              "runtime (%s)", cudaGetErrorName(st));
        return kvb_cu_err(e, KVB_EUNSUP, "no CUDA device: %s (%s)", cudaGetErrorString(st),
                          cudaGetErrorName(st));
    }
    if (n <= 0) return kvb_cu_err(e, KVB_EUNSUP, "no CUDA device: the driver reports 0 GPUs");
    if (device < 0 || device >= n)
        return kvb_cu_err(e, KVB_EINVAL, "no CUDA device %d: %d GPU(s) present", device, n);
    cudaDeviceProp p;
    st = cudaGetDeviceProperties(&p, device);
    if (st != cudaSuccess)
        return kvb_cu_err(e, KVB_EUNSUP, "no CUDA device: properties of GPU %d: %s", device,
                          cudaGetErrorString(st));
    if (p.major < 8)
        return kvb_cu_err(e, KVB_EUNSUP,
                          "no usable CUDA device: GPU %d (%s) is compute capability %d.%d; bf16 "
                          "kernels need 8.0 or newer",
                          device, p.name, p.major, p.minor);
    return 0;
}

/* ---- context ------------------------------------------------------------------------------- */
int kvb_cuda_open(kvb_cuda **out, int device, kvb_error *e)
{
    *out = NULL;
    int rc = kvb_cuda_probe(device, e);
    if (rc) return rc;
    kvb_cuda *c = (kvb_cuda *)calloc(1, sizeof *c);
    if (!c) return kvb_cu_err(e, KVB_ENOMEM, "cuda: out of host memory");
    c->device = device;
    cudaError_t st = cudaSetDevice(device);
    if (st == cudaSuccess) st = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
    if (st != cudaSuccess) {
        free(c);
        return kvb_cu_err(e, KVB_EUNSUP, "no usable CUDA device: GPU %d: %s", device,
                          cudaGetErrorString(st));
    }
    cublasStatus_t bs = cublasCreate(&c->blas);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        cudaStreamDestroy(c->stream);
        free(c);
        return kvb_cu_err(e, KVB_EUNSUP, "cuda: cuBLAS initialisation failed (status %d)", (int)bs);
    }
    cublasSetStream(c->blas, c->stream);
    *out = c;
    return 0;
}

void kvb_cuda_close(kvb_cuda *c)
{
    if (!c) return;
    cudaStreamSynchronize(c->stream);
    for (int i = 0; i < c->n_live; i++) cudaFree(c->live[i]); /* whatever the caller left */
    free(c->live);
    free(c->live_size);
    cublasDestroy(c->blas);
    cudaStreamDestroy(c->stream);
    free(c);
}

int kvb_cuda_sync(kvb_cuda *c, kvb_error *e)
{
    cudaError_t st = cudaStreamSynchronize(c->stream);
    if (st != cudaSuccess)
        return kvb_cu_err(e, KVB_EIO, "cuda: kernel execution failed: %s", cudaGetErrorString(st));
    return 0;
}

/* Dense bf16 tensor-core FLOPs per SM per clock (FMA = 2), from the architecture whitepapers:
 * A100 312 TFLOPS = 108 SMs * 1.41 GHz * 2048; H100 SXM 989 TFLOPS = 132 * 1.83 GHz * 4096;
 * GA10x/AD10x 1024; B200 ~8192. 0 = unknown architecture (no floor reported). */
static double bf16_flops_per_sm_clock(int major, int minor)
{
    if (major == 8 && minor == 0) return 2048;
    if (major == 8) return 1024;
    if (major == 9) return 4096;
    if (major == 10) return 8192;
    return 0;
}

int kvb_cuda_info_get(kvb_cuda *c, kvb_cuda_info *o, kvb_error *e)
{
    memset(o, 0, sizeof *o);
    cudaDeviceProp p;
    cudaError_t st = cudaGetDeviceProperties(&p, c->device);
    if (st != cudaSuccess)
        return kvb_cu_err(e, KVB_EIO, "cuda: device properties: %s", cudaGetErrorString(st));
    snprintf(o->name, sizeof o->name, "%s", p.name);
    o->device = c->device;
    o->cc_major = p.major;
    o->cc_minor = p.minor;
    o->sm_count = p.multiProcessorCount;
    cudaDeviceGetAttribute(&o->mem_clock_khz, cudaDevAttrMemoryClockRate, c->device);
    cudaDeviceGetAttribute(&o->bus_width_bits, cudaDevAttrGlobalMemoryBusWidth, c->device);
    cudaDeviceGetAttribute(&o->sm_clock_khz, cudaDevAttrClockRate, c->device);
    size_t fr = 0, tot = 0;
    st = cudaMemGetInfo(&fr, &tot);
    if (st != cudaSuccess)
        return kvb_cu_err(e, KVB_EIO, "cuda: cudaMemGetInfo: %s", cudaGetErrorString(st));
    o->mem_free = fr;
    o->mem_total = tot;
    /* versions for run.json; a failure leaves 0 ("unknown"), never an error */
    if (cudaDriverGetVersion(&o->driver_version) != cudaSuccess) o->driver_version = 0;
    if (cudaRuntimeGetVersion(&o->runtime_version) != cudaSuccess) o->runtime_version = 0;
    /* HBM/GDDR are double data rate: bytes/s = 2 * clock * bus width / 8. */
    o->hbm_gbs = 2.0 * o->mem_clock_khz * 1e3 * (o->bus_width_bits / 8.0) / 1e9;
    o->bf16_tflops =
        o->sm_count * (o->sm_clock_khz * 1e3) * bf16_flops_per_sm_clock(p.major, p.minor) / 1e12;
    return 0;
}

/* ---- memory -------------------------------------------------------------------------------- */
int kvb_cuda_alloc(kvb_cuda *c, void **p, size_t bytes, kvb_error *e)
{
    *p = NULL;
    if (bytes == 0) bytes = 1;
    if (c->n_live == c->cap_live) { /* grow the table first: never lose track of an allocation */
        int cap = c->cap_live ? 2 * c->cap_live : 64;
        void **nl = (void **)realloc(c->live, sizeof(void *) * cap);
        if (!nl) return kvb_cu_err(e, KVB_ENOMEM, "cuda: out of host memory");
        c->live = nl;
        size_t *ns = (size_t *)realloc(c->live_size, sizeof(size_t) * cap);
        if (!ns) return kvb_cu_err(e, KVB_ENOMEM, "cuda: out of host memory");
        c->live_size = ns;
        c->cap_live = cap;
    }
    cudaError_t st = cudaMalloc(p, bytes);
    if (st != cudaSuccess) {
        cudaGetLastError();
        *p = NULL;
        size_t fr = 0, tot = 0;
        cudaMemGetInfo(&fr, &tot);
        return kvb_cu_err(e, KVB_ENOMEM,
                          "cuda: cannot allocate %zu bytes on the device (%zu free of %zu): %s",
                          bytes, fr, tot, cudaGetErrorString(st));
    }
    c->live[c->n_live] = *p;
    c->live_size[c->n_live++] = bytes;
    c->bytes += bytes;
    if (c->bytes > c->peak) c->peak = c->bytes;
    return 0;
}

void kvb_cuda_free(kvb_cuda *c, void *p)
{
    if (!p) return;
    for (int i = c->n_live - 1; i >= 0; i--) /* recent allocations are freed first, usually */
        if (c->live[i] == p) {
            c->bytes -= c->live_size[i];
            c->live[i] = c->live[c->n_live - 1];
            c->live_size[i] = c->live_size[c->n_live - 1];
            c->n_live--;
            cudaFree(p);
            return;
        }
    /* not ours: leave it alone rather than corrupt the accounting */
}

size_t kvb_cuda_bytes(const kvb_cuda *c) { return c->bytes; }
size_t kvb_cuda_peak_bytes(const kvb_cuda *c) { return c->peak; }

int kvb_cuda_upload(kvb_cuda *c, void *dst, const void *src, size_t bytes, kvb_error *e)
{
    cudaError_t st = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream);
    if (st == cudaSuccess) st = cudaStreamSynchronize(c->stream);
    if (st != cudaSuccess)
        return kvb_cu_err(e, KVB_EIO, "cuda: upload of %zu bytes: %s", bytes, cudaGetErrorString(st));
    return 0;
}

int kvb_cuda_download(kvb_cuda *c, void *dst, const void *src, size_t bytes, kvb_error *e)
{
    cudaError_t st = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream);
    if (st == cudaSuccess) st = cudaStreamSynchronize(c->stream);
    if (st != cudaSuccess)
        return kvb_cu_err(e, KVB_EIO, "cuda: download of %zu bytes: %s", bytes,
                          cudaGetErrorString(st));
    return 0;
}

int kvb_cuda_memset0(kvb_cuda *c, void *p, size_t bytes, kvb_error *e)
{
    cudaError_t st = cudaMemsetAsync(p, 0, bytes, c->stream);
    if (st != cudaSuccess)
        return kvb_cu_err(e, KVB_EIO, "cuda: memset of %zu bytes: %s", bytes, cudaGetErrorString(st));
    return 0;
}
