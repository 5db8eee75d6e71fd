#!/usr/bin/python3
"""Learning curves from fedsim results files: eval accuracy and eval loss against rounds.

usage: plots/learning_curve.py RESULTS.h5 [RESULTS.h5 ...] --out FIG.png

Uses Debian's python3-h5py and python3-matplotlib (run with /usr/bin/python3).
"""
import argparse
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def load(path):
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != "fedsim-results":
            sys.exit(f"{path}: not a fedsim-results file")
        r = f["rounds"]
        return {k: np.asarray(r[k][:]) for k in ("round", "eval_loss", "eval_accuracy", "sim_time_s")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+")
    ap.add_argument("--out", required=True, help="output image (.png or .pdf)")
    a = ap.parse_args()
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
    for path in a.results:
        d = load(path)
        ok = ~np.isnan(d["eval_accuracy"])
        ax_acc.plot(d["round"][ok], d["eval_accuracy"][ok], marker="o", label=path)
        ax_loss.plot(d["round"][ok], d["eval_loss"][ok], marker="o", label=path)
    ax_acc.set(xlabel="completed rounds", ylabel="eval exact-match accuracy", ylim=(0, 1))
    ax_loss.set(xlabel="completed rounds", ylabel="eval loss (nats/token)")
    ax_acc.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(a.out, dpi=100)


if __name__ == "__main__":
    main()
