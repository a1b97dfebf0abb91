#!/usr/bin/env python3
"""Medians of scripts/bench/model.sh's alternated rounds. Reads DIR/rep<r>/model-kvbench-<w>.json
and DIR/rep<r>/model-peers.json for r = 1..REPS and writes DIR/model-kvbench-<w>.json and
DIR/model-peers.json in the one-run layout summary.py reads, every number replaced by its median
over the rounds, each with its per-round values beside it (<key>_reps, in round order) so that
ratios are taken round by round (kvbench and its peer measured minutes apart, under the same
load) and their median reported. A peer skipped in any round is skipped.
Usage: model_median.py DIR REPS WEIGHTS(comma list)"""
import json
import os
import statistics
import sys

RUN_KEYS = ("prefill_s", "prefill_tok_s", "prefill_gflops", "prefill_peak_fraction",
            "prefill_fma_fraction", "decode_ms_per_token", "decode_tok_s", "decode_floor_fraction")
PEER_KEYS = ("prefill_tok_s", "decode_ms_per_token")


def med(rows, key):
    vals = [r[key] for r in rows if key in r]
    return (statistics.median(vals), vals) if vals else (None, [])


def kvbench(d, reps, w):
    runs = [json.load(open(os.path.join(d, f"rep{r}", f"model-kvbench-{w}.json"))) for r in range(1, reps + 1)]
    out = dict(runs[0])
    for key in ("read_bandwidth_gbs", "sgemm_peak_gflops"):
        out[key], out[key + "_reps"] = med(runs, key)
    out["runs"] = []
    for i, r0 in enumerate(runs[0]["runs"]):
        rows = [run["runs"][i] for run in runs]
        assert all(r["context"] == r0["context"] for r in rows), "rounds ran other contexts"
        m = dict(r0)
        for key in RUN_KEYS:
            if key in r0:
                m[key], m[key + "_reps"] = med(rows, key)
        out["runs"].append(m)
    out["reps"] = reps
    return out


def peers(d, reps):
    rounds = [json.load(open(os.path.join(d, f"rep{r}", "model-peers.json"))) for r in range(1, reps + 1)]
    out = {}
    for name, first in rounds[0].items():
        res = [rd.get(name, {"skipped": "not run"}) for rd in rounds]
        skipped = [x["skipped"] for x in res if "skipped" in x]
        if skipped:
            out[name] = {"skipped": skipped[0]}
            continue
        p = {"version": first.get("version", "?"), "load": "; ".join(x.get("load", "?") for x in res)}
        for ctx in (k for k in first if k.isdigit()):
            rows = [x[ctx] for x in res]
            p[ctx] = {}
            for key in PEER_KEYS:
                p[ctx][key], p[ctx][key + "_reps"] = med(rows, key)
        out[name] = p
    return out


def main():
    d, reps, weights = sys.argv[1], int(sys.argv[2]), [w for w in sys.argv[3].split(",") if w]
    if reps < 1:
        sys.exit("model_median.py: REPS must be >= 1")
    for w in weights:
        with open(os.path.join(d, f"model-kvbench-{w}.json"), "w") as f:
            json.dump(kvbench(d, reps, w), f, indent=1)
    with open(os.path.join(d, "model-peers.json"), "w") as f:
        json.dump(peers(d, reps), f, indent=1)


if __name__ == "__main__":
    main()
