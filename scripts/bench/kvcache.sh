#!/usr/bin/env bash
# kvcache benchmark: per method, the prefill compression overhead and the decode attention time
# per token over the compressed cache, on SmolLM2-135M's cache shape with an 8k prompt (random
# post-RoPE Q/K/V; no model needed). Builds scripts/bench/kvcache_attend.c against the library.
# Then KIVI against full f16 (issue 18 item 2): KIVI_ROUNDS (default 5) rounds of one process per
# method, alternated, medians and ratios with the bandwidth floor (scripts/bench/kivi_ratio.py).
# Usage: scripts/bench/kvcache.sh [prompt_tokens] [budget]   (JSON lines, then the ratio table)
set -eu
cd "$(dirname "$0")/../.."
make -s build/libkvbench.a >/dev/null
out=build/bench/kvcache_attend
mkdir -p build/bench
cc -std=c11 -O2 -mavx2 -mfma -mf16c -D_GNU_SOURCE -Ilib -o "$out" scripts/bench/kvcache_attend.c \
   build/libkvbench.a -lcjson -lpcre2-8 -lz -lopenblas -lm -lpthread
n=${1:-8192}
"$out" "$n" "${2:-512}"
load() { cut -d' ' -f1 /proc/loadavg; }
rounds=${KIVI_ROUNDS:-5}
log=build/bench/kivi_ratio.jsonl
: >"$log"
l0=$(load)
for r in $(seq 1 "$rounds"); do
  order="full-f16 KIVI-2 KIVI-4"
  [ $((r % 2)) = 0 ] && order="KIVI-4 KIVI-2 full-f16"
  for m in $order; do "$out" "$n" 512 "$m" >>"$log"; done
done
python3 scripts/bench/kivi_ratio.py "$log" "$l0" "$(load)"
