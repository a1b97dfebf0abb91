#!/usr/bin/env bash
# `make demo`: the main job of kvbench on the embedded model (SmolLM2-135M-Instruct): the six cache
# methods of the mission (full, SimLayerKV, KIVI, SimLayerKV+KIVI, PyramidKV, ZigZagKV) on every
# task set present, then the `kvbench report` table (score, compression, peak KV, ms/token per
# method) and the needle heatmap grid. Sized for < 15 minutes on 2 cores including deps and build;
# DEMO_QUICK=1 runs a smaller slice (~5 minutes).
#  - English LongBench present (datasets/longbench, $KVBENCH_DATA or the HF cache): the 16 English
#    and code tasks, DEMO_LIMIT records each (default 1).
#  - English LongBench absent: a short RULER slice instead (DEMO_RULER_TASKS at DEMO_RULER_LENGTHS,
#    DEMO_RULER_SAMPLES samples each; RULER's word lists from `make ruler-data`), English tasks
#    generated here, so every method is compared on English text too.
#  - always: the needle-in-a-haystack grid on the Paul Graham essays, and the real Chinese LongBench
#    records in ../shared/datasets (multifieldqa_zh, passage_retrieval_zh).
# Knobs: DEMO_METHODS, DEMO_THREADS, DEMO_LIMIT, DEMO_LENGTHS, DEMO_DEPTHS, DEMO_MAX_LENGTH, DEMO_OUT,
# DEMO_RULER_TASKS, DEMO_RULER_LENGTHS, DEMO_RULER_SAMPLES.
set -u
cd "$(dirname "$0")/.."
kvb=${KVBENCH:-bin/kvbench}
threads=${DEMO_THREADS:-2}
methods=${DEMO_METHODS:-full SimLayerKV KIVI SimLayerKV+KIVI PyramidKV ZigZagKV}
ruler_tasks=${DEMO_RULER_TASKS:-niah_single_1,niah_single_2,niah_multikey_2,vt}
ruler_samples=${DEMO_RULER_SAMPLES:-2}
if [ "${DEMO_QUICK:-0}" = 1 ]; then
  lengths=${DEMO_LENGTHS:-1024,2048}; depths=${DEMO_DEPTHS:-10,90}
  limit=${DEMO_LIMIT:-1}; zh_max=${DEMO_MAX_LENGTH:-1024}
  ruler_lengths=${DEMO_RULER_LENGTHS:-1024}
else
  lengths=${DEMO_LENGTHS:-1024,2048,4096}; depths=${DEMO_DEPTHS:-10,90}
  limit=${DEMO_LIMIT:-1}; zh_max=${DEMO_MAX_LENGTH:-2048}
  ruler_lengths=${DEMO_RULER_LENGTHS:-1024,2048}
fi
out=${DEMO_OUT:-results/tmp/demo}
rm -rf "$out"
mkdir -p "$out"
dirs=()
start=$(date +%s)
elapsed() { echo "$(( $(date +%s) - start ))s"; }

have_english() {
  for d in "${KVBENCH_DATA:-}" datasets/longbench; do
    [ -n "$d" ] && { [ -f "$d/narrativeqa.jsonl" ] || [ -f "$d/narrativeqa.jsonl.gz" ] || [ -f "$d/data.zip" ]; } && return 0
  done
  ls "${HF_HUB_CACHE:-${HF_HOME:-$HOME/.cache/huggingface}/hub}"/datasets--THUDM--LongBench/snapshots/*/data.zip >/dev/null 2>&1
}

# run SET_NAME METHOD kvbench-run-options...: one run directory per task set and method
run() {
  local set=$1 m=$2; shift 2
  local dir="$out/$set/$m"
  if "$kvb" run --type "$m" --threads "$threads" --out "$dir" "$@" >"$dir.log" 2>&1; then
    dirs+=("$dir")
    printf '  %-16s %-16s done (%s)\n' "$set" "$m" "$(elapsed)"
  else
    printf '  %-16s %-16s FAILED: %s\n' "$set" "$m" "$(tail -n1 "$dir.log")"
    return 1
  fi
}

[ -d datasets/paul-graham-essays ] || scripts/fetch_essays.sh
mkdir -p "$out/niah" "$out/longbench-zh" "$out/longbench-en16" "$out/ruler"
english=0
if have_english; then
  english=1
else
  cat <<MSG
demo: the English LongBench records are not on this machine (they are not redistributed with
      kvbench). Get them with:   scripts/fetch_longbench.sh        (downloads data.zip, ~114 MB)
      or point kvbench at a copy: kvbench run --data DIR   /   export KVBENCH_DATA=DIR
      Running what is real and present instead, and a short RULER slice ($ruler_tasks at
      $ruler_lengths tokens, $ruler_samples samples each) for English text.
MSG
fi
echo "demo: methods: $methods"
echo "demo: needle-in-a-haystack, lengths $lengths x depths $depths; Chinese LongBench sample," \
     "$limit record(s) per task, prompts cut to $zh_max tokens; $threads threads"
status=0
for m in $methods; do
  run niah "$m" --tasks niah --lengths "$lengths" --depths "$depths" || status=1
  run longbench-zh "$m" --tasks multifieldqa_zh,passage_retrieval_zh --limit "$limit" \
    --max-length "$zh_max" || status=1
  if [ $english = 1 ]; then
    run longbench-en16 "$m" --tasks en16 --limit "$limit" || status=1
  else
    run ruler "$m" --tasks "$ruler_tasks" --lengths "$ruler_lengths" --samples "$ruler_samples" \
      || { status=1; grep -q "make ruler-data" "$out/ruler/$m.log" && echo "  (RULER needs its word lists: make ruler-data)"; }
  fi
done

echo
echo "== kvbench report ($(elapsed)) =="
[ ${#dirs[@]} -gt 0 ] || { echo "demo: no run finished" >&2; exit 1; }
"$kvb" report "${dirs[@]}" --md "$out/report.md" >"$out/report.log" 2>&1 || status=1
# plots: kvbench report finds a Python with matplotlib (make deps installs Debian's); say why not
if ! "$kvb" report "${dirs[@]}" --plot "$out/plots" >"$out/plots.log" 2>&1; then
  echo "demo: no plots: $(tail -n1 "$out/plots.log")"
fi
# the comparison table: first table of the report (one row per run)
awk '/^\| run /{t=1} t&&/^\|/{print} t&&!/^\|/{exit}' "$out/report.md"
echo
echo "full report: $out/report.md"
[ -f "$out/plots/needle_grid.png" ] && echo "needle heatmap grid: $out/plots/needle_grid.png"
[ -f "$out/plots/score_vs_compression.png" ] && echo "score vs compression: $out/plots/score_vs_compression.png"
[ -f "$out/plots/ruler.png" ] && echo "RULER score vs length: $out/plots/ruler.png"
echo "demo: finished in $(elapsed)"
exit $status
