// Synthetic task families and the federated generator: ground truth, determinism, skews.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "common/error.hpp"
#include "datasets/dataset.hpp"

using namespace fedsim::datasets;

namespace {

// Independent re-implementation of each family's ground truth, written from the task
// descriptions, not from synthetic_tasks.cpp.
std::string reference_answer(const std::string& task, const std::string& arg) {
  if (task == "upper") {
    std::string s;
    for (char c : arg) s += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  }
  if (task == "reverse") return std::string(arg.rbegin(), arg.rend());
  if (task == "twice") return arg + arg;
  if (task == "first") return std::string(1, arg.front());
  if (task == "last") return std::string(1, arg.back());
  if (task == "length") return std::to_string(arg.size());
  if (task == "sort") {
    std::string s = arg;
    std::sort(s.begin(), s.end());
    return s;
  }
  if (task == "add") {
    const size_t plus = arg.find('+');
    return std::to_string(std::stoi(arg.substr(0, plus)) + std::stoi(arg.substr(plus + 1)));
  }
  return "?";
}

std::string error_of(const SyntheticSpec& spec) {
  try {
    generate_synthetic(spec);
  } catch (const fedsim::UserError& e) {
    return e.what();
  }
  return "";
}

bool same_samples(const std::vector<Sample>& a, const std::vector<Sample>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].instruction != b[i].instruction || a[i].response != b[i].response || a[i].answer != b[i].answer ||
        a[i].task != b[i].task || a[i].quality != b[i].quality)
      return false;
  return true;
}

bool same_dataset(const FederatedDataset& a, const FederatedDataset& b) {
  if (a.name != b.name || a.task_names != b.task_names || a.generator_yaml != b.generator_yaml ||
      a.clients.size() != b.clients.size() || !same_samples(a.test, b.test) ||
      !same_samples(a.public_split, b.public_split))
    return false;
  for (size_t c = 0; c < a.clients.size(); ++c)
    if (a.clients[c].name != b.clients[c].name || !same_samples(a.clients[c].samples, b.clients[c].samples))
      return false;
  return true;
}

}  // namespace

TEST_CASE("synthetic task names are fixed and ordered") {
  const std::vector<std::string> expected{"upper", "reverse", "twice", "first", "last", "length", "add", "sort"};
  CHECK(synthetic_task_names() == expected);
}

TEST_CASE("solve_task on hand-written instructions") {
  CHECK(solve_task("upper", "upper: abcd") == "ABCD");
  CHECK(solve_task("reverse", "reverse: abcd") == "dcba");
  CHECK(solve_task("twice", "twice: abc") == "abcabc");
  CHECK(solve_task("first", "first: qwer") == "q");
  CHECK(solve_task("last", "last: qwer") == "r");
  CHECK(solve_task("length", "length: abcd") == "4");
  CHECK(solve_task("length", "length: abcdef") == "6");
  CHECK(solve_task("add", "add: 12+7") == "19");
  CHECK(solve_task("add", "add: 0+0") == "0");
  CHECK(solve_task("add", "add: 49+49") == "98");
  CHECK(solve_task("sort", "sort: dbca") == "abcd");
  CHECK(solve_task("sort", "sort: zzay") == "ayzz");

  CHECK_THROWS_WITH_AS(solve_task("upper", "reverse: abcd"),
                       "instruction 'reverse: abcd' is not a 'upper' task (expected 'upper: <lowercase word>')",
                       fedsim::UserError);
  CHECK_THROWS_WITH_AS(solve_task("add", "add: 12-7"),
                       "instruction 'add: 12-7' is not a 'add' task (expected 'add: <number>+<number>')",
                       fedsim::UserError);
  CHECK_THROWS_WITH_AS(solve_task("upper", "upper: "), doctest::Contains("is not a 'upper' task"), fedsim::UserError);
  CHECK_THROWS_WITH_AS(
      solve_task("rot13", "rot13: abc"),
      "unknown synthetic task 'rot13'; accepted: upper, reverse, twice, first, last, length, add, sort",
      fedsim::UserError);
}

TEST_CASE("generated samples carry correct ground truth and fit the context") {
  SyntheticSpec spec;
  spec.n_clients = 30;
  spec.n_test = 80;
  spec.n_public = 400;
  const FederatedDataset d = generate_synthetic(spec);
  REQUIRE(d.task_names == synthetic_task_names());
  CHECK(d.name == "synthetic");

  size_t checked = 0;
  std::vector<int> seen(d.task_names.size(), 0);
  auto check_all = [&](const std::vector<Sample>& samples) {
    for (const Sample& s : samples) {
      REQUIRE(s.task >= 0);
      REQUIRE(s.task < static_cast<int>(d.task_names.size()));
      const std::string& task = d.task_names[static_cast<size_t>(s.task)];
      const std::string prefix = task + ": ";
      REQUIRE(s.instruction.compare(0, prefix.size(), prefix) == 0);
      const std::string arg = s.instruction.substr(prefix.size());
      CHECK(s.answer == reference_answer(task, arg));
      CHECK(s.response == s.answer);
      CHECK(s.quality == 1.0f);
      CHECK(s.instruction.size() <= kSyntheticMaxInstructionBytes);
      CHECK(s.response.size() <= kSyntheticMaxResponseBytes);
      if (task == "add") {
        const size_t plus = arg.find('+');
        CHECK(std::stoi(arg.substr(0, plus)) <= 49);
        CHECK(std::stoi(arg.substr(plus + 1)) <= 49);
      } else {
        CHECK(arg.size() >= 3);
        CHECK(arg.size() <= 6);
      }
      ++seen[static_cast<size_t>(s.task)];
      ++checked;
    }
  };
  for (const auto& c : d.clients) check_all(c.samples);
  check_all(d.test);
  check_all(d.public_split);
  CHECK(checked == d.n_samples() + 80 + 400);
  for (int n : seen) CHECK(n > 0);

  // Test split: round-robin over tasks, 80 = 10 per task.
  for (size_t i = 0; i < d.test.size(); ++i) CHECK(d.test[i].task == static_cast<int>(i % 8));
}

TEST_CASE("client names, counts and a task subset") {
  SyntheticSpec spec;
  spec.n_clients = 12;
  spec.tasks = {"sort", "add"};
  spec.samples_sigma = 0.0;
  spec.samples_mean = 7.4;
  const FederatedDataset d = generate_synthetic(spec);
  REQUIRE(d.clients.size() == 12);
  CHECK(d.clients[0].name == "client_000");
  CHECK(d.clients[11].name == "client_011");
  CHECK(d.task_names == std::vector<std::string>{"sort", "add"});
  for (const auto& c : d.clients) CHECK(c.samples.size() == 7);  // sigma 0: round(7.4) for all
  CHECK(d.n_samples() == 84);
  for (const auto& s : d.clients[3].samples)
    CHECK(s.answer == solve_task(d.task_names[static_cast<size_t>(s.task)], s.instruction));

  spec.n_clients = 1001;  // names widen to keep lexicographic = client order
  spec.samples_mean = 4;
  const FederatedDataset big = generate_synthetic(spec);
  CHECK(big.clients[0].name == "client_0000");
  CHECK(big.clients[1000].name == "client_1000");
  CHECK(std::is_sorted(big.clients.begin(), big.clients.end(),
                       [](const ClientData& a, const ClientData& b) { return a.name < b.name; }));
}

TEST_CASE("generation is deterministic per seed and independent of client count") {
  SyntheticSpec spec;
  spec.n_clients = 25;
  const FederatedDataset a = generate_synthetic(spec);
  const FederatedDataset b = generate_synthetic(spec);
  CHECK(same_dataset(a, b));

  SyntheticSpec other = spec;
  other.seed = 2;
  const FederatedDataset c = generate_synthetic(other);
  CHECK_FALSE(same_dataset(a, c));
  CHECK_FALSE(same_samples(a.clients[0].samples, c.clients[0].samples));
  CHECK_FALSE(same_samples(a.test, c.test));
  CHECK(a.generator_yaml != c.generator_yaml);

  // Streams are keyed by client, not by generation order: more clients leave the first alone.
  SyntheticSpec more = spec;
  more.n_clients = 40;
  const FederatedDataset m = generate_synthetic(more);
  for (size_t i = 0; i < a.clients.size(); ++i) CHECK(same_samples(a.clients[i].samples, m.clients[i].samples));
  CHECK(same_samples(a.test, m.test));
  CHECK(same_samples(a.public_split, m.public_split));
  // Public and test use their own streams: no shared prefix with client 0 by construction.
  CHECK(a.public_split[0].instruction != a.clients[0].samples[0].instruction);
}

TEST_CASE("generator_yaml is canonical") {
  SyntheticSpec spec;
  const std::string y = synthetic_spec_yaml(spec);
  CHECK(y ==
        "generator: synthetic\n"
        "generator_version: 1\n"
        "n_clients: 20\n"
        "samples_mean: 60\n"
        "samples_sigma: 0.6\n"
        "min_samples: 4\n"
        "dirichlet_alpha: 0.5\n"
        "tasks: [upper, reverse, twice, first, last, length, add, sort]\n"
        "n_test: 200\n"
        "n_public: 2000\n"
        "seed: 1\n");
  SyntheticSpec spelled = spec;
  spelled.tasks = synthetic_task_names();
  CHECK(synthetic_spec_yaml(spelled) == y);  // "all" and the full list are the same data
  SyntheticSpec alpha = spec;
  alpha.dirichlet_alpha = 0.1 + 0.2;  // 0.30000000000000004 must not print as 0.3
  CHECK(synthetic_spec_yaml(alpha).find("dirichlet_alpha: 0.30000000000000004\n") != std::string::npos);
  CHECK(generate_synthetic(spec).generator_yaml == y);
}

TEST_CASE("lognormal sample counts have the requested mean") {
  SyntheticSpec spec;
  spec.n_clients = 4000;
  spec.samples_mean = 60.0;
  spec.samples_sigma = 0.6;
  spec.min_samples = 1;
  spec.n_test = 0;
  spec.n_public = 0;
  const FederatedDataset d = generate_synthetic(spec);
  REQUIRE(d.clients.size() == 4000);
  const double mean = static_cast<double>(d.n_samples()) / 4000.0;
  // Std of the mean: 60 * sqrt(exp(0.36) - 1) / sqrt(4000) = 0.62; allow ~4 sigma.
  CHECK(mean == doctest::Approx(60.0).epsilon(0.045));
  size_t smallest = 1000000, largest = 0;
  for (const auto& c : d.clients) {
    smallest = std::min(smallest, c.samples.size());
    largest = std::max(largest, c.samples.size());
  }
  CHECK(smallest < 25);  // quantity skew is real
  CHECK(largest > 150);

  // FedLLM-Bench Fed-ChatbotPA shape (13 +- 21 per client) with the floor applied.
  spec.n_clients = 747;
  spec.samples_mean = 13.0;
  spec.samples_sigma = 1.13;
  spec.min_samples = 2;
  const FederatedDataset pa = generate_synthetic(spec);
  CHECK(pa.clients.size() == 747);
  for (const auto& c : pa.clients) CHECK(c.samples.size() >= 2);
  const double pa_mean = static_cast<double>(pa.n_samples()) / 747.0;
  CHECK(pa_mean > 11.5);
  CHECK(pa_mean < 16.0);
}

TEST_CASE("Dirichlet alpha controls task heterogeneity") {
  SyntheticSpec spec;
  spec.n_clients = 100;
  spec.samples_mean = 200;
  spec.samples_sigma = 0.0;
  spec.n_test = 0;
  spec.n_public = 0;
  spec.dirichlet_alpha = 0.1;
  const double skewed = task_heterogeneity(generate_synthetic(spec));
  spec.dirichlet_alpha = 100.0;
  const double iid = task_heterogeneity(generate_synthetic(spec));
  MESSAGE("task heterogeneity: alpha 0.1 -> " << skewed << ", alpha 100 -> " << iid);
  CHECK(skewed > 0.5);
  CHECK(iid < 0.15);
  CHECK(skewed <= 1.0);
  CHECK(iid >= 0.0);

  // The config's smallest alpha (1e-4): every Gamma draw may underflow to 0; the generator
  // must fall back to the one-hot limit instead of dividing 0 by 0 (the test main traps it).
  spec.dirichlet_alpha = 1e-4;
  spec.samples_mean = 20;
  const FederatedDataset one_task = generate_synthetic(spec);
  int clients_with_one_task = 0;
  for (const auto& c : one_task.clients) {
    bool single = true;
    for (const auto& s : c.samples) single = single && s.task == c.samples.front().task;
    clients_with_one_task += single ? 1 : 0;
  }
  CHECK(clients_with_one_task == 100);
}

TEST_CASE("task_heterogeneity on hand-made data") {
  FederatedDataset d;
  d.task_names = {"a", "b"};
  CHECK(task_heterogeneity(d) == 0.0);  // no clients: defined, not 0/0
  Sample a, b;
  a.task = 0;
  b.task = 1;
  // Two equal clients with one task each: pooled (1/2, 1/2), each TV = 1/2.
  d.clients = {{"x", {a, a}}, {"y", {b, b}}};
  CHECK(task_heterogeneity(d) == doctest::Approx(0.5));
  // Identical mixes: 0. An empty client adds no weight.
  d.clients = {{"x", {a, b}}, {"y", {b, a, a, b}}, {"z", {}}};
  CHECK(task_heterogeneity(d) == doctest::Approx(0.0));
  // Sizes 3 (all a) and 1 (b): pooled (3/4, 1/4); TVs 1/4 and 3/4, weighted (3*1/4 + 1*3/4)/4.
  d.clients = {{"x", {a, a, a}}, {"y", {b}}};
  CHECK(task_heterogeneity(d) == doctest::Approx(0.375));
}

TEST_CASE("invalid specs fail with the key, the value and what is accepted") {
  SyntheticSpec s;
  s.n_clients = 0;
  CHECK(error_of(s) == "federation.clients: 0 is not accepted; expected an integer in [1, 1000000]");
  s = SyntheticSpec();
  s.samples_mean = 0.0;
  CHECK(error_of(s) == "data.samples_mean: 0 is not accepted; expected a number in (0, 10000000]");
  s = SyntheticSpec();
  s.samples_sigma = -0.5;
  CHECK(error_of(s) == "data.samples_sigma: -0.5 is not accepted; expected a number in [0, 5]");
  s = SyntheticSpec();
  s.dirichlet_alpha = 0.0;
  CHECK(error_of(s) == "data.dirichlet_alpha: 0 is not accepted; expected a finite number > 0");
  s = SyntheticSpec();
  s.min_samples = 0;
  CHECK(error_of(s) == "data.min_samples: 0 is not accepted; expected an integer in [1, 10000000]");
  s = SyntheticSpec();
  s.n_test = -1;
  CHECK(error_of(s) == "data.test_samples: -1 is not accepted; expected an integer in [0, 10000000]");
  s = SyntheticSpec();
  s.tasks = {"upper", "rot13"};
  CHECK(error_of(s) ==
        "data.tasks: 'rot13' is not accepted; expected task families from: upper, reverse, twice, first, last, length, "
        "add, sort");
  s.tasks = {"upper", "upper"};
  CHECK(error_of(s) == "data.tasks: 'upper' (listed twice) is not accepted; expected each task at most once");
  CHECK(error_of(SyntheticSpec()) == "");
}
