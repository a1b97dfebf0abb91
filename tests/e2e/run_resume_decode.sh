#!/usr/bin/env bash
# Crash safety, the points run_resume.sh does not reach with its one-token answers: SIGKILL in the
# middle of a prefill and in the middle of a decode (niah answers are ~25 tokens). The kill times
# come from the reference run's own per-record prefill_s/decode_s, counted from the moment the
# previous record was committed; the test checks the kill landed before the record's commit, and
# that --resume then ends with result.json and the memory traces byte-identical to the uninterrupted run.
set -u
KVBENCH=${KVBENCH:-bin/kvbench}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
args=(--tasks niah --lengths 160 --depths 0,50,100 --threads 2)
"$KVBENCH" run "${args[@]}" --out "$tmp/ref" >/dev/null 2>"$tmp/ref.err" || { echo "FAIL reference run"; cat "$tmp/ref.err"; exit 1; }
# seconds of prefill and decode of record i (0-based) in the reference run
phase() { python3 -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])][int(sys.argv[2])]; print(r[sys.argv[3]])" \
            "$tmp/ref/pred/niah.jsonl" "$1" "$2"; }
lines() { cat "$tmp/k/pred/niah.jsonl" 2>/dev/null | wc -l; }
kill_in() { # committed records to wait for, seconds to wait after that, what
  "$KVBENCH" run "${args[@]}" --out "$tmp/k" --resume >/dev/null 2>>"$tmp/k.err" &
  local pid=$! t=0
  while [ "$(lines)" -lt "$1" ] && kill -0 $pid 2>/dev/null && [ $t -lt 3000 ]; do sleep 0.02; t=$((t+1)); done
  sleep "$2"
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  if [ "$(lines)" -eq "$1" ]; then echo "ok   SIGKILL $3 (record $(( $1 + 1 )) not committed)"
  else echo "info SIGKILL $3 came after the record's commit (machine too fast or too slow)"; fi
}
p1=$(phase 1 prefill_s); p2=$(phase 2 prefill_s); d2=$(phase 2 decode_s)
kill_in 1 "$(python3 -c "print($p1 / 2)")" "in the prefill of record 2"
kill_in 2 "$(python3 -c "print($p2 + $d2 / 2)")" "in the decode of record 3"
"$KVBENCH" run "${args[@]}" --out "$tmp/k" --resume >/dev/null 2>"$tmp/final.err" || { echo "FAIL final resume"; cat "$tmp/final.err"; exit 1; }
if cmp -s "$tmp/ref/result.json" "$tmp/k/result.json"; then echo "ok   result.json identical after kills in prefill and decode"
else echo "FAIL result.json differs"; cat "$tmp/ref/result.json" "$tmp/k/result.json"; fail=1; fi
# memory lines hold no timing: the traces (every decode step) are byte-identical too
if cmp -s "$tmp/ref/memory/niah.jsonl" "$tmp/k/memory/niah.jsonl"; then echo "ok   memory traces identical"
else echo "FAIL memory traces differ"; fail=1; fi
python3 - "$tmp/ref" "$tmp/k" <<'PY' && echo "ok   predictions identical" || fail=1
import json, sys
a, b = ([(r["_id"], r["pred"]) for r in map(json.loads, open(d + "/pred/niah.jsonl"))] for d in sys.argv[1:])
assert a == b, (a, b)
PY
exit $fail
