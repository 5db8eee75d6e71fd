// fedsim bench model [--preset P] [--batch B] [--seconds S] [--json]: training throughput of
// one client against this machine's sgemm rate (models/bench.hpp; FLOPs by the formula in
// models/README.md).
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>

#include "datasets/common/error.hpp"
#include "models/bench.hpp"
#include "models/model.hpp"
#include "sim/cli/commands.hpp"

namespace po = boost::program_options;

namespace fedsim::cli {

int cmd_bench(const std::vector<std::string>& args, int& argc, char** argv) {
  std::string what, preset = "small";
  int batch = 8;
  double seconds = 3.0;
  po::options_description desc("fedsim bench model [options]");
  desc.add_options()("help,h", "this help")("preset", po::value<std::string>(&preset)->default_value("small"),
                                            "model preset: nano, tiny, small, gpt2-124m")(
      "batch", po::value<int>(&batch)->default_value(8), "sequences per step (each of the preset's context length)")(
      "seconds", po::value<double>(&seconds)->default_value(3.0), "minimum timed duration")(
      "json", "print one JSON object on the last line");
  po::options_description hidden;
  hidden.add_options()("what", po::value<std::string>(&what));
  po::options_description all;
  all.add(desc).add(hidden);
  po::positional_options_description pos;
  pos.add("what", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  if (what != "model") throw UserError("fedsim bench: unknown target '" + what + "'; accepted: model, events");
  if (batch < 1) throw UserError("fedsim bench: --batch " + std::to_string(batch) + " is invalid; accepted: >= 1");
  if (!(seconds > 0)) throw UserError("fedsim bench: --seconds must be > 0");
  models::preset_config(preset);  // UserError naming the accepted presets
  models::Runtime rt(argc, argv);
  const models::BenchResult r = models::bench_model(preset, batch, seconds);
  std::printf("%s\n", r.runtime.c_str());
  std::printf("preset %s, B=%d T=%d, %d steps in %.2f s (%.1f ms/step)\n", r.preset.c_str(), r.B, r.T, r.steps,
              r.seconds, 1e3 * r.seconds / r.steps);
  std::printf("tokens/s      %.0f\n", r.tokens_per_s);
  std::printf("GFLOP/s       %.2f  (%.3g FLOP/token by formula, models/README.md)\n", r.gflops, r.flops_per_token);
  std::printf("sgemm GFLOP/s %.2f  (%d^3, same threads)\n", r.sgemm_gflops, r.sgemm_n);
  std::printf("ratio         %.3f\n", r.ratio);
  if (vm.count("json"))
    std::printf(
        "{\"preset\": \"%s\", \"tokens_per_s\": %.6g, \"gflops\": %.6g, \"sgemm_gflops\": %.6g, \"ratio\": %.6g}\n",
        r.preset.c_str(), r.tokens_per_s, r.gflops, r.sgemm_gflops, r.ratio);
  std::fflush(stdout);
  return 0;
}

}  // namespace fedsim::cli
