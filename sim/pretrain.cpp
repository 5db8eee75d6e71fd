// The base model: loaded from model.checkpoint, or pretrained here with full-parameter
// training on the data set's public split and cached, so LoRA tunes a model that already
// knows the prompt format (DESIGN.md: models/ knows no rounds; this loop is the simulator's).
// A Hugging Face folder (model.source: hf) is used as it is: its weights were pretrained
// elsewhere, so the pretrain_* keys do not apply to it.
#include <cmath>
#include <cstdio>

#include "common/cache.hpp"
#include "common/error.hpp"
#include "common/rng.hpp"
#include "fedsim_version.hpp"
#include "models/hf/hf.hpp"
#include "sim/experiment.hpp"
#include "sim/trainer.hpp"

namespace fedsim::sim {
namespace {

std::string pretrain_key(const ExperimentConfig& c, const models::ModelConfig& m, const datasets::FederatedDataset& d) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "pretrain;preset=%s;V=%d;T=%d;C=%d;L=%d;NH=%d;F=%d;steps=%lld;batch=%lld;lr=%.17g;seed=%lld;",
                m.preset.c_str(), m.vocab_size, m.max_seq, m.d_model, m.n_layers, m.n_heads, m.d_ff,
                static_cast<long long>(c.model.pretrain_steps), static_cast<long long>(c.model.pretrain_batch),
                c.model.pretrain_lr, static_cast<long long>(c.experiment.seed));
  std::string key = buf;
  // The public split's exact text: a different data set gives a different base.
  std::string text;
  for (const auto& s : d.public_split) text += s.instruction + '\x1f' + s.response + '\x1e';
  key += "public=" + cache::content_hash(text) + ";format=" + std::to_string(models::kCheckpointFormatVersion) +
         // The product's rounding (BLAS core, portable) decides the pretrained bits: a base cached
         // under another OpenBLAS core would make a cached run differ from an uncached one.
         ";products=" + models::products_identity() +
         ";fedsim=" FEDSIM_VERSION_STRING;
  if (d.kind == datasets::DataKind::multiturn) key += ";layout=conversation";
  // The layout the base learns: a template named in the config (auto is the layout above).
  if (c.model.chat_template != "auto") key += ";template=" + c.model.chat_template;
  return key;
}

// model.template on the model: its text goes through this template from here on (pretraining,
// the clients' batches, evaluation, generation).
void use_template(const ExperimentConfig& c, const datasets::FederatedDataset& d, models::Model& m) {
  const std::string name = chat_template_name(c, m.chat_family(), d.kind);
  if (d.kind == datasets::DataKind::multiturn && !models::chat_template(name).multi_turn)
    throw UserError(c.source_path + ": model.template: '" + name + "' formats one exchange, but the data set holds " +
                    "multi-turn conversations; accepted: a multi-turn template (vicuna_v1.1, llama-3, chatml, qwen2.5, " +
                    "qwen3, plain, fedsim-bytes-chat)");
  try {
    m.set_chat_template(models::chat_template(name));
  } catch (const UserError& e) {
    throw UserError(c.source_path + ": model.template: " + e.what());
  }
}

}  // namespace

models::Model prepare_model(const ExperimentConfig& c, const datasets::FederatedDataset& d, const RunHooks& hooks) {
  const models::LoraConfig lora = lora_config(c);
  if (c.model.source == ModelSource::hf) {  // a Hugging Face folder: its weights as they are, no pretraining
    const models::ModelConfig mc = model_config(c);
    models::Model m = models::Model::load_hf(c.model.path, lora, models::HfOptions{mc.max_seq, mc.base_dtype});
    if (!m.shared_tokenizer()) m.tokenizer();  // throws why: a run turns text into ids
    use_template(c, d, m);
    if (hooks.log)
      hooks.log("model: " + std::string(models::hf_architecture(mc.arch)) + " from " + c.model.path + " (" +
                std::to_string(m.n_base_params()) + " parameters, base " + name_of(c.model.base_dtype) + "), " +
                m.tokenizer().describe() + ", template " + m.chat_template().name);
    return m;
  }
  if (!c.model.checkpoint.empty()) {
    models::Model m = models::Model::load(c.model.checkpoint, lora);
    use_template(c, d, m);
    return m;
  }

  const models::ModelConfig mc = model_config(c);
  auto pretrain = [&] {
    const int64_t steps = c.model.pretrain_steps;
    if (steps > 0 && d.public_split.empty())
      throw UserError(c.source_path + ": model.pretrain_steps: " + std::to_string(steps) +
                      " but the data set has no public split to pretrain on; accepted: 0 with this data");
    models::Model model(mc, lora, stream_key(static_cast<uint64_t>(c.experiment.seed), 0, 0, Purpose::model_init));
    use_template(c, d, model);
    models::OptimConfig opt;
    opt.weight_decay = 0.0f;
    const auto B = static_cast<size_t>(c.model.pretrain_batch);
    const size_t n_pub = d.public_split.size();
    double loss_avg = 0.0;
    for (int64_t step = 0; step < steps; ++step) {
      cache::cancellation_point();
      Rng rng(static_cast<uint64_t>(c.experiment.seed), 0, static_cast<uint64_t>(step), Purpose::pretrain);
      std::vector<size_t> idx(B);
      for (size_t j = 0; j < B; ++j) idx[j] = rng.below(n_pub);
      // Cosine decay to 10% of the peak over the pretraining steps. The base learns the layout
      // the clients train in (multi-turn data: conversations).
      const double lr = cosine_lr(c.model.pretrain_lr, 0.1 * c.model.pretrain_lr, step, steps);
      const double loss = model.train_base_step(training_batch(d, d.public_split, idx, model), static_cast<float>(lr), opt);
      loss_avg = step == 0 ? loss : 0.9 * loss_avg + 0.1 * loss;
      if (hooks.log && ((step + 1) % 100 == 0 || step + 1 == steps)) {
        char line[128];
        std::snprintf(line, sizeof line, "pretrain: step %lld/%lld  loss %.4f", static_cast<long long>(step + 1),
                      static_cast<long long>(steps), loss_avg);
        hooks.log(line);
      }
    }
    return model;
  };
  return cache::load_or_build<models::Model>(
      cache::entry_path(cache_dir(c), "base", pretrain_key(c, mc, d)),
      [&](const std::string& p) {
        models::Model m = models::Model::load(p, lora);
        use_template(c, d, m);
        return m;
      },
      pretrain,
      [](const models::Model& m, const std::string& p) { m.save(p); }, hooks.log, "model: base");
}

}  // namespace fedsim::sim
