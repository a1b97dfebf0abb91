/* tests/cuda/check.h: shared helpers of the CUDA tests (plain C, header-only): seeded inputs,
 * device buffers, comparisons, and the op table runner of test_ops.c.
 *
 * A kernel test is a row {op, inputs, gpu, cpu, tol}: `inputs` makes seeded host inputs and
 * declares the outputs, `cpu` fills the reference outputs with the CPU oracle (kvb_ref_<op>, i.e.
 * the lib function where lib has the op), `gpu` runs kvb_cuda_<op> on device copies, and each
 * output is compared under its tolerance (one line per output with the worst case; exit 1 on a
 * failure). Without a usable GPU a test prints "SKIP: <reason>" and exits 0 (CI machines have
 * nvcc, no GPU). */
#ifndef KVB_TEST_CUDA_CHECK_H
#define KVB_TEST_CUDA_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_ref.h"
#include "kvb_cuda.h"

static int g_fail;

/* ---- random inputs ------------------------------------------------------------------------- */
static uint64_t g_rng = 0x6b76626e6368ULL;
static inline void rng_seed(uint64_t s) { g_rng = s * 0x9e3779b97f4a7c15ULL + 1; }
static inline uint64_t rng_u64(void)
{
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static inline float rng_unif(void) { return (float)((rng_u64() >> 40) * (2.0 / 16777216.0) - 1.0); }

static inline void *xmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}
static inline float *rand_f32(size_t n, float scale)
{
    float *p = xmalloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = scale * rng_unif();
    return p;
}
static inline kvb_bf16 *rand_bf16(size_t n, float scale)
{
    kvb_bf16 *p = xmalloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = kvb_f32_to_bf16(scale * rng_unif());
    return p;
}

/* ---- device ------------------------------------------------------------------------------- */
static inline void die_err(const kvb_error *e)
{
    fprintf(stderr, "error: %s\n", e->msg);
    exit(1);
}
/* The context, or SKIP + exit 0 when no GPU can be used. */
static inline kvb_cuda *open_or_skip(const char *test)
{
    kvb_error e = {0};
    kvb_cuda *c = NULL;
    if (kvb_cuda_open(&c, 0, &e)) {
        printf("SKIP: %s: %s\n", test, e.msg);
        exit(0);
    }
    kvb_cuda_info info;
    if (kvb_cuda_info_get(c, &info, &e) == 0)
        printf("%s on %s (sm_%d%d, %d SMs)\n", test, info.name, info.cc_major, info.cc_minor,
               info.sm_count);
    return c;
}
static inline void *dev_put(kvb_cuda *c, const void *host, size_t bytes)
{
    kvb_error e = {0};
    void *d = NULL;
    if (kvb_cuda_alloc(c, &d, bytes, &e)) die_err(&e);
    if (host && kvb_cuda_upload(c, d, host, bytes, &e)) die_err(&e);
    if (!host && kvb_cuda_memset0(c, d, bytes, &e)) die_err(&e);
    return d;
}
static inline void dev_get(kvb_cuda *c, void *host, const void *d, size_t bytes)
{
    kvb_error e = {0};
    if (kvb_cuda_sync(c, &e) || kvb_cuda_download(c, host, d, bytes, &e)) die_err(&e);
}
/* CU(kvb_cuda_op(..., E)): run a backend call, die with its message on failure. */
#define CU(expr)                                                                                   \
    do {                                                                                           \
        kvb_error err_ = {0};                                                                      \
        kvb_error *E = &err_;                                                                      \
        if ((expr)) die_err(E);                                                                    \
    } while (0)

/* ---- comparisons --------------------------------------------------------------------------- */
/* |got - ref| <= atol + rtol * |ref| elementwise (llm.c's rule); reports the worst excess. */
static inline int close_f32(const char *what, const float *got, const float *ref, size_t n, double atol,
                     double rtol)
{
    size_t bad = 0, worst_i = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]), tol = atol + rtol * fabs(ref[i]);
        if (!(d <= tol)) bad++;
        if (!(d <= worst) ) {
            worst = d;
            worst_i = i;
        }
    }
    printf("%-4s %-48s n=%zu max|d|=%.3g at %zu (got %.6g ref %.6g) tol %.1e+%.1e*|ref|\n",
           bad ? "FAIL" : "ok", what, n, worst, worst_i, n ? got[worst_i] : 0.0,
           n ? ref[worst_i] : 0.0, atol, rtol);
    if (bad) g_fail = 1;
    return bad == 0;
}
static inline int close_bf16(const char *what, const kvb_bf16 *got, const kvb_bf16 *ref, size_t n,
                      double atol, double rtol)
{
    float *a = xmalloc(n * sizeof *a), *b = xmalloc(n * sizeof *b);
    for (size_t i = 0; i < n; i++) {
        a[i] = kvb_bf16_to_f32(got[i]);
        b[i] = kvb_bf16_to_f32(ref[i]);
    }
    int ok = close_f32(what, a, b, n, atol, rtol);
    free(a);
    free(b);
    return ok;
}
static inline int equal_bytes(const char *what, const void *got, const void *ref, size_t bytes)
{
    const unsigned char *a = got, *b = ref;
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < bytes; i++)
        if (a[i] != b[i] && bad++ == 0) first = i;
    printf("%-4s %-48s %zu bytes identical%s", bad ? "FAIL" : "ok", what, bytes - bad,
           bad ? "" : "\n");
    if (bad) printf(", %zu differ (first at byte %zu)\n", bad, first);
    if (bad) g_fail = 1;
    return bad == 0;
}
static inline int finish(const char *test)
{
    printf("%s: %s\n", test, g_fail ? "FAILED" : "passed");
    return g_fail;
}

/* gamma_n = n u / (1 - n u), u = 2^-24: bounds any f32 summation order of n terms (Higham 3.5) */
static inline double gamma_f32(int n)
{
    const double u = ldexp(1.0, -24);
    return n * u / (1 - n * u);
}

/* ---- the error bound of f32 decode attention ------------------------------------------------
 * One implementation of o_h = sum_j p_j v_j, p = softmax(scale q_h . k_j), in f32 (u = 2^-24),
 * first order. Scores: |ds_j| <= E = gamma_{D+1} B, B = max_j scale sum_c |q_c k_jc| (a D-term
 * dot in any order plus the scale). Weights exp(s_j - m): |s_j - m| <= 2B, so the rounded
 * argument and a 2-ulp exp (CUDA expf: 2 ulp; core/simd.h kvb_exp256: 1.26 ulp measured over
 * every float in [-87, 0]) put a relative error a = 4u + 2uB on each. Normalizing turns per-term
 * relative errors r_j into ratios r_j / sum p_i r_i, so |dp_j| <= (2E + 2a) p_j, and the sums of
 * L terms add gamma_{2L+2} (positive weights; splits and their combine included). Hence
 *   |do_hd| <= K_h sum_j p_j |v_jd|,   |d sink_h| <= K_h sink_h,
 *   K_h = c_E E + c_a a + c_g gamma_{2L+2} + c_q 2^-25 scale sum_c |q_c|,
 * with (c_E, c_a, c_g) = (2, 2, 2) for one implementation, (4, 6, 4) for the kernel against the
 * twin (the kernel's split combine applies a second exp: 2a more), and c_q = 2 for the twin's f16
 * cache (bf16 below 2^-17 rounds by <= 2^-25 in a key; in a value it adds 2^-25 to o: atol).
 * Computed here in double from the exact probabilities; x1.1 covers the second-order terms
 * (K < 1e-2). bo: (H, D), bs: (H) or NULL; oref, sref (or NULL): the exact o and sink mass,
 * rounded once to f32. */
static inline void decode_bound(float *bo, float *bs, const float *q, const kvb_bf16 *k,
                                const kvb_bf16 *v, size_t hs, const int32_t *len, int H, int Hkv,
                                int D, int n_init, int n_recent, double cE, double ca, double cg,
                                float *oref, float *sref)
{
    const double u = ldexp(1.0, -24), scale = 1.0 / sqrt((double)D);
    int mx = 0;
    for (int g = 0; g < Hkv; g++) mx = len[g] > mx ? len[g] : mx;
    double *s = xmalloc(sizeof(double) * (size_t)mx);
    for (int h = 0; h < H; h++) {
        int g = h / (H / Hkv), L = len[g];
        const kvb_bf16 *kg = k + (size_t)g * hs, *vg = v + (size_t)g * hs;
        double B = 0, m = -INFINITY, l = 0, sink = 0, qa = 0;
        for (int c = 0; c < D; c++) qa += fabs(q[h * D + c]);
        for (int j = 0; j < L; j++) {
            double d = 0, a = 0;
            for (int c = 0; c < D; c++) {
                double x = (double)q[h * D + c] * kvb_bf16_to_f32(kg[(size_t)j * D + c]);
                d += x, a += fabs(x);
            }
            s[j] = d * scale;
            B = a * scale > B ? a * scale : B;
            m = s[j] > m ? s[j] : m;
        }
        for (int j = 0; j < L; j++) {
            s[j] = exp(s[j] - m);
            l += s[j];
            if (j < n_init) sink += s[j];
            if (j >= L - n_recent) sink += s[j];
        }
        double K = cE * gamma_f32(D + 1) * B + ca * (4 * u + 2 * u * B) + cg * gamma_f32(2 * L + 2) +
                   2 * ldexp(1.0, -25) * scale * qa;
        for (int c = 0; c < D; c++) {
            double pv = 0, o = 0;
            for (int j = 0; j < L; j++) {
                double x = kvb_bf16_to_f32(vg[(size_t)j * D + c]);
                pv += s[j] * fabs(x), o += s[j] * x;
            }
            bo[h * D + c] = (float)(1.1 * K * pv / l);
            if (oref) oref[h * D + c] = (float)(o / l);
        }
        if (bs) bs[h] = (float)(1.1 * K * sink / l);
        if (sref) sref[h] = (float)(sink / l);
    }
    free(s);
}

/* ---- ThinK's thin keys for the decode tests: s = {H, Hkv, D, n_thin, n_ch, len0, len1}; kv head
 * g has n_thin thin rows (n_ch random kept channels ch[g * cp ..], ascending, cp = n_ch rounded
 * up to 8) then len0 or len1 (odd g) full-width rows. kz: every row full width with the pruned
 * channels zeroed (the same scores: the exact reference), tot its lengths; kt, k the kernel's
 * layout (thin rows' kept channels, zero-padded; the full-width rows). */
typedef struct thin_case {
    int H, Hkv, D, n_thin, n_ch, cp, kcap, vcap;
    float *q;
    kvb_bf16 *kz, *v, *kt, *k;
    int32_t *ch, *len, *tot;
} thin_case;
static inline thin_case thin_dims_of(const int *s)
{
    const int kcap = s[5] > s[6] ? s[5] : s[6];
    thin_case t = {s[0], s[1], s[2], s[3], s[4], (s[4] + 7) / 8 * 8, kcap, s[3] + kcap,
                   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    return t;
}
static inline void thin_case_make(thin_case *t, const int *s)
{
    *t = thin_dims_of(s);
    const int D = t->D, Hkv = t->Hkv, cp = t->cp;
    t->q = rand_f32((size_t)t->H * D, 2.f);
    t->kz = rand_bf16((size_t)Hkv * t->vcap * D, 2.f), t->v = rand_bf16((size_t)Hkv * t->vcap * D, 1.f);
    t->kt = (kvb_bf16 *)xmalloc(sizeof(kvb_bf16) * Hkv * t->n_thin * cp);
    t->k = (kvb_bf16 *)xmalloc(sizeof(kvb_bf16) * Hkv * t->kcap * D);
    t->ch = (int32_t *)xmalloc(sizeof(int32_t) * Hkv * cp);
    t->len = (int32_t *)xmalloc(sizeof(int32_t) * Hkv), t->tot = (int32_t *)xmalloc(sizeof(int32_t) * Hkv);
    for (int g = 0; g < Hkv; g++) {
        int32_t *cg = t->ch + (size_t)g * cp;
        t->len[g] = s[5 + g % 2], t->tot[g] = t->n_thin + t->len[g];
        int n = 0; /* n_ch of D channels, each kept with the odds still needed */
        for (int j = 0; j < D; j++)
            if ((int)(rng_u64() % (uint64_t)(D - j)) < t->n_ch - n) cg[n++] = j;
        for (int c = n; c < cp; c++) cg[c] = 0;
        kvb_bf16 *kg = t->kz + (size_t)g * t->vcap * D;
        for (int r = 0; r < t->n_thin; r++) {
            kvb_bf16 *row = kg + (size_t)r * D;
            for (int c = 0; c < cp; c++)
                t->kt[((size_t)g * t->n_thin + r) * cp + c] = c < t->n_ch ? row[cg[c]] : kvb_f32_to_bf16(0.f);
            for (int j = 0, c = 0; j < D; j++)
                if (c < t->n_ch && cg[c] == j) c++;
                else row[j] = kvb_f32_to_bf16(0.f);
        }
        memcpy(t->k + (size_t)g * t->kcap * D, kg + (size_t)t->n_thin * D,
               sizeof(kvb_bf16) * t->kcap * D);
    }
}
static inline void thin_case_free(thin_case *t)
{
    free(t->q), free(t->kz), free(t->v), free(t->kt), free(t->k), free(t->ch), free(t->len), free(t->tot);
}

/* ---- the op table ---------------------------------------------------------------------------- */
/* |gpu - cpu| <= atol + rtol |ref| + kgamma * gamma_terms * absum[i] + bound[i] elementwise, where
 * absum[i] is the sum of |terms| of element i (set by `inputs`), gamma_n = n 2^-24 / (1 - n 2^-24)
 * bounds any f32 summation order (Higham, eq. 3.5) and bound[i] (optional, set by `inputs`) is an
 * op's own derived bound (decode attention: decode_bound below); all zero: bit-identical. `why`
 * is printed. */
typedef struct op_tol {
    double atol, rtol, kgamma;
    const char *why;
} op_tol;

enum { OUT_F32, OUT_BF16, OUT_BYTES };
#define OP_MAX_IO 12

typedef struct op_io {
    const int *s; /* the row's shape (meaning: the inputs function's comment) */
    kvb_cuda *c;  /* NULL: CPU side only */
    int n_in, n_out, terms;
    void *in[OP_MAX_IO], *din[OP_MAX_IO];
    size_t in_bytes[OP_MAX_IO];
    const char *out_name[OP_MAX_IO];
    int out_type[OP_MAX_IO];
    size_t out_n[OP_MAX_IO], out_bytes[OP_MAX_IO];
    void *ref[OP_MAX_IO], *got[OP_MAX_IO], *dout[OP_MAX_IO];
    float *absum[OP_MAX_IO];
    float *bound[OP_MAX_IO]; /* a derived elementwise error bound added to the tolerance, or NULL */
} op_io;

typedef struct op_row {
    const char *op;
    void (*inputs)(op_io *io);
    int s[8];
    void (*gpu)(op_io *io);
    void (*cpu)(op_io *io);
    op_tol tol[3]; /* per output, in the order `inputs` declares them (the last one given repeats) */
} op_row;

/* an input: host buffer (owned by io from here on), returns its index */
static inline int io_in(op_io *io, void *host, size_t bytes)
{
    io->in[io->n_in] = host;
    io->in_bytes[io->n_in] = bytes;
    return io->n_in++;
}
/* an output of n elements of `esz` bytes, both sides starting from `init` (NULL: zeros) */
static inline int io_out(op_io *io, const char *name, int type, size_t n, size_t esz, const void *init)
{
    int i = io->n_out++;
    io->out_name[i] = name, io->out_type[i] = type, io->out_n[i] = n, io->out_bytes[i] = n * esz;
    io->ref[i] = xmalloc(n * esz), io->got[i] = xmalloc(n * esz);
    if (init) memcpy(io->ref[i], init, n * esz);
    return i;
}

static inline void op_compare(const op_row *r, op_io *io, int i, const op_tol *t)
{
    char what[160];
    snprintf(what, sizeof what, "%s %s", i ? " " : r->op, io->out_name[i]);
    if (io->out_type[i] == OUT_BYTES || (t->atol == 0 && t->rtol == 0 && t->kgamma == 0)) {
        equal_bytes(what, io->got[i], io->ref[i], io->out_bytes[i]);
        return;
    }
    size_t n = io->out_n[i], bad = 0, wi = 0;
    double worst = 0, g = t->kgamma * gamma_f32(io->terms);
    for (size_t j = 0; j < n; j++) {
        double a, b;
        if (io->out_type[i] == OUT_BF16) {
            a = kvb_bf16_to_f32(((kvb_bf16 *)io->got[i])[j]);
            b = kvb_bf16_to_f32(((kvb_bf16 *)io->ref[i])[j]);
        } else {
            a = ((float *)io->got[i])[j];
            b = ((float *)io->ref[i])[j];
        }
        double tol = t->atol + t->rtol * fabs(b) + (io->absum[i] ? g * io->absum[i][j] : 0) +
                     (io->bound[i] ? io->bound[i][j] : 0);
        double d = fabs(a - b);
        if (!(d <= tol)) bad++;
        if (!(d / tol <= worst)) worst = d / tol, wi = j;
    }
    printf("%-4s %-56s n=%zu worst |d|/tol %.3f at %zu (%s)\n", bad ? "FAIL" : "ok", what, n, worst,
           wi, t->why);
    if (bad) g_fail = 1;
}

/* Runs every row: inputs, the CPU oracle, and (with a context) the kernel and the comparison.
 * Without one it still runs each oracle on each row's inputs (they must succeed). */
static inline void op_run(kvb_cuda *c, const op_row *rows, size_t n_rows)
{
    for (size_t k = 0; k < n_rows; k++) {
        const op_row *r = &rows[k];
        op_io io = {0};
        io.s = r->s, io.c = c;
        r->inputs(&io);
        for (int i = 0; c && i < io.n_in; i++) io.din[i] = dev_put(c, io.in[i], io.in_bytes[i]);
        for (int i = 0; c && i < io.n_out; i++) io.dout[i] = dev_put(c, io.ref[i], io.out_bytes[i]);
        r->cpu(&io); /* after the uploads: outputs start from the same initial values */
        if (c) {
            r->gpu(&io);
            for (int i = 0; i < io.n_out; i++) {
                const op_tol *t = &r->tol[0];
                for (int j = 1; j <= i && j < 3; j++)
                    if (r->tol[j].why) t = &r->tol[j];
                dev_get(c, io.got[i], io.dout[i], io.out_bytes[i]);
                op_compare(r, &io, i, t);
            }
        }
        for (int i = 0; i < io.n_in; i++) {
            if (c) kvb_cuda_free(c, io.din[i]);
            free(io.in[i]);
        }
        for (int i = 0; i < io.n_out; i++) {
            if (c) kvb_cuda_free(c, io.dout[i]);
            free(io.ref[i]), free(io.got[i]), free(io.absum[i]), free(io.bound[i]);
        }
    }
}
#endif
