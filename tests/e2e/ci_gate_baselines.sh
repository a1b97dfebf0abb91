#!/usr/bin/env bash
# The committed CI baselines are valid run.json files and hold against themselves under their own
# gate options; a run two needle cells worse (or half as compressed) fails the gate with exit 1.
# So the CI gate (scripts/ci_gate.sh) can fail.
set -u
K=${KVBENCH:?}
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
worsen() { # in out score_delta compression_factor
  python3 - "$@" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); d = float(sys.argv[3]); f = float(sys.argv[4])
for t in r["tasks"].values():
    t["score"] = max(0.0, round(t["score"] - d, 2))
    t["memory"]["compression_ratio"] = t["memory"]["compression_ratio"] * f
r["summary"]["avg_tasks"] = max(0.0, round(r["summary"]["avg_tasks"] - d, 2))
r["summary"]["compression_ratio"] = r["summary"]["compression_ratio"] * f
json.dump(r, open(sys.argv[2], "w"))
PY
}
for ci in results/baselines/*.ci; do
  b=${ci%.ci}.json
  gate_opts=$(sed -n 's/^gate:[[:space:]]*//p' "$ci")
  # shellcheck disable=SC2086
  "$K" gate "$b" --baseline "$b" $gate_opts >/dev/null 2>&1 || { echo "FAIL $b does not hold against itself"; fail=1; }
  for case in "34 1" "0 0.5"; do
    set -- $case
    worsen "$b" "$tmp/worse.json" "$1" "$2" || { echo "FAIL cannot build a worse run"; fail=1; continue; }
    # shellcheck disable=SC2086
    "$K" gate "$tmp/worse.json" --baseline "$b" $gate_opts >/dev/null 2>&1; rc=$?
    if [ $rc = 1 ]; then echo "ok   $(basename "$b"): score -$1, compression x$2 -> exit 1"
    else echo "FAIL $(basename "$b"): score -$1, compression x$2 -> exit $rc (want 1)"; fail=1; fi
  done
done
exit $fail
