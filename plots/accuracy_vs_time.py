#!/usr/bin/python3
"""Accuracy against simulated wall clock: eval accuracy and loss against the simulated time at
which each round ended (/rounds/sim_time_s), mean and min-max band over seeds. Compares
settings whose rounds take different simulated time (deadlines, over-commitment, async).
The band over seeds is drawn on the first seed's time grid (seeds' clocks differ slightly).

usage: plots/accuracy_vs_time.py RESULTS.h5|DIR [...] [--group-by KEY] [--out FIG.png] [--pdf]

Image: 1000 x 400 px.
"""
import sys

import fedsim_plot as fp
from learning_curve import curves


def main():
    ap = fp.parser(__doc__.splitlines()[0], "accuracy_vs_time.png")
    ap.add_argument("results", nargs="+", help="results files or folders of them")
    ap.add_argument("--group-by", help="config key whose value labels a group (default: all keys that vary)")
    curves(ap.parse_args(), "sim_time_s", "simulated time (s)", "accuracy_vs_time.png")


if __name__ == "__main__":
    sys.exit(main())
