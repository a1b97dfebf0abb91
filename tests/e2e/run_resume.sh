#!/usr/bin/env bash
# Crash safety of `kvbench run` on the real SmolLM2 with small synthetic records:
#  - SIGKILL at several points (model load/prefill, right after each of two records is
#    committed, i.e. in the next prefill), a torn last line and an orphan memory line (a kill while writing): --resume
#    ends with a result.json byte-identical to an uninterrupted run, and the same predictions;
#  - SIGINT: the current record finishes, exit 130, the message says how to resume;
#  - --shard 0/2 and 1/2 joined by kvbench merge give the unsharded result.json;
#  - --resume refuses a directory made with other settings; a second run without --resume
#    refuses to overwrite.
set -u
KVBENCH=${KVBENCH:-bin/kvbench}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
python3 datasets/gen_synthetic.py --out "$tmp/data" --n 3 --paragraphs 3 --words 16
# passage_count: answers are one number, so a record is mostly its prefill (fast)
args=(--tasks passage_count --data "$tmp/data" --limit 3 --max-length 400 --threads 2)

"$KVBENCH" run "${args[@]}" --out "$tmp/ref" >"$tmp/ref.out" 2>"$tmp/ref.err" || { echo "FAIL reference run"; cat "$tmp/ref.err"; exit 1; }
lines() { cat "$1"/pred/*.jsonl 2>/dev/null | wc -l; }

# kill -9 once the run directory holds `want` committed records (or after `delay` s when want=0)
kill_at() { # out, want, delay
  "$KVBENCH" run "${args[@]}" --out "$1" --resume >/dev/null 2>>"$tmp/kill.err" &
  local pid=$! t=0
  if [ "$2" -eq 0 ]; then sleep "$3"
  else while [ "$(lines "$1")" -lt "$2" ] && kill -0 $pid 2>/dev/null && [ $t -lt 600 ]; do sleep 0.05; t=$((t+1)); done; fi
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
}
out=$tmp/killed
kill_at "$out" 0 0.3          # during start-up or the first prefill
kill_at "$out" 1 0            # just after the first record was committed
kill_at "$out" 2 0            # just after the second
# a kill while writing: a torn prediction line and a memory line of an uncommitted record
printf '{"pred": "torn' >>"$out/pred/passage_count.jsonl"
printf '{"_id": "synth-pc-0099", "prompt_tokens": 1}\n' >>"$out/memory/passage_count.jsonl"
"$KVBENCH" run "${args[@]}" --out "$out" --resume >"$tmp/resume.out" 2>"$tmp/resume.err" || { echo "FAIL final resume"; cat "$tmp/resume.err"; fail=1; }
grep -q "dropping a torn last line" "$tmp/resume.err" || { echo "FAIL torn line not reported"; fail=1; }
if cmp "$tmp/ref/result.json" "$out/result.json"; then echo "ok   result.json identical after kill -9 x3 + torn line"
else echo "FAIL result.json differs"; cat "$tmp/ref/result.json" "$out/result.json"; fail=1; fi
same_preds() {
  python3 - "$1" "$2" <<'PY'
import json, sys, glob, os
for f in sorted(glob.glob(os.path.join(sys.argv[1], "pred", "*.jsonl"))):
    a = [json.loads(l) for l in open(f)]
    b = [json.loads(l) for l in open(os.path.join(sys.argv[2], "pred", os.path.basename(f)))]
    assert [(x["_id"], x["pred"]) for x in a] == [(x["_id"], x["pred"]) for x in b], f
    m = [json.loads(l)["_id"] for l in open(f.replace("/pred/", "/memory/"))]
    assert m == [x["_id"] for x in a], "memory trace ids " + f
PY
}
if same_preds "$tmp/ref" "$out"; then echo "ok   predictions and memory traces identical"; else echo "FAIL predictions differ"; fail=1; fi

# SIGINT: finish the record, exit 130, say how to resume
out=$tmp/int
"$KVBENCH" run "${args[@]}" --out "$out" >/dev/null 2>"$tmp/int.err" &
pid=$!; t=0
while [ "$(lines "$out")" -lt 1 ] && kill -0 $pid 2>/dev/null && [ $t -lt 600 ]; do sleep 0.05; t=$((t+1)); done
kill -INT $pid; wait $pid; rc=$?
if [ $rc -eq 130 ] && grep -q -- "--resume" "$tmp/int.err"; then echo "ok   SIGINT -> 130 with a resume hint"
else echo "FAIL SIGINT: exit $rc"; cat "$tmp/int.err"; fail=1; fi
"$KVBENCH" run "${args[@]}" --out "$out" --resume >/dev/null 2>"$tmp/int2.err" && cmp -s "$tmp/ref/result.json" "$out/result.json" \
  && echo "ok   resume after SIGINT identical" || { echo "FAIL resume after SIGINT"; cat "$tmp/int2.err"; fail=1; }

# --shard i/N + kvbench merge: the same result.json and predictions as the unsharded run
for i in 0 1; do "$KVBENCH" run "${args[@]}" --shard $i/2 --out "$tmp/s$i" >/dev/null 2>"$tmp/s$i.err" || { echo "FAIL shard $i"; cat "$tmp/s$i.err"; fail=1; }; done
if "$KVBENCH" merge "$tmp/s0" "$tmp/s1" --out "$tmp/merged" >/dev/null 2>"$tmp/merge.err" &&
   cmp -s "$tmp/ref/result.json" "$tmp/merged/result.json" && same_preds "$tmp/ref" "$tmp/merged"; then
  echo "ok   shards 0/2 + 1/2 merged = unsharded run"
else echo "FAIL shard merge"; cat "$tmp/merge.err"; fail=1; fi

# refusals
"$KVBENCH" run "${args[@]}" --out "$out" >/dev/null 2>"$tmp/r1.err"; rc=$?
[ $rc -eq 2 ] && grep -q -- "--resume" "$tmp/r1.err" && echo "ok   no overwrite without --resume" || { echo "FAIL overwrite: $rc"; cat "$tmp/r1.err"; fail=1; }
"$KVBENCH" run "${args[@]/400/300}" --out "$out" --resume >/dev/null 2>"$tmp/r2.err"; rc=$?
[ $rc -eq 2 ] && grep -q "max_length" "$tmp/r2.err" && echo "ok   resume refuses other settings" || { echo "FAIL fingerprint: $rc"; cat "$tmp/r2.err"; fail=1; }
cp "$tmp/data/passage_count.jsonl" "$tmp/pc"; sed -i 's/Paragraph 1:/Paragraph 1 :/' "$tmp/data/passage_count.jsonl"
"$KVBENCH" run "${args[@]}" --out "$out" --resume >/dev/null 2>"$tmp/r3.err"; rc=$?
[ $rc -eq 2 ] && grep -q "data.passage_count" "$tmp/r3.err" && echo "ok   resume refuses changed data" || { echo "FAIL data fingerprint: $rc"; cat "$tmp/r3.err"; fail=1; }
exit $fail
