#!/usr/bin/env bash
# kvbench tokenize end to end: ids for the shared tokenizers (the spot checks of
# ../shared/tokenizers/README.md), --no-bos, --decode round trips, --json, the GGUF model by
# path, invalid UTF-8, and one-line errors with exit status 2 for bad input.
set -u
cd "$(dirname "$0")/../.."
K=${KVBENCH:-build/kvbench}
T=../shared/tokenizers
fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

check() { # name expected actual
  if [ "$2" != "$3" ]; then echo "FAIL $1: expected [$2] got [$3]"; fail=1; else echo "ok   $1"; fi
}

check "llama3 ids" "[128000, 9906, 1917, 0]" "$(printf 'Hello world!' | $K tokenize --tokenizer $T/llama3-8b)"
check "llama2 ids" "[1, 15043, 3186, 29991]" "$(printf 'Hello world!' | $K tokenize --tokenizer $T/llama2-7b)"
check "mistral ids" "[1, 22557, 1526, 28808]" "$(printf 'Hello world!' | $K tokenize --model $T/mistral-7b/tokenizer.json)"
check "llama3 --no-bos" "[9906, 1917, 0]" "$(printf 'Hello world!' | $K tokenize --tokenizer $T/llama3-8b --no-bos)"
check "special token in text" "[128000, 128006, 882, 128007]" \
  "$(printf '<|start_header_id|>user<|end_header_id|>' | $K tokenize --tokenizer $T/llama3-8b)"
check "model name (shared tokenizer)" "[128000, 13347]" "$(printf 'Hi' | $K tokenize --model llama3-8b)"
check "empty input" "[1]" "$(printf '' | $K tokenize --tokenizer $T/llama2-7b)"

text='Round trip: 中文, emoji 👨‍👩‍👧, tabs	and  spaces.'
for m in llama3-8b llama2-7b mistral-7b; do
  got=$(printf '%s' "$text" | $K tokenize --tokenizer $T/$m | $K tokenize --tokenizer $T/$m --decode)
  check "$m round trip" "$text" "$got"
done
check "decode --json" '"Hello world!"' "$(echo '[1, 15043, 3186, 29991]' | $K tokenize --tokenizer $T/llama2-7b --decode --json)"
check "decode --keep-special" '<s> Hello' "$(echo '[1, 15043]' | $K tokenize --tokenizer $T/llama2-7b --decode --keep-special)"

# invalid UTF-8 is replaced by U+FFFD first (as Python's decode(errors='replace'))
a=$(printf 'a\xffb' | $K tokenize --tokenizer $T/llama3-8b)
b=$(printf 'a\xef\xbf\xbdb' | $K tokenize --tokenizer $T/llama3-8b)
check "invalid utf-8" "$b" "$a"

# the embedded model: a .gguf path and its directory
G=models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf
if [ -f "$G" ]; then
  check "gguf ids" "[1, 19556, 905, 17]" "$(printf 'Hello world!' | $K tokenize --model $G)"
  check "gguf dir" "[19556, 905, 17]" "$(printf 'Hello world!' | $K tokenize --model models/smollm2-135m --no-bos)"
else
  echo "skip gguf checks: $G missing (make model)"
fi

# bad input: one line on stderr naming the file, exit 2, nothing on stdout
expect_err() { # name needle cmd...
  local name=$1 needle=$2; shift 2
  out=$("$@" 2>"$tmp/err" </dev/null); rc=$?
  lines=$(wc -l <"$tmp/err")
  if [ $rc -ne 2 ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$needle" "$tmp/err" || [ -n "$out" ]; then
    echo "FAIL $name: rc=$rc lines=$lines stderr=$(cat "$tmp/err")"; fail=1
  else
    echo "ok   $name"
  fi
}
mkdir "$tmp/empty"
expect_err "model without tokenizer" "$tmp/empty: no tokenizer" $K tokenize --model "$tmp/empty"
echo 'not json' >"$tmp/bad.json"
expect_err "malformed tokenizer.json" "$tmp/bad.json: not valid JSON" $K tokenize --tokenizer "$tmp/bad.json"
echo '{"model":{"type":"Unigram","vocab":[]}}' >"$tmp/uni.json"
expect_err "unigram" "not supported" $K tokenize --tokenizer "$tmp/uni.json"
printf 'GGUF\x03\x00\x00\x00' >"$tmp/trunc.gguf"
expect_err "truncated gguf" "$tmp/trunc.gguf" $K tokenize --model "$tmp/trunc.gguf"
expect_err "both flags" "exactly one" $K tokenize --model a --tokenizer b
expect_err "missing file" "/nonexistent/x.json" $K tokenize --tokenizer /nonexistent/x.json
out=$(echo '[1, "x"]' | $K tokenize --tokenizer $T/llama2-7b --decode 2>"$tmp/err"); rc=$?
check "decode bad ids exit" "2" "$rc"
out=$(echo '[1, 99999]' | $K tokenize --tokenizer $T/llama2-7b --decode 2>"$tmp/err"); rc=$?
check "decode out-of-range exit" "2" "$rc"

# any bytes on stdin: no crash
head -c 50000 /dev/urandom >"$tmp/rand"
$K tokenize --tokenizer $T/llama3-8b <"$tmp/rand" >"$tmp/ids" && $K tokenize --tokenizer $T/llama3-8b --decode <"$tmp/ids" >/dev/null
check "random bytes" "0" "$?"
$K tokenize --tokenizer $T/mistral-7b <"$tmp/rand" >/dev/null
check "random bytes (sentencepiece)" "0" "$?"

exit $fail
