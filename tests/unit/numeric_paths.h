/* Which arithmetic path a numeric test runs on, and the rounding bound every tolerance of a
 * float sum is derived from.
 *
 *  KVBENCH_TEST_THREADS=N  threads of the model / pool tests (default: the test's own). CI runs
 *                          the numeric tests a second time with 1 thread and KVBENCH_ISA=scalar:
 *                          another partitioning of every GEMM and another GEMV kernel, so a
 *                          tolerance tuned on one path fails in CI instead of on a user's CPU.
 *  KVBENCH_ISA_LOG=FILE    tests append one line per ISA-specific kernel they ran or could not
 *                          run ("avx512 gemv_bf16: tested", "avx512 gemv_bf16: not on this CPU");
 *                          scripts/run_tests.sh prints the summary. */
#ifndef KVB_TEST_NUMERIC_PATHS_H
#define KVB_TEST_NUMERIC_PATHS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static inline int test_threads(int dflt)
{
    const char *s = getenv("KVBENCH_TEST_THREADS");
    int n = s ? atoi(s) : 0;
    return n > 0 ? n : dflt;
}

/* Records that `kernel` of `isa` ran (ran = 1) or that this CPU lacks the ISA (ran = 0). */
static inline void test_isa_note(const char *isa, const char *kernel, int ran)
{
    const char *path = getenv("KVBENCH_ISA_LOG");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (!f)
        return;
    fprintf(f, "%s %s: %s\n", isa, kernel, ran ? "tested" : "not on this CPU");
    fclose(f);
}

static inline int cpu_has_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
}

/* Higham's gamma_n = n u / (1 - n u), u = 2^-24: a float sum of n terms, in ANY order and with or
 * without fused multiply-adds, lies within gamma_n * sum |term| of the exact sum (Higham,
 * Accuracy and Stability of Numerical Algorithms, 2nd ed., eq. 3.5). Every kernel path (scalar,
 * AVX2, AVX-512, any OpenBLAS blocking, any thread split) meets this bound, so a tolerance built
 * from it holds on every CPU. */
static inline double gamma_f32(int n)
{
    const double u = ldexp(1.0, -24);
    return n * u / (1 - n * u);
}

#endif
