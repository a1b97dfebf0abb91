#!/usr/bin/env bash
# Installs the Debian packages kvbench builds and tests with. Idempotent.
set -eu
pkgs="build-essential libcjson-dev zlib1g-dev libcriterion-dev libpcre2-dev libopenblas-dev
      python3 python3-pip clang libclang-rt-14-dev python3-jieba"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
[ -z "$missing" ] && { echo "deps: all present"; exit 0; }
SUDO=""; [ "$(id -u)" != 0 ] && SUDO="sudo"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
