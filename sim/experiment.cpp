#include "sim/experiment.hpp"

#include <cmath>

#include "common/cache.hpp"
#include "common/error.hpp"
#include "common/rng.hpp"
#include "fedsim_version.hpp"
#include "models/hf/hf.hpp"
#include "models/text/batch.hpp"
#include "sim/federation.hpp"

namespace fedsim::sim {

double cosine_lr(double lr0, double lr_min, int64_t round, int64_t rounds) {
  const double pi = 3.14159265358979323846;
  return lr_min + 0.5 * (lr0 - lr_min) * (1.0 + std::cos(pi * static_cast<double>(round) / static_cast<double>(rounds)));
}

models::ModelConfig model_config(const ExperimentConfig& c) {
  if (c.model.source == ModelSource::hf) {
    models::HfOptions o;
    o.max_seq = static_cast<int>(c.model.seq_len);
    o.base_dtype = c.model.base_dtype == BaseStorage::bf16 ? models::BaseDtype::bf16 : models::BaseDtype::fp32;
    return models::read_hf_config(c.model.path, o);
  }
  models::ModelConfig m = models::preset_config(c.model.preset);
  if (c.model.seq_len) m.max_seq = static_cast<int>(c.model.seq_len);
  if (c.model.d_model) m.d_model = static_cast<int>(c.model.d_model);
  if (c.model.n_layers) m.n_layers = static_cast<int>(c.model.n_layers);
  if (c.model.n_heads) m.n_heads = static_cast<int>(c.model.n_heads);
  if (c.model.d_ff) m.d_ff = static_cast<int>(c.model.d_ff);
  if (m.d_model % m.n_heads != 0)
    throw UserError(c.source_path + ": model.n_heads: " + std::to_string(m.n_heads) + " does not divide model.d_model (" +
                    std::to_string(m.d_model) + "); accepted: a divisor of d_model");
  return m;
}

std::string chat_template_name(const ExperimentConfig& c, const std::string& family, datasets::DataKind kind) {
  if (c.model.chat_template != "auto") return c.model.chat_template;
  const models::ChatUse use = kind == datasets::DataKind::multiturn ? models::ChatUse::conversations
                              : kind == datasets::DataKind::dpo    ? models::ChatUse::preferences
                                                                   : models::ChatUse::instructions;
  return models::default_chat_template(family, use);
}

void check_model_text(const ExperimentConfig& c) {
  std::shared_ptr<const models::TextTokenizer> tok = models::byte_tokenizer();
  if (c.model.source == ModelSource::hf) {  // the folder's tokenizer, checked against config.json
    const models::ModelConfig mc = model_config(c);
    models::HfText t;
    try {
      t = models::read_hf_text(c.model.path, mc);
    } catch (const UserError& e) {
      throw UserError(c.source_path + ": model.path: " + e.what());
    }
    if (!t.tokenizer) throw UserError(c.source_path + ": model.path: " + t.why);
    tok = t.tokenizer;
  }
  if (c.model.chat_template == "auto") return;  // auto picks a template of the tokenizer's family
  try {
    models::check_chat_template(*tok, models::chat_template(c.model.chat_template));
  } catch (const UserError& e) {
    throw UserError(c.source_path + ": model.template: " + e.what());
  }
}

void validate_experiment(const ExperimentConfig& c) {
  model_config(c);
  check_model_text(c);
  for (const ExperimentKind& k : experiment_kinds())
    if (k.validate) k.validate(c);
  for (const RunFeature& f : run_features())
    if (f.validate) f.validate(c);
  if (c.data.source == DataSource::synthetic) {
    try {
      datasets::validate_synthetic_spec(synthetic_spec(c));
    } catch (const UserError& e) {
      throw UserError(c.source_path + ": " + e.what());
    }
  }
  const AlgorithmInfo& a = algorithm_info(c.federation.algorithm);
  if (c.federation.mode == ServerMode::async && !a.async_ok) {
    std::string ok;
    for (const AlgorithmInfo& x : algorithm_table())
      if (x.async_ok) ok += (ok.empty() ? "" : ", ") + std::string(x.name);
    throw UserError(c.source_path + ": federation.mode: async does not support algorithm " + a.name +
                    "; accepted with async: " + ok);
  }
}

models::Products products_of(const ExperimentConfig& c) {
  return c.model.products == ProductsKind::portable ? models::Products::portable : models::Products::blas;
}

models::LoraConfig lora_config(const ExperimentConfig& c) {
  models::LoraConfig l;
  l.rank = static_cast<int>(c.lora.rank);
  l.alpha = static_cast<float>(c.lora.alpha);
  l.dropout = static_cast<float>(c.lora.dropout);
  l.targets = c.lora.targets;
  return l;
}

namespace {

void say(const RunHooks& h, const std::string& line) {
  if (h.log) h.log(line);
}

}  // namespace

datasets::SyntheticSpec synthetic_spec(const ExperimentConfig& c) {
  datasets::SyntheticSpec s = c.data.synthetic;
  s.n_clients = static_cast<int>(c.federation.clients);
  s.seed = static_cast<uint64_t>(c.experiment.seed);
  return s;
}

datasets::FederatedDataset prepare_data(const ExperimentConfig& c, const RunHooks& hooks) {
  if (c.data.source == DataSource::file) {
    datasets::FederatedDataset d = datasets::read_dataset(c.data.path);
    const auto n = static_cast<size_t>(c.federation.clients);
    if (d.clients.size() < n)
      throw UserError(c.source_path + ": federation.clients: " + std::to_string(n) + " is more than the " +
                      std::to_string(d.clients.size()) + " clients in " + c.data.path + "; accepted: 1 to " +
                      std::to_string(d.clients.size()));
    d.clients.resize(n);
    return d;
  }
  const datasets::SyntheticSpec spec = synthetic_spec(c);
  const std::string key = datasets::synthetic_spec_yaml(spec) + "format=" + std::to_string(datasets::kFormatVersion);
  return cache::load_or_build<datasets::FederatedDataset>(
      cache::entry_path(cache_dir(c), "data", key), datasets::read_dataset,
      [&] {
        datasets::FederatedDataset d = datasets::generate_synthetic(spec);
        say(hooks, "data: generated " + std::to_string(d.clients.size()) + " clients, " + std::to_string(d.n_samples()) +
                       " samples");
        return d;
      },
      datasets::write_dataset, hooks.log, "data");
}

}  // namespace fedsim::sim
