#!/usr/bin/python3
"""Sweep plot from a sweep's index.h5: a final metric against one swept key, one line per value
of another (default: final eval accuracy against data.partition_alpha per federation.algorithm),
mean and standard deviation over the other axes (seeds).

usage: plots/sweep_plot.py INDEX.h5 [--x KEY] [--series KEY] [--metric NAME] [--out FIG.png] [--pdf]

--metric is a dataset of the index's /metrics group (experiments/RESULTS.md): final_eval_accuracy,
final_eval_loss, best_eval_accuracy, client_accuracy_mean, client_accuracy_p10, sim_time_s,
wall_s, updates_aggregated, stragglers. A numeric x spanning more than a decade is drawn on a
log axis. Pending points are left out. Image: 700 x 450 px.
"""
import sys

import numpy as np

import fedsim_plot as fp


def as_number(v):
    try:
        return float(v)
    except ValueError:
        return None


def main():
    ap = fp.parser(__doc__.splitlines()[0], "sweep.png")
    ap.add_argument("index", help="index.h5 written by fedsim sweep")
    ap.add_argument("--x", default="data.partition_alpha", help="swept key on the x axis")
    ap.add_argument("--series", default="federation.algorithm", help="swept key that makes one line per value ('' = none)")
    ap.add_argument("--metric", default="final_eval_accuracy", help="index metric on the y axis")
    a = ap.parse_args()
    ix = fp.read_index(a.index)
    for key in [a.x] + ([a.series] if a.series else []):
        if key not in ix["params"]:
            sys.exit(f"{a.index}: '{key}' is not a swept key; swept: {', '.join(ix['keys'])}")
    if a.metric not in ix["metrics"]:
        sys.exit(f"{a.index}: no metric '{a.metric}'; accepted: {', '.join(sorted(ix['metrics']))}")
    y = ix["metrics"][a.metric]
    xs = ix["params"][a.x]
    series = ix["params"][a.series] if a.series else ["all"] * len(xs)
    numeric = all(as_number(v) is not None for v in xs)

    fig, ax = fp.plt.subplots(figsize=(7, 4.5))
    x_order = sorted(set(xs), key=lambda v: as_number(v) if numeric else xs.index(v))
    for s in dict.fromkeys(series):
        px, mean, std = [], [], []
        for i, xv in enumerate(x_order):
            vals = [y[j] for j in range(len(xs)) if xs[j] == xv and series[j] == s and ix["done"][j] and not np.isnan(y[j])]
            if vals:
                px.append(as_number(xv) if numeric else i)
                mean.append(np.mean(vals))
                std.append(np.std(vals))
        if px:
            ax.errorbar(px, mean, yerr=std, marker="o", capsize=3, label=f"{a.series.split('.')[-1]}={s}" if a.series else None)
    if numeric:
        nums = [as_number(v) for v in x_order]
        if min(nums) > 0 and max(nums) / min(nums) > 10:
            ax.set_xscale("log")
    else:
        ax.set_xticks(range(len(x_order)), x_order)
    ax.set(xlabel=a.x, ylabel=a.metric.replace("_", " "), title=f"sweep {ix['name']}: {int(ix['done'].sum())}/{len(xs)} points")
    if a.metric.endswith("accuracy") or "accuracy_" in a.metric:
        ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if a.series:
        ax.legend(fontsize="small")
    fig.tight_layout()
    fp.save(fig, a)


if __name__ == "__main__":
    sys.exit(main())
