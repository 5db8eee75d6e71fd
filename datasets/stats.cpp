// Table-1-style summary of a federated data set (FedLLM-Bench Table 1 columns).
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "datasets/dataset.hpp"

namespace fedsim::datasets {
namespace {

struct Acc {  // running mean and population std (numpy's default, ddof = 0)
  double n = 0, s1 = 0, s2 = 0;
  void add(double x) { n += 1, s1 += x, s2 += x * x; }
  double mean() const { return n > 0 ? s1 / n : 0.0; }
  double std() const { return n > 0 ? std::sqrt(std::max(0.0, s2 / n - mean() * mean())) : 0.0; }
};

// Size-weighted mean TV distance between each client's label distribution and the pooled one.
template <class Label>
double heterogeneity(const FederatedDataset& d, size_t n_labels, Label label) {
  std::vector<double> pooled(n_labels, 0.0), own(n_labels);
  double total = 0;
  for (const auto& c : d.clients)
    for (const auto& s : c.samples)
      if (const int l = label(s); l >= 0) pooled[static_cast<size_t>(l)] += 1, total += 1;
  if (total == 0) return 0.0;
  for (auto& q : pooled) q /= total;
  double weighted = 0;
  for (const auto& c : d.clients) {
    std::fill(own.begin(), own.end(), 0.0);
    double n = 0;
    for (const auto& s : c.samples)
      if (const int l = label(s); l >= 0) own[static_cast<size_t>(l)] += 1, n += 1;
    if (n == 0) continue;
    double tv = 0;
    for (size_t t = 0; t < n_labels; ++t) tv += std::abs(own[t] / n - pooled[t]);
    weighted += n * 0.5 * tv;
  }
  return weighted / total;
}

std::string fmt(double x, const char* f) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

}  // namespace

double language_heterogeneity(const FederatedDataset& d) {
  return heterogeneity(d, d.languages.size(), [](const Sample& s) { return s.language; });
}

DatasetStats dataset_stats(const FederatedDataset& d) {
  DatasetStats st;
  st.name = d.name;
  st.kind = kind_name(d.kind);
  st.clients = d.clients.size();
  Acc per_client, ins, res, qual;
  std::vector<size_t> lang(d.languages.size() + 1, 0);
  for (const auto& c : d.clients) {
    size_t n = 0;
    for (const auto& s : c.samples) {
      const size_t exchanges = s.turns.empty() ? 1 : s.turns.size() / 2;
      for (size_t e = 0; e < exchanges; ++e) {
        ins.add(static_cast<double>(s.turns.empty() ? s.instruction.size() : s.turns[2 * e].size()));
        res.add(static_cast<double>(s.turns.empty() ? s.response.size() : s.turns[2 * e + 1].size()));
        qual.add(s.quality);
        ++lang[static_cast<size_t>(s.language + 1)];
      }
      n += exchanges;
      st.conversations += s.turns.empty() ? 0 : 1;
    }
    // A sample is what n_i counts: an instruction-response pair, a preference pair, or a whole
    // conversation (FedLLM-Bench's multi-turn loader, utils/benchmark_dataset.py).
    per_client.add(static_cast<double>(c.samples.size()));
    st.samples += c.samples.size();
    st.exchanges += n;
  }
  st.per_client_mean = per_client.mean(), st.per_client_std = per_client.std();
  st.instruction_mean = ins.mean(), st.instruction_std = ins.std();
  st.response_mean = res.mean(), st.response_std = res.std();
  st.quality_mean = qual.mean(), st.quality_std = qual.std();
  for (size_t l = 0; l < lang.size(); ++l)
    if (lang[l] > 0) st.languages.emplace_back(l == 0 ? "unknown" : d.languages[l - 1], lang[l]);
  st.task_heterogeneity = task_heterogeneity(d);
  st.language_heterogeneity = language_heterogeneity(d);
  return st;
}

std::string stats_table(const DatasetStats& s) {
  auto pm = [](double m, double sd, const char* f) { return fmt(m, f) + " +- " + fmt(sd, f); };
  std::string langs;
  for (const auto& [code, n] : s.languages) langs += (langs.empty() ? "" : ", ") + code + " " + std::to_string(n);
  std::string out;
  auto row = [&](const std::string& k, const std::string& v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%-28s ", k.c_str());
    out += buf + v + "\n";
  };
  row("data set", s.name + " (" + s.kind + ")");
  row("clients", std::to_string(s.clients));
  row("samples", std::to_string(s.samples));
  if (s.conversations > 0) row("exchanges", std::to_string(s.exchanges));
  row("samples per client", pm(s.per_client_mean, s.per_client_std, "%.1f"));
  row("instruction length (bytes)", pm(s.instruction_mean, s.instruction_std, "%.1f"));
  row("response length (bytes)", pm(s.response_mean, s.response_std, "%.1f"));
  row("quality", pm(s.quality_mean, s.quality_std, "%.3f"));
  row("languages", std::to_string(s.languages.size()) + (langs.empty() ? "" : " (" + langs + ")"));
  row("task heterogeneity (TV)", fmt(s.task_heterogeneity, "%.3f"));
  row("language heterogeneity (TV)", fmt(s.language_heterogeneity, "%.3f"));
  return out;
}

std::string stats_json(const DatasetStats& s) {
  nlohmann::ordered_json j;
  j["name"] = s.name;
  j["kind"] = s.kind;
  j["clients"] = s.clients;
  j["samples"] = s.samples;
  j["conversations"] = s.conversations;
  j["exchanges"] = s.exchanges;
  j["samples_per_client"] = {{"mean", s.per_client_mean}, {"std", s.per_client_std}};
  j["instruction_bytes"] = {{"mean", s.instruction_mean}, {"std", s.instruction_std}};
  j["response_bytes"] = {{"mean", s.response_mean}, {"std", s.response_std}};
  j["quality"] = {{"mean", s.quality_mean}, {"std", s.quality_std}};
  nlohmann::ordered_json langs = nlohmann::ordered_json::object();
  for (const auto& [code, n] : s.languages) langs[code] = n;
  j["languages"] = langs;
  j["task_heterogeneity"] = s.task_heterogeneity;
  j["language_heterogeneity"] = s.language_heterogeneity;
  return j.dump(2) + "\n";
}

}  // namespace fedsim::datasets
