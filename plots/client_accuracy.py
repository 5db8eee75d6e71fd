#!/usr/bin/python3
"""Per-client accuracy distribution (fairness): for each run, the accuracy of the final global
model on every client's own data (/client_eval/accuracy, last evaluation; written when
federation.client_eval_every > 0), or each client's own adapter for algorithm local
(/clients/local_eval_accuracy). Box plot with every client as a dot; the legend-free labels
name what differs between the runs.

usage: plots/client_accuracy.py RESULTS.h5|DIR [...] [--group-by KEY] [--out FIG.png] [--pdf]

Runs of one setting (differing only by seed) are pooled into one box. Image: 800 x 450 px.
"""
import sys

import numpy as np

import fedsim_plot as fp


def client_accuracies(r):
    if "client_eval_accuracy" in r and len(r["client_eval_accuracy"]):
        return r["client_eval_accuracy"][-1]
    if "local_eval_accuracy" in r:
        return r["local_eval_accuracy"]
    sys.exit(f"{r['path']}: no per-client accuracy; run with federation.client_eval_every > 0 (or algorithm local)")


def main():
    ap = fp.parser(__doc__.splitlines()[0], "client_accuracy.png")
    ap.add_argument("results", nargs="+", help="results files or folders of them")
    ap.add_argument("--group-by", help="config key whose value labels a group (default: all keys that vary)")
    a = ap.parse_args()
    runs = [fp.load_results(p) for p in fp.expand_inputs(a.results)]
    labels, data = [], []
    for label, group in fp.group_by_setting(runs, a.group_by):
        v = np.concatenate([client_accuracies(r) for r in group])
        labels.append(label)
        data.append(v[~np.isnan(v)])
    fig, ax = fp.plt.subplots(figsize=(8, 4.5))
    ax.boxplot(data, showmeans=True, widths=0.5)
    rng = np.random.default_rng(0)  # fixed jitter: the same file gives the same image
    for i, v in enumerate(data, start=1):
        ax.scatter(i + rng.uniform(-0.15, 0.15, len(v)), v, s=8, alpha=0.5, color="tab:blue")
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=20 if len(labels) > 3 else 0, ha="right" if len(labels) > 3 else "center",
                  fontsize="small")
    ax.set(ylabel="accuracy on the client's own data", ylim=(-0.02, 1.02),
           title="per-client accuracy of the final model (box: quartiles, triangle: mean)")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fp.save(fig, a)


if __name__ == "__main__":
    sys.exit(main())
