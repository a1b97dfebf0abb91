#!/usr/bin/env bash
# End-to-end: scripts/slurm/longbench.sbatch under a real Slurm. Starts a private one-node cluster
# on localhost (its own munged, slurmctld and slurmd; config, key, sockets, state and logs in a temp
# dir; ports in 16000-16999; no cgroups, no accounting), submits a 2-shard needle slice as the job
# array + dependent merge, and checks that the merged result.json is byte-identical to the
# unsharded run of the same options. Every daemon and job it started is gone when it exits.
# Without Slurm (make deps-slurm installs it): SKIP, exit 0; but FAIL when CI=true.
set -u
K=${KVBENCH:?KVBENCH must point at the kvbench binary}
export PATH=$PATH:/usr/sbin:/sbin
# shellcheck disable=SC2054  # the commas are kvbench list values, not array separators
OPTS=(--model smollm2-135m --tasks niah --lengths 200,300 --depths 0,100)
WAIT_S=${SLURM_TEST_WAIT_S:-300}

# ---- Slurm present?
missing=""
for c in munged slurmctld slurmd sbatch sinfo squeue scontrol scancel; do
  command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
done
if [ -n "$missing" ]; then
  if [ "${CI:-}" = true ]; then
    echo "FAIL slurm: CI=true but Slurm is not installed (missing:$missing); run make deps-slurm"
    exit 1
  fi
  echo "SKIP slurm: Slurm/munge not installed (missing:$missing); make deps-slurm installs them"
  exit 0
fi

T=$(mktemp -d /tmp/kvb_slurm.XXXXXX)
chmod 711 "$T"               # munged wants execute permission for all on its socket's directory
pids=()
cleanup() {
  if [ -S "$T/munge.socket" ] && [ -f "$T/slurm.conf" ]; then
    export SLURM_CONF=$T/slurm.conf                 # never a system-wide cluster
    scancel --user="$(id -un)" >/dev/null 2>&1      # every job of this private cluster
    for _ in $(seq 1 40); do        # let the jobs' slurmstepd finish before slurmd goes
      [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  # slurmstepd daemonizes away from slurmd: stop any left behind by this cluster (they carry our
  # SLURM_CONF in their environment) and the job processes below them.
  local e
  for e in /proc/[0-9]*/environ; do
    if { tr '\0' '\n' <"$e"; } 2>/dev/null | grep -qx "SLURM_CONF=$T/slurm.conf"; then
      p=${e#/proc/}; p=${p%/environ}
      [ "$p" != $$ ] && [ "$p" != "$BASHPID" ] && kill -9 "$p" 2>/dev/null
    fi
  done
  if [ -n "${SLURM_TEST_KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
  echo "FAIL slurm: $*"
  local f
  for f in "$T"/*.log "$T"/out/shards/*.log "$T"/out/merge-*.log; do
    [ -f "$f" ] && { echo "--- $f"; tail -n 25 "$f"; }
  done
  squeue 2>/dev/null
  exit 1
}

job_end() { # job_end ID SECONDS: wait for the job to end, print its final state
  local st="" i
  for ((i = 0; i < $2 * 2; i++)); do
    st=$(scontrol show job -o "$1" 2>/dev/null | sed -n '1s/.*JobState=\([A-Z_]*\).*/\1/p')
    case $st in PENDING|RUNNING|CONFIGURING|COMPLETING|SUSPENDED|"") sleep 0.5 ;; *) break ;; esac
  done
  echo "$st"
}

# ---- ports: a free pair in 16000-16999, away from a system-wide Slurm (6817/6818)
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
base=$((16000 + ($$ % 490) * 2))
for _ in $(seq 1 50); do
  port_free "$base" && port_free $((base + 1)) && break
  base=$((base + 2)); [ "$base" -ge 16998 ] && base=16000
done

# ---- munge: own key, socket, pid and seed files
dd if=/dev/urandom of="$T/munge.key" bs=1024 count=1 2>/dev/null && chmod 400 "$T/munge.key"
munged -F --socket="$T/munge.socket" --key-file="$T/munge.key" --pid-file="$T/munged.pid" \
  --seed-file="$T/munged.seed" --log-file="$T/munged.log" >>"$T/munged.out.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 40); do [ -S "$T/munge.socket" ] && break; sleep 0.25; done
[ -S "$T/munge.socket" ] || fail "munged did not start"

# ---- slurm.conf: one node (this machine, 127.0.0.1) with two stand-in GPUs for --gres=gpu:1
node=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
mkdir -p "$T/state" "$T/spool" "$T/out"
cat >"$T/slurm.conf" <<EOF
ClusterName=kvbtest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$base
SlurmdPort=$((base + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$T/munge.socket
CredType=cred/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
SlurmctldDebug=info
SlurmdDebug=${SLURMD_DEBUG:-info}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
ReturnToService=2
GresTypes=gpu
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:2 State=UNKNOWN
PartitionName=kvbtest Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
# Slurm drops a GPU without a device file; two harmless character devices stand in for them.
printf 'Name=gpu File=/dev/null\nName=gpu File=/dev/zero\n' >"$T/gres.conf"
export SLURM_CONF=$T/slurm.conf
unset SLURM_JOB_ID SLURM_ARRAY_TASK_ID   # in case this runs inside a job of another cluster

slurmctld -D -i -f "$SLURM_CONF" >>"$T/slurmctld.out.log" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" -N "$node" >>"$T/slurmd.out.log" 2>&1 &
pids+=($!)

# ---- the unsharded run (while the daemons come up)
t0=$(date +%s)
"$K" run "${OPTS[@]}" --threads 1 --out "$T/unsharded" >"$T/unsharded.log" 2>&1 || fail "unsharded run"

for _ in $(seq 1 120); do
  state=$(sinfo -h -n "$node" -o %T 2>/dev/null)
  case $state in idle) break ;; *drain*|inval*|down*) sleep 1; fail "node $state: $(sinfo -h -o %E)" ;; esac
  sleep 0.5
done
[ "$state" = idle ] || fail "node not idle after 60 s (state '$state')"
echo "ok   cluster up: slurm $(sinfo -V | awk '{print $2}'), node $node, ports $base/$((base + 1))"

# ---- the array + merge through the script, as documented
t1=$(date +%s)
SBATCH_EXTRA="--cpus-per-task=1 --mem=1G --time=00:10:00" KVBENCH=$K \
  bash scripts/slurm/longbench.sbatch 2 "$T/out" "${OPTS[@]}" >"$T/submit.log" 2>&1 || fail "submission"
read -r jid mid < <(sed -n 's/^submitted shard array \([0-9]*\) .* merge job \([0-9]*\) .*/\1 \2/p' "$T/submit.log")
[ -n "${mid:-}" ] || fail "no job ids in: $(cat "$T/submit.log")"
echo "ok   submitted array $jid and merge $mid"
state=$(job_end "$mid" $((WAIT_S - ($(date +%s) - t1))))
[ "$state" = COMPLETED ] || fail "merge job $mid: state '$state' after at most $WAIT_S s"
echo "ok   merge job completed: $(( $(date +%s) - t1 )) s from submission ($(( $(date +%s) - t0 )) s in all)"

for i in 0 1; do
  [ "$(wc -l <"$T/out/shards/$i/pred/niah.jsonl")" = 2 ] || fail "shard $i does not hold 2 records"
done
cmp "$T/out/result.json" "$T/unsharded/result.json" || fail "merged result.json differs from the unsharded run"
echo "ok   merged result.json is byte-identical to the unsharded run: $(tr -d ' \n' <"$T/out/result.json")"

# ---- one shard resubmitted alone, as documented (--array=<i> ... --resume): still shard 1 of 2
rid=$(sbatch --parsable --array=1 --cpus-per-task=1 --mem=1G --output="$T/resubmit-%a.log" \
      scripts/slurm/longbench.sbatch 2 "$T/out" "${OPTS[@]}" --resume 2>"$T/resubmit.err") ||
  fail "resubmission: $(cat "$T/resubmit.err")"
state=$(job_end "${rid%%;*}" 120)
[ "$state" = COMPLETED ] || fail "resubmitted shard 1: state '$state' ($(cat "$T"/resubmit-*.log))"
grep -q '"shard": {"index": 1, "count": 2}' "$T/out/shards/1/run.json" ||
  fail "resubmitted shard 1 is not shard 1/2"
echo "ok   shard 1 resubmitted alone with --array=1 --resume"

# ---- a failing shard: the merge is cancelled, not left pending forever
SBATCH_EXTRA="--cpus-per-task=1 --mem=1G --time=00:10:00" KVBENCH=$K \
  bash scripts/slurm/longbench.sbatch 2 "$T/bad" --tasks no_such_task >"$T/submit.log" 2>&1 || fail "submission (bad)"
mid=$(sed -n 's/^submitted .* merge job \([0-9]*\) .*/\1/p' "$T/submit.log")
state=$(job_end "$mid" 120)
[ "$state" = CANCELLED ] || fail "merge after a failed shard: state '$state', expected CANCELLED"
[ ! -e "$T/bad/result.json" ] || fail "merge ran after a failed shard"
echo "ok   failed shard: merge job cancelled"
echo "slurm: 0 failed"
