#!/usr/bin/env bash
# kvbench run --tasks niah on the real SmolLM2 and the essays, a 2x2 grid: one prediction line per
# cell with the needle fields, cells in run.json, result.json with the niah score, and the same
# prompt tokens for the same cell (deterministic haystack).
set -u
KVBENCH=${KVBENCH:-bin/kvbench}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$KVBENCH" run --tasks niah --lengths 200,300 --depths 0,100 --threads 2 --out "$tmp/n" >"$tmp/out" 2>"$tmp/err" \
  || { echo "FAIL niah run"; cat "$tmp/err"; exit 1; }
python3 - "$tmp/n" <<'PY' || exit 1
import json, os, sys
d = sys.argv[1]
lines = [json.loads(l) for l in open(os.path.join(d, "pred", "niah.jsonl"))]
assert [l["_id"] for l in lines] == ["niah-200-0", "niah-200-100", "niah-300-0", "niah-300-100"], lines
for l in lines:
    assert l["prompt_tokens"] == l["length"], l            # exactly the requested length
    assert l["niah_exact"] in (0, 1) and 0 <= l["score"] <= 1
    assert l["answers"] == ["The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day."]
run = json.load(open(os.path.join(d, "run.json")))
# the default full cache holds 16 bits: the baseline reads 1.00x of a full 16-bit cache
assert run["method"] == {"name": "full", "params": {"dtype": "f16"}}, run["method"]
assert run["summary"]["compression_ratio"] == 1.0, run["summary"]
cells = run["tasks"]["niah"]["cells"]
assert [(c["length"], c["depth"]) for c in cells] == [(200, 0), (200, 100), (300, 0), (300, 100)], cells
res = json.load(open(os.path.join(d, "result.json")))
mean = round(100 * sum(l["score"] for l in lines) / len(lines), 2)
assert res == {"niah": mean}, (res, mean)
print("ok   niah: 4 cells, scores", [c["score"] for c in cells])
PY
