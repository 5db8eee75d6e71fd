// The checkpoint state archive (sim/archive.hpp): ArchiveReader over arbitrary bytes, reading
// what a checkpoint holds (participation slots with their adapters, the free list, enums of
// job kinds and ends, bools, strings, nested vectors). Bad bytes must give UserError
// ("checkpoint: truncated or corrupt simulation state"), never a crash or a huge allocation
// (element counts are bounded by the bytes left). Accepted bytes must be canonical: writing
// the values back gives exactly the bytes that were read.
#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "sim/archive.hpp"
#include "sim/jobs.hpp"
#include "sim/participations.hpp"

using namespace fedsim::sim;

namespace {
struct State {  // a checkpoint-shaped record: every archive rule the processes use
  std::vector<Participations::Work> work;
  std::vector<uint64_t> free;
  std::vector<JobKind> kinds;
  JobEnd how = JobEnd::done;
  std::vector<bool> flags;
  std::array<double, 3> clock{};
  std::string text;
  std::vector<std::vector<float>> rows;
  template <class Ar>
  void fields(Ar& ar) { ar(work, free, kinds, how, flags, clock, text, rows); }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes(data, data + size);
  State s;
  ArchiveReader r(bytes, "checkpoint");
  if (!fedsim::fuzz::expect_user_error_only([&] { r(s); })) return 0;
  ArchiveWriter w;
  w(s);
  const std::vector<uint8_t> back = w.take();
  if (back.size() > bytes.size() || !std::equal(back.begin(), back.end(), bytes.begin()))
    throw fedsim::InternalError("archive: accepted bytes do not write back to themselves");
  return 0;
}
