#!/usr/bin/env bash
# Tokenizer encode throughput, single thread, kvbench vs Hugging Face tokenizers (Rust, via
# the PyPI package) on the same 1 MB texts in the same run:
#   zh: LongBench multifieldqa_zh contexts (../shared/datasets/longbench-sample), first 1 MB
#   en: Paul Graham essays + LongBench predictions (../shared/datasets), first 1 MB
# Each side: best of 3 encodes of the whole text (load time excluded); the ids must agree.
# Prints one JSON object per (tokenizer, text) and the ratio kvbench/HF (> 1: kvbench faster).
set -u
cd "$(dirname "$0")/../.."
K=${KVBENCH:-bin/kvbench}
PY=${KVBENCH_VENV:-$HOME/.venv-oracle}/bin/python
T=../shared/tokenizers
D=../shared/datasets
G=models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -x "$PY" ] || ! "$PY" -c 'import tokenizers' 2>/dev/null; then
  echo "tokenizer bench: HF tokenizers not installed in $PY; skipped"; exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$PY" - "$D" "$tmp" <<'PY'
import json, os, sys
d, out = sys.argv[1], sys.argv[2]
def cut(s):  # first 1 MB, on a character boundary
    return s.encode()[:1_000_000].decode("utf-8", "ignore")
zh = []
for ln in open(os.path.join(d, "longbench-sample/multifieldqa_zh.jsonl"), encoding="utf-8"):
    zh.append(json.loads(ln)["context"])
en = [open(os.path.join(d, "paul-graham-essays", f), encoding="utf-8", newline="").read()
      for f in sorted(os.listdir(os.path.join(d, "paul-graham-essays"))) if f.endswith(".txt")]
pd = os.path.join(d, "longbench-pred/llama3-8b-instruct")
for f in sorted(os.listdir(pd)):
    if f.endswith(".jsonl"):
        en += [json.loads(ln)["pred"] for ln in open(os.path.join(pd, f), encoding="utf-8")]
for name, parts in (("zh", zh), ("en", en)):
    with open(os.path.join(out, name + ".txt"), "w", encoding="utf-8", newline="") as f:
        f.write(cut("\n".join(parts)))
PY
cat >"$tmp/hf.py" <<'PY'
import json, sys, time
path, text_file = sys.argv[1], sys.argv[2]
if path.endswith(".gguf"):
    import os
    from tokenizers import Tokenizer, pre_tokenizers
    from transformers import AutoTokenizer
    t = AutoTokenizer.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))
    tok = Tokenizer.from_str(t.backend_tokenizer.to_str())
    # the model's own pre-tokenizer (see scripts/oracle/tokenizer_fixtures.py)
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
else:
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(path)
text = open(text_file, encoding="utf-8", newline="").read()
best = 1e30
for _ in range(3):
    t0 = time.perf_counter()
    ids = tok.encode(text, add_special_tokens=False).ids
    best = min(best, time.perf_counter() - t0)
print(json.dumps({"tokens": len(ids), "best_s": best}))
PY
status=0
for tk in llama3-8b llama2-7b mistral-7b smollm2-135m; do
  path=$T/$tk/tokenizer.json
  [ "$tk" = smollm2-135m ] && path=$G
  if [ ! -f "$path" ]; then echo "tokenizer bench: $path missing; skipped"; continue; fi
  for txt in zh en; do
    c=$("$K" tokenize --tokenizer "$path" --no-bos --bench 3 <"$tmp/$txt.txt") || { status=1; continue; }
    h=$(RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false "$PY" "$tmp/hf.py" "$path" "$tmp/$txt.txt" 2>/dev/null) || { echo "HF failed on $tk"; status=1; continue; }
    "$PY" - "$tk" "$txt" "$c" "$h" <<'PY' || status=1
import json, sys
tk, txt, c, h = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
r = {"bench": "tokenizer_encode", "tokenizer": tk, "text": txt, "bytes": c["bytes"],
     "threads": 1, "kvbench_s": c["best_s"], "hf_s": h["best_s"],
     "kvbench_mb_s": round(c["bytes"] / 1e6 / c["best_s"], 3),
     "hf_mb_s": round(c["bytes"] / 1e6 / h["best_s"], 3),
     "ratio": round(h["best_s"] / c["best_s"], 2), "same_ids": c["tokens"] == h["tokens"]}
print(json.dumps(r))
sys.exit(0 if r["same_ids"] else 1)
PY
  done
done
exit $status
