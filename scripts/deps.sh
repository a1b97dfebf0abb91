#!/usr/bin/env bash
# Installs the Debian packages kvbench builds and tests with (python3-matplotlib: the plots of
# `kvbench report --plot`). Idempotent.
set -eu
pkgs="build-essential libcjson-dev zlib1g-dev libcriterion-dev libpcre2-dev libopenblas-dev
      python3 python3-pip clang libclang-rt-14-dev python3-jieba python3-matplotlib"
# Debian's Python modules live in /usr/bin/python3; another python3 first on PATH (pyenv, a venv)
# does not see them: say so, since `kvbench report --plot` runs $KVBENCH_PYTHON or python3.
hint() {
  if ! python3 -c "import matplotlib" 2>/dev/null && /usr/bin/python3 -c "import matplotlib" 2>/dev/null; then
    echo "deps: $(command -v python3) has no matplotlib; for plots: export KVBENCH_PYTHON=/usr/bin/python3"
  fi
}
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
[ -z "$missing" ] && { echo "deps: all present"; hint; exit 0; }
SUDO=""; [ "$(id -u)" != 0 ] && SUDO="sudo"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
hint
