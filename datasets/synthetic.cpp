// Synthetic federated instruction data: lognormal quantity skew and Dirichlet task skew over
// the procedural families of synthetic_tasks.cpp.
//
// Random streams (STYLE.md habit 5), all from spec.seed and never from generation order:
//   client c's sample count:   (seed, c, 0, data_split)
//   client c's task mixture:   (seed, c, 1, data_split)
//   client c's sample i:       (seed, c, i, data_generation)
//   test / public sample i:    (seed, kTestStream / kPublicStream, i, data_generation)
// so client c's data does not change when n_clients grows, and sample i does not change when
// the client's count does.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "common/stop.hpp"
#include "common/error.hpp"
#include "common/rng.hpp"
#include "datasets/dataset.hpp"
#include "synthetic_tasks.hpp"

namespace fedsim::datasets {
namespace detail {

// Shortest decimal text that reads back to the same double, so the YAML is canonical.
std::string format_double(double x) {
  // Integral values print as integers ("60", not "6e+01"): that is how a user writes them.
  if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 1e15) return std::to_string(static_cast<long long>(x));
  for (int prec = 1; prec <= 17; ++prec) {
    std::ostringstream os;
    os.precision(prec);
    os << x;
    if (std::stod(os.str()) == x) return os.str();
  }
  std::ostringstream os;
  os.precision(17);
  os << x;
  return os.str();
}

// Symmetric Dirichlet(alpha) as normalised Gamma(alpha, 1) draws. Hsu et al. (2019, Sec. 3)
// write q ~ Dir(alpha * p) with p the prior; we follow the common per-component convention
// (alpha on every task), so alpha -> infinity gives the uniform mix and alpha -> 0 one task.
std::vector<double> dirichlet(Rng& rng, double alpha, size_t k) { return dirichlet(rng, std::vector<double>(k, alpha)); }

std::vector<double> dirichlet(Rng& rng, const std::vector<double>& alpha) {
  const size_t k = alpha.size();
  std::vector<double> p(k);
  double sum = 0.0;
  for (size_t i = 0; i < k; ++i) sum += (p[i] = rng.gamma(alpha[i]));
  if (!(sum > 0.0)) {
    // Every draw underflowed (possible only for tiny alpha): the limit is a one-hot mix.
    std::fill(p.begin(), p.end(), 0.0);
    p[rng.below(k)] = 1.0;
    return p;
  }
  for (auto& x : p) x /= sum;
  return p;
}

size_t draw_categorical(Rng& rng, const std::vector<double>& p) {
  const double u = rng.uniform();
  double acc = 0.0;
  size_t last_positive = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] <= 0.0) continue;
    acc += p[i];
    last_positive = i;
    if (u < acc) return i;
  }
  return last_positive;  // rounding left u just above the total
}

std::string client_name(int i, int n_clients) {
  // Zero-padded to a common width so that names sort in client order.
  int width = 3;
  for (int m = n_clients - 1; m >= 1000; m /= 10) ++width;
  std::string digits = std::to_string(i);
  if (digits.size() < static_cast<size_t>(width)) digits.insert(0, static_cast<size_t>(width) - digits.size(), '0');
  return "client_" + digits;
}

}  // namespace detail

using detail::client_name;
using detail::dirichlet;
using detail::draw_categorical;
using detail::format_double;

namespace {

// Bump when the generator's output for a given spec changes: it is part of the cache key.
constexpr int kSyntheticGeneratorVersion = 1;

// Client slots for the held-out splits, far from any real client index.
constexpr uint64_t kTestStream = 0xffffffff00000001ULL;
constexpr uint64_t kPublicStream = 0xffffffff00000002ULL;

// Limits that keep a typo from allocating the machine away; the same as sim/config.cpp.
constexpr int kMaxClients = 1000000;
constexpr double kMaxSamplesMean = 1e7;
constexpr double kMaxSamplesSigma = 5.0;
constexpr int kMaxSplit = 10000000;

std::string accepted_tasks() {
  std::string s;
  for (const auto& n : synthetic_task_names()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

// The families a spec uses, as indices into the fixed family table, in the spec's order.
std::vector<int> chosen_families(const SyntheticSpec& spec) {
  std::vector<int> fam;
  if (spec.tasks.empty()) {
    for (int i = 0; i < detail::n_task_families(); ++i) fam.push_back(i);
    return fam;
  }
  for (const auto& t : spec.tasks) fam.push_back(detail::find_task_family(t));
  return fam;
}

// Lognormal with E[n] = mean: mu = ln(mean) - sigma^2 / 2 (the lognormal mean is
// exp(mu + sigma^2 / 2)). The min_samples floor lifts the realised mean slightly.
int draw_sample_count(const SyntheticSpec& spec, uint64_t client) {
  double n = spec.samples_mean;
  if (spec.samples_sigma > 0.0) {
    Rng rng(spec.seed, client, 0, Purpose::data_split);
    const double mu = std::log(spec.samples_mean) - 0.5 * spec.samples_sigma * spec.samples_sigma;
    n = std::exp(mu + spec.samples_sigma * rng.normal());
  }
  n = std::min(n, 1e9);  // keeps llround defined for extreme draws
  return std::max(spec.min_samples, static_cast<int>(std::llround(n)));
}

Sample make_sample(const std::vector<int>& families, size_t task, Rng& rng) {
  detail::TaskInstance t = detail::make_task_instance(families[task], rng);
  Sample s;
  s.instruction = std::move(t.instruction);
  s.response = t.answer;  // every synthetic client is high quality in this version
  s.answer = std::move(t.answer);
  s.task = static_cast<int32_t>(task);
  s.quality = 1.0f;
  return s;
}

}  // namespace

void validate_synthetic_spec(const SyntheticSpec& s) {
  auto fail = [](const std::string& key, const std::string& value, const std::string& accepted) {
    throw UserError(key + ": " + value + " is not accepted; expected " + accepted);
  };
  if (s.n_clients < (s.preset.empty() ? 1 : 0) || s.n_clients > kMaxClients)
    fail("federation.clients", std::to_string(s.n_clients), "an integer in [1, " + std::to_string(kMaxClients) + "]");
  if (!(std::isfinite(s.samples_mean) && s.samples_mean > 0.0 && s.samples_mean <= kMaxSamplesMean))
    fail("data.samples_mean", format_double(s.samples_mean),
         "a number in (0, " + std::to_string(static_cast<long long>(kMaxSamplesMean)) + "]");
  if (!(std::isfinite(s.samples_sigma) && s.samples_sigma >= 0.0 && s.samples_sigma <= kMaxSamplesSigma))
    fail("data.samples_sigma", format_double(s.samples_sigma),
         "a number in [0, " + format_double(kMaxSamplesSigma) + "]");
  if (s.min_samples < 1 || s.min_samples > kMaxSamplesMean)
    fail("data.min_samples", std::to_string(s.min_samples),
         "an integer in [1, " + std::to_string(static_cast<long long>(kMaxSamplesMean)) + "]");
  if (!(std::isfinite(s.dirichlet_alpha) && s.dirichlet_alpha > 0.0))
    fail("data.dirichlet_alpha", format_double(s.dirichlet_alpha), "a finite number > 0");
  if (s.n_test < 0 || s.n_test > kMaxSplit)
    fail("data.test_samples", std::to_string(s.n_test), "an integer in [0, " + std::to_string(kMaxSplit) + "]");
  if (s.n_public < 0 || s.n_public > kMaxSplit)
    fail("data.public_samples", std::to_string(s.n_public), "an integer in [0, " + std::to_string(kMaxSplit) + "]");
  detail::validate_extension_fields(s);
  if (!s.preset.empty()) return;  // the preset's own task list applies
  for (size_t i = 0; i < s.public_tasks.size(); ++i) {
    if (detail::find_task_family(s.public_tasks[i]) < 0)
      fail("data.public_tasks", "'" + s.public_tasks[i] + "'", "task families from: " + accepted_tasks());
    for (size_t j = 0; j < i; ++j)
      if (s.public_tasks[j] == s.public_tasks[i])
        fail("data.public_tasks", "'" + s.public_tasks[i] + "' (listed twice)", "each task at most once");
  }
  for (size_t i = 0; i < s.tasks.size(); ++i) {
    if (detail::find_task_family(s.tasks[i]) < 0)
      fail("data.tasks", "'" + s.tasks[i] + "'", "task families from: " + accepted_tasks());
    for (size_t j = 0; j < i; ++j)
      if (s.tasks[j] == s.tasks[i]) fail("data.tasks", "'" + s.tasks[i] + "' (listed twice)", "each task at most once");
  }
}

std::string synthetic_spec_yaml(const SyntheticSpec& s) {
  if (!s.preset.empty()) return detail::preset_spec_yaml(s);
  std::ostringstream os;
  os << "generator: synthetic\n"
     << "generator_version: " << kSyntheticGeneratorVersion << "\n"
     << "n_clients: " << s.n_clients << "\n"
     << "samples_mean: " << format_double(s.samples_mean) << "\n"
     << "samples_sigma: " << format_double(s.samples_sigma) << "\n"
     << "min_samples: " << s.min_samples << "\n"
     << "dirichlet_alpha: " << format_double(s.dirichlet_alpha) << "\n"
     << "tasks: [";
  // The resolved list, so "all tasks" and the same list spelled out give the same key.
  const std::vector<int> fam = chosen_families(s);
  for (size_t i = 0; i < fam.size(); ++i)
    os << (i ? ", " : "") << (fam[i] >= 0 ? detail::task_family_name(fam[i]) : s.tasks[i].c_str());
  os << "]\n";
  if (!s.public_tasks.empty()) {  // written only when set, so older keys stay valid
    os << "public_tasks: [";
    for (size_t i = 0; i < s.public_tasks.size(); ++i) os << (i ? ", " : "") << s.public_tasks[i];
    os << "]\n";
  }
  os << "n_test: " << s.n_test << "\n"
     << "n_public: " << s.n_public << "\n"
     << "seed: " << s.seed << "\n"
     << detail::partition_yaml(s);
  return os.str();
}

FederatedDataset generate_synthetic(const SyntheticSpec& spec) {
  validate_synthetic_spec(spec);
  if (!spec.preset.empty()) return detail::generate_preset(spec);
  const std::vector<int> families = chosen_families(spec);
  const size_t n_tasks = families.size();

  // The public split's families follow the clients' in task_names, so indices stay valid.
  std::vector<int> all_families = families;
  std::vector<size_t> public_index;
  if (spec.public_tasks.empty()) {
    for (size_t t = 0; t < n_tasks; ++t) public_index.push_back(t);
  } else {
    for (const auto& name : spec.public_tasks) {
      const int f = detail::find_task_family(name);
      auto it = std::find(all_families.begin(), all_families.end(), f);
      if (it == all_families.end()) it = all_families.insert(all_families.end(), f);
      public_index.push_back(static_cast<size_t>(it - all_families.begin()));
    }
  }

  FederatedDataset d;
  d.name = "synthetic";
  for (int f : all_families) d.task_names.emplace_back(detail::task_family_name(f));
  d.generator_yaml = synthetic_spec_yaml(spec);

  d.clients.resize(static_cast<size_t>(spec.n_clients));
  for (int c = 0; c < spec.n_clients; ++c) {
    check_stop();  // SIGINT/SIGTERM: a million clients take a while
    const uint64_t cu = static_cast<uint64_t>(c);
    ClientData& client = d.clients[static_cast<size_t>(c)];
    client.name = client_name(c, spec.n_clients);
    const int n = draw_sample_count(spec, cu);
    Rng mix_rng(spec.seed, cu, 1, Purpose::data_split);
    const std::vector<double> mix = dirichlet(mix_rng, spec.dirichlet_alpha, n_tasks);
    client.samples.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      Rng rng(spec.seed, cu, static_cast<uint64_t>(i), Purpose::data_generation);
      const size_t task = draw_categorical(rng, mix);
      client.samples.push_back(make_sample(families, task, rng));
    }
  }

  // Test: round-robin over tasks so every family is scored on (nearly) equal footing.
  d.test.reserve(static_cast<size_t>(spec.n_test));
  for (int i = 0; i < spec.n_test; ++i) {
    if (i % 4096 == 0) check_stop();
    Rng rng(spec.seed, kTestStream, static_cast<uint64_t>(i), Purpose::data_generation);
    d.test.push_back(make_sample(families, static_cast<size_t>(i) % n_tasks, rng));
  }
  // Public: IID over tasks, for pretraining the base model.
  d.public_split.reserve(static_cast<size_t>(spec.n_public));
  for (int i = 0; i < spec.n_public; ++i) {
    if (i % 4096 == 0) check_stop();
    Rng rng(spec.seed, kPublicStream, static_cast<uint64_t>(i), Purpose::data_generation);
    const size_t task = public_index[static_cast<size_t>(rng.below(public_index.size()))];
    d.public_split.push_back(make_sample(all_families, task, rng));
  }
  return detail::apply_partition(std::move(d), spec);
}

double task_heterogeneity(const FederatedDataset& d) {
  const size_t n_tasks = d.task_names.size();
  std::vector<double> pooled(n_tasks, 0.0);
  double total = 0.0;
  for (const auto& c : d.clients)
    for (const auto& s : c.samples) {
      FEDSIM_ASSERT_MSG(s.task >= 0 && static_cast<size_t>(s.task) < n_tasks,
                        c.name << ": task index " << s.task << " outside [0, " << n_tasks << ")");
      pooled[static_cast<size_t>(s.task)] += 1.0;
      total += 1.0;
    }
  if (total == 0.0) return 0.0;
  for (auto& q : pooled) q /= total;

  // TV(p, q) = 1/2 sum_t |p_t - q_t|; weighting by n_c is the same as summing over samples.
  double weighted = 0.0;
  std::vector<double> own(n_tasks);
  for (const auto& c : d.clients) {
    if (c.samples.empty()) continue;
    std::fill(own.begin(), own.end(), 0.0);
    for (const auto& s : c.samples) own[static_cast<size_t>(s.task)] += 1.0;
    const double n = static_cast<double>(c.samples.size());
    double tv = 0.0;
    for (size_t t = 0; t < n_tasks; ++t) tv += std::abs(own[t] / n - pooled[t]);
    weighted += n * 0.5 * tv;
  }
  return weighted / total;
}

}  // namespace fedsim::datasets
