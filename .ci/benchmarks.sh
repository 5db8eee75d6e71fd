#!/usr/bin/env bash
# The real FedLLM-Bench evaluation files (MT-Bench, Vicuna, AdvBench, GPT4-refer, Aya, judge
# prompts), kept outside the repository in <shared>/benchmarks/fedllm-bench-eval, read by
# fedsim's benchmark readers: CTest label `benchmarks` (tests/eval/test_benchmarks_shared.cpp).
# <shared> is $FEDSIM_SHARED_DIR, else ../shared next to the checkout. Then `fedsim validate` of
# configs/fed-chatbotit-eval.yaml with every benchmark of its eval section pointed at those files
# (the run's own check of them: exit 2 naming key, file and line on any problem). Without the
# files the test reports itself skipped, and this script says so and skips the validation.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD="${FEDSIM_BUILD_DIR:-build}"
dir="${FEDSIM_SHARED_DIR:-$PWD/../shared}/benchmarks/fedllm-bench-eval"
if [ -d "$dir" ]; then
  echo "== benchmarks: shared files found in $dir: parsing every one"
else
  echo "== benchmarks: shared files NOT found ($dir): the check is skipped (set FEDSIM_SHARED_DIR)"
fi
cmake --build "$BUILD" --target test_benchmarks_shared fedsim >/dev/null
ctest --test-dir "$BUILD" -L benchmarks --output-on-failure
if [ -d "$dir" ]; then
  echo "== benchmarks: fedsim validate configs/fed-chatbotit-eval.yaml with every benchmark on the shared files"
  "$BUILD/fedsim" validate configs/fed-chatbotit-eval.yaml \
    --set "eval.benchmarks=[mtbench, vicuna, advbench, refer, aya]" \
    --set "eval.mtbench_questions=$dir/mtbench/question.jsonl" \
    --set "eval.mtbench_references=$dir/mtbench/reference_answer" \
    --set "eval.vicuna_questions=$dir/vicuna/question.jsonl" \
    --set "eval.judge_prompts=$dir/judge_prompts.jsonl" \
    --set "eval.advbench=$dir/advbench/advbench.csv" \
    --set "eval.refer_testset=$dir/chatbot/testset.json" \
    --set "eval.aya=$dir/aya/test_datasets.json"
else
  echo "== benchmarks: validation of configs/fed-chatbotit-eval.yaml on the shared files skipped (no $dir)"
fi
