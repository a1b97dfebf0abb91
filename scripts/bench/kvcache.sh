#!/usr/bin/env bash
# kvcache benchmark: per method, the prefill compression overhead and the decode attention time
# per token over the compressed cache, on SmolLM2-135M's cache shape with an 8k prompt (random
# post-RoPE Q/K/V; no model needed). Builds scripts/bench/kvcache_attend.c against the library.
# Usage: scripts/bench/kvcache.sh [prompt_tokens] [budget]   (JSON lines on stdout)
set -eu
cd "$(dirname "$0")/../.."
make -s build/libkvbench.a >/dev/null
out=build/bench/kvcache_attend
mkdir -p build/bench
cc -std=c11 -O2 -mavx2 -mfma -mf16c -D_GNU_SOURCE -Ilib -o "$out" scripts/bench/kvcache_attend.c \
   build/libkvbench.a -lcjson -lpcre2-8 -lz -lopenblas -lm -lpthread
"$out" "${1:-8192}" "${2:-512}"
