// fedsim masgpt run | report | check: the MAS-GPT pipeline (sim/masgpt/README.md).
#include <boost/program_options.hpp>

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/error.hpp"
#include "models/model.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/parse.hpp"
#include "sim/config.hpp"
#include "sim/experiment.hpp"
#include "sim/masgpt/masgpt.hpp"
#include "sim/masgpt/masgpt_config.hpp"

namespace po = boost::program_options;

namespace fedsim::cli {
namespace {

const char* kMasgptUsage =
    "usage:\n"
    "  fedsim masgpt run CONFIG.yaml [--out FILE.h5] [--set key.path=value ...]\n"
    "      build the (query, MAS) data, train the generator, evaluate every base MAS and MAS-GPT,\n"
    "      print the table and write FILE.h5 (default masgpt.out) and FILE-data.h5\n"
    "  fedsim masgpt report RESULTS.h5      print the table of a finished run\n"
    "  fedsim masgpt check MAS.txt [--config CONFIG.yaml]\n"
    "      parse and validate a MAS text against the limits (masgpt.max_*); exit 2 with the line\n";

struct Args {
  std::string file, out, config;
  std::vector<std::string> sets;
  bool help = false;
};

Args parse(const std::vector<std::string>& args, const char* cmd) {
  Args a;
  po::options_description desc(std::string("fedsim masgpt ") + cmd);
  desc.add_options()("help,h", "this help")("set", po::value<std::vector<std::string>>(&a.sets)->composing(),
                                            "override a config key (repeatable)")(
      "out,o", po::value<std::string>(&a.out), "results file")("config", po::value<std::string>(&a.config),
                                                               "config whose masgpt limits apply");
  const po::variables_map vm = parse_args(args, desc, "file", &a.file);
  if (vm.count("help")) {
    std::cout << kMasgptUsage;
    a.help = true;
  } else if (a.file.empty()) {
    throw UserError(std::string("fedsim masgpt ") + cmd + ": missing file argument (see fedsim masgpt --help)");
  }
  return a;
}

int run(const Args& a, int& argc, char** argv) {
  std::vector<std::string> sets = a.sets;
  if (!a.out.empty()) sets.push_back("masgpt.out=" + a.out);
  const sim::ExperimentConfig c = sim::load_config(a.file, sets);
  sim::validate_experiment(c);
  models::Runtime runtime(argc, argv);
  const auto t0 = std::chrono::steady_clock::now();
  auto log = [t0](const std::string& s) {
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cerr << "[masgpt " << static_cast<long long>(el) << "s] " << s << "\n";
  };
  const sim::masgpt::MasgptResults r = sim::masgpt::run_masgpt(c, log);
  const std::string path = sim::masgpt::masgpt_results_path(c);
  sim::masgpt::write_masgpt_results(r, path);
  std::cout << sim::masgpt::format_table(r);
  std::cout << "results: " << path << "\ndata set: " << r.data_path << "\n";
  return 0;
}

int check(const Args& a) {
  std::ifstream in(a.file, std::ios::binary);
  if (!in) throw UserError(a.file + ": cannot read the MAS text file");
  std::stringstream ss;
  ss << in.rdbuf();
  sim::MasgptSection m;
  if (!a.config.empty()) m = sim::masgpt_of(sim::load_config(a.config, a.sets));
  try {
    const sim::masgpt::Mas mas = sim::masgpt::parse_mas(ss.str(), m.limits);
    std::cout << a.file << ": ok (" << mas.agents.size() << " agents, " << mas.calls() << " LLM calls)\n";
    return 0;
  } catch (const sim::masgpt::MasError& e) {
    const char* kind = e.kind() == sim::masgpt::MasError::Kind::malformed ? "malformed" : "over the limits";
    throw UserError(a.file + ": " + kind + ": " + e.what());
  }
}

}  // namespace

int cmd_masgpt(const std::vector<std::string>& args, int& argc, char** argv) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kMasgptUsage;
    return args.empty() ? 2 : 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "run") {
    const Args a = parse(rest, "run");
    return a.help ? 0 : run(a, argc, argv);
  }
  if (args[0] == "report") {
    const Args a = parse(rest, "report");
    if (a.help) return 0;
    std::cout << sim::masgpt::format_table(sim::masgpt::read_masgpt_results(a.file));
    return 0;
  }
  if (args[0] == "check") {
    const Args a = parse(rest, "check");
    return a.help ? 0 : check(a);
  }
  throw UserError("fedsim masgpt: unknown sub-command '" + args[0] + "'; accepted: run, report, check");
}

}  // namespace fedsim::cli
