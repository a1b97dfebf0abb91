#!/usr/bin/env bash
# Scoring speed: `kvbench eval` against the Python stack LongBench uses (metrics.py semantics on
# rouge 1.0.1 / fuzzywuzzy+difflib / jieba, via scripts/oracle/eval_py.py), on the same
# prediction files of ../shared/datasets/longbench-pred, one thread each, in the same run.
# Both score the 16 English tasks of $METRICS_BENCH_MODEL (default llama2-7b-chat-4k, 3,300
# records); kvbench also all 21 tasks of every model. Prints one JSON line per measurement and
# the ratio; fails if the two disagree on a score.
set -eu
cd "$(dirname "$0")/../.."
KVBENCH="${KVBENCH:-bin/kvbench}"
PY="${KVBENCH_VENV:-$HOME/.venv-oracle}/bin/python"
DATA="${KVBENCH_DATASETS:-../shared/datasets}/longbench-pred"
MODEL="${METRICS_BENCH_MODEL:-llama2-7b-chat-4k}"
EN16=narrativeqa,qasper,multifieldqa_en,hotpotqa,2wikimqa,musique,gov_report,qmsum,multi_news,trec,triviaqa,samsum,passage_count,passage_retrieval_en,lcc,repobench-p
[ -d "$DATA" ] || { echo "metrics: $DATA missing; skipped"; exit 0; }
out=build/bench/metrics; mkdir -p "$out"
t() { /usr/bin/time -f "%e %U %M" -o "$out/time" "$@"; read -r wall user rss <"$out/time"; }
for m in $(ls "$DATA"); do
  [ -d "$DATA/$m" ] || continue
  for set in en16 all; do
    t "$KVBENCH" eval "$DATA/$m" --tasks "$set" --no-write --json >"$out/$m.$set.json"
    printf '{"impl": "kvbench", "model": "%s", "tasks": "%s", "wall_s": %s, "user_s": %s, "max_rss_kb": %s}\n' \
      "$m" "$set" "$wall" "$user" "$rss"
  done
done
if ! "$PY" -c 'import rouge, fuzzywuzzy, numpy' 2>/dev/null; then
  echo "metrics: Python peer missing ($PY); skipped"; exit 0
fi
t "$PY" -W ignore scripts/oracle/eval_py.py "$DATA/$MODEL" "$EN16" >"$out/py.json"
printf '{"impl": "python (LongBench metrics.py stack)", "model": "%s", "tasks": "en16", "wall_s": %s, "user_s": %s, "max_rss_kb": %s}\n' \
  "$MODEL" "$wall" "$user" "$rss"
pyuser=$user
t "$KVBENCH" eval "$DATA/$MODEL" --tasks en16 --no-write --json >"$out/c.json"
awk -v p="$pyuser" -v c="$user" 'BEGIN { printf "{\"speedup_user_time\": %.0f}\n", p / (c > 0.005 ? c : 0.005) }'
# same scores: every "task": value line of Python's output appears in kvbench's result block
grep '": ' "$out/py.json" | sed 's/,$//; s/^ *//' | sort >"$out/py.txt"
grep '^    "' "$out/c.json" | sed 's/,$//; s/^ *//' | sort >"$out/c.txt"
if [ -n "$(comm -23 "$out/py.txt" "$out/c.txt")" ]; then
  echo "metrics: kvbench and Python disagree:"; comm -3 "$out/py.txt" "$out/c.txt"; exit 1
fi
