#!/usr/bin/env bash
# CI regression gate: rerun the small slice of every committed baseline and gate it.
#
#   scripts/ci_gate.sh            rerun each baseline's slice, `kvbench gate` it against the baseline
#   scripts/ci_gate.sh --update   rerun the slices and replace the baselines' run.json (review the diff!)
#
# A baseline is a pair in $BASELINES (default results/baselines):
#   NAME.json   run.json of a real run (e.g. smollm2-135m-full.json, smollm2-135m-SnapKV.json)
#   NAME.ci     how to rerun and gate it, two lines:
#                 run: <kvbench run options>      e.g. --model smollm2-135m --type SnapKV --tasks niah ...
#                 gate: <kvbench gate options>    e.g. --max-drop 0 --max-task-drop 0 --min-compression 3
# The rerun goes to $OUT (default a temporary directory). $KVBENCH picks the binary (bin/kvbench).
# Exit: 0 every baseline holds (or there is none), 1 a regression, 2 bad setup or a failed run.
set -u
here=$(cd "$(dirname "$0")" && pwd)
K=${KVBENCH:-$here/../bin/kvbench}
B=${BASELINES:-$here/../results/baselines}
update=0
[ "${1:-}" = "--update" ] && update=1
shopt -s nullglob
cis=("$B"/*.ci)
if [ ${#cis[@]} = 0 ]; then
  echo "ci_gate: no baselines (*.ci) in $B: nothing to gate"
  exit 0
fi
if ! "$K" run --help >/dev/null 2>&1; then
  echo "ci_gate: error: '$K run' is not available (build kvbench with the run verb)" >&2
  exit 2
fi
out=${OUT:-$(mktemp -d /tmp/kvb_ci_gate.XXXXXX)}
mkdir -p "$out" || exit 2
status=0
for ci in "${cis[@]}"; do
  name=$(basename "$ci" .ci)
  base="$B/$name.json"
  run_opts=$(sed -n 's/^run:[[:space:]]*//p' "$ci")
  gate_opts=$(sed -n 's/^gate:[[:space:]]*//p' "$ci")
  if [ -z "$run_opts" ] || { [ "$update" = 0 ] && [ ! -f "$base" ]; }; then
    echo "ci_gate: error: $ci needs a 'run:' line and $base must exist" >&2
    exit 2
  fi
  echo "== $name: kvbench run $run_opts"
  t0=$(date +%s)
  # shellcheck disable=SC2086  # the options are a word list by design
  if ! "$K" run $run_opts --out "$out/$name" >"$out/$name.log" 2>&1; then
    echo "ci_gate: error: the run of $name failed:" >&2
    tail -n 20 "$out/$name.log" >&2
    exit 2
  fi
  echo "   ran in $(( $(date +%s) - t0 )) s"
  if [ "$update" = 1 ]; then
    cp "$out/$name/run.json" "$base" && echo "   updated $base"
    continue
  fi
  # shellcheck disable=SC2086
  "$K" gate "$out/$name" --baseline "$base" $gate_opts
  rc=$?
  case $rc in
    0) ;;
    1) status=1 ;;
    *) echo "ci_gate: error: gate of $name could not run (exit $rc)" >&2; exit 2 ;;
  esac
done
if [ "$update" = 1 ]; then
  echo "ci_gate: baselines updated: review and commit them"
elif [ "$status" = 0 ]; then
  echo "ci_gate: all baselines hold"
else
  echo "ci_gate: REGRESSION (see FAIL lines above)"
fi
exit $status
