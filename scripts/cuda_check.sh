#!/usr/bin/env bash
# scripts/cuda_check.sh: build the CUDA backend (`make cuda`: every kernel for sm_80 and sm_90,
# host code with warnings as errors) and run tests/cuda/. On a machine without a GPU each kernel
# test prints "SKIP: <reason>" and exits 0, and the CPU-twin self-checks (test_twins) still run,
# so CI proves that everything compiles and that the CPU oracles are right.
# --run-only: run the built tests again without building (CI reruns the CPU twins with
# KVBENCH_ISA=scalar KVBENCH_TEST_THREADS=1, the alternative arithmetic path).
# Exit status: non-zero when the build or any test fails. Needs nvcc (CUDA_HOME or PATH).
set -eu
cd "$(dirname "$0")/.."
if [ "${1:-}" = --run-only ]; then
  run_only=1
  ls build/cuda/tests/test_* >/dev/null 2>&1 || { echo "cuda_check: nothing built (run without --run-only)" >&2; exit 1; }
else
  run_only=0
fi
if ! command -v nvcc >/dev/null 2>&1 && [ ! -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ]; then
  echo "cuda_check: nvcc not found (set CUDA_HOME or PATH)" >&2
  exit 1
fi
export PATH="${CUDA_HOME:-/usr/local/cuda}/bin:$PATH"
[ $run_only = 1 ] || make -j2 cuda
fail=0; skipped=0; passed=0
for t in build/cuda/tests/test_*; do
  [ -x "$t" ] || continue
  log="$t.log"
  if "$t" >"$log" 2>&1; then
    if grep -q '^SKIP:' "$log"; then skipped=$((skipped+1)); printf 'skip %s: %s\n' "$(basename "$t")" "$(sed -n 's/^SKIP: //p' "$log" | head -1)"
    else passed=$((passed+1)); printf 'ok   %s\n' "$(basename "$t")"; fi
  else
    fail=1; printf 'FAIL %s\n' "$(basename "$t")"; grep -E '^FAIL|error' "$log" | head -20
  fi
done
echo "cuda tests: $passed passed, $skipped skipped (no GPU), $([ $fail = 0 ] && echo 0 || echo some) failed"
# --device on both binaries (make cuda builds bin/kvbench-cuda): refusals without a GPU, and with
# one a run on the GPU whose run.json names the device
if [ -x bin/kvbench-cuda ]; then
  if KVBENCH=build/kvbench KVBENCH_CUDA=bin/kvbench-cuda bash tests/e2e/device.sh >build/cuda/e2e-device.log 2>&1
  then echo "ok   e2e device.sh (both binaries)"
  else fail=1; echo "FAIL e2e device.sh"; grep '^FAIL' build/cuda/e2e-device.log | head -20; fi
fi
exit $fail
