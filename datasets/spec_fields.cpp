// SyntheticSpec's config keys (the `data` section; declared once here, loaded by sim/config.cpp),
// and the fields added for presets and re-partitioning: validation, canonical text
// (generator_yaml, the cache key) and the CLI's --set key=value.
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <type_traits>

#include "common/error.hpp"
#include "common/schema.hpp"
#include "datasets/dataset.hpp"
#include "presets.hpp"
#include "synthetic_tasks.hpp"

namespace fedsim::datasets {
namespace detail {

// Bump when the preset generator's output for the same spec changes (part of the cache key).
constexpr int kPresetGeneratorVersion = 2;  // 2: Table 1 totals exact, fed-wildchat single-turn

// The re-split a spec asks for (scheme, label, alpha, shards, seed); quantity and clients are
// the caller's.
PartitionSpec partition_of(const SyntheticSpec& s) {
  PartitionSpec p;
  p.scheme = s.partition;
  p.by = s.partition_by;
  p.alpha = s.partition_alpha;
  p.shards_per_client = s.shards_per_client;
  p.seed = s.seed;
  return p;
}

void validate_extension_fields(const SyntheticSpec& s) {
  auto fail = [](const std::string& key, const std::string& value, const std::string& accepted) {
    throw UserError("data." + key + ": " + value + " is not accepted; expected " + accepted);
  };
  if (!s.preset.empty()) find_preset(s.preset);
  if (!(std::isfinite(s.length_scale) && s.length_scale > 0 && s.length_scale <= 10))
    fail("length_scale", format_double(s.length_scale), "a number in (0, 10]");
  if (!(std::isfinite(s.language_alpha) && s.language_alpha > 0))
    fail("language_alpha", format_double(s.language_alpha), "a finite number > 0");
  if (!(std::isfinite(s.quantity_param) && s.quantity_param >= 0 && s.quantity_param <= 5) ||
      (s.quantity == Quantity::powerlaw && !(s.quantity_param > 1)))
    fail("quantity_param", format_double(s.quantity_param),
         "a number in [0, 5] (lognormal sigma), in (1, 5] for powerlaw (Pareto exponent)");
  if (!(std::isfinite(s.length_skew) && s.length_skew >= 0 && s.length_skew <= 3))
    fail("length_skew", format_double(s.length_skew), "a number in [0, 3]");
  if (!(std::isfinite(s.quality_skew) && s.quality_skew >= 0 && s.quality_skew < 1))
    fail("quality_skew", format_double(s.quality_skew), "a number in [0, 1)");
  if (s.partition != Partition::natural) validate_partition_spec(partition_of(s), "data.partition");
}

std::string partition_yaml(const SyntheticSpec& s) {
  if (s.partition == Partition::natural) return "";
  std::ostringstream os;
  os << "partition: " << name_of(s.partition) << "\npartition_by: " << name_of(s.partition_by)
     << "\npartition_alpha: " << format_double(s.partition_alpha) << "\nshards_per_client: " << s.shards_per_client
     << "\n";
  return os.str();
}

std::string preset_spec_yaml(const SyntheticSpec& s) {
  std::ostringstream os;
  os << "generator: preset\ngenerator_version: " << kPresetGeneratorVersion << "\npreset: " << s.preset
     << "\nn_clients: " << s.n_clients << "\nlength_scale: " << format_double(s.length_scale)
     << "\ndirichlet_alpha: " << format_double(s.dirichlet_alpha)
     << "\nlanguage_alpha: " << format_double(s.language_alpha) << "\nquantity: " << name_of(s.quantity)
     << "\nquantity_param: " << format_double(s.quantity_param) << "\nlength_skew: " << format_double(s.length_skew)
     << "\nquality_skew: " << format_double(s.quality_skew) << "\npartition: " << name_of(s.partition)
     << "\npartition_by: " << name_of(s.partition_by) << "\npartition_alpha: " << format_double(s.partition_alpha)
     << "\nshards_per_client: " << s.shards_per_client << "\nn_test: " << s.n_test << "\nn_public: " << s.n_public
     << "\nseed: " << s.seed << "\n";
  return os.str();
}

FederatedDataset apply_partition(FederatedDataset d, const SyntheticSpec& s) {
  if (s.partition == Partition::natural) return d;
  PartitionSpec p = partition_of(s);
  p.n_clients = static_cast<int>(d.clients.size());
  // The quantity skew the generator had, re-applied to the new split.
  if (s.preset.empty()) {
    p.quantity = s.samples_sigma > 0 ? Quantity::lognormal : Quantity::equal;
    p.quantity_param = s.samples_sigma;
  } else if (s.quantity == Quantity::calibrated) {
    const Preset& pr = find_preset(s.preset);
    const double cv = pr.per_client.std / pr.per_client.mean;
    p.quantity = Quantity::lognormal;
    p.quantity_param = std::sqrt(std::log(1 + cv * cv));
  } else {
    p.quantity = s.quantity;
    p.quantity_param = s.quantity_param;
  }
  std::string yaml = d.generator_yaml;
  FederatedDataset r = repartition(d, p);
  r.generator_yaml = yaml;
  return r;
}

}  // namespace detail

FEDSIM_ENUM_NAMES(Quantity, "calibrated", "lognormal", "powerlaw", "equal")
FEDSIM_ENUM_NAMES(Partition, "natural", "iid", "dirichlet", "shards")
FEDSIM_ENUM_NAMES(PartitionBy, "task", "language", "length", "quality")

void visit_synthetic_spec(SyntheticSpec& s, Visitor& v) {
  std::vector<std::string> presets{""};
  for (const auto& n : preset_names()) presets.push_back(n);
  v.choice("preset", s.preset, presets,
           "synthetic: \"\" = short task families; else a generator calibrated to FedLLM-Bench Table 1");
  v.number("samples_mean", s.samples_mean, 1.0, 1e7, "synthetic: mean samples per client");
  v.number("samples_sigma", s.samples_sigma, 0.0, 5.0, "synthetic: lognormal sigma of samples per client (quantity skew)");
  v.number("dirichlet_alpha", s.dirichlet_alpha, 1e-4, 1e6,
           "synthetic: Dirichlet concentration of task types per client; small = heterogeneous");
  v.integer("min_samples", s.min_samples, 1, 1000000, "synthetic: floor of samples per client");
  v.list("tasks", s.tasks, synthetic_task_names(), "synthetic: task families to use; [] = all");
  v.list("public_tasks", s.public_tasks, synthetic_task_names(),
         "synthetic: task families of the public (pretraining) split; [] = tasks");
  v.integer("test_samples", s.n_test, 1, 10000000, "synthetic: held-out test samples");
  v.integer("public_samples", s.n_public, 0, 10000000, "synthetic: public split for pretraining the base");
  v.number("length_scale", s.length_scale, 1e-6, 10.0, "preset: multiplies the calibrated text lengths (bytes)");
  v.number("language_alpha", s.language_alpha, 1e-6, 1e6, "preset: Dirichlet concentration of a client's languages");
  v.pick("quantity", s.quantity, "preset: how per-client sample counts are drawn");
  v.number("quantity_param", s.quantity_param, 0.0, 5.0, "lognormal sigma, or Pareto exponent (> 1) for powerlaw");
  v.number("length_skew", s.length_skew, 0.0, 3.0, "preset: log-sigma of a per-client length factor");
  v.number("quality_skew", s.quality_skew, 0.0, 0.999, "preset: share of quality variance between clients");
  v.pick("partition", s.partition, "re-split the generated data: natural keeps the generator's clients");
  v.pick("partition_by", s.partition_by, "the label a dirichlet or shards partition skews");
  v.number("partition_alpha", s.partition_alpha, 1e-6, 1e6, "dirichlet partition concentration; small = skewed");
  v.integer("shards_per_client", s.shards_per_client, 1, 1000, "shards partition: shards per client");
}

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& p : detail::presets()) names.emplace_back(p.name);
  return names;
}

SyntheticSpec preset_spec(const std::string& name) {
  const detail::Preset& p = detail::find_preset(name);
  SyntheticSpec s;
  s.preset = p.name;
  s.n_clients = p.clients;
  s.n_test = p.n_test;
  return s;
}

void set_spec_field(SyntheticSpec& s, const std::string& key, const std::string& value) {
  auto number = [&](double& out) {
    try {
      size_t used = 0;
      const double v = std::stod(value, &used);
      if (used != value.size()) throw std::invalid_argument(value);
      out = v;
    } catch (const std::logic_error&) {
      throw UserError("--set " + key + "=" + value + ": '" + value + "' is not a number");
    }
  };
  auto integer = [&](auto& out) {
    double v = 0;
    number(v);
    if (v != std::floor(v) || std::fabs(v) > 9e15)
      throw UserError("--set " + key + "=" + value + ": '" + value + "' is not an integer");
    out = static_cast<std::remove_reference_t<decltype(out)>>(v);
  };
  if (key == "preset") s.preset = value;
  else if (key == "n_clients") integer(s.n_clients);
  else if (key == "samples_mean") number(s.samples_mean);
  else if (key == "samples_sigma") number(s.samples_sigma);
  else if (key == "min_samples") integer(s.min_samples);
  else if (key == "dirichlet_alpha") number(s.dirichlet_alpha);
  else if (key == "n_test") integer(s.n_test);
  else if (key == "n_public") integer(s.n_public);
  else if (key == "seed") integer(s.seed);
  else if (key == "length_scale") number(s.length_scale);
  else if (key == "language_alpha") number(s.language_alpha);
  else if (key == "quantity") s.quantity = parse_name<Quantity>(value, "--set quantity");
  else if (key == "quantity_param") number(s.quantity_param);
  else if (key == "length_skew") number(s.length_skew);
  else if (key == "quality_skew") number(s.quality_skew);
  else if (key == "partition") s.partition = parse_name<Partition>(value, "--set partition");
  else if (key == "partition_by") s.partition_by = parse_name<PartitionBy>(value, "--set partition_by");
  else if (key == "partition_alpha") number(s.partition_alpha);
  else if (key == "shards_per_client") integer(s.shards_per_client);
  else if (key == "tasks" || key == "public_tasks") {
    std::vector<std::string>& list = key == "tasks" ? s.tasks : s.public_tasks;
    list.clear();
    std::string v = value, item;
    if (!v.empty() && v.front() == '[' && v.back() == ']') v = v.substr(1, v.size() - 2);
    std::istringstream is(v);
    while (std::getline(is, item, ',')) {
      const size_t a = item.find_first_not_of(' '), b = item.find_last_not_of(' ');
      if (a != std::string::npos) list.push_back(item.substr(a, b - a + 1));
    }
  } else {
    throw UserError("--set " + key + "=" + value + ": unknown key '" + key +
                    "'; accepted: preset, n_clients, samples_mean, samples_sigma, min_samples, dirichlet_alpha, tasks, "
                    "public_tasks, "
                    "n_test, n_public, seed, length_scale, language_alpha, quantity, quantity_param, length_skew, "
                    "quality_skew, partition, partition_by, partition_alpha, shards_per_client");
  }
}

}  // namespace fedsim::datasets
