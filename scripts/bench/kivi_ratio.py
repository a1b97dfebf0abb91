#!/usr/bin/env python3
"""KIVI decode attention against the full f16 cache, as ratios of one run (issue 18 item 2).

Reads the JSON lines of scripts/bench/kvcache_attend.c from ROUNDS alternated runs (one process per
method per round, the order reversed every other round so that drift of a shared machine falls
on every method alike) and prints, per KIVI setting: the median decode-attention CPU ms/token of
the rounds, the ratio of medians to full f16, the bandwidth floor (bytes KIVI holds / bytes full
holds: decode must read at least that fraction) and the target.
Usage: kivi_ratio.py FILE.jsonl LOAD_BEFORE LOAD_AFTER"""
import json
import statistics
import sys

TARGETS = {"KIVI-2": 0.5, "KIVI-4": 0.7}


def main():
    path, load0, load1 = sys.argv[1], sys.argv[2], sys.argv[3]
    runs = {}
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            d = json.loads(line)
            runs.setdefault(d["method"], []).append(d)
    if "full-f16" not in runs:
        sys.exit("kivi_ratio: no full-f16 run in " + path)
    def med(m, key):
        return statistics.median(r[key] for r in runs[m])
    full_cpu, full_wall = med("full-f16", "decode_attn_cpu_ms_per_token"), med("full-f16", "decode_attn_ms_per_token")
    full_bytes = runs["full-f16"][0]["bytes_end"]
    n = len(runs["full-f16"])
    prompt = runs["full-f16"][0]["prompt"]
    print(f"KIVI decode attention vs full f16, {prompt}-token cache (SmolLM2 shape, 1 thread), "
          f"median of {n} alternated rounds, load average {load0} before / {load1} after")
    print(f"{'method':10} {'cpu ms/tok':>10} {'wall ms/tok':>11} {'ratio':>6} {'floor':>6} {'target':>7}  ok")
    print(f"{'full-f16':10} {full_cpu:10.2f} {full_wall:11.2f} {1:6.2f} {1:6.2f} {'':>7}")
    ok = True
    for m, target in TARGETS.items():
        if m not in runs:
            continue
        cpu, wall = med(m, "decode_attn_cpu_ms_per_token"), med(m, "decode_attn_ms_per_token")
        ratio, floor = cpu / full_cpu, runs[m][0]["bytes_end"] / full_bytes
        ok &= ratio <= target
        print(f"{m:10} {cpu:10.2f} {wall:11.2f} {ratio:6.2f} {floor:6.2f} {target:7.2f}  "
              f"{'yes' if ratio <= target else 'no'}")
    print("ratio: median CPU time / full's; floor: bytes held / full's (what decode must read)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
