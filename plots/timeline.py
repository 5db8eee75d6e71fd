#!/usr/bin/python3
"""Client timeline (Gantt chart) from a results file's /timeline: one row per client that took
part, one bar per job (download, train, upload, eval, generate) from start_s to end_s in
simulated time; jobs that did not end 'done' (offline, failed, cancelled by a deadline) are
hatched and outlined in red.

usage: plots/timeline.py RESULTS.h5 [--rounds A:B] [--max-clients N] [--out FIG.png] [--pdf]

Image: 1000 x 500 px.
"""
import sys

import numpy as np
from matplotlib.patches import Patch

import fedsim_plot as fp

COLORS = {"download": "tab:blue", "train": "tab:green", "upload": "tab:orange", "eval": "tab:purple", "generate": "tab:brown"}


def main():
    ap = fp.parser(__doc__.splitlines()[0], "timeline.png")
    ap.add_argument("results", help="one results file")
    ap.add_argument("--rounds", default="", help="round range A:B (B exclusive), default all")
    ap.add_argument("--max-clients", type=int, default=40, help="show at most this many clients (first by id)")
    a = ap.parse_args()
    r = fp.load_results(a.results)
    t = r.get("timeline")
    if t is None or len(t["client"]) == 0:
        sys.exit(f"{a.results}: the timeline is empty")
    keep = np.ones(len(t["client"]), dtype=bool)
    if a.rounds:
        lo, hi = (int(x) if x else None for x in a.rounds.split(":"))
        keep &= (t["round"] >= (lo or 0)) & (t["round"] < (hi if hi is not None else np.iinfo(np.int64).max))
    clients = sorted(set(t["client"][keep].tolist()))[: a.max_clients]
    row = {c: i for i, c in enumerate(clients)}
    fig, ax = fp.plt.subplots(figsize=(10, 5))
    for i in np.flatnonzero(keep):
        c = int(t["client"][i])
        if c not in row:
            continue
        kind = t["kind_names"][t["kind"][i]]
        ok = t["end_names"][t["end"][i]] == "done"
        ax.barh(row[c], t["end_s"][i] - t["start_s"][i], left=t["start_s"][i], height=0.7, color=COLORS.get(kind, "grey"),
                edgecolor="none" if ok else "red", hatch=None if ok else "///", linewidth=0.8)
    ax.set_yticks(range(len(clients)), ["server" if c < 0 else str(c) for c in clients], fontsize="x-small")
    ax.invert_yaxis()
    handles = [Patch(color=col, label=k) for k, col in COLORS.items() if k in {t["kind_names"][k2] for k2 in t["kind"][keep]}]
    handles.append(Patch(facecolor="white", edgecolor="red", hatch="///", label="not done (offline, failed, cancelled)"))
    ax.legend(handles=handles, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=len(handles))
    ax.set(xlabel="simulated time (s)", ylabel="client", title=f"{r['config'].get('experiment.name', '')}: client jobs")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fp.save(fig, a)


if __name__ == "__main__":
    sys.exit(main())
