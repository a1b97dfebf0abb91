#!/usr/bin/env bash
# Model benchmark: kvbench vs llama.cpp (llama-cpp-python) and transformers (CPU, f32) on the
# embedded SmolLM2-135M GGUF, same threads, same prompts (seeded random ids), one run, as ratios.
# Prefill tok/s and decode ms/token at each context; kvbench also reports its floors.
# Env: THREADS (2), CONTEXTS (2048,8192), GEN (32), PY (~/.venv-oracle/bin/python),
#      PEERS (llama.cpp,transformers), KV (f32|f16: kvbench's cache dtype, default f16 like llama.cpp),
#      WEIGHTS (gguf: the same Q4_1/Q8_0 blocks llama.cpp reads; or bf16, f32)
set -eu
export TQDM_DISABLE=1
cd "$(dirname "$0")/../.."
THREADS=${THREADS:-2}; CONTEXTS=${CONTEXTS:-2048,8192}; GEN=${GEN:-32}; KV=${KV:-f16}; WEIGHTS=${WEIGHTS:-gguf}
PY=${PY:-$HOME/.venv-oracle/bin/python}; PEERS=${PEERS:-llama.cpp,transformers}
GGUF=models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf
K=${KVBENCH:-bin/kvbench}
[ -f "$GGUF" ] || { echo "model.sh: $GGUF missing (make model)" >&2; exit 2; }
out=${BENCH_OUT:-build/bench}; mkdir -p "$out"
"$K" bench --model "$GGUF" --context "$CONTEXTS" --gen "$GEN" --threads "$THREADS" \
  --weights "$WEIGHTS" --cache-param dtype="$KV" --json >"$out/model-kvbench.json"
if [ -x "$PY" ]; then
  "$PY" scripts/bench/model_peers.py "$GGUF" "$CONTEXTS" "$GEN" "$THREADS" "$PEERS" >"$out/model-peers.json"
else
  echo '{}' >"$out/model-peers.json"; echo "model.sh: $PY missing: peers skipped" >&2
fi
python3 - "$out/model-kvbench.json" "$out/model-peers.json" <<'PY'
import json, sys
k = json.load(open(sys.argv[1])); p = json.load(open(sys.argv[2]))
print(f"SmolLM2-135M Q4_1 GGUF, {k['threads']} threads, {k['cpu']}; kvbench weights {k['weights_dtype']}, "
      f"KV cache {k['method']}; read bandwidth {k['read_bandwidth_gbs']:.1f} GB/s, sgemm {k['sgemm_peak_gflops']:.0f} GFLOP/s")
print(f"{'context':>7} {'':>14} {'prefill tok/s':>14} {'decode tok/s':>13} {'decode ms/t':>12}")
for r in k["runs"]:
    c = str(r["context"])
    rows = [("kvbench", r["prefill_tok_s"], r["decode_ms_per_token"])]
    for peer, res in p.items():
        if c in res:
            rows.append((peer, res[c]["prefill_tok_s"], res[c]["decode_ms_per_token"]))
    for name, pf, ms in rows:
        print(f"{c:>7} {name:>14} {pf:14.1f} {1e3/ms:13.1f} {ms:12.2f}")
    for peer, res in p.items():
        if c in res:
            print(f"{c:>7} {'kvbench/'+peer:>14} {r['prefill_tok_s']/res[c]['prefill_tok_s']:13.2f}x "
                  f"{res[c]['decode_ms_per_token']/r['decode_ms_per_token']:12.2f}x")
    print(f"{c:>7} {'kvbench floors':>14} prefill {100*r['prefill_peak_fraction']:.0f}% of sgemm peak, "
          f"decode {100*r['decode_floor_fraction']:.0f}% of the bandwidth floor "
          f"({r['decode_bytes_per_step']/1e6:.0f} MB/step)")
PY
