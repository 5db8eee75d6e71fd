// The probe behind `fedsim bench model`, without the CLI (not a test):
//   bench_models [preset [B [seconds]]]
#include <cstdio>
#include <string>

#include "models/bench.hpp"
#include "models/model.hpp"

using namespace fedsim::models;

int main(int argc, char** argv) {
  Runtime rt(argc, argv);
  const std::string preset = argc > 1 ? argv[1] : "tiny";
  const int B = argc > 2 ? std::stoi(argv[2]) : 8;
  const double seconds = argc > 3 ? std::stod(argv[3]) : 2.0;
  const BenchResult r = bench_model(preset, B, seconds);
  std::printf("%s  %s B=%d T=%d: %.2f ms/step, %.0f tokens/s, %.2f GFLOP/s, sgemm %.2f GFLOP/s, ratio %.3f\n",
              r.runtime.c_str(), r.preset.c_str(), r.B, r.T, 1e3 * r.seconds / r.steps, r.tokens_per_s, r.gflops,
              r.sgemm_gflops, r.ratio);
  return 0;
}
