#!/usr/bin/env bash
# Runs the Criterion unit test binaries given as arguments, then every tests/e2e/*.sh
# with KVBENCH pointing at the binary under test (E2E=0: unit tests only). Prints a summary and
# the ISA paths the kernels ran on; exits 1 on any failure.
set -u
cd "$(dirname "$0")/.."
fail=0; passed=0; failed_names=()
# Tests append the ISA-specific kernels they ran (tests/unit/numeric_paths.h); summarized below.
export KVBENCH_ISA_LOG="$PWD/${BUILD:-build}/isa.log"
rm -f "$KVBENCH_ISA_LOG"
for t in "$@"; do
  if "$t" --jobs 1 >"$t.log" 2>&1; then
    passed=$((passed+1)); printf 'ok   %s\n' "$(basename "$t")"
  else
    fail=1; failed_names+=("$t"); printf 'FAIL %s\n' "$(basename "$t")"; tail -n 30 "$t.log"
  fi
done
for s in tests/e2e/*.sh; do
  [ -e "$s" ] && [ "${E2E:-1}" = 1 ] || continue
  log="${BUILD:-build}/e2e-$(basename "$s" .sh).log"
  if bash "$s" >"$log" 2>&1; then
    passed=$((passed+1)); printf 'ok   %s\n' "$s"
  else
    fail=1; failed_names+=("$s"); printf 'FAIL %s\n' "$s"; tail -n 30 "$log"
  fi
done
if [ -s "$KVBENCH_ISA_LOG" ]; then
  # one line: "isa: avx2 tested | avx512 tested" or "... | avx512: not on this CPU"
  summary=$(sort -u "$KVBENCH_ISA_LOG" | awk -F': ' '{ split($1, a, " "); st[a[1]] = st[a[1]] == "" || st[a[1]] == $2 ? $2 : "partly tested" }
    END { for (i in st) printf "%s%s\n", i, st[i] == "tested" ? " tested" : ": " st[i] }' | sort | paste -sd'|' | sed 's/|/ | /g')
  echo "isa: $summary (KVBENCH_ISA=${KVBENCH_ISA:-best}, test threads ${KVBENCH_TEST_THREADS:-default})"
fi
echo "tests: $passed passed, ${#failed_names[@]} failed"
exit $fail
