#!/usr/bin/env bash
# Replays every fuzz corpus through its harness built with the normal compiler (no libFuzzer).
# Called by tests/e2e/fuzz_replay.sh so `make test` and `make test-asan` cover past finds.
set -eu
cd "$(dirname "$0")/.."
build="${BUILD:-build}"
mkdir -p "$build/fuzz-replay"
cflags="-std=c11 -D_GNU_SOURCE -Ilib -Itests/fuzz -g -O1 -mavx2 -mfma -mf16c -Wall -Wextra -Werror"
case "$build" in *asan*) cflags="$cflags -fsanitize=address,undefined -fno-sanitize-recover=undefined";; esac
for h in tests/fuzz/fuzz_*.c; do
  name=$(basename "$h" .c); short=${name#fuzz_}
  [ -d "tests/fuzz/corpus/$short" ] || continue
  bin="$build/fuzz-replay/$name"
  gcc $cflags -o "$bin" "$h" tests/fuzz/replay_main.c "$build/libkvbench.a" -lcjson -lpcre2-8 -lz -lopenblas -lm -lpthread
  echo "$short: $("$bin" "tests/fuzz/corpus/$short")"
done
