#!/usr/bin/env bash
# Bad input to `kvbench eval`: each case must exit 2 with one line naming the file (and line).
set -uo pipefail
cd "$(dirname "$0")/../.."
KVBENCH=${KVBENCH:-bin/kvbench}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
failed=0
ok='{"pred": "x", "answers": ["x"], "all_classes": null, "length": 1}'
# case NAME FILE CONTENT EXPECTED-SUBSTRING [extra args]
case_() {
  local name=$1 file=$2 content=$3 want=$4; shift 4
  local d="$tmp/$name"; mkdir -p "$d"
  printf '%b' "$content" >"$d/$file"
  "$KVBENCH" eval "$d" "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  if [ $rc -ne 2 ] || ! grep -qF -- "$want" "$tmp/err" || [ "$(wc -l <"$tmp/err")" -ne 1 ]; then
    echo "FAIL $name: rc=$rc stderr=$(cat "$tmp/err")"; failed=1
  else
    echo "ok   $name: $(cat "$tmp/err")"
  fi
}
case_ not_json     qasper.jsonl "$ok\n{\"pred\": \n"                 "qasper.jsonl:2: not valid JSON"
case_ blank_line   qasper.jsonl "$ok\n\n$ok\n"                       "qasper.jsonl:2: not valid JSON"
case_ extra_data   qasper.jsonl "$ok {}\n"                           "qasper.jsonl:1: extra data"
case_ not_object   qasper.jsonl "[1, 2]\n"                           "qasper.jsonl:1: not a JSON object"
case_ no_pred      qasper.jsonl '{"answers": ["x"], "all_classes": null}\n' "qasper.jsonl:1: field 'pred' is missing"
case_ no_answers   qasper.jsonl '{"pred": "x", "all_classes": null}\n'      "qasper.jsonl:1: field 'answers' is missing"
case_ no_classes   qasper.jsonl '{"pred": "x", "answers": ["x"]}\n'         "qasper.jsonl:1: field 'all_classes' is missing"
case_ pred_type    qasper.jsonl '{"pred": 3, "answers": ["x"], "all_classes": null}\n' "field 'pred' is not a string"
case_ answers_type qasper.jsonl '{"pred": "x", "answers": "x", "all_classes": null}\n' "field 'answers' is not a list"
case_ answer_type  qasper.jsonl '{"pred": "x", "answers": ["x", 5], "all_classes": null}\n' "answers[1] is not a string"
case_ classes_type trec.jsonl   '{"pred": "x", "answers": ["x"], "all_classes": "x"}\n' "neither null nor a list"
case_ classes_null trec.jsonl   "$ok\n"                              "trec.jsonl:1: all_classes is null"
case_ length_type  qasper.jsonl '{"pred": "x", "answers": ["x"], "all_classes": null, "length": "9"}\n' "field 'length' is not a number"
case_ length_e     qasper.jsonl '{"pred": "x", "answers": ["x"], "all_classes": null}\n' "field 'length' is missing" --e
case_ dup_field    qasper.jsonl '{"pred": "x", "pred": "y", "answers": ["x"], "all_classes": null}\n' "field 'pred' appears twice"
# a \u0000 escape (cJSON would cut the string there; refused rather than scored differently)
d="$tmp/nul"; mkdir -p "$d"; printf '%s\n' '{"pred": "a\u0000b", "answers": ["x"], "all_classes": null}' >"$d/qasper.jsonl"
"$KVBENCH" eval "$d" >/dev/null 2>"$tmp/err"; rc=$?
{ [ $rc -eq 2 ] && grep -qF 'qasper.jsonl:1: a string holds \u0000' "$tmp/err"; } || { echo "FAIL nul: $rc $(cat "$tmp/err")"; failed=1; }
case_ bad_utf8     qasper.jsonl "$ok\n{\"pred\": \"\xff\", \"answers\": [], \"all_classes\": null}\n" "qasper.jsonl:2: invalid UTF-8"
case_ empty_file   qasper.jsonl ""                                   "qasper.jsonl: no predictions (empty file)"
case_ unknown_task foo.jsonl    "$ok\n"                              "foo.jsonl: unknown task 'foo'"
case_ no_paragraph passage_retrieval_en.jsonl "$ok\n"                "passage_retrieval_en.jsonl:1: answer 'x' has no 'Paragraph <number>'"
case_ no_files     notes.txt    "hello\n"                            "no prediction files"
# two files of one task (eval.py would silently keep the later one)
d="$tmp/dup"; mkdir -p "$d"; echo "$ok" >"$d/qasper.jsonl"; echo "$ok" >"$d/qasper.old.jsonl"
"$KVBENCH" eval "$d" >/dev/null 2>"$tmp/err"; rc=$?
{ [ $rc -eq 2 ] && grep -q "second prediction file for task 'qasper'" "$tmp/err"; } || { echo "FAIL dup: $rc $(cat "$tmp/err")"; failed=1; }
# not a directory, bad task set, no argument
"$KVBENCH" eval "$tmp/nope" 2>/dev/null; [ $? -eq 2 ] || { echo "FAIL missing dir"; failed=1; }
"$KVBENCH" eval "$tmp/dup" --tasks nosuch 2>/dev/null; [ $? -eq 2 ] || { echo "FAIL bad set"; failed=1; }
"$KVBENCH" eval 2>/dev/null; [ $? -eq 2 ] || { echo "FAIL no arg"; failed=1; }
# zh tasks segment with jieba: scored when its data is there, else refused with a clear message
d="$tmp/zh"; mkdir -p "$d"; echo '{"pred": "你好", "answers": ["你好"], "all_classes": null, "length": 1}' >"$d/dureader.jsonl"
if [ -e "${KVBENCH_JIEBA_DIR:-/usr/lib/python3/dist-packages/jieba}/dict.txt" ]; then
  "$KVBENCH" eval "$d" >/dev/null 2>"$tmp/err" && grep -q '"dureader": 100.0' "$d/result.json" ||
    { echo "FAIL zh score: $(cat "$tmp/err")"; failed=1; }
fi
KVBENCH_JIEBA_DIR=$tmp/nojieba "$KVBENCH" eval "$d" >/dev/null 2>"$tmp/err"; rc=$?
{ [ $rc -eq 2 ] && grep -q "zh tasks need the jieba segmenter" "$tmp/err"; } || { echo "FAIL zh message: $rc $(cat "$tmp/err")"; failed=1; }
exit $failed
