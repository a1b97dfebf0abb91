#!/usr/bin/env bash
# Downloads the LongBench v1 release (THUDM/LongBench on the Hugging Face hub, data.zip) and
# unpacks it into datasets/longbench/ (where `kvbench run` looks without --data). Needs internet.
#   scripts/fetch_longbench.sh [DEST]     (default datasets/longbench)
# The records are third-party data: they stay out of git (datasets/longbench/ is ignored).
set -eu
cd "$(dirname "$0")/.."
dest=${1:-datasets/longbench}
url=${LONGBENCH_URL:-https://huggingface.co/datasets/THUDM/LongBench/resolve/main/data.zip}
mkdir -p "$dest"
if ls "$dest"/*.jsonl >/dev/null 2>&1; then
  echo "longbench: $dest already holds $(ls "$dest"/*.jsonl | wc -l) task files"; exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "longbench: downloading $url"
if command -v curl >/dev/null; then curl -fL --retry 3 -o "$tmp/data.zip" "$url"
else wget -O "$tmp/data.zip" "$url"; fi
# data.zip holds data/<task>.jsonl and data/<task>_e.jsonl
python3 - "$tmp/data.zip" "$dest" <<'PY'
import os, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
n = 0
for m in z.namelist():
    base = os.path.basename(m)
    if m.endswith(".jsonl") and base and ".." not in m:
        with z.open(m) as src, open(os.path.join(sys.argv[2], base), "wb") as dst:
            dst.write(src.read())
        n += 1
print("longbench: unpacked %d task files into %s" % (n, sys.argv[2]))
PY
