#!/usr/bin/env bash
# `make demo`: the main job of kvbench on the embedded model (SmolLM2-135M-Instruct), sized to
# finish in under 15 minutes on 2 cores, then the score table.
#  - English LongBench release present (datasets/longbench, $KVBENCH_DATA, the HF cache): the 16
#    English+code tasks, DEMO_LIMIT records each (default 2).
#  - absent (as on the development machines): says how to get it, and runs what is real and
#    present: the needle-in-a-haystack task on the Paul Graham essays and the Chinese LongBench
#    sample in ../shared/datasets.
set -u
cd "$(dirname "$0")/.."
kvb=${KVBENCH:-bin/kvbench}
threads=${DEMO_THREADS:-2}
limit=${DEMO_LIMIT:-2}
lengths=${DEMO_LENGTHS:-1024,2048,4096}
depths=${DEMO_DEPTHS:-0,50,100}
maxlen=()                      # DEMO_MAX_LENGTH=N: a smaller prompt budget (quick checks)
[ -n "${DEMO_MAX_LENGTH:-}" ] && maxlen=(--max-length "$DEMO_MAX_LENGTH")
out=results/tmp/demo
rm -rf "$out"
mkdir -p "$out"
dirs=()

have_english() {
  for d in "${KVBENCH_DATA:-}" datasets/longbench; do
    [ -n "$d" ] && { [ -f "$d/narrativeqa.jsonl" ] || [ -f "$d/narrativeqa.jsonl.gz" ] || [ -f "$d/data.zip" ]; } && return 0
  done
  ls "${HF_HUB_CACHE:-${HF_HOME:-$HOME/.cache/huggingface}/hub}"/datasets--THUDM--LongBench/snapshots/*/data.zip >/dev/null 2>&1
}

if have_english; then
  echo "demo: LongBench (English) found: 16 tasks x $limit records on $threads threads"
  "$kvb" run --tasks en16 --limit "$limit" --threads "$threads" "${maxlen[@]}" --out "$out/longbench-en16" && dirs+=("$out/longbench-en16")
else
  cat <<MSG
demo: the English LongBench records are not on this machine (they are not redistributed with
      kvbench). Get them with:   scripts/fetch_longbench.sh        (downloads data.zip, ~114 MB)
      or point kvbench at a copy: kvbench run --data DIR   /   export KVBENCH_DATA=DIR
      Running what is real and present instead.
MSG
fi

# Needle in a haystack on the Paul Graham essays: a small grid (the full one is the default of
# `kvbench run --tasks niah`).
[ -d datasets/paul-graham-essays ] || scripts/fetch_essays.sh
echo "demo: needle-in-a-haystack, lengths $lengths x depths $depths"
"$kvb" run --tasks niah --lengths "$lengths" --depths "$depths" --threads "$threads" \
  --out "$out/niah" && dirs+=("$out/niah")

# The Chinese sample (real LongBench records, present everywhere); refused while the Chinese
# metrics are not built in.
echo "demo: LongBench Chinese sample (multifieldqa_zh, passage_retrieval_zh), $limit records each"
if "$kvb" run --tasks multifieldqa_zh,passage_retrieval_zh --limit "$limit" --threads "$threads" "${maxlen[@]}" \
     --out "$out/longbench-zh" 2>"$out/zh.err"; then
  dirs+=("$out/longbench-zh")
else
  echo "demo: skipped: $(tail -n1 "$out/zh.err")"
fi

echo
echo "== scores (result.json of each run) =="
for d in "${dirs[@]}"; do
  echo "-- $d"
  cat "$d/result.json"; echo
done
if [ ${#dirs[@]} -gt 0 ] && "$kvb" report --help >/dev/null 2>&1; then
  "$kvb" report "${dirs[@]}" || true
fi
[ ${#dirs[@]} -gt 0 ]
