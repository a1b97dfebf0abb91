#!/usr/bin/env python3
"""Plots of kvbench runs, called by `kvbench report RUN... --plot DIR` (or directly).

usage: plot.py --out DIR RUN...     (RUN: a run directory or its run.json)

Writes PNG files into DIR:
  score_vs_compression.png  average score vs compression ratio, one point per run
  tasks.png                 per-task scores, one bar per run
  kv_bytes.png              KV bytes held over the decode steps (memory/<task>.jsonl traces:
                            mean over the records still decoding at that step), per task
  needle_<run>.png          needle-in-a-haystack heatmap (context length x needle depth,
                            colour = score) for each run with needle cells
  needle_grid.png           the heatmaps of all such runs side by side, one colour scale
Needs matplotlib (and nothing else); exits 3 with a message when it is missing.
"""
import argparse
import json
import os
import re
import sys

SCHEMA_VERSION = 1


def fail(msg, code=2):
    print("plot.py: error: " + msg, file=sys.stderr)
    sys.exit(code)


def load_run(path):
    d = path if os.path.isdir(path) else os.path.dirname(path) or "."
    f = os.path.join(path, "run.json") if os.path.isdir(path) else path
    try:
        with open(f) as fh:
            run = json.load(fh)
    except (OSError, ValueError) as e:
        fail("%s: cannot read run.json: %s" % (f, e))
    if not isinstance(run, dict) or run.get("kind") != "kvbench-run":
        fail("%s: not a kvbench run.json" % f)
    if not isinstance(run.get("schema_version"), int) or run["schema_version"] > SCHEMA_VERSION:
        fail("%s: schema_version %r is not one this script reads (%d)"
             % (f, run.get("schema_version"), SCHEMA_VERSION))
    run["_dir"] = d
    run["_file"] = f
    return run


def label_of(run):
    m = run["method"]
    params = {k: v for k, v in (m.get("params") or {}).items() if k != "method"}
    short = " ".join("%s=%s" % (k, v) for k, v in list(params.items())[:3])
    return (m["name"] + (" " + short if short else "")).strip()


def unique_labels(runs):
    base = [label_of(r) for r in runs]
    return ["%s (%s)" % (l, os.path.basename(os.path.abspath(r["_dir"]))) if base.count(l) > 1 else l
            for l, r in zip(base, runs)]


def safe(name):
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name)[:80]


def plot_score_vs_compression(plt, runs, labels, out):
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    use16 = all("avg_en16" in r["summary"] for r in runs)
    key = "avg_en16" if use16 else "avg_tasks"
    for r, l in zip(runs, labels):
        x, y = r["summary"]["compression_ratio"], r["summary"][key]
        ax.scatter([x], [y], s=40)
        ax.annotate(l, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.margins(x=0.35, y=0.15)  # room for the labels
    ax.set_xlabel("compression ratio (full 16-bit KV bytes / bytes held)")
    ax.set_ylabel("average score (%s)" % ("LongBench en16" if use16 else "tasks of the run"))
    ax.set_title("Score vs KV-cache compression (%s)" % runs[0]["model"]["name"])
    ax.grid(alpha=0.3)
    fig.tight_layout()
    p = os.path.join(out, "score_vs_compression.png")
    fig.savefig(p, dpi=120)
    plt.close(fig)
    return p


def plot_tasks(plt, runs, labels, out):
    tasks = []
    for r in runs:
        for t in r["tasks"]:
            if t not in tasks:
                tasks.append(t)
    width = 0.8 / len(runs)
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(tasks) + 2), 4.5))
    for i, (r, l) in enumerate(zip(runs, labels)):
        xs = [k + i * width - 0.4 + width / 2 for k in range(len(tasks))]
        ys = [r["tasks"][t]["score"] if t in r["tasks"] else 0 for t in tasks]
        ax.bar(xs, ys, width, label=l)
    ax.set_xticks(range(len(tasks)))
    ax.set_xticklabels(tasks, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("score")
    ax.set_title("Per-task scores")
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    p = os.path.join(out, "tasks.png")
    fig.savefig(p, dpi=120)
    plt.close(fig)
    return p


def record_steps(rec):
    """KV bytes after each decode step of one memory-trace line, and whether they were measured.

    Preferred: "kv_bytes": [bytes after step 1, 2, ...]. Traces with only the end points
    ({"prefill": {"kv_bytes"}, "end": {"kv_bytes"}, "generated_tokens"}) are drawn as the straight
    line between them (a cache that only appends grows linearly; KIVI's grouping is lost)."""
    steps = rec.get("kv_bytes")
    if isinstance(steps, list):
        return [float(b) for b in steps], True
    pre, end, n = rec["prefill"]["kv_bytes"], rec["end"]["kv_bytes"], int(rec["generated_tokens"])
    return [pre + (end - pre) * (s + 1) / n for s in range(n)], False


def mean_trace(path):
    """Mean KV bytes per decode step over the records of one memory/<task>.jsonl still decoding
    at that step; second value: False when some trace was interpolated."""
    sums, counts, measured = [], [], True
    with open(path) as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                steps, m = record_steps(json.loads(line))
            except (ValueError, KeyError, TypeError, ZeroDivisionError):
                fail("%s:%d: not a memory trace line (needs \"kv_bytes\": [...], or prefill/end "
                     "points and generated_tokens)" % (path, n))
            measured &= m
            for s, b in enumerate(steps):
                if s == len(sums):
                    sums.append(0.0)
                    counts.append(0)
                sums[s] += b
                counts[s] += 1
    return [s / c for s, c in zip(sums, counts)], measured


def plot_kv_bytes(plt, runs, labels, out):
    traces = {}
    measured = True
    for r, l in zip(runs, labels):
        for t in r["tasks"]:
            f = os.path.join(r["_dir"], "memory", t + ".jsonl")
            if os.path.isfile(f):
                tr, m = mean_trace(f)
                measured &= m
                if tr:
                    traces.setdefault(t, []).append((l, tr))
    if not traces:
        print("plot.py: no memory/<task>.jsonl traces in these runs: kv_bytes.png skipped",
              file=sys.stderr)
        return None
    names = list(traces)
    cols = min(3, len(names))
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.3 * rows), squeeze=False)
    for k, t in enumerate(names):
        ax = axes[k // cols][k % cols]
        for l, tr in traces[t]:
            ax.plot(range(1, len(tr) + 1), [b / 2**20 for b in tr], label=l)
        ax.set_title(t, fontsize=9)
        ax.set_xlabel("decode step")
        ax.set_ylabel("KV MiB held (mean)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    for k in range(len(names), rows * cols):
        axes[k // cols][k % cols].axis("off")
    if not measured:
        fig.suptitle("(some traces interpolated between the end of prefill and the end of decode)",
                     fontsize=8)
    fig.tight_layout()
    p = os.path.join(out, "kv_bytes.png")
    fig.savefig(p, dpi=120)
    plt.close(fig)
    return p


def needle_cells(run):
    for name, t in run["tasks"].items():
        if t.get("cells"):
            return name, t["cells"]
    return None, None


def heat(ax, cells, title, plt):
    lengths = sorted({c["length"] for c in cells})
    depths = sorted({c["depth"] for c in cells})
    grid = [[float("nan")] * len(lengths) for _ in depths]
    for c in cells:
        grid[depths.index(c["depth"])][lengths.index(c["length"])] = c["score"]
    im = ax.imshow(grid, cmap="RdYlGn", vmin=0, vmax=100, aspect="auto", origin="upper")
    ax.set_xticks(range(len(lengths)))
    ax.set_xticklabels([str(x) for x in lengths], fontsize=7)
    ax.set_yticks(range(len(depths)))
    ax.set_yticklabels(["%d%%" % d for d in depths], fontsize=7)
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("needle depth")
    ax.set_title(title, fontsize=9)
    if len(lengths) * len(depths) <= 120:
        for i, row in enumerate(grid):
            for j, v in enumerate(row):
                if v == v:
                    ax.text(j, i, "%.0f" % v, ha="center", va="center", fontsize=6)
    return im


def plot_needles(plt, runs, labels, out):
    have = [(r, l) + needle_cells(r) for r, l in zip(runs, labels)]
    have = [h for h in have if h[2]]
    written = []
    for r, l, task, cells in have:
        fig, ax = plt.subplots(figsize=(6, 4.5))
        im = heat(ax, cells, "%s: %s (%s)" % (task, l, r["model"]["name"]), plt)
        fig.colorbar(im, ax=ax, label="score")
        fig.tight_layout()
        p = os.path.join(out, "needle_%s.png" % safe(l))
        fig.savefig(p, dpi=120)
        plt.close(fig)
        written.append(p)
    if len(have) > 1:
        cols = min(3, len(have))
        rows = (len(have) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 4.2 * rows), squeeze=False,
                                 constrained_layout=True)
        im = None
        for k, (r, l, task, cells) in enumerate(have):
            im = heat(axes[k // cols][k % cols], cells, l, plt)
        for k in range(len(have), rows * cols):
            axes[k // cols][k % cols].axis("off")
        fig.colorbar(im, ax=axes, label="score", shrink=0.9)
        fig.suptitle("Needle in a haystack (%s)" % have[0][0]["model"]["name"])
        p = os.path.join(out, "needle_grid.png")
        fig.savefig(p, dpi=120)
        plt.close(fig)
        written.append(p)
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="directory for the PNG files")
    ap.add_argument("runs", nargs="+", help="run directories or run.json files")
    a = ap.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        fail("matplotlib is not installed: pip install matplotlib", 3)
    runs = [load_run(p) for p in a.runs]
    labels = unique_labels(runs)
    os.makedirs(a.out, exist_ok=True)
    written = [plot_score_vs_compression(plt, runs, labels, a.out),
               plot_tasks(plt, runs, labels, a.out),
               plot_kv_bytes(plt, runs, labels, a.out)]
    written += plot_needles(plt, runs, labels, a.out)
    for p in written:
        if p:
            print("wrote " + p)


if __name__ == "__main__":
    main()
