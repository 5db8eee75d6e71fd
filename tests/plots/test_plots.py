#!/usr/bin/python3
"""CTest test of plots/: makes results with the fedsim binary (two seeds of one run with
per-client evaluation and the open-ended evaluation judged by a small judge on loopback, and a
2 x 2 sweep), runs every plot script headless on them and checks that each writes a non-empty
PNG of the size it documents (and a PDF with --pdf)."""
import argparse
import http.server
import json
import os
import shutil
import struct
import subprocess
import sys
import threading

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


class Judge(http.server.BaseHTTPRequestHandler):
    """An OpenAI-compatible judge: "Rating: [[r]]" with r from the prompt's lower-case letters."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
        rating = 1 + sum(c.islower() for c in user) % 10
        reply = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": f"Rating: [[{rating}]]"}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply.encode())

    def log_message(self, *args):
        pass


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
    judge = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Judge)
    threading.Thread(target=judge.serve_forever, daemon=True).start()
    advbench = os.path.join(a.plots, "..", "tests", "eval", "samples", "advbench.csv")
    evaluation = ["--set", "eval.benchmarks=[advbench, refer]", "--set", f"eval.advbench={advbench}", "--set", "eval.every=1",
                  "--set", "eval.start=on", "--set", f"eval.judge_url=http://127.0.0.1:{judge.server_address[1]}/v1",
                  "--set", "eval.max_new_tokens=8", "--set", "eval.cache=off", "--set", "eval.judge_latency_s=0.001"]
    for seed in (1, 2):
        assert run([a.fedsim, "run", "base.yaml", "--out", f"runs/seed{seed}.h5", "--set", f"experiment.seed={seed}"]
                   + evaluation) == 0
    assert run([a.fedsim, "sweep", "spec.yaml", "--out", "sweep"]) == 0

    py = sys.executable
    cases = [  # script, arguments, documented size in pixels
        ("learning_curve.py", ["runs"], (1000, 400)),
        ("accuracy_vs_time.py", ["runs/seed1.h5", "runs/seed2.h5"], (1000, 400)),
        ("client_accuracy.py", ["sweep", "--group-by", "federation.algorithm"], (800, 450)),
        ("timeline.py", ["runs/seed1.h5"], (1000, 500)),
        ("sweep_plot.py", ["sweep/index.h5"], (700, 450)),
        ("eval_scores.py", ["runs"], (1000, 400)),
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
    code = run([py, os.path.join(a.plots, "eval_scores.py"), "sweep", "--out", "figs/none.png"])
    check(code != 0, "eval_scores.py rejects runs without /eval")
    code = run([py, os.path.join(a.plots, "eval_scores.py"), "runs", "--benchmarks", "mtbench", "--out", "figs/none.png"])
    check(code != 0, "eval_scores.py rejects a benchmark the runs lack")
    judge.shutdown()
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all plot checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
