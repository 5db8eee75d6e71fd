// The judgment cache: keys, the file round trip, and files it refuses.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "common/h5.hpp"
#include "sim/eval/judge_cache.hpp"
#include "tests/eval/eval_test_util.hpp"

using namespace fedsim;
using fedsim::sim::eval::JudgeKey;
using fedsim::sim::eval::JudgmentCache;
using fedsim::test::error_of;
using fedsim::test::scratch_file;

namespace {
std::string fresh(const std::string& name) {
  const std::string p = scratch_file(name, "");
  std::filesystem::remove(p);
  return p;
}
}  // namespace

TEST_CASE("eval cache: every part of the key counts, and a reply survives the file round trip") {
  const JudgeKey k{"gpt-4", "sys", "Question: q\nAnswer: a", 0.0, 2048};
  JudgmentCache c;
  c.put(k, "Rating: [[7]]");
  REQUIRE(c.find(k) != nullptr);
  CHECK(*c.find(k) == "Rating: [[7]]");
  for (JudgeKey other :
       {JudgeKey{"gpt-4o", k.system, k.user, 0.0, 2048}, JudgeKey{k.model, "sys2", k.user, 0.0, 2048},
        JudgeKey{k.model, k.system, "Question: q\nAnswer: b", 0.0, 2048},
        JudgeKey{k.model, k.system, k.user, 0.2, 2048}, JudgeKey{k.model, k.system, k.user, 0.0, 1024}})
    CHECK(c.find(other) == nullptr);
  // Field boundaries cannot be shifted to forge a key.
  CHECK(c.find({"gpt-4s", "ys", k.user, 0.0, 2048}) == nullptr);
  c.put(k, "Rating: [[7]]");
  CHECK(c.size() == 1);

  const std::string path = fresh("cache_roundtrip.h5");
  JudgmentCache f(path);
  CHECK(f.size() == 0);
  f.put(k, "Rating: [[7]]");
  f.put({"gpt-4", "", "\xC3\xA9t\xC3\xA9", 0.2, 2048}, "no number");
  f.save();
  CHECK_FALSE(std::filesystem::exists(path + ".tmp-" + std::to_string(::getpid())));
  JudgmentCache back(path);
  CHECK(back.size() == 2);
  CHECK(*back.find(k) == "Rating: [[7]]");
  CHECK(*back.find({"gpt-4", "", "\xC3\xA9t\xC3\xA9", 0.2, 2048}) == "no number");
  JudgmentCache memory;
  memory.save();  // no path: nothing to write
  CHECK(memory.path().empty());
}

TEST_CASE("eval cache: a file that is not a judge cache, or whose columns disagree, is refused by name") {
  const std::string text = scratch_file("cache_text.h5", "not hdf5");
  CHECK(error_of([&] { JudgmentCache c(text); }).rfind(text + ":", 0) == 0);
  const std::string foreign = fresh("cache_foreign.h5");
  {
    h5::AtomicFile f(foreign);
    f.root().set_attr("format", "fedsim-dataset");
    f.root().set_attr("format_version", int64_t{2});
    f.commit();
  }
  CHECK(error_of([&] { JudgmentCache c(foreign); }) ==
        foreign + ": not a fedsim-judge-cache file (root attribute 'format' is missing or differs)");
  const std::string ragged = fresh("cache_ragged.h5");
  {
    h5::AtomicFile f(ragged);
    h5::set_format(f.root(), "fedsim-judge-cache", 1);
    f.root().write_strings("model", {"a", "b"});
    f.root().write_strings("system", {"s"});
    f.commit();
  }
  CHECK(error_of([&] { JudgmentCache c(ragged); }) == ragged + ":/system: expected 2 values, got 1");
}
