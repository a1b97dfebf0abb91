#!/usr/bin/env python3
"""Plots of kvbench runs, called by `kvbench report RUN... --plot DIR` (or directly).

usage: plot.py --out DIR RUN...     (RUN: a run directory or its run.json)

Writes PNG files into DIR:
  score_vs_compression.png  average score vs compression ratio, one point per run (legend)
  tasks.png                 per-task scores, one bar per run
  kv_bytes.png              KV bytes held over the decode steps (memory/<task>.jsonl traces),
                            per task the record with the longest prompt, with the peak inside
                            prefill marked at step 0 where it is higher
  needle_<run>.png          needle-in-a-haystack heatmap (context length x needle depth,
                            colour = score) for each run with needle cells
  needle_grid.png           the heatmaps of all such runs side by side, one colour scale
  ruler.png                 RULER: average score vs context length (summary.ruler), one curve
                            per run, for runs with RULER tasks
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


def disambiguate(labels, runs):
    """Labels shared by several runs get the run directory's name, or its parent's where the names
    are equal (results/demo/niah/full vs results/demo/longbench-zh/full), else both."""
    paths = [os.path.abspath(r["_dir"]).split(os.sep) for r in runs]
    out = []
    for i, l in enumerate(labels):
        same = [j for j, m in enumerate(labels) if m == l]
        if len(same) == 1:
            out.append(l)
            continue
        names, parents = [paths[j][-1] for j in same], [paths[j][-2] for j in same]
        tag = (paths[i][-1] if names.count(paths[i][-1]) == 1 else
               paths[i][-2] if parents.count(paths[i][-2]) == 1 else "/".join(paths[i][-2:]))
        out.append("%s (%s)" % (l, tag))
    return out


def unique_labels(runs):
    """Long labels (method and its first parameters), unique: they name the needle_*.png files."""
    return disambiguate([label_of(r) for r in runs], runs)


# The parameter that tells a method's runs apart, written the way papers do ("SnapKV 128").
SHORT_PARAM = (("budget", "%s"), ("bits", "%s-bit"), ("dtype", "%s"))


def short_labels(runs):
    """Legend labels: the method and its budget / bits / dtype; where two runs still share one,
    the parameters that differ between them, then the run directory."""
    def params(r):
        return {k: v for k, v in (r["method"].get("params") or {}).items() if k != "method"}
    out = []
    for r in runs:
        p = params(r)
        extra = [fmt % p[k] for k, fmt in SHORT_PARAM if k in p][:1]
        out.append(" ".join([r["method"]["name"]] + extra))
    for i, l in enumerate(list(out)):
        same = [j for j, m in enumerate(out) if m == l]
        if len(same) > 1:
            for j in same:
                pj = params(runs[j])
                diff = [k for k in sorted(pj) if any(params(runs[o]).get(k) != pj[k] for o in same)]
                out[j] = l + "".join(" %s=%s" % (k, pj[k]) for k in diff[:2])
    return disambiguate(out, runs)


def safe(name):
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name)[:80]


MARKERS = "osD^vP*Xhp<>"


def plot_score_vs_compression(plt, runs, labels, out):
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    use16 = all("avg_en16" in r["summary"] for r in runs)
    key = "avg_en16" if use16 else "avg_tasks"
    for i, (r, l) in enumerate(zip(runs, labels)):
        x, y = r["summary"]["compression_ratio"], r["summary"][key]
        # hollow markers of different shapes: runs on the same spot stay distinguishable
        ax.scatter([x], [y], s=70, marker=MARKERS[i % len(MARKERS)], facecolors="none",
                   edgecolors="C%d" % (i % 10), linewidths=1.8, label=l)
    ax.margins(x=0.1, y=0.1)
    ax.set_xlabel("compression ratio (full 16-bit KV bytes / bytes held)")
    ax.set_ylabel("average score (%s)" % ("LongBench en16" if use16 else "tasks of the run"))
    ax.set_title("Score vs KV-cache compression (%s)" % runs[0]["model"]["name"])
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=10, frameon=False)
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


def record_series(rec):
    """(steps, KV bytes, measured, prefill peak or None) of one memory-trace line.

    kvbench's "trace": {"step": [0, k, 2k, ..., last], "kv_bytes": [...]} (step 0 = end of
    prefill); else a plain "kv_bytes": [bytes after step 1, 2, ...] (other tools), step 0 from
    "kv_bytes_prefill" when given; else the end points only ({"prefill": {"kv_bytes"}, "end":
    {"kv_bytes"}, "generated_tokens"}, kvbench before 0.2), drawn as the straight line between
    them and flagged as not measured."""
    peak = rec.get("prefill_peak_kv_bytes")
    t = rec.get("trace")
    if isinstance(t, dict):
        steps, vals = [int(x) for x in t["step"]], [float(b) for b in t["kv_bytes"]]
        if not steps or len(steps) != len(vals) or steps != sorted(set(steps)):
            raise ValueError("trace.step and trace.kv_bytes")
        return steps, vals, True, peak
    vals = rec.get("kv_bytes")
    if isinstance(vals, list):
        steps, vals = list(range(1, len(vals) + 1)), [float(b) for b in vals]
        if "kv_bytes_prefill" in rec:
            steps, vals = [0] + steps, [float(rec["kv_bytes_prefill"])] + vals
        return steps, vals, True, peak
    pre, end, n = rec["prefill"]["kv_bytes"], rec["end"]["kv_bytes"], int(rec["generated_tokens"])
    if n < 1:
        raise ValueError("generated_tokens")
    return ([0, n - 1] if n > 1 else [0]), ([pre, end] if n > 1 else [pre]), False, peak


def longest_trace(path):
    """The series of the record with the longest prompt in one memory/<task>.jsonl (the first of
    equals; records without prompt_tokens count as 0): (steps, KV bytes, measured, prefill peak or
    None, prompt tokens). One real record, not a mean: records stop at different steps, and a
    mean over the records still decoding would jump wherever one of them stops."""
    best = None
    with open(path) as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                steps, vals, m, peak = record_series(rec)
                tokens = int(rec.get("prompt_tokens", 0))
            except (ValueError, KeyError, TypeError, AttributeError):
                fail("%s:%d: not a memory trace line (needs \"trace\": {\"step\", \"kv_bytes\"}, "
                     "\"kv_bytes\": [...], or prefill/end points and generated_tokens)" % (path, n))
            if best is None or tokens > best[4]:
                best = (steps, vals, m, peak, tokens)
    return best if best else ([], [], True, None, 0)


def plot_kv_bytes(plt, runs, labels, out):
    traces = {}
    measured = True
    for r, l in zip(runs, labels):
        for t in r["tasks"]:
            f = os.path.join(r["_dir"], "memory", t + ".jsonl")
            if os.path.isfile(f):
                steps, vals, m, peak, tokens = longest_trace(f)
                measured &= m
                if steps:
                    traces.setdefault(t, []).append((l, steps, vals, peak, tokens))
    if not traces:
        print("plot.py: no memory/<task>.jsonl traces in these runs: kv_bytes.png skipped",
              file=sys.stderr)
        return None
    names = list(traces)
    cols = min(3, len(names))
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.8 * cols, 3.8 * rows), squeeze=False)
    marked = False
    for k, t in enumerate(names):
        ax = axes[k // cols][k % cols]
        for i, (l, steps, vals, peak, _) in enumerate(traces[t]):
            c = "C%d" % (i % 10)
            ax.plot(steps, [b / 2**20 for b in vals], color=c, label=l, marker=".", markersize=3)
            if peak is not None and peak > vals[0]:
                ax.scatter([0], [peak / 2**20], marker="^", s=45, color=c, zorder=3)
                marked = True
        tokens = {x[4] for x in traces[t]}
        ax.set_title("%s (longest record%s)" % (
            t, ", %d tokens" % tokens.pop() if len(tokens) == 1 and 0 not in tokens else ""),
            fontsize=10)
        ax.set_xlabel("decode step (0 = end of prefill)")
        ax.set_ylabel("KV MiB held")
        ax.grid(alpha=0.3)
    for k in range(len(names), rows * cols):
        axes[k // cols][k % cols].axis("off")
    # one legend for all panels (a run has one colour everywhere), unless the panels list
    # different runs
    same = len({tuple(x[0] for x in traces[t]) for t in names}) == 1
    if same:
        h, l = axes[0][0].get_legend_handles_labels()
        fig.legend(h, l, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9, frameon=False)
    else:
        for k in range(len(names)):
            axes[k // cols][k % cols].legend(loc="center left", bbox_to_anchor=(1.02, 0.5),
                                             fontsize=9, frameon=False)
    notes = []
    if marked:
        notes.append("triangle: peak held inside prefill")
    if not measured:
        notes.append("some traces have only end points: straight line between them")
    if notes:
        fig.suptitle("; ".join(notes), fontsize=9)
    fig.tight_layout()
    p = os.path.join(out, "kv_bytes.png")
    fig.savefig(p, dpi=120, bbox_inches="tight")
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


def plot_ruler(plt, runs, labels, out):
    """RULER's average per context length (run.json summary.ruler), one line per run."""
    have = [(r, l) for r, l in zip(runs, labels) if r["summary"].get("ruler")]
    if not have:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    lengths = set()
    for i, (r, l) in enumerate(have):
        pts = sorted((p["length"], p["average"]) for p in r["summary"]["ruler"])
        lengths.update(x for x, _ in pts)
        ax.plot([x for x, _ in pts], [y for _, y in pts], marker=MARKERS[i % len(MARKERS)],
                markerfacecolor="none", color="C%d" % (i % 10), linewidth=1.6, label=l)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(lengths))
    ax.set_xticklabels([("%dk" % (x // 1024)) if x % 1024 == 0 else str(x) for x in sorted(lengths)])
    ax.minorticks_off()
    ax.set_ylim(-2, 102)
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("RULER average score")
    ax.set_title("RULER: score vs context length (%s)" % have[0][0]["model"]["name"])
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=10, frameon=False)
    fig.tight_layout()
    p = os.path.join(out, "ruler.png")
    fig.savefig(p, dpi=120)
    plt.close(fig)
    return p


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
    labels, short = unique_labels(runs), short_labels(runs)
    os.makedirs(a.out, exist_ok=True)
    written = [plot_score_vs_compression(plt, runs, short, a.out),
               plot_tasks(plt, runs, short, a.out),
               plot_kv_bytes(plt, runs, short, a.out)]
    written += plot_needles(plt, runs, labels, a.out)
    written.append(plot_ruler(plt, runs, short, a.out))
    for p in written:
        if p:
            print("wrote " + p)


if __name__ == "__main__":
    main()
