#!/usr/bin/env bash
# `kvbench eval` on small hand-made prediction files: scores from the worked examples of
# specs/longbench-simlayerkv-kivi.md part D, result.json in eval.py's exact format (plain and
# LongBench-E with NaN buckets), run-directory layout, --json, --no-write.
set -euo pipefail
cd "$(dirname "$0")/../.."
KVBENCH=${KVBENCH:-bin/kvbench}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

d="$tmp/flat"; mkdir -p "$d"
cat >"$d/qasper.jsonl" <<'J'
{"pred": "The cat sat", "answers": ["a cat sat down"], "all_classes": null, "length": 100}
{"pred": "Paris, France.", "answers": ["Paris"], "all_classes": null, "length": 5000}
{"pred": "the the", "answers": ["The"], "all_classes": null, "length": 9000}
J
cat >"$d/lcc.jsonl" <<'J'
{"pred": "\n\nfoo(bar)", "answers": ["foo(baz)"], "all_classes": null, "length": 100}
{"pred": "# comment\nx = 1", "answers": ["x = 1"], "all_classes": null, "length": 200}
J
cat >"$d/trec.jsonl" <<'J'
{"pred": "Entity or Description\nHuman", "answers": ["Entity"], "all_classes": ["Entity", "Description", "Human"], "length": 10}
J
echo "not a prediction file" >"$d/notes.txt"

"$KVBENCH" eval "$d" >"$tmp/out.txt"
grep -q 'qasper .* 48.89' "$tmp/out.txt" || fail "table: $(cat "$tmp/out.txt")"
# json.dump(indent=4): exact lines, order = directory order
for line in '    "qasper": 48.89' '    "lcc": 94.0' '    "trec": 50.0'; do
  grep -qxF -e "$line" -e "$line," "$d/result.json" || fail "missing '$line' in $(cat "$d/result.json")"
done
[ "$(wc -l <"$d/result.json")" = 4 ] || fail "result.json line count"
[ "$(tail -c 1 "$d/result.json")" = "}" ] || fail "result.json must end without a newline"

# LongBench-E: nested objects, numpy rounding, NaN for empty buckets
"$KVBENCH" eval "$d" --e >/dev/null
grep -qxF '        "0-4k": 80.0,' "$d/result.json" || fail "--e qasper 0-4k: $(cat "$d/result.json")"
grep -qxF '        "4-8k": 66.67,' "$d/result.json" || fail "--e 4-8k"
grep -qxF '        "8k+": NaN' "$d/result.json" || fail "--e NaN bucket"
grep -qxF '    "lcc": {' "$d/result.json" || fail "--e nesting"

# run directory: DIR/pred/<task>.jsonl, result.json in DIR
r="$tmp/run"; mkdir -p "$r/pred"; cp "$d/qasper.jsonl" "$r/pred/"
"$KVBENCH" eval "$r" --json >"$tmp/run.json"
grep -q '"qasper": 48.89' "$r/result.json" || fail "run dir result.json"
grep -q '"en16": {"tasks": 1, "score": 48.89}' "$tmp/run.json" || fail "--json: $(cat "$tmp/run.json")"
rm "$r/result.json"
"$KVBENCH" eval "$r" --no-write >/dev/null
[ ! -e "$r/result.json" ] || fail "--no-write wrote result.json"

# --tasks restricts the files scored
"$KVBENCH" eval "$d" --tasks lcc --no-write >"$tmp/o2.txt"
grep -q '^lcc ' "$tmp/o2.txt" && ! grep -q '^qasper ' "$tmp/o2.txt" || fail "--tasks"
echo ok
