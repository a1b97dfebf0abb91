#!/usr/bin/env bash
# make bench-deps: builds the peer virtualenv of `make bench` (llama-cpp-python, torch,
# transformers, gguf) OUTSIDE the repository, at $KVBENCH_VENV (default ~/.venv-oracle, the path
# scripts/bench.sh and the oracle scripts use), from the pins in scripts/bench/requirements.txt.
# Idempotent: when the venv was built from the same requirements file and its imports work, it
# says so and returns at once. A changed requirements file reinstalls into the same venv.
# Env: KVBENCH_VENV, PYTHON (the interpreter the venv is made from; default python3),
#      CMAKE_BUILD_PARALLEL_LEVEL (jobs for llama.cpp's build; default: nproc).
set -eu
cd "$(dirname "$0")/.."
VENV="${KVBENCH_VENV:-$HOME/.venv-oracle}"
PYTHON="${PYTHON:-python3}"
REQ=scripts/bench/requirements.txt
STAMP="$VENV/.kvbench-requirements.sha256"
want=$(sha256sum "$REQ" | cut -d' ' -f1)

check_imports() {
  "$VENV/bin/python" - <<'PY'
import importlib, importlib.metadata as md, sys
bad = []
for m, dist in (("llama_cpp", "llama-cpp-python"), ("torch", "torch"), ("transformers", "transformers"),
                ("gguf", "gguf"), ("tokenizers", "tokenizers"), ("safetensors", "safetensors"),
                ("numpy", "numpy"), ("jieba", "jieba"), ("rouge", "rouge"), ("fuzzywuzzy", "fuzzywuzzy"),
                ("accelerate", "accelerate"), ("kvpress", "kvpress"), ("jsonschema", "jsonschema")):
    try:
        importlib.import_module(m)
        print(f"  {m} {md.version(dist)}")
    except Exception as e:  # report every failing import, not just the first
        bad.append(f"{m}: {e}")
if bad:
    print("bench-deps: imports failing:\n  " + "\n  ".join(bad), file=sys.stderr)
    sys.exit(1)
PY
}

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  if check_imports; then
    echo "bench-deps: venv ready at $VENV (pins of $REQ)"; exit 0
  fi
  echo "bench-deps: venv at $VENV is stamped but imports fail: reinstalling" >&2
fi

# llama-cpp-python is a source distribution: it needs cmake and a C/C++ compiler.
need=""
command -v cmake >/dev/null || need="$need cmake"
command -v cc >/dev/null && command -v c++ >/dev/null || need="$need build-essential"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || need="$need python3-venv"
if [ -n "$need" ]; then
  echo "bench-deps: installing$need" >&2
  SUDO=""; [ "$(id -u)" != 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $need
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -r "$REQ"
check_imports
echo "$want" >"$STAMP"
echo "bench-deps: venv ready at $VENV"
