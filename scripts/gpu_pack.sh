#!/usr/bin/env bash
# scripts/gpu_pack.sh: makes, here, what a bare GPU host needs to run scripts/gpu_check.sh (issue 17
# item 5). That host has nvcc, cuBLAS, PyTorch and transformers, but no libcjson, no libpcre2, no
# OpenBLAS and no package installs, and a device call carries at most ~40 MiB of ignored files.
#   scripts/gpu_pack.sh [--no-build]      (--no-build: repack what build/gpu-pack holds)
# 1. builds `make cuda BLAS=none` (the portable BLAS instead of OpenBLAS) into build/gpu-pack with
#    pcre2 and zlib static, the CUDA runtime static, and an rpath $ORIGIN/../lib for libcjson.so.1
#    (Debian has no libcjson.a): cuBLAS is the only library the binaries take from the host;
# 2. collects into .gpu/ (git-ignored) the stripped binaries (kernel tests, kvb_cuda_bench, the
#    CPU kvbench, kvbench-cuda where the build has it) and libcjson.so.1, and checks that no binary
#    needs a library beyond those and glibc/libstdc++/cuBLAS; fails if .gpu/ exceeds the limit;
# 3. splits SmolLM2 (models/smollm2-135m, 94 MiB) into parts that each fit one call: part A in .gpu/
#    beside the binaries, parts B, C... in .gpu-b/, .gpu-c/...; .gpu/SHA256SUMS lists every packed
#    file and part, .gpu/model.sha256 the whole model (gpu_check.sh reassembles and verifies).
# 4. puts the first 3 records of each LongBench sample task and jieba's tables beside the last part.
# GPU_PACK_LIMIT_MIB (default 42): what one call may carry. Prints the carry plan.
set -euo pipefail
cd "$(dirname "$0")/.."
limit_mib=${GPU_PACK_LIMIT_MIB:-42} # 64 MiB a call, less the tracked tree (19.7 MiB), less a margin
build=build/gpu-pack
pack=.gpu
model=models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
bytes_of() { du -sb "$@" | awk '{ s += $1 } END { print s + 0 }'; }

# ---- 1. build ---------------------------------------------------------------------------------
# static pcre2 and zlib; libcjson.so.1 found beside the binary ('$$' survives make, the quotes the shell)
third="-Wl,-rpath,'\$\$ORIGIN/../lib' -lcjson -Wl,-Bstatic -lpcre2-8 -lz -Wl,-Bdynamic"
# LDLIBS on the command line replaces the main Makefile's list: the CPU CLI is linked the same way,
# whichever make builds it (kvbench-cuda's build makes it too); BIN keeps kvbench-cuda in $build
flags=(BLAS=none BUILD=$build BIN=$build/bin THIRD_LIBS="$third" CUDART="-lcudart_static -ldl -lrt"
       LDLIBS="$third -lm -lpthread")
if [ "${1:-}" != --no-build ]; then
  # relink every binary: make does not notice that link flags changed
  rm -f "$build"/cuda/kvb_cuda_bench "$build"/cuda/tests/test_* "$build"/kvbench "$build"/bin/kvbench-cuda
  nice make -j2 "${flags[@]}" cuda
  nice make -j2 "${flags[@]}" $build/kvbench
fi

# ---- 2. collect -------------------------------------------------------------------------------
rm -rf "$pack" .gpu-?
mkdir -p "$pack/bin" "$pack/lib"
bins=("$build/cuda/kvb_cuda_bench" "$build/kvbench")
for f in "$build"/cuda/tests/test_*; do case $f in *.*) ;; *) bins+=("$f") ;; esac; done # not the .d
# kvbench-cuda (both backends; branch `device`): wherever that build put it under build/gpu-pack
while IFS= read -r f; do bins+=("$f"); done < <(find "$build" -name kvbench-cuda -type f -perm -u+x)
for f in "${bins[@]}"; do
  [ -x "$f" ] || { echo "gpu_pack: missing $f (did the build fail?)" >&2; exit 1; }
  strip -o "$pack/bin/$(basename "$f")" "$f"
done
cjson=$(readlink -f "$(gcc -print-file-name=libcjson.so.1)")
[ -f "$cjson" ] || { echo "gpu_pack: libcjson.so.1 not found (apt-get install libcjson1)" >&2; exit 1; }
cp "$cjson" "$pack/lib/libcjson.so.1"

# every binary needs only the pack's libraries, glibc, libstdc++/libgcc and cuBLAS
allowed='^(libcjson\.so\.1|libcublas\.so\.[0-9]+|libcublasLt\.so\.[0-9]+|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libm\.so\.6|libc\.so\.6|libdl\.so\.2|librt\.so\.1|libpthread\.so\.0|ld-linux-x86-64\.so\.2)$'
for f in "$pack"/bin/* "$pack"/lib/*; do
  extra=$(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep -Ev "$allowed" || true)
  [ -z "$extra" ] || { echo "gpu_pack: $f needs $(echo $extra) (not on a bare GPU host)" >&2; exit 1; }
done
glibc=$(objdump -T "$pack"/bin/* "$pack"/lib/* | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)

# ---- 3. the model, in parts -------------------------------------------------------------------
limit=$((limit_mib * 1048576))
pack_bytes=$(bytes_of "$pack")
if [ "$pack_bytes" -gt $((limit - 1048576)) ]; then
  echo "gpu_pack: $pack is $(mib "$pack_bytes") MiB, over the ${limit_mib} MiB a call carries" >&2; exit 1
fi
parts=()
if [ -f "$model" ]; then
  size=$(stat -L -c %s "$model")
  off=0 room=$((limit - pack_bytes - 65536)) # part A shares its call with the binaries
  for letter in A B C D E F; do
    [ "$off" -lt "$size" ] || break
    dir=$pack; [ $letter = A ] || dir=.gpu-$(echo $letter | tr A-Z a-z)
    len=$(( size - off < room ? size - off : room ))
    mkdir -p "$dir"
    dd if="$model" of="$dir/model.part$letter" bs=1M iflag=skip_bytes,count_bytes skip=$off count=$len status=none
    parts+=("$dir/model.part$letter")
    off=$((off + len)) room=$((limit - 65536))
  done
  [ "$off" -eq "$size" ] || { echo "gpu_pack: the model needs more than ${#parts[@]} parts" >&2; exit 1; }
  # the model's sha256 as scripts/fetch_model.sh states it (one copy of that fact), checked here
  echo "$(sed -n 's/^sha=//p' scripts/fetch_model.sh)  $model" >"$pack/model.sha256"
  sha256sum -c --quiet "$pack/model.sha256" || { echo "gpu_pack: $model is not the model fetch_model.sh names" >&2; exit 1; }
else
  echo "gpu_pack: $model absent (make model): no model parts, gpu_check.sh will skip the model steps"
fi
# ---- 4. data of the model checks --------------------------------------------------------------
# `run` on both devices reads the first 3 records of each task of ../shared/datasets/longbench-sample
# (third-party data: carried, never committed) and scores the zh tasks with jieba's dictionary and
# HMM tables: both go with the last part, in the call that runs the model checks
data=()
lb=${KVBENCH_LONGBENCH_SAMPLE:-../shared/datasets/longbench-sample}
jieba=${KVBENCH_JIEBA_DIR:-/usr/lib/python3/dist-packages/jieba}
if [ ${#parts[@]} -gt 0 ] && [ -d "$lb" ] && [ -f "$jieba/dict.txt" ]; then
  ddir=$(dirname "${parts[-1]}")
  mkdir -p "$ddir/longbench" "$ddir/jieba/finalseg"
  for f in "$lb"/*.jsonl; do head -n 3 "$f" >"$ddir/longbench/$(basename "$f")"; done
  cp "$jieba/dict.txt" "$ddir/jieba/"
  cp "$jieba"/finalseg/prob_*.py "$ddir/jieba/finalseg/"
  [ "$(bytes_of "$ddir")" -le "$limit" ] || { echo "gpu_pack: $ddir over ${limit_mib} MiB with the run data" >&2; exit 1; }
  data=("$ddir"/longbench/*.jsonl "$ddir"/jieba/dict.txt "$ddir"/jieba/finalseg/*)
else
  echo "gpu_pack: no LongBench sample ($lb) or jieba ($jieba): gpu_check.sh will skip the run comparison"
fi
sha256sum "$pack"/bin/* "$pack"/lib/* "${parts[@]}" "${data[@]}" >"$pack/SHA256SUMS"
{
  echo "commit: $(git rev-parse HEAD)$(git diff --quiet HEAD || echo ' (dirty)')"
  echo "made: $(date -u +%FT%TZ) on $(uname -m), $(ldd --version | head -1)"
  echo "build: make $(printf '%q ' "${flags[@]}")cuda"
  echo "needs on the host: glibc >= ${glibc#GLIBC_}, libstdc++.so.6, libcublas/libcublasLt (CUDA 13)"
  echo "model parts: ${parts[*]:-none}"
} >"$pack/PACK.txt"

# ---- the carry plan ---------------------------------------------------------------------------
echo "gpu_pack: made $pack ($(mib "$(bytes_of "$pack")") MiB: $(ls "$pack"/bin | wc -l) binaries, libcjson.so.1, ${parts[0]:-no model part})"
n=1
echo "  call $n: carry [\"$pack\"] ($(mib "$(bytes_of "$pack")") MiB): scripts/gpu_check.sh runs every step but the model's"
for p in "${parts[@]:1}"; do
  n=$((n + 1))
  echo "  call $n: carry [\"$(dirname "$p")\"] ($(mib "$(bytes_of "$(dirname "$p")")") MiB)$([ "$p" = "${parts[-1]}" ] && echo ": scripts/gpu_check.sh --only model (reassembles and checks the model)")"
done
echo "  (folders left by a call stay on the warm machine; a call that carries two must stay under the device limit)"
