#!/usr/bin/env bash
# Every cache-method parameter has a `kvbench run` flag that reaches the method, and a method
# refuses a parameter it does not take (one line, exit 2). Uses --dry-run: no model weights needed.
set -u
K=${KVBENCH:?}
fail=0
check() { # name, expected exit, grep pattern, args...
  local name=$1 want=$2 pat=$3; shift 3
  out=$("$K" run --dry-run --prompt-len 2000 "$@" 2>&1); rc=$?
  if [ $rc != "$want" ] || ! grep -q -- "$pat" <<<"$out"; then
    echo "FAIL $name: rc=$rc"; echo "$out" | tail -3; fail=1
  else echo "ok   $name"; fi
}
check full-f16 0 '"dtype": "f16"' --type full --dtype f16
# no flag: the 16-bit cache, 1.00x of a full 16-bit cache; --dtype f32: the exact path, 0.50x
check full-default-f16 0 'method full {"dtype": "f16"}' --type full
check full-default-1.00x 0 'compression 1.00x' --type full
check full-f32-0.50x 0 'compression 0.50x' --type full --dtype f32
check full-bad-dtype 2 "f16 or f32" --type full --dtype bf16
check pyramid-beta 0 '"beta": 10' --type PyramidKV --budget 128 --beta 10
check streaming-sink 0 '"sink": 8' --type StreamingLLM --budget 128 --sink 8
check snapkv-refuses-dtype 2 "does not take parameter 'dtype'" --type SnapKV --dtype f16
check kivi-bits-3 2 "bits" --type KIVI --bits 3
exit $fail
