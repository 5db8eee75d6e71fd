// Synthetic stand-ins for the four FedLLM-Bench data sets, calibrated to its Table 1
// (FedLLM-Bench, Ye et al., NeurIPS 2024 Datasets and Benchmarks, Table 1). Lengths are bytes (fedsim's byte tokenizer: one byte = one token);
// Table 1 counts tokens of the original tokenizers and we map one such token to one byte, so
// sequence lengths (and compute) match the benchmark while the text is about 4x shorter.
//
// Every sample is a procedural task with ground truth (synthetic_tasks.cpp, plus translation
// between synthetic languages), padded with filler sentences to its drawn length: instruction
// = "<filler>\n<task>", response = "<answer>\n<filler>" (the answer is always the first line).
//
// Random streams (seed, slot, index, purpose):
//   client counts (seed, kCountStream, 0, data_split); client c's traits (seed, c, 1..5, data_split)
//   client c's sample (or conversation) i (seed, c, i, data_generation)
//   test / public sample i (seed, kTestStream / kPublicStream, i, data_generation)
#include <algorithm>
#include <cmath>
#include <sstream>

#include "common/stop.hpp"
#include "common/error.hpp"
#include "datasets/dataset.hpp"
#include "synthetic_tasks.hpp"
#include "presets.hpp"
#include "text_gen.hpp"

namespace fedsim::datasets::detail {

const std::vector<Preset>& presets() {
  static const std::vector<Preset> p = {
      {"fed-aya", DataKind::sft, 38, 25513, {671, 815}, {116, 199}, {225, 411}, {0.63, 0.28},
       {"ar", "en", "es", "fr", "pt", "ru", "te", "zh"}, {1, 1, 1, 1, 1, 1, 1, 1}, true, 1, 160},
      {"fed-chatbotit", DataKind::sft, 237, 6166, {26, 33}, {68, 119}, {211, 176}, {0.67, 0.22}, {"en"}, {1}, false, 1, 50},
      // The single-turn run (100 clients): 52,703 instruction-response samples, Table 1's row.
      {"fed-wildchat", DataKind::sft, 100, 52703, {527, 477}, {331, 435}, {506, 470}, {0.79, 0.37},
       {"en", "zh", "ru", "fr", "es", "pt", "de", "it"}, {0.6, 0.15, 0.1, 0.04, 0.04, 0.03, 0.02, 0.02}, true, 1, 50},
      // The multi-turn run (50 clients): 15,406 whole conversations. Only the total is published;
      // two assumptions fill the rest: the spread of the single-turn row (std/mean = 477/527) and
      // 3.42 exchanges per conversation (52,703 / 15,406). Exchange lengths follow Table 1's row.
      {"fed-wildchat-multiturn", DataKind::multiturn, 50, 15406, {308.1, 278.9}, {331, 435}, {506, 470}, {0.79, 0.37},
       {"en", "zh", "ru", "fr", "es", "pt", "de", "it"}, {0.6, 0.15, 0.1, 0.04, 0.04, 0.03, 0.02, 0.02}, true, 3.42, 50},
      {"fed-chatbotpa", DataKind::dpo, 747, 9508, {13, 21}, {69, 124}, {218, 178}, {0.68, 0.21}, {"en"}, {1}, false, 1, 50},
  };
  return p;
}

const Preset& find_preset(const std::string& name) {
  for (const auto& p : presets())
    if (name == p.name) return p;
  std::string accepted;
  for (const auto& p : presets()) accepted += (accepted.empty() ? "" : ", ") + std::string(p.name);
  throw UserError("data.preset: '" + name + "' is not a preset; accepted: " + accepted);
}

namespace {

constexpr uint64_t kCountStream = 0xffffffff00000003ULL;
constexpr uint64_t kTestStream = 0xffffffff00000001ULL;
constexpr uint64_t kPublicStream = 0xffffffff00000002ULL;
constexpr double kGolden = 0.6180339887498949;  // Weyl step: spreads a client's quantiles evenly

// A task of the preset: families 0..7 of synthetic_tasks.cpp, then translation (index 8).
struct Task {
  std::string instruction, answer;
};
Task make_task(const Preset& p, const std::vector<int>& langs, size_t task, size_t lang, Rng& rng) {
  if (task < static_cast<size_t>(n_task_families())) {
    TaskInstance t = make_task_instance(static_cast<int>(task), rng);
    return {std::move(t.instruction), std::move(t.answer)};
  }
  // Translation into the sample's language from English (from another language when it is English).
  const int en = find_language("en");
  int src = en, dst = langs[lang];
  if (dst == en) {
    src = langs[(lang + 1 + rng.below(langs.size() - 1)) % langs.size()];
    if (langs.size() == 1) src = find_language("de");
  }
  Instance t = make_translation(src, dst, rng);
  return {std::move(t.instruction), std::move(t.answer)};
}

struct Lengths {  // per text field: floored-lognormal parameters after the client factor's share
  LogNormal instruction, response;
  double skew_i = 0, skew_r = 0;
};

// Padding helpers: the task stays intact, filler fills up to `target` bytes.
std::string pad_before(const std::string& task, size_t target, int lang, Rng& rng) {
  if (target <= task.size() + 1) return task;
  return filler(lang, target - task.size() - 1, rng) + "\n" + task;
}
std::string pad_after(const std::string& head, size_t target, int lang, Rng& rng) {
  if (target <= head.size() + 1) return head;
  return head + "\n" + filler(lang, target - head.size() - 1, rng);
}

size_t draw_length(const LogNormal& p, double factor, double u) {
  const double z = normal_quantile(std::clamp(u, 1e-9, 1 - 1e-9));
  return static_cast<size_t>(std::llround(std::min(1e7, factor * std::exp(p.mu + p.sigma * z))));
}

double frac(double x) { return x - std::floor(x); }

// Quality split into a between-client and a within-client Beta (law of total variance):
// Var(mu_c) = skew * s^2, E[Var(q | mu_c)] = (1 - skew) * s^2.
struct QualityModel {
  double m, kb, kw;  // mean, between and within concentrations
};
QualityModel quality_model(const Moments& q, double skew) {
  const double v = q.std * q.std, mm = q.mean * (1 - q.mean);
  QualityModel qm{q.mean, 1e9, 1e9};
  if (skew > 0) qm.kb = mm / (skew * v) - 1;
  qm.kw = (mm - skew * v) / ((1 - skew) * v) - 1;
  return qm;
}

}  // namespace

FederatedDataset generate_preset(const SyntheticSpec& s) {
  const Preset& p = find_preset(s.preset);
  const int n_clients = s.n_clients > 0 ? s.n_clients : p.clients;
  std::vector<int> langs;
  for (const char* code : p.languages) langs.push_back(find_language(code));
  const size_t n_tasks = static_cast<size_t>(n_task_families()) + (p.translate ? 1 : 0);

  FederatedDataset d;
  d.name = p.name;
  d.kind = p.kind;
  d.task_names = synthetic_task_names();
  if (p.translate) d.task_names.emplace_back("translate");
  for (const char* code : p.languages) d.languages.emplace_back(code);
  d.generator_yaml = preset_spec_yaml(s);

  // Floors: a text is never shorter than its task, so calibrate the lognormal of the drawn
  // target against the mean task length (measured on a fixed stream).
  double task_i = 0, task_r = 0;
  for (uint64_t k = 0; k < 256; ++k) {
    Rng rng(s.seed, kTestStream, 1000000 + k, Purpose::data_split);
    const Task t = make_task(p, langs, rng.below(n_tasks), rng.below(langs.size()), rng);
    task_i += static_cast<double>(t.instruction.size()) / 256;
    task_r += static_cast<double>(styled(1, t.answer).size()) / 256;
  }
  Lengths len;
  len.instruction = calibrate_floored_lognormal(p.instruction.mean * s.length_scale, p.instruction.std * s.length_scale, task_i);
  len.response = calibrate_floored_lognormal(p.response.mean * s.length_scale, p.response.std * s.length_scale, task_r);
  // The client factor takes part of the log-variance: sigma_total^2 = sigma_sample^2 + skew^2.
  auto split = [&](LogNormal& ln, double& skew) {
    // log(F * L) = mu + sigma_sample z + skew z': F's mean-one shift -skew^2/2 moves into mu.
    skew = std::min(s.length_skew, 0.9 * ln.sigma);
    ln.sigma = std::sqrt(ln.sigma * ln.sigma - skew * skew);
    ln.mu += 0.5 * skew * skew;
  };
  split(len.instruction, len.skew_i);
  split(len.response, len.skew_r);

  // Per-client counts: samples, or conversations for multiturn (what n_i counts upstream).
  // Calibrated counts add up to Table 1's total exactly (scaled to n_clients when it differs).
  std::vector<int> counts(static_cast<size_t>(n_clients));
  const int min_count = 1;
  if (s.quantity == Quantity::calibrated) {
    Rng rng(s.seed, kCountStream, 0, Purpose::data_split);
    const int64_t total = std::llround(static_cast<double>(p.total) * n_clients / p.clients);
    counts = calibrated_counts(n_clients, static_cast<double>(total) / n_clients, p.per_client.std, min_count, rng, total);
  } else {
    for (int c = 0; c < n_clients; ++c) {
      Rng rng(s.seed, static_cast<uint64_t>(c), 0, Purpose::data_split);
      double n = p.per_client.mean;
      const double a = s.quantity_param;
      if (s.quantity == Quantity::lognormal) n = std::exp(std::log(n) - 0.5 * a * a + a * rng.normal());
      if (s.quantity == Quantity::powerlaw) n = n * (a - 1) / a * std::pow(1.0 - rng.uniform(), -1.0 / a);  // Pareto(x_m, a)
      counts[static_cast<size_t>(c)] = std::max(min_count, static_cast<int>(std::llround(std::min(n, 1e8))));
    }
  }

  // Client traits, then corrections so that count-weighted means hit the table exactly.
  const QualityModel qm = quality_model(p.quality, s.quality_skew);
  std::vector<double> q_mean(counts.size()), f_i(counts.size()), f_r(counts.size());
  double total = 0, wq = 0, wfi = 0, wfr = 0;
  for (size_t c = 0; c < counts.size(); ++c) {
    Rng rng(s.seed, c, 2, Purpose::data_split);
    q_mean[c] = s.quality_skew > 0 ? beta(rng, qm.m * qm.kb, (1 - qm.m) * qm.kb) : qm.m;
    f_i[c] = std::exp(len.skew_i * rng.normal() - 0.5 * len.skew_i * len.skew_i);
    f_r[c] = std::exp(len.skew_r * rng.normal() - 0.5 * len.skew_r * len.skew_r);
    total += counts[c];
    wq += counts[c] * q_mean[c];
    wfi += counts[c] * f_i[c];
    wfr += counts[c] * f_r[c];
  }
  wq /= total;
  for (size_t c = 0; c < counts.size(); ++c) {
    q_mean[c] = wq > qm.m ? q_mean[c] * qm.m / wq : 1 - (1 - q_mean[c]) * (1 - qm.m) / (1 - wq);
    q_mean[c] = std::clamp(q_mean[c], 1e-3, 1 - 1e-3);
    f_i[c] *= total / wfi;
    f_r[c] *= total / wfr;
  }

  std::vector<double> lang_alpha;
  for (double w : p.language_weights) lang_alpha.push_back(s.language_alpha * static_cast<double>(langs.size()) * w);
  d.clients.resize(counts.size());
  for (size_t c = 0; c < counts.size(); ++c) {
    check_stop();  // SIGINT/SIGTERM (common/stop.hpp)
    ClientData& client = d.clients[c];
    client.name = client_name(static_cast<int>(c), n_clients);
    Rng trait(s.seed, c, 3, Purpose::data_split);
    const std::vector<double> lang_mix = dirichlet(trait, lang_alpha);
    const std::vector<double> task_mix = dirichlet(trait, s.dirichlet_alpha, n_tasks);
    const int style = static_cast<int>(trait.below(static_cast<uint64_t>(n_styles())));
    const double off_i = trait.uniform(), off_r = trait.uniform(), off_x = trait.uniform();
    size_t dominant = 0;
    for (size_t l = 0; l < lang_mix.size(); ++l)
      if (lang_mix[l] > lang_mix[dominant]) dominant = l;
    client.attributes["language"] = d.languages[dominant];
    client.attributes["quality"] = format_double(q_mean[c]);
    if (p.kind == DataKind::dpo) client.attributes["preference"] = style_name(style);

    uint64_t exchange = 0;  // index of the exchange within the client: drives the length quantiles
    for (uint64_t i = 0; i < static_cast<uint64_t>(counts[c]); ++i) {
      Rng rng(s.seed, c, i, Purpose::data_generation);
      Sample smp;
      const size_t lang = draw_categorical(rng, lang_mix);
      const int lang_id = langs[lang];
      smp.language = static_cast<int32_t>(lang);
      const double q = beta(rng, q_mean[c] * qm.kw, (1 - q_mean[c]) * qm.kw);
      smp.quality = static_cast<float>(q);
      uint64_t turns = 1;
      if (p.kind == DataKind::multiturn) {  // geometric number of exchanges with the preset's mean
        const double stop = 1.0 / p.turns_mean;
        while (rng.uniform() >= stop && turns < 20) ++turns;
      }
      for (uint64_t t = 0; t < turns; ++t, ++exchange) {
        const double e = static_cast<double>(exchange);
        const size_t li = draw_length(len.instruction, f_i[c], frac(off_i + e * kGolden));
        const size_t lr = draw_length(len.response, f_r[c], frac(off_r + e * kGolden));
        const size_t task = draw_categorical(rng, task_mix);
        const Task tk = make_task(p, langs, task, lang, rng);
        smp.instruction = pad_before(tk.instruction, li, lang_id, rng);
        smp.answer = tk.answer;
        smp.task = static_cast<int32_t>(task);
        const bool corrupted = rng.uniform() >= q;  // P(corrupt) = 1 - quality
        if (p.kind == DataKind::dpo) {
          // The client prefers its style and a correct answer; the rejected reply breaks one of them.
          const std::string chosen = styled(style, tk.answer);
          const std::string rejected = rng.uniform() < 0.5
                                           ? styled((style + 1 + static_cast<int>(rng.below(3))) % n_styles(), tk.answer)
                                           : styled(style, corrupt(tk.answer, rng));
          const size_t lr2 = draw_length(len.response, f_r[c], frac(off_x + e * kGolden));
          smp.response = pad_after(chosen, lr, lang_id, rng);
          smp.rejected = pad_after(rejected, lr2, lang_id, rng);
          if (corrupted) std::swap(smp.response, smp.rejected);  // a noisy label
        } else {
          smp.response = pad_after(corrupted ? corrupt(tk.answer, rng) : tk.answer, lr, lang_id, rng);
        }
        if (p.kind == DataKind::multiturn) {
          smp.turns.push_back(smp.instruction);
          smp.turns.push_back(smp.response);
        }
      }
      client.samples.push_back(std::move(smp));
    }
  }

  // Held-out and public splits: quality 1; the test response is the bare (styled) answer.
  auto split_sample = [&](uint64_t slot, uint64_t i, size_t task, size_t lang, bool test) {
    Rng rng(s.seed, slot, i, Purpose::data_generation);
    const Task tk = make_task(p, langs, task, lang, rng);
    Sample smp;
    smp.language = static_cast<int32_t>(lang);
    smp.task = static_cast<int32_t>(task);
    smp.answer = tk.answer;
    smp.instruction = pad_before(tk.instruction, draw_length(len.instruction, 1.0, rng.uniform()), langs[lang], rng);
    smp.response = test ? tk.answer : pad_after(tk.answer, draw_length(len.response, 1.0, rng.uniform()), langs[lang], rng);
    if (p.kind == DataKind::dpo) smp.rejected = corrupt(tk.answer, rng);
    if (p.kind == DataKind::multiturn) smp.turns = {smp.instruction, smp.response};
    return smp;
  };
  const int n_test = s.n_test;
  for (int i = 0; i < n_test; ++i) {  // language-major blocks like Aya's 8 x 20, tasks round-robin
    if (i % 4096 == 0) check_stop();
    const size_t lang = static_cast<size_t>(i) * langs.size() / static_cast<size_t>(std::max(1, n_test));
    d.test.push_back(split_sample(kTestStream, static_cast<uint64_t>(i), static_cast<size_t>(i) % n_tasks, lang, true));
  }
  for (int i = 0; i < s.n_public; ++i) {
    if (i % 4096 == 0) check_stop();
    Rng pick(s.seed, kPublicStream, static_cast<uint64_t>(i), Purpose::data_split);
    const size_t task = pick.below(n_tasks), lang = pick.below(langs.size());
    d.public_split.push_back(split_sample(kPublicStream, static_cast<uint64_t>(i), task, lang, false));
  }
  return apply_partition(std::move(d), s);
}

}  // namespace fedsim::datasets::detail
