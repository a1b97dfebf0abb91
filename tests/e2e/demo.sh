#!/usr/bin/env bash
# scripts/demo.sh (`make demo`) on a tiny slice: every method it is given runs on the needle grid
# and the Chinese sample, and it ends with the report's comparison table, one row per run with
# score, compression, peak KV and ms/token, and the paths of the report (and the plots when
# matplotlib is present).
set -u
KVBENCH=${KVBENCH:-bin/kvbench}
fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
check() { # name, pattern, file
  grep -qE -- "$2" "$3" && echo "ok   $1" || { echo "FAIL $1: no '$2' in:"; cat "$3"; fail=1; }
}
KVBENCH=$KVBENCH DEMO_OUT="$tmp/demo" DEMO_METHODS="full KIVI" DEMO_LENGTHS=256 DEMO_DEPTHS=50 \
  DEMO_MAX_LENGTH=256 DEMO_THREADS=2 bash scripts/demo.sh >"$tmp/out" 2>&1 \
  || { echo "FAIL demo exit"; cat "$tmp/out"; fail=1; }
check "table header" "^\| run .*\| compression \| peak KV \| ms/token \|" "$tmp/out"
for set in niah longbench-zh; do
  for m in full KIVI; do
    check "row $set/$m" "^\| [^|]*/$set/$m \| smollm2-135m \| $m \|" "$tmp/out"
  done
done
check "full is the 1.00x reference" "/niah/full \|.*\| 1\.00x \|" "$tmp/out"
check "report path" "^full report: .*/report.md" "$tmp/out"
if python3 -c 'import matplotlib' 2>/dev/null || /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  check "heatmap grid path" "^needle heatmap grid: .*needle_grid.png" "$tmp/out"
else
  check "says why there are no plots" "^demo: no plots: " "$tmp/out"
fi
DEMO_OUT="$tmp/bad" DEMO_METHODS="NoSuchMethod" DEMO_LENGTHS=256 DEMO_DEPTHS=50 DEMO_MAX_LENGTH=256 \
  KVBENCH=$KVBENCH bash scripts/demo.sh >"$tmp/bad.out" 2>&1 && { echo "FAIL unknown method passed"; fail=1; }
check "unknown method is reported" "NoSuchMethod +FAILED" "$tmp/bad.out"
exit $fail
