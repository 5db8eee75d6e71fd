// The `model` backend's generator: fedsim's transformer trained by the server on few-shot
// demonstrations built from its own example pool (each pool pair, with examples selected from
// the rest of the pool as a client would select them, and a piece around the pair's sentence),
// then cached like the pretrained base. Clients receive it with the pool.
#include <filesystem>

#include "datasets/common/error.hpp"
#include "datasets/common/rng.hpp"
#include "fedsim_version.hpp"
#include "sim/experiment.hpp"
#include "sim/u2s/u2s_phase.hpp"

namespace fedsim::sim::u2s {
namespace {

const char* const kNoise[] = {"This is widely known.", "Many people agree.", "Records confirm it.", "More study is needed."};

// A piece as a client's chunker makes them: maybe the tail of another sentence, the sentence,
// maybe a fact-free sentence, maybe the start of the next sentence.
std::string demo_piece(const std::vector<PoolExample>& pool, size_t i, Rng& rng) {
  std::string piece;
  if (rng.below(2)) {
    const std::string& other = pool[rng.below(pool.size())].source;
    const size_t sp = other.find(' ', other.size() / 2);
    if (sp != std::string::npos) piece = other.substr(sp + 1) + " ";
  }
  piece += pool[i].source;
  if (rng.below(3) == 0) piece += std::string(" ") + kNoise[rng.below(4)];
  if (rng.below(2)) {
    const std::string& next = pool[rng.below(pool.size())].source;
    piece += " " + next.substr(0, next.size() / 2);
  }
  return piece;
}

}  // namespace

double forward_flops_per_token(const models::ModelConfig& m) {
  // models/README.md "FLOPs per token": forward = dense + attn (+ lora, left out: the
  // generator runs without an adapter); dense = 2 (L (4C^2 + 2CF) + VC), attn = L 2C (T+1).
  const double C = m.d_model, L = m.n_layers, F = m.d_ff, V = m.vocab_size, T = m.max_seq;
  return 2.0 * (L * (4.0 * C * C + 2.0 * C * F) + V * C) + L * 2.0 * C * (T + 1.0);
}

models::Model trained_generator(const ExperimentConfig& c, const std::vector<PoolExample>& pool,
                                const std::vector<PoolExample>& demos, const Selector& sel, const RunHooks& hooks) {
  const U2sSection& u = c.u2s;
  models::ModelConfig mc = models::preset_config(u.generator_preset);
  mc.max_seq = static_cast<int>(u.generator_seq_len);
  for (const auto& e : demos)
    if (e.source.empty())
      throw UserError(c.source_path + ": u2s.generator: trained needs pool examples with their source sentences (pool_source: "
                      "synthetic); accepted with a file pool: u2s.generator_checkpoint or u2s.generator: base");
  std::string key = "u2s-generator;preset=" + u.generator_preset + ";T=" + std::to_string(mc.max_seq) +
                    ";steps=" + std::to_string(u.generator_steps) + ";batch=" + std::to_string(u.generator_batch) +
                    ";lr=" + std::to_string(u.generator_lr) + ";selection=" + u.selection + ";k=" + std::to_string(u.k) +
                    ";ngram=" + std::to_string(u.ngram) + ";dim=" + std::to_string(u.embed_dim) +
                    ";seed=" + std::to_string(c.experiment.seed) + ";fedsim=" FEDSIM_VERSION_STRING ";pool=";
  for (const auto& e : demos) key += e.source + '\x1f' + e.instruction + '\x1f' + e.response + '\x1e';
  key += ";examples=" + std::to_string(pool.size());
  const std::string path = cache_dir(c) + "/u2s-generator-" + content_hash(key) + ".h5";
  const models::LoraConfig lora = lora_config(c);
  if (std::filesystem::exists(path)) {
    try {
      models::Model m = models::Model::load(path, lora);
      if (hooks.log) hooks.log("u2s: cached generator " + path);
      return m;
    } catch (const UserError& e) {
      if (hooks.log) hooks.log("u2s: ignoring unreadable generator cache (" + std::string(e.what()) + "), training");
    }
  }
  const auto seed = static_cast<uint64_t>(c.experiment.seed);
  models::Model model(mc, lora, stream_key(seed, 1, 0, Purpose::model_init));
  models::OptimConfig opt;
  double avg = 0.0;
  for (int64_t step = 0; step < u.generator_steps; ++step) {
    Rng rng(seed, 1, static_cast<uint64_t>(step), Purpose::pretrain);
    std::vector<std::pair<std::string, std::string>> pairs;
    for (int64_t b = 0; b < u.generator_batch; ++b) {
      const size_t i = rng.below(demos.size());
      const std::string piece = demo_piece(demos, i, rng);
      // Demos [0, pool size) are the pool itself: leave the item out of its own examples.
      const std::vector<size_t> ex = sel.select(piece, rng.next_u64(), i < pool.size() ? static_cast<long>(i) : -1);
      pairs.emplace_back(format_prompt(pool, ex, piece), format_pair(demos[i].instruction, demos[i].response));
    }
    const double lr = cosine_lr(u.generator_lr, 0.1 * u.generator_lr, step, u.generator_steps);
    const double loss = model.train_base_step(models::make_sft_batch(pairs, mc.max_seq), static_cast<float>(lr), opt);
    avg = step == 0 ? loss : 0.95 * avg + 0.05 * loss;
    if (hooks.log && ((step + 1) % 250 == 0 || step + 1 == u.generator_steps))
      hooks.log("u2s: generator step " + std::to_string(step + 1) + "/" + std::to_string(u.generator_steps) +
                "  loss " + std::to_string(avg));
  }
  std::filesystem::create_directories(cache_dir(c));
  model.save(path);
  if (hooks.log) hooks.log("u2s: trained generator cached at " + path);
  return model;
}

}  // namespace fedsim::sim::u2s
