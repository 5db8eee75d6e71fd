// Benchmark readers (datasets/benchmarks.cpp, benchmarks_csv.cpp). Input: one byte choosing the
// reader (value mod 6: question JSONL, reference JSONL, AdvBench CSV, GPT4-refer JSON, Aya JSON,
// judge prompts JSONL), then the file's bytes. What a reader accepts must hold what its format
// promises: non-empty turns, a CSV goal, unique judge prompt names.
#include <set>
#include <string>

#include "datasets/benchmarks.hpp"
#include "fuzz_common.hpp"

using namespace fedsim;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string path = fuzz::write_scratch("bench.in", data + 1, size - 1);
  std::vector<datasets::BenchQuestion> q;
  switch (data[0] % 6) {
    case 0: fuzz::expect_user_error_only([&] { q = datasets::read_question_jsonl(path); }); break;
    case 1:
      fuzz::expect_user_error_only([&] {
        for (const auto& r : datasets::read_reference_answers(path)) FEDSIM_ASSERT(!r.turns.empty());
      });
      break;
    case 2: fuzz::expect_user_error_only([&] { q = datasets::read_advbench_csv(path); }); break;
    case 3: fuzz::expect_user_error_only([&] { q = datasets::read_refer_testset(path); }); break;
    case 4: fuzz::expect_user_error_only([&] { q = datasets::read_aya_testsets(path); }); break;
    default:
      fuzz::expect_user_error_only([&] {
        std::set<std::string> names;
        for (const auto& p : datasets::read_judge_prompts(path)) FEDSIM_ASSERT(names.insert(p.name).second);
      });
  }
  for (const auto& x : q) {
    FEDSIM_ASSERT(!x.turns.empty());
    FEDSIM_ASSERT(x.line >= 1);
  }
  return 0;
}
