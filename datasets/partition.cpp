// Re-splitting pooled samples into clients: IID, Dirichlet over a label (Hsu et al. 2019),
// pathological shards (McMahan et al., AISTATS 2017, Sec. 3: sort by label, cut into
// n_clients * k shards, deal k random shards to each client), with quantity skew.
//
// Streams: pool shuffle (seed, kPoolStream, 0, data_split); client c's weight and label mix
// (seed, c, 4..5, data_split).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/error.hpp"
#include "common/schema.hpp"
#include "common/rng.hpp"
#include "datasets/dataset.hpp"
#include "synthetic_tasks.hpp"

namespace fedsim::datasets {
namespace {

constexpr uint64_t kPoolStream = 0xffffffff00000004ULL;
constexpr size_t kBins = 10;  // length and quality labels are deciles

size_t text_bytes(const Sample& s) {
  size_t n = s.instruction.size() + s.response.size();
  if (!s.turns.empty()) {
    n = 0;
    for (const auto& t : s.turns) n += t.size();
  }
  return n;
}

// Label of every pooled sample under p.by; deciles by rank for length and quality.
std::vector<size_t> labels_of(const std::vector<const Sample*>& pool, PartitionBy by, size_t& n_labels) {
  std::vector<size_t> label(pool.size());
  if (by == PartitionBy::task || by == PartitionBy::language) {
    n_labels = 0;
    for (size_t i = 0; i < pool.size(); ++i) {
      const int32_t v = by == PartitionBy::task ? pool[i]->task : pool[i]->language + 1;  // language -1 -> label 0
      label[i] = static_cast<size_t>(std::max(0, v));
      n_labels = std::max(n_labels, label[i] + 1);
    }
    return label;
  }
  std::vector<size_t> order(pool.size());
  std::iota(order.begin(), order.end(), size_t{0});
  auto key = [&](size_t i) { return by == PartitionBy::length ? static_cast<double>(text_bytes(*pool[i])) : pool[i]->quality; };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return key(a) < key(b); });
  for (size_t r = 0; r < order.size(); ++r) label[order[r]] = r * kBins / std::max<size_t>(1, order.size());
  n_labels = kBins;
  return label;
}

// Largest-remainder split of `total` in proportion to w (each client at least 1 when possible).
std::vector<size_t> allocate(size_t total, const std::vector<double>& w) {
  const size_t n = w.size();
  std::vector<size_t> out(n, 0);
  const size_t base = total >= n ? 1 : 0;
  const size_t rest = total - base * n;
  const double sum = std::accumulate(w.begin(), w.end(), 0.0);
  std::vector<std::pair<double, size_t>> rem;
  size_t given = 0;
  for (size_t c = 0; c < n; ++c) {
    const double exact = static_cast<double>(rest) * w[c] / sum;
    out[c] = base + static_cast<size_t>(std::floor(exact));
    given += out[c] - base;
    rem.emplace_back(exact - std::floor(exact), c);
  }
  std::stable_sort(rem.begin(), rem.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = 0; given < rest; ++i, ++given) ++out[rem[i % n].second];
  return out;
}

}  // namespace

void validate_partition_spec(const PartitionSpec& p, const std::string& prefix) {
  auto fail = [&](const std::string& key, const std::string& value, const std::string& accepted) {
    throw UserError(prefix + key + ": " + value + " is not accepted; expected " + accepted);
  };
  if (p.n_clients < 1 || p.n_clients > 1000000) fail("", std::to_string(p.n_clients) + " clients", "[1, 1000000]");
  // The enums hold only their spellings; natural and calibrated are the generator's, not a re-split's.
  if (p.scheme == Partition::natural) fail("", "'natural'", "iid, dirichlet or shards");
  if (!(std::isfinite(p.alpha) && p.alpha > 0)) fail("_alpha", detail::format_double(p.alpha), "a finite number > 0");
  if (p.shards_per_client < 1 || p.shards_per_client > 1000)
    fail(" shards_per_client", std::to_string(p.shards_per_client), "an integer in [1, 1000]");
  if (p.quantity == Quantity::calibrated) fail(" quantity", "'calibrated'", "equal, lognormal or powerlaw");
  if (!(std::isfinite(p.quantity_param) && p.quantity_param >= 0 && p.quantity_param <= 5) ||
      (p.quantity == Quantity::powerlaw && !(p.quantity_param > 1)))
    fail(" quantity_param", detail::format_double(p.quantity_param), "[0, 5] (lognormal), (1, 5] (powerlaw)");
}

FederatedDataset repartition(const FederatedDataset& d, const PartitionSpec& p) {
  validate_partition_spec(p, "partition");
  std::vector<const Sample*> pool;
  for (const auto& c : d.clients)
    for (const auto& s : c.samples) pool.push_back(&s);
  Rng shuffle(p.seed, kPoolStream, 0, Purpose::data_split);
  for (size_t i = pool.size(); i > 1; --i) std::swap(pool[i - 1], pool[shuffle.below(i)]);
  size_t n_labels = 0;
  const std::vector<size_t> label = labels_of(pool, p.by, n_labels);

  const size_t n = static_cast<size_t>(p.n_clients);
  std::vector<double> w(n, 1.0);
  for (size_t c = 0; c < n; ++c) {
    Rng rng(p.seed, c, 4, Purpose::data_split);
    if (p.quantity == Quantity::lognormal) w[c] = std::exp(p.quantity_param * rng.normal());
    if (p.quantity == Quantity::powerlaw) w[c] = std::pow(1.0 - rng.uniform(), -1.0 / p.quantity_param);
  }
  const std::vector<size_t> count = allocate(pool.size(), w);

  FederatedDataset r;
  r.name = d.name;
  r.kind = d.kind;
  r.task_names = d.task_names;
  r.languages = d.languages;
  r.test = d.test;
  r.public_split = d.public_split;
  r.generator_yaml = d.generator_yaml + "repartition: " + name_of(p.scheme) + " by " + name_of(p.by) + " alpha " +
                     detail::format_double(p.alpha) + " shards " + std::to_string(p.shards_per_client) + " quantity " +
                     name_of(p.quantity) + " " + detail::format_double(p.quantity_param) + " clients " +
                     std::to_string(p.n_clients) + " seed " + std::to_string(p.seed) + "\n";
  r.clients.resize(n);
  for (size_t c = 0; c < n; ++c) {
    r.clients[c].name = detail::client_name(static_cast<int>(c), p.n_clients);
    r.clients[c].attributes["partition"] = name_of(p.scheme);
  }

  if (p.scheme == Partition::iid) {
    size_t at = 0;
    for (size_t c = 0; c < n; ++c)
      for (size_t k = 0; k < count[c]; ++k) r.clients[c].samples.push_back(*pool[at++]);
  } else if (p.scheme == Partition::shards) {
    std::vector<size_t> order(pool.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return label[a] < label[b]; });
    const size_t n_shards = n * static_cast<size_t>(p.shards_per_client);
    std::vector<size_t> shard(n_shards);
    std::iota(shard.begin(), shard.end(), size_t{0});
    for (size_t i = n_shards; i > 1; --i) std::swap(shard[i - 1], shard[shuffle.below(i)]);
    for (size_t k = 0; k < n_shards; ++k) {
      const size_t c = k / static_cast<size_t>(p.shards_per_client), s = shard[k];
      for (size_t i = s * order.size() / n_shards; i < (s + 1) * order.size() / n_shards; ++i)
        r.clients[c].samples.push_back(*pool[order[i]]);
    }
  } else {  // dirichlet: each client draws its mix, then samples labels from what is left
    std::vector<std::vector<size_t>> by_label(n_labels);
    for (size_t i = 0; i < pool.size(); ++i) by_label[label[i]].push_back(i);
    // Hsu et al. (2019): q ~ Dir(alpha * prior) with the pooled label shares as prior (scaled by
    // the label count so that alpha is per label for a uniform prior); large alpha then gives
    // every client the pooled mix and the label pools run out together.
    std::vector<double> concentration(n_labels);
    for (size_t l = 0; l < n_labels; ++l)
      concentration[l] = std::max(1e-6, p.alpha * static_cast<double>(n_labels) * static_cast<double>(by_label[l].size()) /
                                             static_cast<double>(std::max<size_t>(1, pool.size())));
    for (size_t c = 0; c < n; ++c) {
      Rng rng(p.seed, c, 5, Purpose::data_split);
      std::vector<double> mix = detail::dirichlet(rng, concentration);
      for (size_t k = 0; k < count[c]; ++k) {
        double left = 0;
        for (size_t l = 0; l < n_labels; ++l) left += by_label[l].empty() ? 0.0 : mix[l];
        if (!(left > 0)) {  // the client's labels ran out: fall back to what remains, uniformly
          for (size_t l = 0; l < n_labels; ++l) mix[l] = by_label[l].empty() ? 0.0 : 1.0;
        }
        std::vector<double> q(n_labels);
        double sum = 0;
        for (size_t l = 0; l < n_labels; ++l) sum += (q[l] = by_label[l].empty() ? 0.0 : mix[l]);
        for (auto& x : q) x /= sum;
        const size_t l = detail::draw_categorical(rng, q);
        FEDSIM_ASSERT(!by_label[l].empty());
        r.clients[c].samples.push_back(*pool[by_label[l].back()]);
        by_label[l].pop_back();
      }
    }
  }
  return r;
}

}  // namespace fedsim::datasets
