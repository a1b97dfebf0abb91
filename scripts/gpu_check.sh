#!/usr/bin/env bash
# scripts/gpu_check.sh: everything a GPU host must prove, in one invocation (issue 17 item 5).
# Runs on the GPU host from the repository root over the pack that scripts/gpu_pack.sh made here
# (.gpu/bin: the CUDA tests and benchmark; .gpu/lib: the third-party shared libraries a bare host
# lacks). Each step has its own timeout; a failing step is recorded and the rest still runs.
#   scripts/gpu_check.sh [REPORT_DIR]     (default $OUT, else build/gpu-report)
# GPU_CHECK_SKIP="step names" leaves those steps out (e.g. the peer, when a run only rechecks kernels).
# Writes REPORT_DIR/gpu_report.json (steps, their status and seconds, the benchmark JSONs) and the
# logs of every step beside it; prints a summary. Exit status 1 when any step failed.
set -u
cd "$(dirname "$0")/.."
report=${1:-${OUT:-build/gpu-report}}
mkdir -p "$report"
pack=.gpu

# the pack's big libraries travel xz-compressed (OpenBLAS is 35 MB, 4 MB compressed)
for f in "$pack"/lib/*.xz; do
  [ -e "$f" ] && [ ! -e "${f%.xz}" ] && python3 -c 'import lzma,sys; open(sys.argv[2],"wb").write(lzma.open(sys.argv[1]).read())' "$f" "${f%.xz}"
done

# libcublas: CUDA_HOME, the usual toolkit folders, or the pip wheels PyTorch brought
cublas_dir=""
for d in "${CUDA_HOME:-/usr/local/cuda}/lib64" /usr/local/cuda*/lib64 /usr/local/cuda*/targets/*/lib \
         $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, s, "lib") for p in nvidia.__path__ for s in os.listdir(p)))' 2>/dev/null); do
  [ -e "$d/libcublas.so.13" ] && { cublas_dir=$d; break; }
done
export LD_LIBRARY_PATH="$PWD/$pack/lib${cublas_dir:+:$cublas_dir}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

steps=()
step() { # step NAME TIMEOUT_S COMMAND...: run, log to REPORT/NAME.log, record status and time
  local name=$1 limit=$2; shift 2
  case " ${GPU_CHECK_SKIP:-} " in *" $name "*) echo "skipped  $name (GPU_CHECK_SKIP)"; return;; esac
  local t0=$(date +%s%N) rc
  timeout "$limit" "$@" >"$report/$name.log" 2>&1; rc=$?
  local dt=$(( ($(date +%s%N) - t0) / 1000000 ))
  dt=$(printf '%d.%03d' $((dt / 1000)) $((dt % 1000)))
  local status=ok; [ $rc = 0 ] || status=fail; [ $rc = 124 ] && status=timeout
  grep -q '^SKIP:' "$report/$name.log" && [ $rc = 0 ] && status=skip
  steps+=("{\"step\": \"$name\", \"status\": \"$status\", \"rc\": $rc, \"seconds\": $dt}")
  printf '%-8s %-28s %6.1f s\n' "$status" "$name" "$dt"
  [ $status = ok ] || [ $status = skip ] || tail -25 "$report/$name.log"
}

{
  echo "date: $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
  nvcc --version 2>/dev/null | tail -2
  lscpu | grep -E '^(Model name|CPU\(s\))'; grep -o -w -E 'avx512f|avx512_bf16|avx2' /proc/cpuinfo | sort | uniq -c
  echo "libcublas: ${cublas_dir:-not found}"
  python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
} >"$report/host.log" 2>&1
cat "$report/host.log"

for t in "$pack"/bin/test_*; do
  step "$(basename "$t")" 20 "$t"
done
step bench_smollm2 20 "$pack/bin/kvb_cuda_bench" --model smollm2-135m --context 2048,8192 --decode-tokens 32
step bench_llama3_8b 60 "$pack/bin/kvb_cuda_bench" --model llama3-8b --context 2048,8192,32768 --decode-tokens 32
step peer_llama3_8b 60 python3 scripts/bench/gpu_peer.py --model llama3-8b --context 2048,8192,32768 --decode-tokens 32

# the JSON object a benchmark printed (from its first '{'), or null
json_or_null() {
  python3 -c 'import json,sys; t=open(sys.argv[1]).read(); print(json.dumps(json.loads(t[t.index("{"):])))' "$1" 2>/dev/null || echo null
}
{
  printf '{"host": %s,\n "steps": [%s],\n' "$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$report/host.log")" "$(IFS=,; echo "${steps[*]}")"
  printf ' "bench": %s,\n "peer": %s}\n' "$(json_or_null "$report/bench_llama3_8b.log")" "$(json_or_null "$report/peer_llama3_8b.log")"
} >"$report/gpu_report.json"
python3 -m json.tool "$report/gpu_report.json" >/dev/null && echo "report: $report/gpu_report.json"
! grep -q '"status": "\(fail\|timeout\)"' "$report/gpu_report.json"
