#!/usr/bin/python3
"""CTest test of plots/: makes results with the fedsim binary (two seeds of one run with
per-client evaluation, and a 2 x 2 sweep), runs every plot script headless on them and checks
that each writes a non-empty PNG of the size it documents (and a PDF with --pdf)."""
import argparse
import os
import shutil
import struct
import subprocess
import sys

BASE = """experiment:
  name: plots
  cache_dir: plots-cache
data:
  samples_mean: 20
  tasks: [last, reverse]
  public_tasks: [upper, first]
  test_samples: 32
  public_samples: 200
  partition: dirichlet
model:
  preset: nano
  pretrain_steps: 20
federation:
  clients: 6
  clients_per_round: 2
  rounds: 3
  local_steps: 2
  batch_size: 4
  lr: 0.01
  client_eval_every: 1
  client_eval_samples: 8
"""
SPEC = """base: base.yaml
grid:
  data.partition_alpha: [0.1, 10]
  federation.algorithm: [fedavg, fedprox]
"""

failures = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        failures.append(what)


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


def run(cmd):
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stdout + p.stderr)
    return p.returncode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fedsim", required=True)
    ap.add_argument("--plots", required=True)
    a = ap.parse_args()
    work = "plots-work"
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    os.chdir(work)
    with open("base.yaml", "w") as f:
        f.write(BASE)
    with open("spec.yaml", "w") as f:
        f.write(SPEC)
    for seed in (1, 2):
        assert run([a.fedsim, "run", "base.yaml", "--out", f"runs/seed{seed}.h5", "--set", f"experiment.seed={seed}"]) == 0
    assert run([a.fedsim, "sweep", "spec.yaml", "--out", "sweep"]) == 0

    py = sys.executable
    cases = [  # script, arguments, documented size in pixels
        ("learning_curve.py", ["runs"], (1000, 400)),
        ("accuracy_vs_time.py", ["runs/seed1.h5", "runs/seed2.h5"], (1000, 400)),
        ("client_accuracy.py", ["sweep", "--group-by", "federation.algorithm"], (800, 450)),
        ("timeline.py", ["runs/seed1.h5"], (1000, 500)),
        ("sweep_plot.py", ["sweep/index.h5"], (700, 450)),
    ]
    for script, args, size in cases:
        out = f"figs/{script[:-3]}.png"
        code = run([py, os.path.join(a.plots, script)] + args + ["--out", out])
        check(code == 0, f"{script} exits 0")
        check(os.path.exists(out) and os.path.getsize(out) > 1000, f"{script} writes a non-empty PNG")
        check(os.path.exists(out) and png_size(out) == size, f"{script} image is {size[0]} x {size[1]} px (got {png_size(out) if os.path.exists(out) else None})")
    code = run([py, os.path.join(a.plots, "timeline.py"), "runs/seed1.h5", "--out", "figs/timeline.png", "--pdf"])
    check(code == 0 and os.path.exists("figs/timeline.pdf"), "--pdf writes a PDF")
    with open("figs/timeline.pdf", "rb") as f:
        check(f.read(5) == b"%PDF-", "the PDF starts with %PDF-")
    code = run([py, os.path.join(a.plots, "sweep_plot.py"), "sweep/index.h5", "--x", "no.such_key"])
    check(code != 0, "sweep_plot.py rejects a key that was not swept")
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all plot checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
