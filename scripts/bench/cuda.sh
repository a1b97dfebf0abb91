#!/usr/bin/env bash
# scripts/bench/cuda.sh: the GPU benchmark (build/cuda/kvb_cuda_bench: prefill tok/s and decode
# ms/token of random-weight models, as ratios to the HBM-bandwidth and bf16-tensor floors of the
# detected GPU). Reported as skipped, never faked, when there is no NVIDIA GPU or no nvcc.
# Output: one JSON object per model on stdout, also saved under results/tmp/.
set -u
cd "$(dirname "$0")/../.."
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "cuda bench: skipped (no NVIDIA GPU or driver)"; exit 0
fi
if ! command -v nvcc >/dev/null 2>&1 && [ ! -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ]; then
  echo "cuda bench: skipped (no nvcc)"; exit 0
fi
export PATH="${CUDA_HOME:-/usr/local/cuda}/bin:$PATH"
make -j2 cuda >/dev/null || { echo "cuda bench: make cuda failed" >&2; exit 1; }
mkdir -p results/tmp
status=0
for m in ${KVBENCH_CUDA_MODELS:-smollm2-135m llama3-8b}; do
  build/cuda/kvb_cuda_bench --model "$m" --context "${KVBENCH_CUDA_CONTEXTS:-2048,8192,32768}" \
    --decode-tokens 64 | tee "results/tmp/cuda-bench-$m.json" || status=1
done
exit $status
