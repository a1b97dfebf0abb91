#!/usr/bin/env bash
# kvbench run on hostile LongBench record files: every case is one error line naming the file and
# line, exit 2, before any model is loaded. Also: bad --shard/--max-memory values, and the memory
# guard refusing a record over --max-memory.
set -u
KVBENCH=${KVBENCH:-bin/kvbench}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
good='{"input": "q", "context": "c", "answers": ["Paragraph 1"], "length": 3, "dataset": "passage_retrieval_en", "language": "en", "all_classes": null, "_id": "g1"}'

expect() { # name, expected substring, args...
  local name=$1 want=$2; shift 2
  "$KVBENCH" run --out "$tmp/out-$name" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  local rc=$?
  if [ $rc -ne 2 ]; then echo "FAIL $name: exit $rc (want 2)"; cat "$tmp/$name.err"; fail=1; return; fi
  if ! grep -qF -- "$want" "$tmp/$name.err"; then
    echo "FAIL $name: stderr lacks '$want':"; cat "$tmp/$name.err"; fail=1; return; fi
  if [ "$(wc -l <"$tmp/$name.err")" -ne 1 ]; then echo "FAIL $name: not one line:"; cat "$tmp/$name.err"; fail=1; return; fi
  echo "ok   $name"
}

case_dir() { mkdir -p "$tmp/$1"; printf '%s' "$2" >"$tmp/$1/passage_retrieval_en.jsonl"; }

case_dir notjson "$good"$'\n''{"input": oops'$'\n'
expect notjson "$tmp/notjson/passage_retrieval_en.jsonl:2: not valid JSON" --tasks passage_retrieval_en --data "$tmp/notjson"
case_dir nocontext '{"input": "q", "answers": ["a"], "length": 1}'$'\n'
expect nocontext "passage_retrieval_en.jsonl:1: field 'context' is missing" --tasks passage_retrieval_en --data "$tmp/nocontext"
case_dir noanswers "$good"$'\n''{"input": "q", "context": "c", "length": 1}'$'\n'
expect noanswers "passage_retrieval_en.jsonl:2: field 'answers' is missing" --tasks passage_retrieval_en --data "$tmp/noanswers"
case_dir wrongtype '{"input": ["q"], "context": "c", "answers": ["a"], "length": 1}'$'\n'
expect wrongtype "passage_retrieval_en.jsonl:1: field 'input' is not a string" --tasks passage_retrieval_en --data "$tmp/wrongtype"
case_dir answerint '{"input": "q", "context": "c", "answers": [7], "length": 1}'$'\n'
expect answerint "passage_retrieval_en.jsonl:1: field 'answers' item 0 is not a string" --tasks passage_retrieval_en --data "$tmp/answerint"
case_dir empty ""
expect empty "passage_retrieval_en.jsonl: empty file" --tasks passage_retrieval_en --data "$tmp/empty"
case_dir othertask '{"input": "q", "context": "c", "answers": ["a"], "length": 1, "dataset": "trec"}'$'\n'
expect othertask "record of task 'trec'" --tasks passage_retrieval_en --data "$tmp/othertask"
mkdir -p "$tmp/gz"; for i in $(seq 200); do echo "$good"; done | gzip -c >"$tmp/gz.full"
head -c $(( $(stat -c %s "$tmp/gz.full") / 2 )) "$tmp/gz.full" >"$tmp/gz/passage_retrieval_en.jsonl.gz"
expect truncgz "passage_retrieval_en.jsonl.gz: compressed data is truncated" --tasks passage_retrieval_en --data "$tmp/gz"
expect unknowntask "nosuchtask" --tasks nosuchtask --data "$tmp/gz"
expect nodata "no records for task passage_count in $tmp/gz" --tasks passage_count --data "$tmp/gz"
expect badshard "--shard" --shard 3/2 --tasks passage_retrieval_en
expect badmem "--max-memory" --max-memory 12Q --tasks passage_retrieval_en
# the memory guard (needs the model: weights 256 MiB leave ~40 MiB under 300M for a ~7k-token
# record that needs ~500 MiB of cache and activations)
expect memguard "more than the" --tasks passage_retrieval_zh --limit 1 --max-memory 300M --threads 2
# --skip-bad-records: past the bad line, counted in run.json
mkdir -p "$tmp/skip"
{ echo '{"input": "", "context": "Paragraph 1: A cat.\n\nParagraph 2: A cat.", "answers": ["1"], "length": 6, "dataset": "passage_count", "_id": "s1"}'
  echo '{"input": broken'; } >"$tmp/skip/passage_count.jsonl"
if "$KVBENCH" run --tasks passage_count --data "$tmp/skip" --skip-bad-records --threads 2 --out "$tmp/skip-out" >/dev/null 2>"$tmp/skip.err" &&
   python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["tasks"]["passage_count"]; assert t["n"]==1 and t["n_bad"]==1, t' "$tmp/skip-out/run.json"; then
  echo "ok   --skip-bad-records"
else echo "FAIL --skip-bad-records"; cat "$tmp/skip.err"; fail=1; fi
exit $fail
