#!/usr/bin/env bash
# The real FedLLM-Bench evaluation files (MT-Bench, Vicuna, AdvBench, GPT4-refer, Aya, judge
# prompts), kept outside the repository in <shared>/benchmarks/fedllm-bench-eval, read by
# fedsim's benchmark readers: CTest label `benchmarks` (tests/eval/test_benchmarks_shared.cpp).
# <shared> is $FEDSIM_SHARED_DIR, else ../shared next to the checkout. Without the files the
# test reports itself skipped, and this script says so.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD="${FEDSIM_BUILD_DIR:-build}"
dir="${FEDSIM_SHARED_DIR:-$PWD/../shared}/benchmarks/fedllm-bench-eval"
if [ -d "$dir" ]; then
  echo "== benchmarks: shared files found in $dir: parsing every one"
else
  echo "== benchmarks: shared files NOT found ($dir): the check is skipped (set FEDSIM_SHARED_DIR)"
fi
cmake --build "$BUILD" --target test_benchmarks_shared >/dev/null
ctest --test-dir "$BUILD" -L benchmarks --output-on-failure
