#!/usr/bin/env bash
# Oracle: `kvbench eval` on each ../shared/datasets/longbench-pred/<model>/ must reproduce the
# result.json LongBench's eval.py wrote for it, value for value and in eval.py's number format.
# Tasks: all 21 (the Chinese QA/summary tasks segment with lib/text/jieba, which needs
# jieba's data files: python3-jieba or $KVBENCH_JIEBA_DIR; without them, the 18 others).
# The third-party data is read where it lies (never copied into the repo); the files are
# symlinked into a scratch directory because eval writes result.json next to them.
set -euo pipefail
cd "$(dirname "$0")/../.."
KVBENCH=${KVBENCH:-bin/kvbench}
DATA=../shared/datasets/longbench-pred
if [ -z "${KVB_EVAL_TASKS:-}" ] && [ ! -e "${KVBENCH_JIEBA_DIR:-/usr/lib/python3/dist-packages/jieba}/dict.txt" ]; then
  echo "jieba data not found: checking the 18 tasks that need no segmentation"
  KVB_EVAL_TASKS=en16,lsht,passage_retrieval_zh; MIN=18
fi
TASKS=${KVB_EVAL_TASKS:-all}; MIN=${MIN:-21}
[ -d "$DATA" ] || { echo "SKIP: $DATA not present"; exit 0; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0; checked=0
for m in llama2-7b-chat-4k llama3-8b-instruct llama2-7b qwen3-8b; do
  d="$tmp/$m"; mkdir -p "$d"
  for f in "$DATA/$m"/*.jsonl; do ln -s "$(realpath "$f")" "$d/"; done
  "$KVBENCH" eval "$d" --tasks "$TASKS" >"$tmp/$m.out"
  # every "task": value line of ours must appear verbatim (modulo the trailing comma) in theirs
  got=$(grep '": ' "$d/result.json" | sed 's/,$//' | sort)
  want=$(grep '": ' "$DATA/$m/result.json" | sed 's/,$//' | sort)
  n=$(printf '%s\n' "$got" | wc -l)
  bad=$(comm -23 <(printf '%s\n' "$got") <(printf '%s\n' "$want") || true)
  if [ -n "$bad" ]; then echo "$m: mismatches:"; echo "$bad"; fail=1; fi
  [ "$n" -ge "$MIN" ] || { echo "$m: only $n tasks scored"; fail=1; }
  # the file itself is eval.py's json.dump(indent=4) shape: '{', 4-space entries, '}' w/o newline
  head -c 2 "$d/result.json" | grep -q '^{$' || { echo "$m: bad first line"; fail=1; }
  [ "$(tail -c 2 "$d/result.json")" = $'\n}' ] || { echo "$m: bad ending"; fail=1; }
  checked=$((checked + n))
done
echo "checked $checked task scores against LongBench's result.json"
exit $fail
