#!/usr/bin/env bash
# Model benchmark: kvbench vs llama.cpp (llama-cpp-python) and transformers (CPU, f32) on the
# embedded SmolLM2-135M GGUF, same threads, same prompts (seeded random ids), one run, as ratios.
# Prefill tok/s and decode ms/token at each context; kvbench also reports its floors.
# Env: THREADS (2), CONTEXTS (2048,8192), GEN (32), PY ($KVBENCH_VENV/bin/python, default
#      ~/.venv-oracle/bin/python: `make bench-deps` builds it),
#      PEERS (llama.cpp,transformers), KV (f32|f16: kvbench's cache dtype, default f16 like llama.cpp),
#      WEIGHTS (comma list of kvbench --weights, one kvbench row each: gguf-q8 = the same Q4_1/Q8_0
#      blocks and 8-bit activations llama.cpp uses; gguf = the same blocks, exact f32 activations;
#      or bf16, f32)
set -eu
export TQDM_DISABLE=1
cd "$(dirname "$0")/../.."
THREADS=${THREADS:-2}; CONTEXTS=${CONTEXTS:-2048,8192}; GEN=${GEN:-32}; KV=${KV:-f16}; WEIGHTS=${WEIGHTS:-gguf-q8,gguf}
PY=${PY:-${KVBENCH_VENV:-$HOME/.venv-oracle}/bin/python}; PEERS=${PEERS:-llama.cpp,transformers}
GGUF=models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf
K=${KVBENCH:-bin/kvbench}
[ -f "$GGUF" ] || { echo "model.sh: $GGUF missing (make model)" >&2; exit 2; }
out=${BENCH_OUT:-build/bench}; mkdir -p "$out"
rm -f "$out"/model-*.json
load0=$(cut -d' ' -f1-3 /proc/loadavg); t0=$(date +%s)
kv_files=()
loads="{}"  # 1/5/15-min load average before -> after each kvbench run (JSON, for summary.py)
for w in ${WEIGHTS//,/ }; do
  l0=$(cut -d' ' -f1-3 /proc/loadavg)
  "$K" bench --model "$GGUF" --context "$CONTEXTS" --gen "$GEN" --threads "$THREADS" \
    --weights "$w" --cache-param dtype="$KV" --json >"$out/model-kvbench-$w.json"
  kv_files+=("$out/model-kvbench-$w.json")
  loads=$(python3 -c 'import json, sys; d = json.loads(sys.argv[1]); d[sys.argv[2]] = sys.argv[3]; print(json.dumps(d))' \
          "$loads" "$w" "$l0 -> $(cut -d' ' -f1-3 /proc/loadavg)")
done
if [ -x "$PY" ]; then
  "$PY" scripts/bench/model_peers.py "$GGUF" "$CONTEXTS" "$GEN" "$THREADS" "$PEERS" >"$out/model-peers.json"
else
  python3 -c 'import json, sys; print(json.dumps({p: {"skipped": sys.argv[1] + " missing (make bench-deps)"}
              for p in sys.argv[2].split(",") if p}))' "$PY" "$PEERS" >"$out/model-peers.json"
  echo "model.sh: $PY missing: peers skipped (make bench-deps)" >&2
fi
# what scripts/bench/summary.py prints with the table: the settings and the load around the run
python3 -c 'import json, sys; a = sys.argv[1:]; print(json.dumps(dict(threads=int(a[0]), contexts=a[1],
            gen=int(a[2]), kv=a[3], weights=a[4], peers=a[5], load_start=a[6], load_end=a[7],
            wall_s=int(a[8]), kvbench_load=json.loads(a[9]))))' "$THREADS" "$CONTEXTS" "$GEN" "$KV" "$WEIGHTS" "$PEERS" "$load0" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$(( $(date +%s) - t0 ))" "$loads" >"$out/model-meta.json"
python3 - "$out/model-peers.json" "${kv_files[@]}" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); ks = [json.load(open(f)) for f in sys.argv[2:]]
k0 = ks[0]
print(f"SmolLM2-135M Q4_1 GGUF, {k0['threads']} threads, {k0['cpu']}; KV cache {k0['method']} "
      f"(f16); read bandwidth {k0['read_bandwidth_gbs']:.1f} GB/s, sgemm {k0['sgemm_peak_gflops']:.0f} GFLOP/s")
print(f"{'context':>7} {'':>22} {'prefill tok/s':>14} {'decode tok/s':>13} {'decode ms/t':>12}")
for i, r0 in enumerate(k0["runs"]):
    c = str(r0["context"])
    rows = [("kvbench " + k["weights_dtype"], k["runs"][i]) for k in ks]
    for name, r in rows:
        print(f"{c:>7} {name:>22} {r['prefill_tok_s']:14.1f} {1e3/r['decode_ms_per_token']:13.1f} "
              f"{r['decode_ms_per_token']:12.2f}")
    for peer, res in p.items():
        if "skipped" in res and i == 0:
            print(f"{c:>7} {peer:>22} skipped: {res['skipped']}")
        if c in res:
            print(f"{c:>7} {peer:>22} {res[c]['prefill_tok_s']:14.1f} "
                  f"{1e3/res[c]['decode_ms_per_token']:13.1f} {res[c]['decode_ms_per_token']:12.2f}")
    for name, r in rows:
        for peer, res in p.items():
            if c in res:
                print(f"{c:>7} {(name + '/' + peer):>22} {r['prefill_tok_s']/res[c]['prefill_tok_s']:13.2f}x "
                      f"{res[c]['decode_ms_per_token']/r['decode_ms_per_token']:12.2f}x")
    for name, r in rows:
        print(f"{c:>7} {name:>22} floors: prefill {100*r['prefill_peak_fraction']:.0f}% of sgemm peak, "
              f"decode {100*r['decode_floor_fraction']:.0f}% of the bandwidth floor "
              f"({r['decode_bytes_per_step']/1e6:.0f} MB/step)")
PY
