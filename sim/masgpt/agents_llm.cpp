#include "sim/masgpt/agents_llm.hpp"

#include <algorithm>
#include <cstdio>

#include "common/cache.hpp"
#include "common/error.hpp"
#include "datasets/dataset.hpp"
#include "fedsim_version.hpp"
#include "models/text/batch.hpp"
#include "sim/experiment.hpp"
#include "sim/masgpt/masgpt_config.hpp"

namespace fedsim::sim::masgpt {
namespace {

constexpr uint64_t kStreamClient = 0x3a5;  // keeps MAS-GPT's data streams apart from the federation's

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == sep)
      out.emplace_back();
    else
      out.back().push_back(c);
  }
  return out;
}

bool takes_sum(const std::string& family) {
  try {
    datasets::solve_task(family, family + ": abc");
    return false;
  } catch (const UserError&) {
    return true;
  }
}

std::string argument(const std::string& query) { return query.substr(query.find(": ") + 2); }

// A wrong answer near the right one: one character replaced, dropped, doubled or two swapped.
std::string corrupt(const std::string& a, Rng& rng) {
  for (;;) {
    std::string s = a;
    const size_t i = rng.below(s.size());
    const char c = s[i];
    const char repl = c >= '0' && c <= '9'   ? static_cast<char>('0' + rng.below(10))
                      : c >= 'A' && c <= 'Z' ? static_cast<char>('A' + rng.below(26))
                                             : static_cast<char>('a' + rng.below(26));
    switch (rng.below(4)) {
      case 0: s[i] = repl; break;
      case 1: if (s.size() > 1) s.erase(i, 1); break;
      case 2: s.insert(i, 1, c); break;
      default: if (s.size() > 1) std::swap(s[i], s[(i + 1) % s.size()]); break;
    }
    if (s != a && !s.empty()) return s;
  }
}

models::OptimConfig no_decay() {
  models::OptimConfig o;
  o.weight_decay = 0.0f;
  return o;
}

// SFT batch in the model's tokenizer and template, as short as its longest pair allows (shorter
// sequences are cheaper to train).
models::Batch fit_batch(const models::Model& model, const std::vector<std::pair<std::string, std::string>>& pairs,
                        int max_seq) {
  const models::TextTokenizer& tok = model.tokenizer();
  const models::ChatTemplate& t = model.chat_template();
  size_t need = 2;
  for (const auto& p : pairs) need = std::max(need, models::tokenize_conversation(tok, t, models::exchange(p.first, p.second)).ids.size());
  return models::make_sft_batch(tok, t, pairs, static_cast<int>(std::min<size_t>(need, static_cast<size_t>(max_seq))));
}

void say(const Log& log, const std::string& s) {
  if (log) log(s);
}

}  // namespace

std::vector<QuerySet> parse_query_sets(const std::vector<std::string>& specs) {
  const std::vector<std::string> known = datasets::synthetic_task_names();
  std::string acc;
  for (const std::string& k : known) acc += (acc.empty() ? "" : ", ") + k;
  std::vector<QuerySet> sets;
  std::vector<std::string> seen;
  if (specs.empty()) throw UserError("masgpt.query_sets: empty; accepted: a list such as [letters=first+last]");
  for (const std::string& s : specs) {
    const size_t eq = s.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == s.size())
      throw UserError("masgpt.query_sets: '" + s + "' is not name=family+family; accepted: e.g. letters=first+last");
    QuerySet q{s.substr(0, eq), split(s.substr(eq + 1), '+')};
    for (const std::string& f : q.families) {
      if (std::find(known.begin(), known.end(), f) == known.end())
        throw UserError("masgpt.query_sets: unknown task family '" + f + "' in '" + s + "'; accepted: " + acc);
      if (std::find(seen.begin(), seen.end(), f) != seen.end())
        throw UserError("masgpt.query_sets: family '" + f + "' appears in two sets; accepted: each family once");
      seen.push_back(f);
    }
    sets.push_back(q);
  }
  return sets;
}

std::vector<std::string> family_names(const std::vector<QuerySet>& sets) {
  std::vector<std::string> f;
  for (const QuerySet& s : sets) f.insert(f.end(), s.families.begin(), s.families.end());
  return f;
}

std::vector<Query> make_queries(const std::vector<QuerySet>& sets, int64_t per_family, uint64_t seed, uint64_t pool) {
  std::vector<Query> out;
  int32_t fam = 0;
  for (size_t si = 0; si < sets.size(); ++si)
    for (const std::string& f : sets[si].families) {
      Rng rng(seed, kStreamClient + static_cast<uint64_t>(fam), pool, Purpose::data_generation);
      const bool sum = takes_sum(f);
      for (int64_t i = 0; i < per_family; ++i) {
        std::string arg;
        if (sum) {
          arg = std::to_string(rng.below(50)) + "+" + std::to_string(rng.below(50));
        } else {
          arg.assign(static_cast<size_t>(rng.range(3, 6)), 'a');
          for (char& c : arg) c = static_cast<char>('a' + rng.below(26));
        }
        Query q;
        q.text = f + ": " + arg;
        q.answer = datasets::solve_task(f, q.text);
        q.family = fam;
        q.set = static_cast<int32_t>(si);
        out.push_back(q);
      }
      ++fam;
    }
  return out;
}

std::pair<std::string, std::string> role_example(const Query& q, Rng& rng) {
  const uint64_t r = rng.below(100);
  auto candidate = [&](double p_right) { return rng.uniform() < p_right ? q.answer : corrupt(q.answer, rng); };
  if (r < 35) return {"solve " + q.text, q.answer};
  if (r < 55) return {"think " + q.text, argument(q.text) + " => " + q.answer};
  if (r < 70) {
    const std::string c = candidate(0.5);
    return {"check " + q.text + " | " + c, c == q.answer ? "ok" : "no"};
  }
  // fix: 1-3 drafts (one draft may carry a checker's verdict); pick: 2-5 candidates.
  const bool pick = r >= 85;
  const uint64_t n = pick ? 2 + rng.below(4) : 1 + rng.below(3);
  std::string p = (pick ? "pick " : "fix ") + q.text;
  for (uint64_t i = 0; i < n; ++i) p += " | " + candidate(0.6);
  if (!pick && n == 1 && rng.below(2) == 0) p += std::string(" | ") + (p.substr(p.rfind("| ") + 2) == q.answer ? "ok" : "no");
  return {p, q.answer};
}

models::ModelConfig masgpt_model_config(const ExperimentConfig& c) { return model_config(c); }

models::Model agents_llm(const ExperimentConfig& c, const std::vector<QuerySet>& sets, const Log& log,
                         std::string* path) {
  const models::ModelConfig mc = masgpt_model_config(c);
  const auto& m = masgpt_of(c);
  char buf[512];
  std::snprintf(buf, sizeof buf, "masgpt-agents;V=%d;T=%d;C=%d;L=%d;NH=%d;F=%d;steps=%lld;batch=%lld;lr=%.17g;seed=%lld;",
                mc.vocab_size, mc.max_seq, mc.d_model, mc.n_layers, mc.n_heads, mc.d_ff,
                static_cast<long long>(m.agents_steps), static_cast<long long>(m.agents_batch), m.agents_lr,
                static_cast<long long>(c.experiment.seed));
  std::string key = buf;
  for (const std::string& f : family_names(sets)) key += f + ",";
  key += ";fedsim=" FEDSIM_VERSION_STRING;
  *path = cache::entry_path(cache_dir(c), "masgpt-agents", key);
  const models::LoraConfig lora = lora_config(c);
  auto train = [&] {
    const auto seed = static_cast<uint64_t>(c.experiment.seed);
    models::Model model(mc, lora, stream_key(seed, kStreamClient, 0, Purpose::model_init));
    // The agents' own training pool (pool 2), never the construction or held-out queries' stream.
    const std::vector<Query> pool = make_queries(sets, 4000, seed, 2);
    double avg = 0.0;
    for (int64_t step = 0; step < m.agents_steps; ++step) {
      cache::cancellation_point();
      Rng rng(seed, kStreamClient, static_cast<uint64_t>(step), Purpose::pretrain);
      std::vector<std::pair<std::string, std::string>> pairs;
      for (int64_t j = 0; j < m.agents_batch; ++j) pairs.push_back(role_example(pool[rng.below(pool.size())], rng));
      const double lr = cosine_lr(m.agents_lr, 0.1 * m.agents_lr, step, m.agents_steps);
      const double loss = model.train_base_step(fit_batch(model, pairs, mc.max_seq), static_cast<float>(lr), no_decay());
      avg = step == 0 ? loss : 0.95 * avg + 0.05 * loss;
      if ((step + 1) % 250 == 0 || step + 1 == m.agents_steps)
        say(log, "masgpt: agents' LLM step " + std::to_string(step + 1) + "/" + std::to_string(m.agents_steps) +
                     " loss " + std::to_string(avg));
    }
    return model;
  };
  return cache::load_or_build<models::Model>(
      *path, [&](const std::string& p) { return models::Model::load(p, lora); }, train,
      [](const models::Model& model, const std::string& p) { model.save(p); }, log, "masgpt: agents' LLM");
}

models::Model train_generator(const ExperimentConfig& c, const std::string& agents_path,
                              const std::vector<std::pair<std::string, std::string>>& pairs, const Log& log,
                              std::optional<std::vector<float>>* adapter) {
  const auto& m = masgpt_of(c);
  const models::LoraConfig lora = lora_config(c);
  const bool full = m.generator_training == GeneratorTraining::full;
  std::string text;
  for (const auto& p : pairs) text += p.first + '\x1f' + p.second + '\x1e';
  char buf[256];
  std::snprintf(buf, sizeof buf, "masgpt-generator;%s;steps=%lld;batch=%lld;lr=%.17g;", name_of(m.generator_training).c_str(),
                static_cast<long long>(m.generator_steps), static_cast<long long>(m.generator_batch), m.generator_lr);
  // The generator and, for LoRA training, its adapter (stored in the entry as "masgpt").
  struct Trained {
    models::Model model;
    std::optional<std::vector<float>> adapter;
  };
  auto train = [&] {
    models::Model model = models::Model::load(agents_path, lora);
    const auto seed = static_cast<uint64_t>(c.experiment.seed);
    std::vector<float> ad = full ? std::vector<float>{} : model.init_adapter(stream_key(seed, kStreamClient, 1, Purpose::adapter_init));
    const int T = model.config().max_seq;
    std::vector<models::Batch> lora_batches;  // LoRA: one train_adapter call (one AdamW state), constant lr
    double avg = 0.0;
    for (int64_t step = 0; step < m.generator_steps; ++step) {
      cache::cancellation_point();
      Rng rng(seed, kStreamClient, static_cast<uint64_t>(step), Purpose::batch_draw);
      std::vector<std::pair<std::string, std::string>> batch;
      for (int64_t j = 0; j < m.generator_batch; ++j) batch.push_back(pairs[rng.below(pairs.size())]);
      if (!full) {
        lora_batches.push_back(fit_batch(model, batch, T));
        continue;
      }
      const double lr = cosine_lr(m.generator_lr, 0.1 * m.generator_lr, step, m.generator_steps);
      const double loss = model.train_base_step(fit_batch(model, batch, T), static_cast<float>(lr), no_decay());
      avg = step == 0 ? loss : 0.95 * avg + 0.05 * loss;
      if ((step + 1) % 100 == 0 || step + 1 == m.generator_steps)
        say(log, "masgpt: generator step " + std::to_string(step + 1) + "/" + std::to_string(m.generator_steps) +
                     " loss " + std::to_string(avg));
    }
    if (!full && !lora_batches.empty()) {
      const models::TrainStats st = model.train_adapter(ad, lora_batches, static_cast<float>(m.generator_lr), no_decay(), seed);
      say(log, "masgpt: generator LoRA " + std::to_string(st.steps) + " steps, mean loss " + std::to_string(st.mean_loss));
    }
    return Trained{std::move(model), full ? std::nullopt : std::optional<std::vector<float>>(std::move(ad))};
  };
  auto load = [&](const std::string& p) {
    models::Model model = models::Model::load(p, lora);
    std::optional<std::vector<float>> ad;
    if (!full) ad = model.load_adapters(p).at(0).second;
    return Trained{std::move(model), std::move(ad)};
  };
  auto save = [](const Trained& t, const std::string& p) {
    if (t.adapter)
      t.model.save(p, {{"masgpt", *t.adapter}});
    else
      t.model.save(p);
  };
  Trained t = cache::load_or_build<Trained>(
      cache::entry_path(cache_dir(c), "masgpt-generator", std::string(buf) + agents_path + cache::content_hash(text)), load,
      train, save, log, "masgpt: generator");
  *adapter = std::move(t.adapter);
  return std::move(t.model);
}

}  // namespace fedsim::sim::masgpt
