#!/usr/bin/env bash
# Installs Slurm (controller, node daemon, client commands) and munge from Debian, for the
# one-node cluster of tests/e2e/slurm.sh. Idempotent. Starts no service: the test runs its own
# private daemons (policy-rc.d keeps the packages' init scripts from starting the system ones).
set -eu
pkgs="slurmctld slurmd slurm-client munge"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
[ -z "$missing" ] && { echo "deps-slurm: all present (slurm $(dpkg-query -W -f='${Version}' slurmctld))"; exit 0; }
SUDO=""; [ "$(id -u)" != 0 ] && SUDO="sudo"
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  trap '$SUDO rm -f "$policy"' EXIT
fi
$SUDO apt-get update -q
# shellcheck disable=SC2086  # $missing is a word list
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends $missing
echo "deps-slurm: installed$missing (slurm $(dpkg-query -W -f='${Version}' slurmctld))"
