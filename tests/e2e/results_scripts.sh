#!/usr/bin/env bash
# End-to-end: scripts/run_shards.sh, scripts/slurm/longbench.sbatch and scripts/ci_gate.sh, with a
# stub in place of `kvbench run` (it copies the crafted runs of tests/fixtures/results/runs) and the
# real binary for merge and gate; sbatch is a stub that records its arguments.
set -u
K=${KVBENCH:?KVBENCH must point at the kvbench binary}
R=$PWD/tests/fixtures/results/runs
T=$(mktemp -d /tmp/kvb_results_scripts.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
bad() { echo "FAIL $*"; fails=$((fails+1)); }

cat >"$T/kvbench" <<STUB
#!/usr/bin/env bash
if [ "\$1" = run ]; then
  shift; shard=""; out=""
  [ "\${1:-}" = --help ] && exit 0
  echo "\$@" >>"$T/run-args"
  while [ \$# -gt 0 ]; do case \$1 in --shard) shard=\$2; shift 2;; --out) out=\$2; shift 2;; *) shift;; esac; done
  if [ -n "\$shard" ]; then cp -r "$R/shard\${shard%/*}" "\$out"; else cp -r "\${STUB_SRC:-$R/full}" "\$out"; fi
  exit 0
fi
exec "$K" "\$@"
STUB
chmod +x "$T/kvbench"

# ---- run_shards.sh: 3 local shards merged = the unsharded run
KVBENCH=$T/kvbench scripts/run_shards.sh -n 3 -o "$T/local" -j 1 -- --model smollm2-135m --tasks niah \
  >"$T/log" 2>&1 || { bad "run_shards.sh failed"; cat "$T/log"; }
cmp -s "$T/local/result.json" "$R/full/result.json" || bad "run_shards.sh: merged result.json differs"
grep -q -- "--model smollm2-135m --tasks niah --threads 1 --shard 2/3 --out $T/local/shards/2" "$T/run-args" ||
  { bad "run_shards.sh: shard command line"; cat "$T/run-args"; }
scripts/run_shards.sh -o "$T/x" >/dev/null 2>&1; [ $? = 2 ] || bad "run_shards.sh without -n must exit 2"

# ---- longbench.sbatch: submission (array + dependent merge) and one array task
mkdir -p "$T/bin"
cat >"$T/bin/sbatch" <<STUB
#!/usr/bin/env bash
echo "\$*" >>"$T/sbatch-args"
n=\$(wc -l <"$T/sbatch-args"); echo "100\$n"
STUB
chmod +x "$T/bin/sbatch"
PATH=$T/bin:$PATH KVBENCH=$T/kvbench bash scripts/slurm/longbench.sbatch 3 "$T/slurm" --model llama3-8b --type SnapKV \
  >"$T/log" 2>&1 || { bad "sbatch submit failed"; cat "$T/log"; }
grep -q -- "--array=0-2 .*longbench.sbatch 3 $T/slurm --model llama3-8b --type SnapKV" "$T/sbatch-args" ||
  { bad "sbatch: array submission"; cat "$T/sbatch-args"; }
grep -q -- "--dependency=afterok:1001 .*merge $T/slurm/shards/0 $T/slurm/shards/1 $T/slurm/shards/2 --out $T/slurm" "$T/sbatch-args" ||
  { bad "sbatch: dependent merge"; cat "$T/sbatch-args"; }
for i in 0 1 2; do
  SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_COUNT=3 SLURM_CPUS_PER_TASK=4 KVBENCH=$T/kvbench \
    bash scripts/slurm/longbench.sbatch 3 "$T/slurm" --model llama3-8b >/dev/null 2>&1 || bad "array task $i"
done
grep -q -- "--model llama3-8b --threads 4 --shard 1/3 --out $T/slurm/shards/1" "$T/run-args" || bad "array task args"
"$K" merge "$T/slurm/shards/0" "$T/slurm/shards/1" "$T/slurm/shards/2" --out "$T/slurm" >/dev/null &&
  cmp -s "$T/slurm/result.json" "$R/full/result.json" || bad "slurm shards merge"

# ---- ci_gate.sh: hold, regression, update, no baselines
mkdir -p "$T/base"
cp "$R/full/run.json" "$T/base/smol-full.json"
printf 'run: --model smollm2-135m --tasks niah --limit 2\ngate: --max-drop 0 --max-task-drop 0\n' >"$T/base/smol-full.ci"
BASELINES=$T/base KVBENCH=$T/kvbench OUT=$T/ci1 scripts/ci_gate.sh >"$T/log" 2>&1; rc=$?
[ $rc = 0 ] && grep -q "gate: HOLD" "$T/log" || { bad "ci_gate hold (exit $rc)"; cat "$T/log"; }
mkdir -p "$T/worse" && cp "$R/avg_drop.json" "$T/worse/run.json"
STUB_SRC=$T/worse BASELINES=$T/base KVBENCH=$T/kvbench OUT=$T/ci2 scripts/ci_gate.sh >"$T/log" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "FAIL average score" "$T/log" || { bad "ci_gate regression (exit $rc)"; cat "$T/log"; }
STUB_SRC=$T/worse BASELINES=$T/base KVBENCH=$T/kvbench OUT=$T/ci3 scripts/ci_gate.sh --update >"$T/log" 2>&1 &&
  cmp -s "$T/base/smol-full.json" "$R/avg_drop.json" || bad "ci_gate --update"
mkdir -p "$T/empty"
BASELINES=$T/empty KVBENCH=$T/kvbench scripts/ci_gate.sh >"$T/log" 2>&1 && grep -q "nothing to gate" "$T/log" ||
  bad "ci_gate without baselines"

echo "results_scripts: $fails failed"
[ "$fails" = 0 ]
