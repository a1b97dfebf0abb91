/* kernels/rope.cu: out[i] = x[i] cos - x[i+h] sin, out[i+h] = x[i+h] cos + x[i] sin, h = D/2,
 * angle = pos * inv_freq[i] in fp32 (as HF: inv_freq float32 @ position float32). */
#include "rope.cuh"

__global__ void rope_kernel(__nv_bfloat16 *o, int o_stride, const float *x, int x_stride,
                            int n_heads, int head_dim, const int32_t *pos, const float *inv_freq)
{
    int t = blockIdx.x, half = head_dim / 2;
    float p = (float)pos[t];
    const float *xt = x + (size_t)t * x_stride;
    __nv_bfloat16 *ot = o + (size_t)t * o_stride;
    for (int idx = threadIdx.x; idx < n_heads * half; idx += blockDim.x) {
        int h = idx / half, i = idx % half;
        kvb_rope_pair(xt[h * head_dim + i], xt[h * head_dim + i + half], p, inv_freq[i],
                      &ot[h * head_dim + i], &ot[h * head_dim + i + half]);
    }
}

int kvb_cuda_rope(kvb_cuda *c, kvb_bf16 *o, int o_stride, const float *x, int x_stride, int n,
                  int n_heads, int head_dim, const int32_t *pos, const float *inv_freq,
                  kvb_error *e)
{
    KVB_CU_CHECK_ARG(n > 0 && n_heads > 0 && head_dim > 0 && head_dim % 2 == 0, e,
                     "cuda: rope: bad shape n=%d heads=%d head_dim=%d", n, n_heads, head_dim);
    KVB_CU_CHECK_ARG(x_stride >= n_heads * head_dim && o_stride >= n_heads * head_dim, e,
                     "cuda: rope: strides %d/%d shorter than a row", x_stride, o_stride);
    rope_kernel<<<n, KVB_ROPE_THREADS, 0, c->stream>>>(as_bf(o), o_stride, x, x_stride, n_heads,
                                                       head_dim, pos, inv_freq);
    return kvb_cu_launch(e, "rope");
}
