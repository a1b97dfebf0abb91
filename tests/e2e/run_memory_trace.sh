#!/usr/bin/env bash
# Memory traces of `kvbench run` (memory/<task>.jsonl "trace" and "prefill_peak_kv_bytes") on the
# real SmolLM2, one needle record each: --trace-every K gives the steps 0, K, 2K, ... and the last;
# the default gives at most 64 points; the layers sum to the total; `full` grows by exactly one
# token's bytes per step; ZigZagKV's prefill peak is the full fp16 prompt, above what it keeps;
# a bad --trace-every is one line and exit 2; a resume with another K is refused.
set -u
KVBENCH=${KVBENCH:-bin/kvbench}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
run() { # out, extra flags...
  local out=$1; shift
  "$KVBENCH" run --tasks niah --lengths 200 --depths 50 --threads 2 --out "$tmp/$out" "$@" \
    >/dev/null 2>"$tmp/$out.err" || { echo "FAIL run $out"; cat "$tmp/$out.err"; exit 1; }
}
run full5 --trace-every 5
run zz --type ZigZagKV --budget 64
python3 - "$tmp" <<'PY' || fail=1
import json, os, sys
d = sys.argv[1]
def line(run):
    ls = [json.loads(l) for l in open(os.path.join(d, run, "memory", "niah.jsonl"))]
    assert len(ls) == 1, ls
    return ls[0]
def check_common(m, every):
    t = m["trace"]
    n = len(t["step"])
    assert t["every"] == every, t["every"]
    last = m["generated_tokens"] - 1
    want = list(range(0, last + 1, every)) + ([last] if last % every else [])
    assert t["step"] == want, (t["step"], want)
    assert n <= 64 and len(t["kv_bytes"]) == n and len(t["kept_tokens"]) == n and len(t["layer_bytes"]) == n
    for row, b in zip(t["layer_bytes"], t["kv_bytes"]):
        assert len(row) == len(m["layers_end"]) and sum(row) == b, (sum(row), b)
    # the old end points are the first and the last point
    assert t["kv_bytes"][0] == m["prefill"]["kv_bytes"] and t["kv_bytes"][-1] == m["end"]["kv_bytes"]
    assert m["prefill_peak_kv_bytes"] >= m["prefill"]["kv_bytes"]
    assert m["peak_kv_bytes"] >= max(t["kv_bytes"] + [m["prefill_peak_kv_bytes"]])
    return t
m = line("full5")
assert m["generated_tokens"] > 6, m["generated_tokens"]
t = check_common(m, 5)
per_token = m["prefill"]["kv_bytes"] // m["prompt_tokens"]
for s, b in zip(t["step"], t["kv_bytes"]):
    assert b == (m["prompt_tokens"] + s) * per_token, (s, b)
assert m["prefill_peak_kv_bytes"] == m["prefill"]["kv_bytes"]
print("ok   full --trace-every 5: steps %s, +%d bytes per token, layers sum to the total" % (t["step"], per_token))
z = line("zz")
t = check_common(z, 1)  # niah generates at most 64 tokens: every step fits in 64 points
assert z["prefill_peak_kv_bytes"] == z["prefill"]["full16_bytes"], z["prefill_peak_kv_bytes"]
assert z["prefill_peak_kv_bytes"] > z["prefill"]["kv_bytes"]
print("ok   ZigZagKV default trace: %d points; prefill peak %d > %d bytes kept"
      % (len(t["step"]), z["prefill_peak_kv_bytes"], z["prefill"]["kv_bytes"]))
PY
if python3 -c 'import jsonschema' 2>/dev/null; then
  python3 - "$tmp" "$(dirname "$0")/../../results/schema/memory.schema.json" <<'PY' || fail=1
import json, os, sys, jsonschema
schema = json.load(open(sys.argv[2]))
jsonschema.Draft202012Validator.check_schema(schema)
for run in ("full5", "zz"):
    for l in open(os.path.join(sys.argv[1], run, "memory", "niah.jsonl")):
        jsonschema.validate(json.loads(l), schema)
print("ok   memory lines follow results/schema/memory.schema.json")
PY
else
  echo "skip memory schema check: python3 has no jsonschema"
fi
# the KV-bytes plot draws the measured points of the record with the longest prompt
py=${KVBENCH_PYTHON:-python3}
"$py" -c 'import matplotlib' 2>/dev/null || { [ -z "${KVBENCH_PYTHON:-}" ] && py=/usr/bin/python3; }
if "$py" -c 'import matplotlib' 2>/dev/null; then
  "$py" - "$tmp" "$(dirname "$0")/../../scripts" <<'PY' || fail=1
import json, os, sys
sys.path.insert(0, sys.argv[2])
import plot
for run in ("full5", "zz"):
    f = os.path.join(sys.argv[1], run, "memory", "niah.jsonl")
    m = json.loads(open(f).readline())
    steps, vals, measured, peak, tokens = plot.longest_trace(f)
    assert measured and steps == m["trace"]["step"] and vals == m["trace"]["kv_bytes"], run
    assert tokens == m["prompt_tokens"], (tokens, m["prompt_tokens"])
    assert peak == m["prefill_peak_kv_bytes"], (peak, m["prefill_peak_kv_bytes"])
print("ok   plot.py reads the measured trace and the prefill peak")
PY
  "$KVBENCH" report "$tmp/full5" "$tmp/zz" --plot "$tmp/plots" >/dev/null 2>"$tmp/plot.err" &&
    [ -s "$tmp/plots/kv_bytes.png" ] && echo "ok   report --plot draws kv_bytes.png" ||
    { echo "FAIL report --plot"; cat "$tmp/plot.err"; fail=1; }
else
  echo "skip plot checks: no Python with matplotlib"
fi
for v in 0 -3 abc 2.5 ""; do
  "$KVBENCH" run --tasks niah --lengths 200 --depths 50 --trace-every "$v" --out "$tmp/bad" >/dev/null 2>"$tmp/bad.err"
  rc=$?
  if [ $rc -eq 2 ] && [ "$(wc -l <"$tmp/bad.err")" -eq 1 ] && grep -q -- "--trace-every" "$tmp/bad.err" && [ ! -e "$tmp/bad" ]; then
    echo "ok   --trace-every '$v': one line, exit 2"
  else echo "FAIL --trace-every '$v': rc $rc"; cat "$tmp/bad.err"; fail=1; fi
done
"$KVBENCH" run --tasks niah --lengths 200 --depths 50,100 --threads 2 --trace-every 7 --resume \
  --out "$tmp/full5" >/dev/null 2>"$tmp/r.err"
rc=$?
[ $rc -eq 2 ] && grep -q "trace_every" "$tmp/r.err" && echo "ok   resume refuses another --trace-every" \
  || { echo "FAIL resume with another --trace-every: rc $rc"; cat "$tmp/r.err"; fail=1; }
exit $fail
