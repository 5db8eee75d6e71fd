#!/usr/bin/python3
"""Learning curves: eval accuracy and eval loss against completed rounds, mean and min-max band
over the seeds of each setting.

usage: plots/learning_curve.py RESULTS.h5|DIR [...] [--group-by KEY] [--out FIG.png] [--pdf]

Runs whose configs differ only by experiment.seed are one setting (one line and band); the
legend names the config keys that differ between settings, or --group-by KEY's value
(e.g. federation.algorithm). Image: 1000 x 400 px.
"""
import sys

import numpy as np

import fedsim_plot as fp


def curves(args, x_key, x_label, default_out):
    runs = [fp.load_results(p) for p in fp.expand_inputs(args.results)]
    fig, (ax_acc, ax_loss) = fp.plt.subplots(1, 2, figsize=(10, 4))
    for label, group in fp.group_by_setting(runs, args.group_by):
        for ax, key in ((ax_acc, "eval_accuracy"), (ax_loss, "eval_loss")):
            ok = [~np.isnan(r[key]) for r in group]
            x, mean, lo, hi = fp.mean_band([r[x_key][m] for r, m in zip(group, ok)], [r[key][m] for r, m in zip(group, ok)])
            line, = ax.plot(x, mean, marker="o", markersize=3, label=f"{label} (n={len(group)})")
            if len(group) > 1:
                ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    ax_acc.set(xlabel=x_label, ylabel="eval exact-match accuracy", ylim=(0, 1))
    ax_loss.set(xlabel=x_label, ylabel="eval loss (nats/token)")
    ax_acc.legend(fontsize="x-small", loc="best")
    ax_acc.grid(alpha=0.3)
    ax_loss.grid(alpha=0.3)
    fig.tight_layout()
    fp.save(fig, args)


def main():
    ap = fp.parser(__doc__.splitlines()[0], "learning_curve.png")
    ap.add_argument("results", nargs="+", help="results files or folders of them")
    ap.add_argument("--group-by", help="config key whose value labels a group (default: all keys that vary)")
    curves(ap.parse_args(), "round", "completed rounds", "learning_curve.png")


if __name__ == "__main__":
    sys.exit(main())
