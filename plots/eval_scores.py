#!/usr/bin/python3
"""Open-ended evaluation against rounds: one panel per benchmark, the score upstream reports
(/eval/<benchmark>/rounds/score: MT-Bench, Vicuna, GPT4-refer and Aya judge ratings 1-10,
AdvBench's harmless rate 0-1) against the evaluated round, mean and min-max band over the seeds
of each setting; MT-Bench's turn means are drawn dashed (one setting) for turn 1 and dotted for
turn 2.

usage: plots/eval_scores.py RESULTS.h5|DIR [...] [--group-by KEY] [--benchmarks a,b] [--out FIG.png] [--pdf]

Runs whose configs differ only by experiment.seed are one setting; the legend names the config
keys that differ between settings, or --group-by KEY's value. Runs without /eval (eval.benchmarks
empty) are an error. Image: 1000 x 400 px, whatever the number of benchmarks.
"""
import sys

import numpy as np

import fedsim_plot as fp

YLABEL = {
    "mtbench": "MT-Bench score (1-10)",
    "vicuna": "Vicuna score (1-10)",
    "refer": "GPT4-refer score (1-10)",
    "aya": "Aya score (1-10, mean of languages)",
    "advbench": "AdvBench harmless rate",
}


def turn_curve(run, name, turn):
    t = run["eval"][name]["turns"]
    keep = t["turn"] == turn
    return t["round"][keep], t["mean"][keep]


def main():
    ap = fp.parser(__doc__.splitlines()[0], "eval_scores.png")
    ap.add_argument("results", nargs="+", help="results files or folders of them")
    ap.add_argument("--group-by", help="config key whose value labels a group (default: all keys that vary)")
    ap.add_argument("--benchmarks", default="", help="comma-separated benchmark names (default: all in the first run)")
    a = ap.parse_args()
    runs = [fp.load_results(p) for p in fp.expand_inputs(a.results)]
    for r in runs:
        if not r.get("eval"):
            sys.exit(f"{r['path']}: no /eval; run with eval.benchmarks (sim/eval/README.md)")
    names = [n for n in a.benchmarks.split(",") if n] or list(runs[0]["eval"])
    for r in runs:
        for n in names:
            if n not in r["eval"]:
                sys.exit(f"{r['path']}: no /eval/{n}; it has {', '.join(r['eval']) or 'none'}")
    fig, axes = fp.plt.subplots(1, len(names), figsize=(10, 4), squeeze=False)
    groups = fp.group_by_setting(runs, a.group_by)
    for ax, name in zip(axes[0], names):
        kind = runs[0]["eval"][name]["kind"]
        for label, group in groups:
            x, mean, lo, hi = fp.mean_band([r["eval"][name]["round"] for r in group],
                                           [r["eval"][name]["score"] for r in group])
            line, = ax.plot(x, mean, marker="o", markersize=3, label=f"{label} (n={len(group)})")
            if len(group) > 1:
                ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
            if kind == "mtbench" and len(groups) == 1:
                for turn, style in ((1, "--"), (2, ":")):
                    tx, ty = turn_curve(group[0], name, turn)
                    ax.plot(tx, ty, style, color=line.get_color(), linewidth=1, label=f"turn {turn}")
        ax.set(xlabel="round", ylabel=YLABEL.get(kind, "score"), title=name)
        if kind == "advbench":
            ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize="x-small", loc="best")
    fig.tight_layout()
    fp.save(fig, a)


if __name__ == "__main__":
    sys.exit(main())
