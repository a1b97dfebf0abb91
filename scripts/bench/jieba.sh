#!/usr/bin/env bash
# Chinese word segmentation throughput: kvbench's C jieba (lib/text/jieba.c) against Python
# jieba 0.42.1 (the oracle venv), on the same texts in the same run, one thread each.
# Texts: contexts of the LongBench records in ../shared/datasets/longbench-sample, taken in turn
# from multifieldqa_zh and passage_retrieval_zh until $JIEBA_BENCH_BYTES (default 1500000).
# Both sides: best of $JIEBA_BENCH_REPEAT passes (default 2), dictionary load timed apart.
# Prints one JSON line per implementation and the ratio; fails if C is slower than Python or if
# the two disagree on the number of tokens.
set -eu
cd "$(dirname "$0")/../.."
VENV="${KVBENCH_VENV:-$HOME/.venv-oracle}"
PY="$VENV/bin/python"
BYTES="${JIEBA_BENCH_BYTES:-1500000}"
REPEAT="${JIEBA_BENCH_REPEAT:-2}"
DATA="${KVBENCH_DATASETS:-../shared/datasets}"
out=build/bench/jieba
mkdir -p "$out"
[ -f build/libkvbench.a ] || make -j2 build/libkvbench.a >/dev/null
${CC:-cc} -std=c11 -O2 -D_GNU_SOURCE -Ilib -o "$out/jieba_speed" scripts/bench/jieba_speed.c \
  build/libkvbench.a -lcjson -lpcre2-8 -lz -lopenblas -lm -lpthread
if ! "$PY" -c 'import jieba' 2>/dev/null; then
  echo "jieba: peer missing ($PY cannot import jieba); skipped"; exit 0
fi
# the corpus file: records "<byte length>\n<bytes>"
"$PY" - "$DATA" "$BYTES" "$out/corpus.txt" <<'PYEOF'
import json, sys
data, limit, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
files = [open(f"{data}/longbench-sample/{t}.jsonl", encoding="utf-8")
         for t in ("multifieldqa_zh", "passage_retrieval_zh")]
total = 0
with open(path, "wb") as out:
    while total < limit:
        got = False
        for f in files:
            line = f.readline()
            if not line or total >= limit:
                continue
            b = json.loads(line)["context"].encode("utf-8")
            out.write(b"%d\n" % len(b) + b)
            total += len(b)
            got = True
        if not got:
            break
PYEOF
c=$("$out/jieba_speed" "$out/corpus.txt" "$REPEAT")
p=$("$PY" - "$out/corpus.txt" "$REPEAT" <<'PYEOF'
import json, logging, sys, time
import jieba
jieba.setLogLevel(logging.WARNING)
path, repeat = sys.argv[1], int(sys.argv[2])
t0 = time.perf_counter()
jieba.initialize()  # from jieba's own cache file in the temp dir when present
load = time.perf_counter() - t0
raw = open(path, "rb").read()
texts, p = [], 0
while p < len(raw):
    nl = raw.index(b"\n", p)
    n = int(raw[p:nl])
    texts.append(raw[nl + 1:nl + 1 + n].decode("utf-8"))
    p = nl + 1 + n
best = 1e30
for _ in range(repeat):
    t0 = time.perf_counter()
    tokens = sum(len(list(jieba.cut(t, cut_all=False, HMM=True))) for t in texts)
    best = min(best, time.perf_counter() - t0)
nbytes = sum(len(t.encode("utf-8")) for t in texts)
print(json.dumps({"impl": "python-jieba-" + jieba.__version__, "load_s": round(load, 4),
                  "texts": len(texts), "bytes": nbytes, "tokens": tokens,
                  "seconds": round(best, 4), "mb_per_s": round(nbytes / best / 1e6, 3)}))
PYEOF
)
echo "$c"
echo "$p"
"$PY" - "$c" "$p" <<'PYEOF'
import json, platform, subprocess, sys
c, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True,
                        text=True).stdout.strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
           platform.processor())
ratio = c["mb_per_s"] / p["mb_per_s"]
print(json.dumps({"bench": "jieba", "commit": commit, "cpu": cpu, "threads": 1,
                  "bytes": c["bytes"], "c_mb_per_s": c["mb_per_s"], "py_mb_per_s": p["mb_per_s"],
                  "speedup": round(ratio, 2), "c_load_s": c["load_s"], "py_load_s": p["load_s"]}))
if c["tokens"] != p["tokens"] or c["bytes"] != p["bytes"]:
    sys.exit("jieba: C and Python disagree on tokens (%d vs %d)" % (c["tokens"], p["tokens"]))
if ratio < 1:
    sys.exit("jieba: C segmentation slower than Python (%.2fx)" % ratio)
PYEOF
