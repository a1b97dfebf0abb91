#!/usr/bin/env bash
# kvbench run --tasks <RULER tasks> on the real SmolLM2: bad input (one line, exit 2), the run
# directory of a (task, length) grid (pred/<task>.<length>.jsonl with RULER's fields, run.json's
# per-length average, result.json), scores recomputed here from the prediction lines by
# evaluate.py's rules, --resume (and its refusal of another seed), --shard + merge byte-identical,
# report's length x task table, and RULER mixed with the needle test in one run.
# Without RULER's word lists (make ruler-data): SKIP, exit 0; but FAIL when CI=true.
set -u
K=${KVBENCH:-bin/kvbench}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
T=niah_single_1
run() { "$K" run --threads 2 --samples 2 "$@"; }

# ---- the data ------------------------------------------------------------------------------
if ! run --tasks $T --lengths 512 --out "$tmp/probe" >"$tmp/probe.out" 2>"$tmp/probe.err"; then
  if grep -q "make ruler-data" "$tmp/probe.err" && [ "${CI:-}" != true ]; then
    echo "SKIP ruler: RULER's word lists are not installed ($(tail -n 1 "$tmp/probe.err"))"
    exit 0
  fi
  echo "FAIL ruler: the probe run failed"; cat "$tmp/probe.err"; exit 1
fi

# ---- bad input: one line naming the problem, exit 2 ---------------------------------------
bad() { # want-substring args...
  local want=$1; shift
  "$K" run --threads 2 "$@" --out "$tmp/bad" >"$tmp/bad.out" 2>"$tmp/bad.err"; local rc=$?
  local lines; lines=$(grep -c "error:" "$tmp/bad.err")
  if [ $rc = 2 ] && [ "$lines" = 1 ] && grep -q -- "$want" "$tmp/bad.err"; then
    echo "ok   bad input: $* -> exit 2"
  else
    echo "FAIL bad input: $* -> exit $rc, want 2 and one error line with '$want':"; cat "$tmp/bad.err"
    fail=1
  fi
  rm -rf "$tmp/bad"
}
bad "unknown task 'niah_single_9'" --tasks niah_single_9
bad "not a RULER length" --tasks ruler --lengths 4k
bad "beyond smollm2-135m's context" --tasks $T --lengths 16384
bad "needs squad.json" --tasks qa_1
bad "needs hotpotqa.json" --tasks qa_2 --data "$tmp"
bad "given twice" --tasks vt,vt
bad "given twice" --tasks $T --lengths 512,512
bad "unknown RULER model template" --tasks $T --ruler-template nope
bad "too small" --tasks $T --lengths 100
KVBENCH_RULER_DATA="$tmp/nowhere" bad "nounlist.txt" --tasks $T --lengths 512

# ---- a 2-length run --------------------------------------------------------------------------
run --tasks $T --lengths 512,1024 --out "$tmp/a" >"$tmp/a.out" 2>"$tmp/a.err" \
  || { echo "FAIL ruler run"; cat "$tmp/a.err"; exit 1; }
python3 - "$tmp/a" $T <<'PY' || fail=1
import json, os, re, sys
d, task = sys.argv[1], sys.argv[2]
run = json.load(open(os.path.join(d, "run.json")))
res = json.load(open(os.path.join(d, "result.json")))
def post(s):  # evaluate.py's postprocess_pred
    return re.sub(r"[\x00-\x1f]", "\n", s.strip()).strip()
for L in (512, 1024):
    name = "%s.%d" % (task, L)
    lines = [json.loads(l) for l in open(os.path.join(d, "pred", name + ".jsonl"))]
    assert [l["_id"] for l in lines] == ["%s-0" % name, "%s-1" % name], lines
    assert [l["index"] for l in lines] == [0, 1]
    for l in lines:
        assert l["answer_prefix"].startswith(" The special magic number for "), l
        assert len(l["outputs"]) == 1 and l["outputs"][0].isdigit(), l
        # call_api.py's prompt is input + answer_prefix: RULER's length counts those tokens plus
        # the 128 to generate (SmolLM2 adds no BOS), and fits the requested length
        assert l["length"] == l["prompt_tokens"] + 128 <= L, (l["length"], l["prompt_tokens"], L)
        want = sum(r.lower() in post(l["pred"]).lower() for r in l["outputs"]) / len(l["outputs"])
        assert l["score"] == want, (l["pred"], l["outputs"], l["score"])
    score = round(sum(l["score"] for l in lines) / len(lines) * 100, 2)
    assert run["tasks"][name]["score"] == score and res[name] == score, (name, score)
    assert run["tasks"][name]["metric"] == "string_match_all"
    (avg,) = [x for x in run["summary"]["ruler"] if x["length"] == L]
    assert avg == {"length": L, "n_tasks": 1, "average": score}, avg
assert [x["length"] for x in run["summary"]["ruler"]] == [512, 1024]
assert run["settings"]["ruler"] == {"lengths": [512, 1024], "samples": 2, "seed": 42,
                                    "template": "chat"}, run["settings"]["ruler"]
print("ok   ruler run: scores", {k: v["score"] for k, v in run["tasks"].items()})
PY

# ---- resume: the same predictions; another seed is other data and is refused -----------------
run --tasks $T --lengths 512,1024 --limit 1 --out "$tmp/r" >/dev/null 2>&1 || { echo "FAIL limit run"; fail=1; }
if run --tasks $T --lengths 512,1024 --seed 7 --resume --out "$tmp/r" >/dev/null 2>"$tmp/r.err"; then
  echo "FAIL --resume with another --seed was not refused"; fail=1
else
  grep -q "refusing to mix" "$tmp/r.err" && echo "ok   --resume refuses another seed" \
    || { echo "FAIL refusal message:"; cat "$tmp/r.err"; fail=1; }
fi
run --tasks $T --lengths 512,1024 --resume --out "$tmp/r" >/dev/null 2>&1 || { echo "FAIL resume"; fail=1; }
cmp -s "$tmp/r/result.json" "$tmp/a/result.json" && echo "ok   resumed run = fresh run" \
  || { echo "FAIL resumed result.json differs"; fail=1; }

# ---- shards and merge ---------------------------------------------------------------------------
for i in 0 1; do
  run --tasks $T --lengths 512,1024 --shard $i/2 --out "$tmp/s$i" >/dev/null 2>&1 || { echo "FAIL shard $i"; fail=1; }
done
"$K" merge "$tmp/s0" "$tmp/s1" --out "$tmp/m" >/dev/null 2>&1 || { echo "FAIL merge"; fail=1; }
cmp -s "$tmp/m/result.json" "$tmp/a/result.json" && echo "ok   merged shards = one run" \
  || { echo "FAIL merged result.json differs"; fail=1; }

# ---- report: RULER's per-length columns and its length x task table ------------------------
"$K" report "$tmp/a" >"$tmp/rep.md" 2>&1 || { echo "FAIL report"; fail=1; }
if grep -q "| RULER 512 | RULER 1024 |" "$tmp/rep.md" && grep -q "^| length | $T | average |" "$tmp/rep.md" \
   && grep -q "^| 1024 |" "$tmp/rep.md"; then echo "ok   report: RULER columns and table"
else echo "FAIL report:"; cat "$tmp/rep.md"; fail=1; fi

# ---- RULER beside the needle test in one run --------------------------------------------------
run --tasks niah,$T --lengths 512 --depths 50 --out "$tmp/mix" >/dev/null 2>"$tmp/mix.err" \
  || { echo "FAIL mixed run"; cat "$tmp/mix.err"; fail=1; }
python3 - "$tmp/mix" $T <<'PY' || fail=1
import json, os, sys
run = json.load(open(os.path.join(sys.argv[1], "run.json")))
assert list(run["tasks"]) == ["niah", sys.argv[2] + ".512"], list(run["tasks"])
assert [x["length"] for x in run["summary"]["ruler"]] == [512]
print("ok   niah + RULER in one run")
PY
exit $fail
