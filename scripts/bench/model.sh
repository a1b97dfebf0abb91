#!/usr/bin/env bash
# Model benchmark: kvbench vs llama.cpp (llama-cpp-python) and transformers (CPU, f32) on the
# embedded SmolLM2-135M GGUF, same threads, same prompts (seeded random ids), REPS alternated
# rounds, medians, as ratios. Prefill tok/s and decode ms/token at each context; kvbench also
# reports its floors (prefill: % of the FMA peak from clock and vector width, and of a measured
# sgemm; decode: % of the read-bandwidth floor).
# Env: THREADS (2), CONTEXTS (2048,8192), GEN (32), PY ($KVBENCH_VENV/bin/python, default
#      ~/.venv-oracle/bin/python: `make bench-deps` builds it),
#      PEERS (llama.cpp,transformers), KV (f32|f16: kvbench's cache dtype, default f16 like llama.cpp),
#      WEIGHTS (comma list of kvbench --weights, one kvbench row each: gguf-q8 = the same Q4_1/Q8_0
#      blocks and 8-bit activations llama.cpp uses; gguf = the same blocks, exact f32 activations;
#      or bf16, f32: gguf-q8 and bf16 run the prefill on bf16 dot products where the CPU has
#      AVX-512 BF16, gguf and f32 in f32), REPS (3: rounds, alternately kvbench or the peers first)
set -eu
export TQDM_DISABLE=1
cd "$(dirname "$0")/../.."
THREADS=${THREADS:-2}; CONTEXTS=${CONTEXTS:-2048,8192}; GEN=${GEN:-32}; KV=${KV:-f16}; WEIGHTS=${WEIGHTS:-gguf-q8,gguf}
REPS=${REPS:-3}
PY=${PY:-${KVBENCH_VENV:-$HOME/.venv-oracle}/bin/python}; PEERS=${PEERS:-llama.cpp,transformers}
GGUF=models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf
K=${KVBENCH:-bin/kvbench}
[ -f "$GGUF" ] || { echo "model.sh: $GGUF missing (make model)" >&2; exit 2; }
out=${BENCH_OUT:-build/bench}; mkdir -p "$out"
rm -f "$out"/model-*.json
load0=$(cut -d' ' -f1-3 /proc/loadavg); t0=$(date +%s)
loads="{}"  # 1/5/15-min load average before -> after each kvbench run (JSON, for summary.py)
run_kvbench() { # rep
  local w l0
  for w in ${WEIGHTS//,/ }; do
    l0=$(cut -d' ' -f1-3 /proc/loadavg)
    "$K" bench --model "$GGUF" --context "$CONTEXTS" --gen "$GEN" --threads "$THREADS" \
      --weights "$w" --cache-param dtype="$KV" --json >"$out/rep$1/model-kvbench-$w.json"
    loads=$(python3 -c 'import json, sys; d = json.loads(sys.argv[1]); d.setdefault(sys.argv[2], []).append(sys.argv[3]); print(json.dumps(d))' \
            "$loads" "$w" "$l0 -> $(cut -d' ' -f1-3 /proc/loadavg)")
  done
}
run_peers() { # rep
  if [ -x "$PY" ]; then
    "$PY" scripts/bench/model_peers.py "$GGUF" "$CONTEXTS" "$GEN" "$THREADS" "$PEERS" >"$out/rep$1/model-peers.json"
  else
    python3 -c 'import json, sys; print(json.dumps({p: {"skipped": sys.argv[1] + " missing (make bench-deps)"}
                for p in sys.argv[2].split(",") if p}))' "$PY" "$PEERS" >"$out/rep$1/model-peers.json"
    echo "model.sh: $PY missing: peers skipped (make bench-deps)" >&2
  fi
}
# REPS rounds, alternating who goes first (the machine may be shared: a burst of load then hits
# kvbench and the peers alike); scripts/bench/model_median.py keeps the medians and the ratios of
# each round
rm -rf "$out"/rep[0-9]*
for r in $(seq 1 "$REPS"); do
  mkdir -p "$out/rep$r"
  if [ $((r % 2)) = 1 ]; then run_kvbench "$r"; run_peers "$r"; else run_peers "$r"; run_kvbench "$r"; fi
  echo "model.sh: round $r of $REPS done, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
python3 scripts/bench/model_median.py "$out" "$REPS" "$WEIGHTS"
# what scripts/bench/summary.py prints with the table: the settings and the load around the run
python3 -c 'import json, sys; a = sys.argv[1:]; print(json.dumps(dict(threads=int(a[0]), contexts=a[1],
            gen=int(a[2]), kv=a[3], weights=a[4], peers=a[5], load_start=a[6], load_end=a[7],
            wall_s=int(a[8]), kvbench_load=json.loads(a[9]), reps=int(a[10]))))' "$THREADS" "$CONTEXTS" "$GEN" "$KV" "$WEIGHTS" "$PEERS" "$load0" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$(( $(date +%s) - t0 ))" "$loads" "$REPS" >"$out/model-meta.json"
# run alone (not under scripts/bench.sh, which prints it after every bench): the table now
[ -n "${BENCH_COMMAND:-}" ] || python3 scripts/bench/summary.py "$out"
