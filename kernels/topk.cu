/* kernels/topk.cu: top-k indices and mass counts per row (radix select, no sort). */
#include "topk.cuh"

/* Exclusive scan of a 0/1 flag over the block; *total gets the block's count. `wsum` is shared
 * scratch of (blockDim / 32) ints. */
__device__ int block_flag_scan(int flag, int *total, int *wsum)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    unsigned m = __ballot_sync(0xffffffffu, flag);
    int rank = __popc(m & ((1u << lane) - 1u));
    __syncthreads();
    if (lane == 0) wsum[warp] = __popc(m);
    __syncthreads();
    int before = 0, all = 0;
    for (int w = 0; w < nw; w++) {
        if (w < warp) before += wsum[w];
        all += wsum[w];
    }
    *total = all;
    return before + rank;
}

__global__ void __launch_bounds__(KVB_TOPK_THREADS)
topk_kernel(int32_t *idx, const float *x, int n, int ld, int k)
{
    __shared__ unsigned hist[256];
    __shared__ uint32_t s_prefix;
    __shared__ int s_remaining, wsum[KVB_TOPK_THREADS / 32];
    const float *row = x + (size_t)blockIdx.x * ld;
    const int tid = threadIdx.x;
    uint32_t prefix = 0, pmask = 0;
    int remaining = k;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int i = tid; i < 256; i += blockDim.x) hist[i] = 0;
        __syncthreads();
        for (int j = tid; j < n; j += blockDim.x) {
            uint32_t key = kvb_fkey(row[j]);
            if ((key & pmask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
        }
        __syncthreads();
        if (tid == 0) { /* digit holding the remaining-th largest among the candidates */
            int cum = 0;
            for (int d = 255; d >= 0; d--) {
                if (cum + (int)hist[d] >= remaining) {
                    s_prefix = prefix | ((uint32_t)d << shift);
                    s_remaining = remaining - cum;
                    break;
                }
                cum += (int)hist[d];
            }
        }
        __syncthreads();
        prefix = s_prefix;
        remaining = s_remaining;
        pmask |= 255u << shift;
    }
    /* prefix = key of the k-th largest; take every larger key and the first `remaining` equal. */
    int out = 0, eq_seen = 0;
    int32_t *dst = idx + (size_t)blockIdx.x * k;
    for (int c0 = 0; c0 < n; c0 += blockDim.x) {
        int j = c0 + tid;
        uint32_t key = j < n ? kvb_fkey(row[j]) : 0u;
        int gt = j < n && key > prefix, eq = j < n && key == prefix, eq_tot, sel_tot;
        int eq_rank = block_flag_scan(eq, &eq_tot, wsum);
        int sel = gt || (eq && eq_seen + eq_rank < remaining);
        int at = block_flag_scan(sel, &sel_tot, wsum);
        if (sel) dst[out + at] = j;
        out += sel_tot;
        eq_seen += eq_tot;
    }
}

__global__ void __launch_bounds__(KVB_TOPK_THREADS)
mass_count_kernel(int32_t *count, const float *x, int n, int ld, float tau)
{
    __shared__ unsigned hcnt[256];
    __shared__ double hmass[256];
    __shared__ double dred[KVB_TOPK_THREADS / 32];
    __shared__ uint32_t s_prefix;
    __shared__ int s_found, s_cnt_above, s_cnt_eq;
    __shared__ double s_mass_above;
    const float *row = x + (size_t)blockIdx.x * ld;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

    double tot = 0;
    for (int j = tid; j < n; j += blockDim.x) tot += row[j];
    for (int o = 16; o > 0; o >>= 1) tot += __shfl_xor_sync(0xffffffffu, tot, o);
    if (lane == 0) dred[warp] = tot;
    if (tid == 0) {
        s_found = 1;
        s_cnt_above = 0;
        s_mass_above = 0;
        s_prefix = 0;
    }
    __syncthreads();
    tot = 0;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++) tot += dred[w];
    const double need = (double)tau * tot;

    uint32_t pmask = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int i = tid; i < 256; i += blockDim.x) {
            hcnt[i] = 0;
            hmass[i] = 0;
        }
        __syncthreads();
        const uint32_t prefix = s_prefix;
        if (s_found)
            for (int j = tid; j < n; j += blockDim.x) {
                uint32_t key = kvb_fkey(row[j]);
                if ((key & pmask) == prefix) {
                    atomicAdd(&hcnt[(key >> shift) & 255u], 1u);
                    atomicAdd(&hmass[(key >> shift) & 255u], (double)row[j]);
                }
            }
        __syncthreads();
        if (tid == 0 && s_found) { /* digit where the descending cumulative mass reaches need */
            int d = 255;
            for (; d >= 0; d--) {
                if (hcnt[d] == 0) continue;
                if (s_mass_above + hmass[d] >= need) break;
                s_mass_above += hmass[d];
                s_cnt_above += (int)hcnt[d];
            }
            if (d < 0) s_found = 0; /* rounding: need is above the whole row */
            else {
                s_prefix = prefix | ((uint32_t)d << shift);
                s_cnt_eq = (int)hcnt[d];
            }
        }
        __syncthreads();
        pmask |= 255u << shift;
    }
    if (tid == 0) {
        int c = n;
        if (s_found) {
            double v = (double)kvb_fkey_inv(s_prefix);
            long e = 1;
            if (v > 0) {
                double r = ceil((need - s_mass_above) / v);
                e = r < 1 ? 1 : (long)r;
            }
            if (e > s_cnt_eq) e = s_cnt_eq;
            c = s_cnt_above + (int)e;
        }
        count[blockIdx.x] = c < 1 ? 1 : (c > n ? n : c);
    }
}

/* k = 1 (greedy decoding's argmax over the vocabulary): one pass, no histograms. Each thread keeps
 * its first maximum (its indices only grow), then the block keeps the lower index of equal maxima:
 * the same answer as top-k's ties to the lower index. */
__global__ void __launch_bounds__(KVB_ARGMAX_THREADS) argmax_kernel(int32_t *idx, const float *x, int n, int ld)
{
    __shared__ float sv[32];
    __shared__ int si[32];
    const float *row = x + (size_t)blockIdx.x * ld;
    float bv = -INFINITY;
    int bi = n; /* above every index: loses every tie */
    for (int j = threadIdx.x; j < n; j += blockDim.x)
        if (row[j] > bv || bi == n) bv = row[j], bi = j;
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (ov > bv || (ov == bv && oi < bi)) bv = ov, bi = oi;
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    if (lane == 0) sv[warp] = bv, si[warp] = bi;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < nw; w++)
            if (sv[w] > bv || (sv[w] == bv && si[w] < bi)) bv = sv[w], bi = si[w];
        idx[blockIdx.x] = bi;
    }
}

int kvb_cuda_topk(kvb_cuda *c, int32_t *idx, const float *x, int rows, int n, int ld, int k,
                  kvb_error *e)
{
    KVB_CU_CHECK_ARG(rows > 0 && n > 0 && ld >= n && k > 0 && k <= n, e,
                     "cuda: topk: bad shape rows=%d n=%d ld=%d k=%d", rows, n, ld, k);
    if (k == 1) {
        argmax_kernel<<<rows, KVB_ARGMAX_THREADS, 0, c->stream>>>(idx, x, n, ld);
        return kvb_cu_launch(e, "argmax");
    }
    topk_kernel<<<rows, KVB_TOPK_THREADS, 0, c->stream>>>(idx, x, n, ld, k);
    return kvb_cu_launch(e, "topk");
}

int kvb_cuda_mass_count(kvb_cuda *c, int32_t *count, const float *x, int rows, int n, int ld,
                        float tau, kvb_error *e)
{
    KVB_CU_CHECK_ARG(rows > 0 && n > 0 && ld >= n && tau >= 0.f && tau <= 1.f, e,
                     "cuda: mass_count: bad shape rows=%d n=%d ld=%d tau=%g", rows, n, ld,
                     (double)tau);
    mass_count_kernel<<<rows, KVB_TOPK_THREADS, 0, c->stream>>>(count, x, n, ld, tau);
    return kvb_cu_launch(e, "mass_count");
}
