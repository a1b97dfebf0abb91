/* lib/core/pynum: Python and numpy number semantics, so that scores and result files are
 * byte-identical to what LongBench's eval.py (CPython + numpy) computes and writes. One copy,
 * used by lib/longbench (result.json) and lib/results (run.json, diff, report). */
#ifndef KVB_CORE_PYNUM_H
#define KVB_CORE_PYNUM_H

#include <stddef.h>

/* round(x, ndigits) on a Python float (0 <= ndigits <= 100): correctly rounded, ties to even on
 * the exact binary value. Non-finite values come back unchanged. */
double kvb_py_round(double x, int ndigits);
/* repr(float): the shortest digit string that reads back as x, laid out as CPython does (fixed
 * notation when the decimal exponent is in [-4, 16), else d.ddde+XX). json: the spellings of
 * json.dump for non-finite values ("NaN", "Infinity", "-Infinity") instead of repr's ("nan",
 * "inf", "-inf"). buf: at least 32 bytes. */
void kvb_py_repr(double x, int json, char *buf, size_t size);
/* numpy's pairwise summation of a contiguous float64 array (DOUBLE_pairwise_sum: 8 accumulators,
 * blocks of 128, halves above), as np.sum / np.mean use. */
double kvb_np_pairwise_sum(const double *a, size_t n);
/* np.sum (the pairwise sum, from the identity 0.0) and np.mean (NaN for n == 0) */
double kvb_np_sum(const double *a, size_t n);
double kvb_np_mean(const double *a, size_t n);
/* round(np.float64, d) = np.round: rint(x * 10^d) / 10^d, which differs from Python's round on
 * ties of the scaled binary value: np.round(2.675, 2) = 2.68, round(2.675, 2) = 2.67 */
double kvb_np_round(double x, int decimals);
/* np.linspace(start, stop, num, endpoint) into out[num]: i * step + start with step = (stop -
 * start) / div (div = num - 1 with the endpoint, else num), the last value stop itself with the
 * endpoint; numpy's order of operations, so RULER's depths np.round(np.linspace(0, 100, 40))
 * come out as numpy's (kvb_np_round(out[i], 0)). */
void kvb_np_linspace(double start, double stop, size_t num, int endpoint, double *out);

#endif
