#!/usr/bin/env bash
# End-to-end: kvbench diff / gate / merge / report on the crafted runs of
# tests/fixtures/results/runs (scripts/oracle/results_fixtures.py). Exit codes and messages.
set -u
K=${KVBENCH:?KVBENCH must point at the kvbench binary}
R=tests/fixtures/results/runs
T=$(mktemp -d /tmp/kvb_results_e2e.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
check() { # check NAME EXPECTED_EXIT CMD...
  local name=$1 want=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; local got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL $name: exit $got, expected $want"; cat "$T/out" "$T/err"; fails=$((fails+1)); return 1
  fi
  echo "ok   $name"
}
has() { # has NAME FILE TEXT
  if ! grep -qF -- "$3" "$2"; then echo "FAIL $1: '$3' not in output:"; cat "$2"; fails=$((fails+1)); fi
}
one_line_error() { # bad input: exactly one line on stderr naming the problem
  if [ "$(wc -l <"$T/err")" != 1 ] || ! grep -q "^kvbench: error: .*$2" "$T/err"; then
    echo "FAIL $1: expected one error line with '$2':"; cat "$T/err"; fails=$((fails+1)); fi
}

# ---- diff
check diff 0 "$K" diff $R/full $R/snapkv && has diff "$T/out" "hotpotqa" && has diff "$T/out" "*-"
check diff-json 0 "$K" diff $R/full $R/fewer.json --json --bootstrap 100 --seed 3 &&
  has diff-json "$T/out" '"only_a":	["niah"]'
check diff-text-only 0 "$K" diff $R/full $R/fewer.json && has diff-only "$T/out" "only in A: niah"
check diff-models 2 "$K" diff $R/full $R/other_model.json && one_line_error diff-models "different models.*--force"
check diff-force 0 "$K" diff $R/full $R/other_model.json --force
check diff-args 2 "$K" diff $R/full
cp -r $R/snapkv "$T/noscore"
sed -E -i 's/"score": [0-9.e-]+, //' "$T/noscore/pred/hotpotqa.jsonl"
check diff-noscore 2 "$K" diff $R/full "$T/noscore" && one_line_error diff-noscore "noscore/pred/hotpotqa.jsonl:1: no per-record 'score'"
check diff-noscore-noboot 0 "$K" diff $R/full "$T/noscore" --bootstrap 0
cp -r $R/snapkv "$T/dupid"
head -n 1 $R/snapkv/pred/niah.jsonl >>"$T/dupid/pred/niah.jsonl"
check diff-dupid 2 "$K" diff $R/full "$T/dupid" && one_line_error diff-dupid "dupid/pred/niah.jsonl: _id 'niah-1024-0-0' appears twice"

# ---- gate: 0 hold, 1 regress, 2 bad input
check gate-pass 0 "$K" gate $R/pass.json --baseline $R/full --max-task-drop 1 && has gate-pass "$T/out" "gate: HOLD"
check gate-task 1 "$K" gate $R/task_drop.json --baseline $R/full --max-task-drop 2 &&
  has gate-task "$T/out" "FAIL task hotpotqa: 42.23 vs baseline 45.23, drop 3.00 > 2.00 allowed"
check gate-avg 1 "$K" gate $R/avg_drop.json --baseline $R/full && has gate-avg "$T/out" "FAIL average score"
check gate-compr 1 "$K" gate $R/low_compr.json --baseline $R/full --min-compression 2 &&
  has gate-compr "$T/out" "FAIL compression ratio"
check gate-sig 1 "$K" gate $R/snapkv --baseline $R/full --require-significance --bootstrap 200
check gate-newer 2 "$K" gate $R/newer.json --baseline $R/full && one_line_error gate-newer "schema_version 2 is newer"
head -c 700 $R/full/run.json >"$T/trunc.json"
check gate-trunc 2 "$K" gate "$T/trunc.json" --baseline $R/full && one_line_error gate-trunc "trunc.json: not valid JSON"
check gate-missing 2 "$K" gate "$T/nothing.json" --baseline $R/full && one_line_error gate-missing "nothing.json"
check gate-nobase 2 "$K" gate $R/pass.json

# ---- merge
check merge 0 "$K" merge $R/shard1 $R/shard0 $R/shard2 --out "$T/merged"
for f in result.json pred/hotpotqa.jsonl pred/passage_retrieval_en.jsonl pred/niah.jsonl memory/niah.jsonl; do
  cmp -s "$T/merged/$f" "$R/full/$f" || { echo "FAIL merge: $f differs from the unsharded run"; fails=$((fails+1)); }
done
check merge-overlap 2 "$K" merge $R/shard0 $R/shard1 $R/shard1 --out "$T/m2" && one_line_error merge-overlap "overlap"
check merge-missing 2 "$K" merge $R/shard0 $R/shard1 --out "$T/m3" && one_line_error merge-missing "missing shard 2"
check merge-noout 2 "$K" merge $R/shard0

# ---- report
check report-md 0 "$K" report $R/full $R/snapkv $R/fewer.json --md "$T/r.md"
has report-md "$T/r.md" "| $R/snapkv | smollm2-135m | SnapKV |"
has report-md "$T/r.md" "| run | model | method | params | hotpotqa | passage_retrieval_en | niah | average |"
has report-md "$T/r.md" "| $R/fewer.json | smollm2-135m | full |  | 45.23 | 65.00 | - | 55.11* |"
has report-md "$T/r.md" "| 50% | 100 | 62 |"
check report-stdout 0 "$K" report $R/full && has report-stdout "$T/out" "| smollm2-135m | full |"
KVBENCH_PYTHON=/nonexistent/python3 check report-nopython 2 "$K" report $R/full --plot "$T/plots" &&
  one_line_error report-nopython "plots need Python 3"
# without KVBENCH_PYTHON, report falls back to /usr/bin/python3 (Debian's python3-matplotlib)
if "${KVBENCH_PYTHON:-python3}" -c 'import matplotlib' 2>/dev/null ||
   { [ -z "${KVBENCH_PYTHON:-}" ] && /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; }; then
  check report-plot 0 "$K" report $R/full $R/snapkv --md "$T/r2.md" --plot "$T/plots"
  for p in score_vs_compression tasks kv_bytes needle_grid; do
    [ -s "$T/plots/$p.png" ] || { echo "FAIL report-plot: $p.png missing"; fails=$((fails+1)); }
  done
else
  echo "skip report-plot: ${KVBENCH_PYTHON:-python3} has no matplotlib (set KVBENCH_PYTHON)"
fi
check report-bad 2 "$K" report $R/newer.json

echo "results_cli: $fails failed"
[ "$fails" = 0 ]
