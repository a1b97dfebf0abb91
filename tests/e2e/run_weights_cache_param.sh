#!/usr/bin/env bash
# kvbench run takes --weights (as the other model verbs) and --cache-param name=value,... as one
# source with the per-parameter flags: agreeing duplicates are fine, a conflict is exit 2. The
# weights are recorded in fingerprint.json, so --resume with other weights is refused.
set -u
K=${KVBENCH:?}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # name, expected exit, grep pattern, args...
  local name=$1 want=$2 pat=$3; shift 3
  out=$("$K" run "$@" 2>&1); rc=$?
  if [ $rc != "$want" ] || ! grep -q -- "$pat" <<<"$out"; then
    echo "FAIL $name: rc=$rc"; echo "$out" | tail -3; fail=1
  else echo "ok   $name"; fi
}
D=(--dry-run --prompt-len 2000)
check cache-param-reaches-method 0 '"budget": 96, "window": 8' "${D[@]}" --type SnapKV --cache-param budget=96,window=8
check cache-param-agrees-with-flag 0 '"budget": 96' "${D[@]}" --type SnapKV --budget 96 --cache-param budget=96
check cache-param-conflict-exit-2 2 "conflicts with --budget 96" "${D[@]}" --type SnapKV --budget 96 --cache-param budget=64
check cache-param-unknown-refused 2 "unknown parameter 'bogus'" "${D[@]}" --type SnapKV --cache-param bogus=1
check cache-param-not-a-pair 2 "expected name=value" "${D[@]}" --cache-param budget
check weights-bad-exit-2 2 "use bf16, f32, gguf or gguf-q8" "${D[@]}" --weights f16
check run-help-weights 0 "gguf-q8" --help
check run-help-cache-param 0 "cache-param" --help
G=models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf
if [ -f "$G" ] && [ -d datasets/paul-graham-essays ]; then
  R=(--model "$G" --tasks niah --lengths 128 --depths 50 --threads 2)
  check run-weights-gguf 0 '"niah"' "${R[@]}" --weights gguf --out "$tmp/g"
  python3 -c "import json,sys; fp=json.load(open('$tmp/g/fingerprint.json')); assert fp['weights_dtype']=='gguf', fp" \
    && echo "ok   fingerprint records --weights" || { echo "FAIL fingerprint weights_dtype"; fail=1; }
  check resume-other-weights-refused 2 "made with" "${R[@]}" --weights bf16 --out "$tmp/g" --resume
  check resume-same-weights 0 '"niah"' "${R[@]}" --weights gguf --out "$tmp/g" --resume
else
  echo "skip run --weights gguf (no model or essays: make model, make data)"
fi
exit $fail
