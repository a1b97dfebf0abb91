#!/usr/bin/env bash
# End-to-end: the GPU host's scripts without a GPU. scripts/gpu_project.py on a crafted lengths
# fixture and benchmark whose projection is known by hand; its input errors (one line, exit 2) and
# its SKIP; scripts/gpu_check.sh --dry-run (every step listed, time limits within 8 minutes) and
# its option errors. (The full rehearsal, gpu_pack.sh then gpu_check.sh, is in docs/cuda.md.)
set -u
T=$(mktemp -d /tmp/kvb_gpu_scripts.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
bad() { echo "FAIL $*"; fails=$((fails+1)); }

# prefill 1e-4 s per token (linear through the origin), decode 10 ms at every context; llama3-8b's
# longbench_max_length is 7500. qasper: 1000 words * 1.5 = 1500 tokens + BOS = 1501; 10000 words
# -> 15000, truncated to 7500 + 1 = 7501; lcc (code, 2.0 tokens/word): 100 -> 200 + 1 = 201.
# prefill 0.1501 + 0.7501 + 0.0201 s; decode (10 + 128 + 64) * 10 ms; worst (128 + 128 + 64) * 10 ms
cat >"$T/fx.json" <<'J'
{"tokens_per_word": {"prose": 1.5, "code": 2.0}, "code_tasks": ["lcc"],
 "tasks": {"qasper": {"length": [1000, 10000], "answer_tokens": [10, 128]},
           "lcc": {"length": [100], "answer_tokens": [64]}}}
J
cat >"$T/bench.json" <<'J'
kvb_cuda_bench: a line before the JSON
{"rows": [{"context": 2048, "prefill_s": 0.2048, "decode_ms": 10.0},
          {"context": 8192, "prefill_s": 0.8192, "decode_ms": 10.0}]}
J
python3 scripts/gpu_project.py --bench "$T/bench.json" --lengths "$T/fx.json" >"$T/out.json" 2>"$T/err" \
  || bad "gpu_project exit $?: $(cat "$T/err")"
python3 - "$T/out.json" <<'P' || bad "gpu_project numbers: $(cat "$T/out.json")"
import json, sys
d = json.load(open(sys.argv[1]))
k, q, l = d["kvbench"], d["kvbench"]["per_task"]["qasper"], d["kvbench"]["per_task"]["lcc"]
assert (q["tokens"], l["tokens"]) == (9002, 201), (q, l)
assert (q["prefill_s"], q["decode_s"], q["worst_decode_s"]) == (0.9, 1.38, 2.56), q
assert (l["prefill_s"], l["decode_s"], l["worst_decode_s"]) == (0.02, 0.64, 0.64), l
assert (k["expected_min"], k["worst_min"], k["meets_target"]) == (round(2.9403 / 60, 2), round(4.1203 / 60, 2), True), k
assert d["records"] == 3 and d["max_length"] == 7500
P
grep -q "3 records: kvbench .* target < 45 min: met" "$T/err" || bad "gpu_project summary: $(cat "$T/err")"

echo '{"tasks": {"qasper": {"length": [1]}}}' >"$T/bad.json"
python3 scripts/gpu_project.py --bench "$T/bench.json" --lengths "$T/bad.json" >/dev/null 2>"$T/err"
rc=$?
[ $rc = 2 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q "bad.json: not an en16 lengths fixture" "$T/err" \
  || bad "malformed fixture: exit $rc, $(cat "$T/err")"
echo '{"context": 2048}' >"$T/norows.json"
python3 scripts/gpu_project.py --bench "$T/norows.json" >"$T/out.json" 2>"$T/err" || bad "no rows: exit $?"
grep -q '^SKIP:' "$T/err" && grep -q '"skipped"' "$T/out.json" || bad "no rows: $(cat "$T/err")"
python3 scripts/gpu_project.py --bench "$T/missing.json" >/dev/null 2>"$T/err"
rc=$?
[ $rc = 2 ] && grep -q "missing.json: cannot read the benchmark" "$T/err" || bad "missing bench: exit $rc"

# the committed fixture: the 16 tasks, 3750 records
python3 - <<'P' || bad "tests/fixtures/gpu/en16_llama3.json"
import json
d, t = json.load(open("tests/fixtures/gpu/en16_llama3.json")), json.load(open("configs/longbench/tasks.json"))
assert list(d["tasks"]) == t["sets"]["en16"]
assert sum(len(v["length"]) for v in d["tasks"].values()) == 3750
assert all(0 < a <= t["tasks"][k]["max_new_tokens"] for k, v in d["tasks"].items() for a in v["answer_tokens"])
P

out=$(scripts/gpu_check.sh --dry-run "$T/report" 2>&1) || bad "gpu_check --dry-run: $out"
for s in pack bench_llama3_8b project_en16 model_assemble generate_cpu; do
  grep -q "^$s " <<<"$out" || bad "gpu_check --dry-run lacks $s: $out"
done
grep -q "time limits together: [0-9]* s (at most 480)" <<<"$out" || bad "gpu_check --dry-run: $out"
[ ! -e "$T/report" ] || bad "gpu_check --dry-run wrote $T/report"
scripts/gpu_check.sh --only kernels,bogus >/dev/null 2>"$T/err"
rc=$?
[ $rc = 2 ] && grep -q "unknown group 'bogus'" "$T/err" || bad "gpu_check --only bogus: exit $rc"

[ $fails = 0 ] && echo "gpu_scripts: ok"
exit $fails
