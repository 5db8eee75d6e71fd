"""Shared helpers of fedsim's plot scripts: reading results and sweep index files, grouping
runs that differ only by seed, and saving figures at a fixed pixel size.

Every figure is saved with dpi 100 and no tight bounding box, so its size in pixels is exactly
figsize * 100 (the CTest test checks it). PNG by default; --pdf or an --out ending in .pdf gives PDF.
Uses Debian's python3-h5py and python3-matplotlib (run with /usr/bin/python3).
"""
import argparse
import glob
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402,F401  (re-exported for the scripts)
import numpy as np  # noqa: E402

DPI = 100
RESULTS_KIND = "fedsim-results"
INDEX_KIND = "fedsim-sweep-index"
# Keys that differ between the seeds of one setting, or only name the run.
RUN_KEYS = ("experiment.seed", "experiment.name", "experiment.out")


def attr_str(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def read_text(node):
    """A text column as a list of str: fedsim stores n strings as a group of `bytes` (uint8, the
    strings back to back) and `ends` (int64, each string's end offset); older files hold a dataset
    of variable-length strings."""
    if isinstance(node, h5py.Group):
        raw = np.asarray(node["bytes"][:], dtype=np.uint8).tobytes()
        out, start = [], 0
        for end in np.asarray(node["ends"][:]):
            out.append(raw[start:int(end)].decode("utf-8", errors="replace"))
            start = int(end)
        return out
    return [attr_str(x) for x in node[:]]


def column(node):
    """A table column: numbers as a numpy array, text (a group, see read_text) as a list of str."""
    return read_text(node) if isinstance(node, h5py.Group) else np.asarray(node[:])


def kind_of(path):
    try:
        with h5py.File(path, "r") as f:
            return attr_str(f.attrs.get("format", ""))
    except OSError:
        return ""


def parse_config_yaml(text):
    """The resolved config (canonical two-level YAML written by fedsim) as {"section.key": "value"}."""
    out, section = {}, ""
    for line in text.splitlines():
        body = line.split(" #", 1)[0].rstrip()
        if not body.strip():
            continue
        if not line.startswith(" ") and body.endswith(":"):
            section = body[:-1].strip()
        elif ":" in body:
            k, v = body.strip().split(":", 1)
            out[f"{section}.{k.strip()}"] = v.strip().strip('"')
    return out


def load_results(path):
    """One results file as a dict of numpy arrays and attributes."""
    with h5py.File(path, "r") as f:
        if attr_str(f.attrs.get("format", "")) != RESULTS_KIND:
            sys.exit(f"{path}: not a {RESULTS_KIND} file")
        r = {k: np.asarray(f["rounds"][k][:]) for k in f["rounds"]}
        r["path"] = path
        r["config"] = parse_config_yaml(attr_str(f.attrs["config_yaml"]))
        r["seed"] = int(f.attrs["seed"])
        if "client_eval" in f:
            r["client_eval_round"] = np.asarray(f["client_eval/round"][:])
            r["client_eval_accuracy"] = np.asarray(f["client_eval/accuracy"][:])
        if "clients/local_eval_accuracy" in f:
            r["local_eval_accuracy"] = np.asarray(f["clients/local_eval_accuracy"][:])
        if "eval" in f:
            e = f["eval"]
            r["eval"] = {}
            for name in read_text(e["benchmarks"]):
                g = e[name]
                r["eval"][name] = {k: column(g["rounds"][k]) for k in g["rounds"]}
                r["eval"][name]["kind"] = attr_str(g.attrs["kind"])
                r["eval"][name]["turns"] = {k: np.asarray(g["turns"][k][:]) for k in ("round", "turn", "mean")}
        if "timeline" in f:
            t = f["timeline"]
            r["timeline"] = {k: np.asarray(t[k][:]) for k in ("client", "kind", "end", "round", "start_s", "end_s")}
            r["timeline"]["kind_names"] = read_text(t["kind_names"])
            r["timeline"]["end_names"] = read_text(t["end_names"])
        return r


def expand_inputs(paths):
    """Results files from files and folders (a folder gives its complete *.h5 results files)."""
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += [q for q in sorted(glob.glob(os.path.join(p, "*.h5"))) if kind_of(q) == RESULTS_KIND]
        else:
            files.append(p)
    if not files:
        sys.exit(f"no fedsim results files in {' '.join(paths)}")
    return files


def group_by_setting(runs, group_by=None):
    """Runs that differ only by seed form one group. Returns [(label, [runs])] in input order;
    the label names the config keys that vary between groups (or `group_by`'s value)."""
    def setting(r):
        if group_by:
            return (r["config"].get(group_by, "?"),)
        return tuple(sorted((k, v) for k, v in r["config"].items() if k not in RUN_KEYS))

    groups = {}
    for r in runs:
        groups.setdefault(setting(r), []).append(r)
    keys = list(groups)
    if group_by:
        return [(f"{group_by.split('.')[-1]}={k[0]}", groups[k]) for k in keys]
    varying = sorted({k for s in keys for k, v in s if any(dict(t).get(k) != v for t in keys)})
    out = []
    for s in keys:
        d = dict(s)
        label = ", ".join(f"{k.split('.')[-1]}={short(d.get(k, '?'))}" for k in varying) or os.path.basename(groups[s][0]["path"])
        out.append((label, groups[s]))
    return out


def short(v, n=18):
    return v if len(v) <= n else v[: n - 3] + "..."


def mean_band(xs, ys):
    """Mean and min/max band over runs on the first run's x grid (runs of one setting share it)."""
    n = min(len(y) for y in ys)
    y = np.vstack([v[:n] for v in ys])
    return xs[0][:n], np.nanmean(y, axis=0), np.nanmin(y, axis=0), np.nanmax(y, axis=0)


def read_index(path):
    with h5py.File(path, "r") as f:
        if attr_str(f.attrs.get("format", "")) != INDEX_KIND:
            sys.exit(f"{path}: not a {INDEX_KIND} file")
        keys = read_text(f["axes/keys"])
        params = {k: read_text(f["params"][k]) for k in keys}
        metrics = {k: np.asarray(f["metrics"][k][:]) for k in f["metrics"]}
        done = np.asarray(f["points/done"][:]).astype(bool)
        return {"name": attr_str(f.attrs["name"]), "keys": keys, "params": params, "metrics": metrics, "done": done}


def parser(description, default_out):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--out", default=default_out, help=f"output image (default {default_out}; .pdf gives PDF)")
    ap.add_argument("--pdf", action="store_true", help="write PDF (replaces the --out extension)")
    return ap


def save(fig, args):
    out = args.out
    if args.pdf:
        out = os.path.splitext(out)[0] + ".pdf"
    if os.path.dirname(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
    fig.savefig(out, dpi=DPI)
    print(out)
