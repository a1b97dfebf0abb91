#!/usr/bin/env bash
# Runs the Criterion unit test binaries given as arguments, then every tests/e2e/*.sh
# with KVBENCH pointing at the binary under test. Prints a summary; exits 1 on any failure.
set -u
cd "$(dirname "$0")/.."
fail=0; passed=0; failed_names=()
for t in "$@"; do
  if "$t" --jobs 1 >"$t.log" 2>&1; then
    passed=$((passed+1)); printf 'ok   %s\n' "$(basename "$t")"
  else
    fail=1; failed_names+=("$t"); printf 'FAIL %s\n' "$(basename "$t")"; tail -n 30 "$t.log"
  fi
done
for s in tests/e2e/*.sh; do
  [ -e "$s" ] || continue
  log="${BUILD:-build}/e2e-$(basename "$s" .sh).log"
  if bash "$s" >"$log" 2>&1; then
    passed=$((passed+1)); printf 'ok   %s\n' "$s"
  else
    fail=1; failed_names+=("$s"); printf 'FAIL %s\n' "$s"; tail -n 30 "$log"
  fi
done
echo "tests: $passed passed, ${#failed_names[@]} failed"
exit $fail
