#!/usr/bin/env python3
"""The one table `make bench` ends with: kvbench against llama.cpp and transformers on SmolLM2
(from the JSON files scripts/bench/model.sh left in build/bench: medians of its alternated
rounds), with the machine, the CPU flags that matter, threads, load, date and the command.
Ratios > 1: kvbench faster (prefill: kvbench tok/s / peer tok/s; decode: peer ms/token / kvbench
ms/token), taken round by round and their median printed. Floors: prefill as a fraction of the
CPU's FMA peak from clock and vector width (kvbench bench's formula, printed) and of a measured
sgemm; decode as a fraction of the read-bandwidth floor. Ends with issue 18's prefill targets at
8k. A peer that was not measured is reported as skipped, never filled in. Prints Markdown.
Usage: summary.py [dir] (default build/bench); env BENCH_COMMAND: the command line to print."""
import glob
import json
import os
import statistics
import sys
import time

TARGETS = {"transformers": 1.5, "llama.cpp": 2.5}  # issue 18: 8k prefill, kvbench / peer

FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile")


def cpu():
    info = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            k = k.strip()
            if k in ("model name", "cpu family", "model", "flags") and k not in info:
                info[k] = v.strip()
    flags = set(info.get("flags", "").split())
    name = info.get("model name", "unknown CPU")
    if info.get("cpu family"):
        name += f" (family {info['cpu family']} model {info.get('model', '?')})"
    return name, " ".join(f"{f}:{'yes' if f in flags else 'no'}" for f in FLAGS)


def ratio(k_run, p_run, key, invert=False):
    """median over rounds of kvbench / peer (peer / kvbench with invert), rounds paired"""
    ks, ps = k_run.get(key + "_reps") or [k_run[key]], p_run.get(key + "_reps") or [p_run[key]]
    rs = [(p / k if invert else k / p) for k, p in zip(ks, ps)]
    return statistics.median(rs), rs


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "build/bench"
    print("\n== summary: kvbench vs its peers (SmolLM2-135M Q4_1 GGUF, medians of alternated rounds)")
    try:
        meta = json.load(open(os.path.join(d, "model-meta.json")))
        peers = json.load(open(os.path.join(d, "model-peers.json")))
        ks = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(d, "model-kvbench-*.json")))]
    except (OSError, ValueError) as e:
        print(f"no model benchmark results ({e}): scripts/bench/model.sh failed or did not run")
        return 1
    ks.sort(key=lambda k: meta["weights"].split(",").index(k["weights_dtype"])
            if k["weights_dtype"] in meta["weights"].split(",") else 99)
    name, flags = cpu()
    print(f"command: {os.environ.get('BENCH_COMMAND', 'scripts/bench/model.sh')}")
    print(f"settings: THREADS={meta['threads']} CONTEXTS={meta['contexts']} GEN={meta['gen']} "
          f"KV={meta['kv']} WEIGHTS={meta['weights']} PEERS={meta['peers']}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}; kvbench binary built at {ks[0]['git_commit']}; "
          f"model benchmark wall time {meta['wall_s']} s")
    print(f"machine: {name}, {os.cpu_count()} CPUs; {flags}")
    print(f"load average (1/5/15 min) at start {meta['load_start']}, at end {meta['load_end']} "
          f"({os.cpu_count()} CPUs; above {os.cpu_count()} other jobs took CPU from the measurement)")
    for w, l in meta.get("kvbench_load", {}).items():
        print(f"  during kvbench {w}: {'; '.join(l) if isinstance(l, list) else l}")
    for p, res in peers.items():
        if "load" in res:
            print(f"  during {p}: {res['load']}")
    print(f"kvbench floors measured in the run: read bandwidth {ks[0]['read_bandwidth_gbs']:.1f} GB/s, "
          f"sgemm {ks[0]['sgemm_peak_gflops']:.0f} GFLOP/s on {ks[0]['threads']} threads (medians)")
    for k in ks:
        print(f"kvbench {k['weights_dtype']}: prefill arithmetic {k.get('prefill_arithmetic', '?')}; "
              f"FMA peak {k.get('fma_peak_formula', '?')}")
    names = [p for p in meta["peers"].split(",") if p]
    for p in names:
        res = peers.get(p, {"skipped": "not run"})
        print(f"peer {p}: " + (f"skipped: {res['skipped']}" if "skipped" in res else res.get("version", "?")))
    print(f"{meta.get('reps', 1)} rounds, alternately kvbench or the peers first; every figure a median "
          f"over the rounds, ratios taken round by round")
    print("ratios > 1: kvbench faster (prefill: kvbench tok/s / peer tok/s; decode: peer ms / kvbench ms)")
    print()
    hdr = ["context", "system", "prefill tok/s", "decode ms/token"]
    for p in names:
        hdr += [f"prefill x {p}", f"decode x {p}"]
    hdr += ["prefill % of FMA peak", "prefill % of sgemm", "decode % of bandwidth floor"]
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    targets = []
    for i, r0 in enumerate(ks[0]["runs"]):
        c = str(r0["context"])
        for k in ks:
            r = k["runs"][i]
            row = [c, f"kvbench {k['weights_dtype']}", f"{r['prefill_tok_s']:.1f}", f"{r['decode_ms_per_token']:.2f}"]
            for p in names:
                pr = peers.get(p, {}).get(c)
                if not pr:
                    row += ["skipped"] * 2
                    continue
                pf, pfs = ratio(r, pr, "prefill_tok_s")
                dc, _ = ratio(r, pr, "decode_ms_per_token", invert=True)
                row += [f"{pf:.2f}x", f"{dc:.2f}x"]
                if c == "8192" and p in TARGETS:
                    targets.append((k["weights_dtype"], p, pf, pfs))
            fma = r.get("prefill_fma_fraction")
            row += [f"{100 * fma:.0f}%" if fma else "?", f"{100 * r['prefill_peak_fraction']:.0f}%",
                    f"{100 * r['decode_floor_fraction']:.0f}%"]
            print("| " + " | ".join(row) + " |")
        for p in names:
            pr = peers.get(p, {}).get(c)
            if pr:
                print("| " + " | ".join([c, p, f"{pr['prefill_tok_s']:.1f}", f"{pr['decode_ms_per_token']:.2f}"]
                                        + [""] * (len(hdr) - 4)) + " |")
    if targets:
        print("\nissue 18 targets, 8k prefill (median of the rounds' ratios; each round's in brackets):")
    for w, p, pf, pfs in targets:
        ok = "met" if pf >= TARGETS[p] else "NOT met"
        print(f"  kvbench {w} vs {p}: {pf:.2f}x (target >= {TARGETS[p]}x: {ok}) "
              f"[{', '.join(f'{x:.2f}' for x in pfs)}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
