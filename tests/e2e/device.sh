#!/usr/bin/env bash
# --device on run, generate, bench and info (issue 17): what runs without a GPU.
#  - the CPU binary refuses --device cuda with one line, exit 2, before any model or data is read;
#  - bin/kvbench-cuda (when built: make cuda) on a machine without a usable GPU refuses it with
#    "no CUDA device: <reason>", and its default (auto) runs on the CPU; with a GPU it refuses
#    what the GPU does not run (another method, f32 weights) instead;
#  - a run directory remembers its device: --resume with another device is refused, and a
#    directory made before devices existed counts as a CPU run.
set -u
K=${KVBENCH:-bin/kvbench}
KC=${KVBENCH_CUDA:-bin/kvbench-cuda}
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
TINY=tests/fixtures/model/llama3/f32
# exactly one line on stderr matching $want, exit status 2
bad() {
  local bin=$1 name=$2 want=$3; shift 3
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  local lines; lines=$(wc -l <"$tmp/err")
  if [ "$rc" = 2 ] && [ "$lines" = 1 ] && grep -q -- "^kvbench: error: $want" "$tmp/err"; then
    echo "ok: $name ($(cat "$tmp/err"))"
  else
    echo "FAIL: $name: exit $rc, $lines lines:"; cat "$tmp/err"; fail=1
  fi
}

nocuda='--device cuda: this binary has no CUDA backend (build it with make cuda)$'
bad "$K" "run --device cuda (CPU binary)" "$nocuda" run --device cuda --tasks qasper --data "$tmp/none"
bad "$K" "generate --device cuda (CPU binary)" "$nocuda" generate --device cuda --model "$TINY" --ids 1,2
bad "$K" "bench --device cuda (CPU binary)" "$nocuda" bench --device cuda --model "$TINY" --context 8
bad "$K" "info --device cuda (CPU binary)" "$nocuda" info --device cuda --model "$TINY"
bad "$K" "--device cuda:0 (CPU binary)" "$nocuda" info --device cuda:0 --model "$TINY"
bad "$K" "--device bogus" "--device 'gpu': use cpu, cuda, cuda:N or auto$" info --device gpu --model "$TINY"
out=$("$K" info --device cpu --model "$TINY" --threads 1)
if echo "$out" | grep -q '^device  *cpu$'; then echo "ok: info --device cpu"; else echo "FAIL: info --device cpu: $out"; fail=1; fi
out=$("$K" generate --device cpu --model "$TINY" --ids 1,17,33 --max-new 3 --quiet --ignore-eos --threads 1)
if [ "$(echo $out | wc -w)" = 3 ]; then echo "ok: generate --device cpu"; else echo "FAIL: generate --device cpu: $out"; fail=1; fi

# --kept: the positions a selecting method kept, per layer and head (what gpu_check compares)
"$K" generate --device cpu --model "$TINY" --type SnapKV --cache-param budget=8,window=2 --ignore-eos \
  --ids 1,17,33,250,7,99,3,64,5,6,7,8,9,10,11,12,13,14,15,16 --max-new 3 --quiet --threads 1 \
  --kept "$tmp/kept.json" >/dev/null
if python3 -c 'import json,sys; k=json.load(open(sys.argv[1])); assert k["prompt_tokens"] == 20
assert all(len(h) == 8 and h == sorted(h) and h[-2:] == [18, 19] for l in k["layers"] for h in l)' "$tmp/kept.json"
then echo "ok: generate --kept (8 of 20 positions per head, the window included)"
else echo "FAIL: generate --kept: $(cat "$tmp/kept.json")"; fail=1; fi
bad "$K" "generate --kept with full" "--kept: cache method full keeps every token" \
  generate --model "$TINY" --ids 1,2,3 --max-new 1 --kept "$tmp/k2.json"

if [ -x "$KC" ]; then
  if "$KC" info --device cuda --model "$TINY" >"$tmp/info" 2>"$tmp/err"; then
    echo "note: a usable GPU is present: checking the GPU refusals"
    bad "$KC" "--device cuda ThinK gqa=query_head" "--type ThinK: cache method ThinK with gqa=query_head is not on the GPU" \
        generate --device cuda --type ThinK --cache-param gqa=query_head --model "$TINY" --ids 1,2
    # selecting methods on the GPU: the device's statistics, the host's decision, kept tokens;
    # ThinK also thins the kept keys (5 of the tiny model's 8 channels) after a second round
    for m in SnapKV ThinK; do
      cp=budget=8,window=2
      [ $m = ThinK ] && cp=$cp,recent=2
      gen=(generate --type $m --cache-param $cp --model "$TINY" --ignore-eos
           --ids 1,17,33,250,7,99,3,64,5,6,7,8,9,10,11,12,13,14,15,16 --max-new 4 --quiet --threads 1)
      if out=$("$KC" "${gen[@]}" --device cuda 2>"$tmp/err") && [ "$(echo $out | wc -w)" = 4 ]; then
        echo "ok: generate --device cuda --type $m: $out (cpu: $("$KC" "${gen[@]}" --device cpu))"
      else echo "FAIL: generate --device cuda --type $m: $out $(cat "$tmp/err")"; fail=1; fi
    done
    # several methods in one bench on the GPU: a row per method and context, each named
    if "$KC" bench --device cuda --model "$TINY" --type full,SnapKV,ThinK,KIVI --context 32 --gen 2 \
         --cache-param budget=8,window=2,bits=4,group=8,residual=8 --json >"$tmp/bench.json" 2>"$tmp/err" &&
       python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["runs"]
assert [x["method"] for x in r] == ["full", "SnapKV", "ThinK", "KIVI"] and all(x["decode_vs_full"] > 0 for x in r)' "$tmp/bench.json"
    then echo "ok: bench --device cuda --type full,SnapKV,ThinK,KIVI"
    else echo "FAIL: bench --device cuda --type full,SnapKV,ThinK,KIVI: $(cat "$tmp/err")"; fail=1; fi
    bad "$KC" "--device cuda --weights f32" "--weights f32: the GPU holds bf16 weights only" \
        generate --device cuda --weights f32 --model "$TINY" --ids 1,2
    bad "$KC" "--device cuda dtype=f32" "dtype=f32: the GPU's full cache is bf16" \
        generate --device cuda --cache-param dtype=f32 --model "$TINY" --ids 1,2
    if grep -q ': fits$' "$tmp/info"; then echo "ok: info --device cuda plans and fits ($(grep '^device' "$tmp/info"))"
    else echo "FAIL: info --device cuda: $(cat "$tmp/info")"; fail=1; fi
    if [ -f models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf ]; then
      # a one-record run on the GPU: run.json names the device; the CPU may not resume it
      python3 datasets/gen_synthetic.py --out "$tmp/gdata" --n 1 --paragraphs 2 --words 12
      gargs=(--tasks passage_count --data "$tmp/gdata" --limit 1 --max-length 300)
      if "$KC" run "${gargs[@]}" --device cuda --out "$tmp/g" >/dev/null 2>"$tmp/err" &&
         grep -q '"device": "cuda", "cuda_driver": "[0-9]' "$tmp/g/run.json" &&
         grep -q '"device_bytes": [1-9]' "$tmp/g/run.json" && grep -q '"gpu": "[^"]' "$tmp/g/run.json"
      then echo "ok: run --device cuda: $(grep -o '"gpu": "[^"]*"' "$tmp/g/run.json"), $(grep -o '"cuda_driver": "[^"]*"' "$tmp/g/run.json")"
      else echo "FAIL: run --device cuda: $(cat "$tmp/err"; grep machine "$tmp/g/run.json")"; fail=1; fi
      bad "$KC" "--resume of a cuda run on the cpu" ".*made with device = cuda, this run has cpu" \
          run "${gargs[@]}" --device cpu --out "$tmp/g" --resume
    fi
  else
    bad "$KC" "kvbench-cuda --device cuda without a GPU" "--device cuda: no CUDA device: " \
        info --device cuda --model "$TINY"
    bad "$KC" "kvbench-cuda run --device cuda without a GPU" "--device cuda: no CUDA device: " \
        run --device cuda --tasks qasper --data "$tmp/none"
    out=$("$KC" info --model "$TINY" --threads 1)
    if echo "$out" | grep -q '^device  *cpu$'; then echo "ok: kvbench-cuda defaults to cpu without a GPU"
    else echo "FAIL: kvbench-cuda default device: $out"; fail=1; fi
  fi
else
  echo "note: $KC not built (make cuda): its checks skipped"
fi

# resume across devices, on a one-record run of the real model
if [ -f models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf ]; then
  python3 datasets/gen_synthetic.py --out "$tmp/data" --n 1 --paragraphs 2 --words 12
  args=(--tasks passage_count --data "$tmp/data" --limit 1 --max-length 300 --threads 2 --device cpu)
  if "$K" run "${args[@]}" --out "$tmp/r" >/dev/null 2>"$tmp/err"; then
    if grep -q '"device": "cpu"' "$tmp/r/run.json" && grep -q '"device":[[:space:]]*"cpu"' "$tmp/r/fingerprint.json"
    then echo "ok: run.json and fingerprint.json record device cpu"
    else echo "FAIL: device missing in run.json/fingerprint.json"; fail=1; fi
    # the same directory as a GPU run would have left it
    sed -i 's/"device":\([[:space:]]*\)"cpu"/"device":\1"cuda"/' "$tmp/r/fingerprint.json"
    bad "$K" "--resume of a cuda directory on the cpu" ".*made with device = cuda, this run has cpu" \
        run "${args[@]}" --out "$tmp/r" --resume
    # a directory written before --device existed: no key; resumed on the cpu it is accepted
    python3 -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); d.pop("device"); json.dump(d,open(p,"w"))' "$tmp/r/fingerprint.json"
    if "$K" run "${args[@]}" --out "$tmp/r" --resume >/dev/null 2>"$tmp/err"; then
      echo "ok: --resume of a pre-device directory on the cpu"
    else echo "FAIL: --resume of a pre-device directory: $(cat "$tmp/err")"; fail=1; fi
  else
    echo "FAIL: cpu run: $(cat "$tmp/err")"; fail=1
  fi
else
  echo "note: models/smollm2-135m missing (make model): resume checks skipped"
fi
exit $fail
