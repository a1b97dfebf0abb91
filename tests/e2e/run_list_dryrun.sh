#!/usr/bin/env bash
# kvbench list (models, methods, tasks, sets) and kvbench run --dry-run (the method's plan, the
# memory estimate, where each task's data would come from); bad method/parameters exit 2.
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
exit $fail
