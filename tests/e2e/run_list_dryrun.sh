#!/usr/bin/env bash
# kvbench list (models, methods, tasks, sets) and kvbench run --dry-run (the method's plan, the
# memory estimate, where each task's data would come from); bad method/parameters exit 2.
# Known models without weights: the dry run plans from configs/models/<name>.json alone,
# `run --random-weights` runs a config with seeded weights, and no verb that fails to find a
# model suggests a flag it does not take.
set -u
KVBENCH=${KVBENCH:-bin/kvbench}
fail=0
check() { # name, pattern, file
  grep -qE -- "$2" "$3" && echo "ok   $1" || { echo "FAIL $1: no '$2' in:"; head -40 "$3"; fail=1; }
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$KVBENCH" list >"$tmp/list" 2>&1 || { echo "FAIL list exit"; fail=1; }
check "list models" "smollm2-135m .*\(default\)" "$tmp/list"
check "list methods" "^    SnapKV" "$tmp/list"
check "list tasks" "repobench-p .*code_sim_score" "$tmp/list"
check "list niah" "^    niah " "$tmp/list"
check "list sets" "en16 +16 tasks: narrativeqa" "$tmp/list"
"$KVBENCH" list nonsense >/dev/null 2>&1; [ $? -eq 2 ] && echo "ok   list bad arg" || { echo "FAIL list bad arg"; fail=1; }
"$KVBENCH" run --dry-run --type SnapKV --budget 64 --prompt-len 1000 --tasks passage_retrieval_zh,niah >"$tmp/dry" 2>&1 \
  || { echo "FAIL dry-run exit"; cat "$tmp/dry"; fail=1; }
check "dry-run plan" "compression [0-9.]+x" "$tmp/dry"
check "dry-run data" "passage_retrieval_zh +max_new +32 chat yes +data [^ ]+passage_retrieval_zh" "$tmp/dry"
check "dry-run niah" "task niah lengths" "$tmp/dry"
"$KVBENCH" run --dry-run --type NoSuchMethod --tasks trec >"$tmp/bad" 2>&1; rc=$?
[ $rc -eq 2 ] && echo "ok   unknown method -> 2" || { echo "FAIL unknown method: $rc"; cat "$tmp/bad"; fail=1; }
"$KVBENCH" run --dry-run --type SnapKV --budget -5 --tasks trec >"$tmp/bad" 2>&1; rc=$?
[ $rc -eq 2 ] && echo "ok   bad parameter -> 2" || { echo "FAIL bad parameter: $rc"; cat "$tmp/bad"; fail=1; }

# ---- known models without weights ----------------------------------------------------------
# no weights anywhere kvbench looks (the HF cache, $KVBENCH_MODELS); ./models has only SmolLM2
nohf=(env HOME="$tmp/home" HF_HOME="$tmp/home/hf" HF_HUB_CACHE="$tmp/home/hub" KVBENCH_MODELS="$tmp/home/m")
"${nohf[@]}" "$KVBENCH" run --model llama3-8b --type PyramidKV --dry-run --prompt-len 7500 --tasks niah \
  >"$tmp/l3" 2>&1; rc=$?
[ $rc -eq 0 ] && echo "ok   llama3-8b dry run without weights -> 0" || { echo "FAIL llama3-8b dry run: $rc"; cat "$tmp/l3"; fail=1; }
check "llama3-8b plan shape" "model llama3-8b: 32 layers, 32 heads, 8 kv heads, head_dim 128" "$tmp/l3"
check "llama3-8b plan method" 'method PyramidKV \{"method": "PyramidKV", "budget": 512' "$tmp/l3"
# one line per layer with kept/full tokens (8 kv heads x 7500) and bytes; PyramidKV's budgets fall
nl=$(grep -cE '^ +[0-9]+ +[0-9]+/60000 +[0-9]+$' "$tmp/l3")
[ "$nl" = 32 ] && echo "ok   llama3-8b plan has 32 layer lines" || { echo "FAIL llama3-8b plan: $nl layer lines"; fail=1; }
python3 - "$tmp/l3" <<'PY' && echo "ok   llama3-8b PyramidKV budgets fall with depth" || { echo "FAIL llama3-8b budgets"; fail=1; }
import re, sys
kept = [int(m.group(1)) for m in re.finditer(r"^ +\d+ +(\d+)/60000 +\d+$", open(sys.argv[1]).read(), re.M)]
assert len(kept) == 32 and all(a > b for a, b in zip(kept, kept[1:])), kept
PY
check "llama3-8b plan total" "full 16-bit cache 937.50 MiB, compression [0-9.]+x" "$tmp/l3"
# the full cache of the same plan: 16 bits by default, so it reads 1.00x
"${nohf[@]}" "$KVBENCH" run --model llama3-8b --dry-run --prompt-len 7500 --tasks niah >"$tmp/l3f" 2>&1 \
  || { echo "FAIL llama3-8b full dry run"; cat "$tmp/l3f"; fail=1; }
check "llama3-8b full plan 1.00x" "937.50 MiB held, full 16-bit cache 937.50 MiB, compression 1.00x" "$tmp/l3f"

# run --random-weights on a tiny config (with the Llama-2 tokenizer files beside it, when present)
if [ -f ../shared/tokenizers/llama2-7b/tokenizer.json ]; then
  mkdir -p "$tmp/tiny"
  cp ../shared/tokenizers/llama2-7b/*.json "$tmp/tiny/"
  python3 - "$tmp/tiny/config.json" <<'PY'
import json, sys
json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
           "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
           "head_dim": 16, "num_hidden_layers": 2, "vocab_size": 32000,
           "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
           "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2}, open(sys.argv[1], "w"))
PY
  "$KVBENCH" run --model "$tmp/tiny" --random-weights --seed 3 --tasks niah --lengths 256 --depths 50 \
    --threads 1 --out "$tmp/tinyrun" >"$tmp/tr" 2>&1; rc=$?
  [ $rc -eq 0 ] && echo "ok   run --random-weights on a tiny config -> 0" || { echo "FAIL run --random-weights: $rc"; cat "$tmp/tr"; fail=1; }
  python3 - "$tmp/tinyrun" <<'PY' && echo "ok   random-weights run.json: source, f16 cache, 1.00x" || { echo "FAIL random-weights run.json"; fail=1; }
import json, sys
r = json.load(open(sys.argv[1] + "/run.json"))
assert r["model"]["path"].startswith("random (config "), r["model"]
assert r["method"] == {"name": "full", "params": {"dtype": "f16"}}, r["method"]
assert r["summary"]["compression_ratio"] == 1.0, r["summary"]
fp = json.load(open(sys.argv[1] + "/fingerprint.json"))
assert fp["weights"] == "random seed 3", fp
PY
  # resuming with other weights (another seed, or no --random-weights) is refused
  "$KVBENCH" run --model "$tmp/tiny" --random-weights --seed 4 --tasks niah --lengths 256 --depths 50 \
    --threads 1 --out "$tmp/tinyrun" --resume >"$tmp/tr2" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q "made with weights = random seed 3" "$tmp/tr2" && echo "ok   resume with another seed -> 2" \
    || { echo "FAIL resume with another seed: $rc"; cat "$tmp/tr2"; fail=1; }
else
  echo "skip run --random-weights (no ../shared/tokenizers/llama2-7b)"
fi

# a verb that cannot find a model never suggests a flag it rejects; the model verbs take --random-weights
for verb in run generate bench info; do
  "$KVBENCH" $verb --help >"$tmp/help" 2>&1
  grep -q -- "--random-weights" "$tmp/help" && echo "ok   $verb takes --random-weights" || { echo "FAIL $verb has no --random-weights"; fail=1; }
done
for cmd in "run --model llama2-7b --tasks niah" "generate --model llama2-7b --ids 1" "bench --model llama2-7b --context 8" \
           "info --model llama2-7b" "tokenize --model mistral-7b-v0.2"; do
  verb=${cmd%% *}
  # shellcheck disable=SC2086
  echo x | "${nohf[@]}" "$KVBENCH" $cmd >/dev/null 2>"$tmp/err"; rc=$?
  [ $rc -eq 2 ] || { echo "FAIL $verb without weights: exit $rc"; cat "$tmp/err"; fail=1; continue; }
  "$KVBENCH" $verb --help >"$tmp/help" 2>&1
  bad=""
  for f in $(grep -oE -- '(^|[[:space:](])--[a-z][a-z-]*[a-z]' "$tmp/err" | sed 's/^[^-]*//' | sort -u); do
    grep -qE -- "(^|[[:space:]])$f([[:space:]]|=|$)" "$tmp/help" || bad="$bad $f"
  done
  [ -z "$bad" ] && echo "ok   $verb: the not-found message suggests only flags it takes" \
    || { echo "FAIL $verb suggests$bad, which it rejects:"; cat "$tmp/err"; fail=1; }
done
exit $fail
