// fedsim data generate | import | stats | partition | debian: thin wiring over datasets/.
#include <boost/program_options.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "common/error.hpp"
#include "common/schema.hpp"
#include "common/stop.hpp"
#include "datasets/dataset.hpp"
#include "datasets/debian.hpp"
#include "datasets/import.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/parse.hpp"

namespace po = boost::program_options;

namespace fedsim::cli {
namespace {

const char* kDataUsage =
    "usage: fedsim data <command> [options]\n"
    "  generate PRESET --out FILE.h5 [--seed S] [--set key=value ...]   calibrated synthetic data\n"
    "  import FILE.json --kind sft|multiturn|dpo --out FILE.h5 [--test TEST.json] [--format json|jsonl]\n"
    "         (FILE.json: {client: [sample, ...]}, or a list of samples = one client)\n"
    "  stats FILE.h5 [--json]                                            Table-1-style summary\n"
    "  partition FILE.h5 --out FILE.h5 [--clients N] [--scheme iid|dirichlet|shards] [--by task|language|length|quality]\n"
    "            [--alpha A] [--shards K] [--quantity equal|lognormal|powerlaw] [--quantity-param P] [--seed S]\n"
    "  debian freedict|fortunes --out FILE.h5 [--packages a,b,...] [--max-per-client N] [--seed S]\n"
    "presets: fed-aya, fed-chatbotit, fed-wildchat, fed-wildchat-multiturn, fed-chatbotpa (or 'synthetic' for the\n"
    "small-task generator)\n";

// Parses `args` (after the sub-command) with one positional; returns false after --help.
bool parse(const std::vector<std::string>& args, po::options_description& desc, const char* positional,
           std::string* pos_value, po::variables_map& vm) {
  desc.add_options()("help,h", "this help");
  vm = parse_args(args, desc, positional, pos_value);
  if (vm.count("help")) {
    std::cout << desc;
    return false;
  }
  if (positional && pos_value->empty())
    throw UserError(std::string("fedsim data: missing ") + positional + " argument (see fedsim data --help)");
  return true;
}

void require_out(const std::string& out, const std::string& cmd) {
  if (out.empty()) throw UserError("fedsim data " + cmd + ": --out FILE.h5 is required");
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream is(s);
  for (std::string item; std::getline(is, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

void report(const datasets::FederatedDataset& d, const std::string& out, double seconds) {
  std::printf("%s: %zu clients, %zu samples (%s) in %.2f s\n", out.c_str(), d.clients.size(), d.n_samples(),
              datasets::kind_name(d.kind), seconds);
}

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int data_generate(const std::vector<std::string>& args) {
  std::string preset, out;
  std::vector<std::string> sets;
  int64_t seed = -1;
  po::options_description desc("fedsim data generate PRESET");
  desc.add_options()("out,o", po::value<std::string>(&out), "output HDF5 file")(
      "seed", po::value<int64_t>(&seed), "random seed (default 1)")(
      "set", po::value<std::vector<std::string>>(&sets)->composing(),
      "override a generator field: --set length_scale=0.1 (repeatable; see datasets/FORMAT.md)");
  po::variables_map vm;
  if (!parse(args, desc, "preset", &preset, vm)) return 0;
  require_out(out, "generate");
  datasets::SyntheticSpec spec = preset == "synthetic" ? datasets::SyntheticSpec{} : datasets::preset_spec(preset);
  for (const auto& kv : sets) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) throw UserError("--set " + kv + ": expected key=value");
    datasets::set_spec_field(spec, kv.substr(0, eq), kv.substr(eq + 1));
  }
  if (seed >= 0) spec.seed = static_cast<uint64_t>(seed);
  const auto t0 = std::chrono::steady_clock::now();
  const datasets::FederatedDataset d = datasets::generate_synthetic(spec);
  datasets::write_dataset(d, out);
  report(d, out, since(t0));
  return 0;
}

int data_import(const std::vector<std::string>& args) {
  std::string file, out, kind = "sft";
  datasets::ImportOptions opt;
  po::options_description desc("fedsim data import FILE.json");
  desc.add_options()("out,o", po::value<std::string>(&out), "output HDF5 file")(
      "kind", po::value<std::string>(&kind), "sft | multiturn | dpo | corpus (default sft)")(
      "format", po::value<std::string>(&opt.format), "json | jsonl | auto (default: by extension)")(
      "test", po::value<std::string>(&opt.test_path), "test-set file (Aya, ChatbotIT or WildChat shape)")(
      "name", po::value<std::string>(&opt.name), "data set name (default: the file's stem)");
  po::variables_map vm;
  if (!parse(args, desc, "file", &file, vm)) return 0;
  require_out(out, "import");
  opt.kind = datasets::parse_kind(kind, "--kind");
  const auto t0 = std::chrono::steady_clock::now();
  datasets::ImportReport dropped;
  const datasets::FederatedDataset d = datasets::import_fedllm(file, opt, &dropped);
  datasets::write_dataset(d, out);
  report(d, out, since(t0));
  if (opt.kind == datasets::DataKind::multiturn)
    std::printf("turns dropped: %zu (%zu leading gpt, %zu last human); conversations without a reply dropped: %zu\n",
                dropped.turns(), dropped.leading_gpt_turns, dropped.trailing_human_turns, dropped.empty_conversations);
  return 0;
}

int data_stats(const std::vector<std::string>& args) {
  std::string file;
  po::options_description desc("fedsim data stats FILE.h5");
  desc.add_options()("json", "print JSON instead of a table");
  po::variables_map vm;
  if (!parse(args, desc, "file", &file, vm)) return 0;
  const datasets::DatasetStats s = datasets::dataset_stats(datasets::read_dataset(file));
  std::cout << (vm.count("json") ? datasets::stats_json(s) : datasets::stats_table(s));
  return 0;
}

int data_partition(const std::vector<std::string>& args) {
  std::string file, out, scheme = "dirichlet", by = "task", quantity = "equal";
  datasets::PartitionSpec p;
  int64_t seed = 1;
  po::options_description desc("fedsim data partition FILE.h5");
  desc.add_options()("out,o", po::value<std::string>(&out), "output HDF5 file")(
      "clients", po::value<int>(&p.n_clients), "number of clients (default 20)")(
      "scheme", po::value<std::string>(&scheme), "iid | dirichlet | shards (default dirichlet)")(
      "by", po::value<std::string>(&by), "label to skew: task | language | length | quality (default task)")(
      "alpha", po::value<double>(&p.alpha), "Dirichlet concentration (default 0.5)")(
      "shards", po::value<int>(&p.shards_per_client), "shards per client (default 2)")(
      "quantity", po::value<std::string>(&quantity), "equal | lognormal | powerlaw (default equal)")(
      "quantity-param", po::value<double>(&p.quantity_param), "lognormal sigma or Pareto exponent (default 1)")(
      "seed", po::value<int64_t>(&seed), "random seed (default 1)");
  po::variables_map vm;
  if (!parse(args, desc, "file", &file, vm)) return 0;
  require_out(out, "partition");
  p.seed = static_cast<uint64_t>(seed);
  // natural and calibrated are the generator's own split and counts, not a re-split's.
  using datasets::Partition;
  using datasets::Quantity;
  p.scheme = parse_name(scheme, "--scheme", std::vector<Partition>{Partition::iid, Partition::dirichlet, Partition::shards});
  p.by = parse_name<datasets::PartitionBy>(by, "--by");
  p.quantity = parse_name(quantity, "--quantity", std::vector<Quantity>{Quantity::equal, Quantity::lognormal, Quantity::powerlaw});
  const auto t0 = std::chrono::steady_clock::now();
  const datasets::FederatedDataset d = datasets::repartition(datasets::read_dataset(file), p);
  datasets::write_dataset(d, out);
  report(d, out, since(t0));
  return 0;
}

int data_debian(const std::vector<std::string>& args) {
  std::string recipe, out, packages;
  datasets::DebianOptions o;
  int64_t seed = 1;
  po::options_description desc("fedsim data debian freedict|fortunes");
  desc.add_options()("out,o", po::value<std::string>(&out), "output HDF5 file")(
      "packages", po::value<std::string>(&packages), "comma-separated package list (default: the recipe's)")(
      "max-per-client", po::value<int>(&o.max_per_client), "samples kept per client (default 2000)")(
      "seed", po::value<int64_t>(&seed), "random seed (default 1)");
  po::variables_map vm;
  if (!parse(args, desc, "recipe", &recipe, vm)) return 0;
  require_out(out, "debian");
  o.packages = split_list(packages);
  o.seed = static_cast<uint64_t>(seed);
  const auto t0 = std::chrono::steady_clock::now();
  datasets::FederatedDataset d;
  if (recipe == "freedict") d = datasets::debian_freedict(o);
  else if (recipe == "fortunes") d = datasets::debian_fortunes(o);
  else throw UserError("fedsim data debian: '" + recipe + "' is not a recipe; accepted: freedict, fortunes");
  datasets::write_dataset(d, out);
  report(d, out, since(t0));
  return 0;
}

}  // namespace

int cmd_data(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    std::cout << kDataUsage;
    return args.empty() ? 2 : 0;
  }
  install_stop_handlers();  // generation, import and reading poll it (common/stop.hpp)
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "generate") return data_generate(rest);
  if (args[0] == "import") return data_import(rest);
  if (args[0] == "stats") return data_stats(rest);
  if (args[0] == "partition") return data_partition(rest);
  if (args[0] == "debian") return data_debian(rest);
  throw UserError("fedsim data: unknown command '" + args[0] + "'; accepted: generate, import, stats, partition, debian");
}

}  // namespace fedsim::cli
