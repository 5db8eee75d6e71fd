// The `model` backend's generator: fedsim's transformer trained by the server on few-shot
// demonstrations made from its own facts exactly as a client makes its prompts (documents of
// one domain, cut by the run's chunker, examples selected from the pool by
// `generator_selection`, retrieval by default: the U2S method's prompts), with the canonical
// pair of the piece's first complete fact as the target. Then cached like the pretrained base.
// Clients receive it with the pool. The clients' own `selection` is not part of its training,
// so runs that differ only in `selection` (the retrieval-vs-random ablation) share one generator.
//
// Entity names are fresh random syllable strings (datasets/u2s_corpus.cpp) and every demo fact
// is a different entity, so the loss on a name can only fall by copying it from the piece: the
// generator has to form copy (induction) heads (Olsson et al. 2022, "In-context learning and
// induction heads") rather than memorise names.
#include <algorithm>
#include <memory>

#include "common/cache.hpp"
#include "common/error.hpp"
#include "common/rng.hpp"
#include "fedsim_version.hpp"
#include "models/text/batch.hpp"
#include "sim/experiment.hpp"
#include "sim/u2s/u2s_phase.hpp"

namespace fedsim::sim::u2s {
namespace {

// The server's own fact-free sentences (it does not know the clients' fillers).
const char* const kNoise[] = {"This is widely known.", "Many people agree.", "Records confirm it.", "More study is needed."};

}  // namespace

// One demonstration: a document of `facts_per_doc` facts of one domain (a filler after a fact
// with `filler_prob`), cut as a client cuts its text, one of its pieces that holds a complete
// fact (uniformly), and that piece's first complete fact.
Demo make_demo(const U2sSection& u, const std::vector<std::vector<size_t>>& by_domain, const std::vector<PoolExample>& demos,
               Rng& rng) {
  std::vector<size_t> doms;
  for (size_t d = 0; d < by_domain.size(); ++d)
    if (!by_domain[d].empty()) doms.push_back(d);
  const std::vector<size_t>& facts = by_domain[doms[rng.below(doms.size())]];
  for (int attempt = 0; attempt < 1000; ++attempt) {
    std::string text;
    std::vector<size_t> in_doc;
    for (int f = 0; f < u.world.facts_per_doc; ++f) {
      const size_t i = facts[rng.below(facts.size())];
      in_doc.push_back(i);
      text += (text.empty() ? "" : " ") + demos[i].source;
      if (rng.uniform() < u.world.filler_prob) text += std::string(" ") + kNoise[rng.below(4)];
    }
    std::vector<Demo> cands;
    for (std::string& p : chunk(text, static_cast<size_t>(u.chunk_size), static_cast<size_t>(u.chunk_overlap))) {
      size_t best = std::string::npos, fact = 0;
      for (size_t i : in_doc) {
        const size_t at = p.find(demos[i].source);
        if (at < best) best = at, fact = i;
      }
      if (best != std::string::npos) cands.push_back({std::move(p), fact});
    }
    if (!cands.empty()) return cands[rng.below(cands.size())];
  }
  throw UserError("u2s.chunk_size: " + std::to_string(u.chunk_size) + " leaves no piece that holds a whole fact sentence, so the "
                  "generator has no demonstration; accepted: a chunk_size above the longest sentence (about 40 bytes)");
}

models::ModelConfig generator_config(const U2sSection& u) {
  models::ModelConfig mc = models::preset_config(u.generator_preset);
  mc.max_seq = static_cast<int>(u.generator_seq_len);
  if (u.generator_layers > 0) mc.n_layers = static_cast<int>(u.generator_layers);
  if (u.generator_d_model > 0) mc.d_model = static_cast<int>(u.generator_d_model), mc.d_ff = 4 * mc.d_model;
  if (u.generator_heads > 0) mc.n_heads = static_cast<int>(u.generator_heads);
  return mc;
}

models::Model trained_generator(const ExperimentConfig& c, const std::vector<PoolExample>& pool,
                                const std::vector<PoolExample>& demos, const models::Model* hidden,
                                const std::string& embed_key, const RunHooks& hooks) {
  const U2sSection& u = u2s_of(c);
  const models::ModelConfig mc = generator_config(u);
  std::vector<std::vector<size_t>> by_domain;
  for (size_t i = 0; i < demos.size(); ++i) {
    if (demos[i].source.empty() || demos[i].domain < 0)
      throw UserError(c.source_path + ": u2s.generator: trained needs the server's demonstration facts (pool_source: "
                      "synthetic); accepted with a file pool: u2s.generator_checkpoint or u2s.generator: base");
    if (by_domain.size() <= static_cast<size_t>(demos[i].domain)) by_domain.resize(static_cast<size_t>(demos[i].domain) + 1);
    by_domain[static_cast<size_t>(demos[i].domain)].push_back(i);
  }
  if (demos.empty())
    throw UserError(c.source_path + ": u2s.generator_demos: 0 leaves the trained generator nothing to learn from; accepted: 1 "
                    "or more (or u2s.generator: base, u2s.generator_checkpoint)");
  // "selection" is the demonstrations' selection (before generator_selection existed it was the
  // run's, which drew the same demonstration stream, so v2 caches stay valid).
  std::string key = "u2s-generator-v2;L=" + std::to_string(mc.n_layers) + ";C=" + std::to_string(mc.d_model) +
                    ";NH=" + std::to_string(mc.n_heads) + ";F=" + std::to_string(mc.d_ff) + ";T=" + std::to_string(mc.max_seq) +
                    ";steps=" + std::to_string(u.generator_steps) + ";batch=" + std::to_string(u.generator_batch) +
                    ";lr=" + std::to_string(u.generator_lr) + ";warmup=" + std::to_string(u.generator_warmup) +
                    ";selection=" + name_of(u.generator_selection) + ";k=" + std::to_string(u.k) + ";pad=" + (u.prompt_pad ? "on" : "off") +
                    ";embedding=" + name_of(u.embedding) + embed_key +
                    ";ngram=" + std::to_string(u.ngram) + ";dim=" + std::to_string(u.embed_dim) +
                    ";chunk=" + std::to_string(u.chunk_size) + "/" + std::to_string(u.chunk_overlap) +
                    ";facts_per_doc=" + std::to_string(u.world.facts_per_doc) + ";filler=" + std::to_string(u.world.filler_prob) +
                    ";seed=" + std::to_string(c.experiment.seed) + ";fedsim=" FEDSIM_VERSION_STRING ";demos=";
  for (const auto& e : demos) key += e.source + '\x1f' + e.instruction + '\x1f' + e.response + '\x1e';
  key += ";pool=";
  for (const auto& e : pool) key += e.instruction + '\x1f' + e.response + '\x1e';
  const models::LoraConfig lora = lora_config(c);
  auto train = [&] {
    const auto seed = static_cast<uint64_t>(c.experiment.seed);
    models::Model model(mc, lora, stream_key(seed, 1, 0, Purpose::model_init));
    models::OptimConfig opt;
    const size_t pad_to = u.prompt_pad ? examples_width(pool, static_cast<size_t>(u.k)) : 0;
    // The demonstrations' selectors: one, or for `mixed` all three, each demonstration drawing one.
    std::vector<Selection> modes{static_cast<Selection>(u.generator_selection)};
    if (u.generator_selection == GeneratorSelection::mixed) modes = {Selection::retrieval, Selection::random, Selection::fixed};
    std::vector<std::unique_ptr<Selector>> sels;
    for (const Selection m : modes)
      sels.push_back(std::make_unique<Selector>(pool, m, static_cast<int>(u.k), static_cast<int>(u.ngram),
                                                static_cast<int>(u.embed_dim), hidden));
    double avg = 0.0;
    for (int64_t step = 0; step < u.generator_steps; ++step) {
      cache::cancellation_point();
      Rng rng(seed, 1, static_cast<uint64_t>(step), Purpose::pretrain);
      std::vector<std::pair<std::string, std::string>> pairs;
      for (int64_t b = 0; b < u.generator_batch; ++b) {
        const Demo d = make_demo(u, by_domain, demos, rng);
        const Selector& sel = *sels[sels.size() == 1 ? 0 : rng.below(sels.size())];
        const std::vector<size_t> ex = sel.select(d.piece, rng.next_u64());
        pairs.emplace_back(format_prompt(pool, ex, d.piece, pad_to), format_pair(demos[d.fact].instruction, demos[d.fact].response));
      }
      // Linear warmup, then cosine decay to 10% (as GPT-2/nanoGPT pretraining).
      const int64_t w = std::min(u.generator_warmup, u.generator_steps);
      const double lr = step < w ? u.generator_lr * static_cast<double>(step + 1) / static_cast<double>(w)
                                 : cosine_lr(u.generator_lr, 0.1 * u.generator_lr, step - w, u.generator_steps - w);
      const double loss = model.train_base_step(
          models::make_sft_batch(model.tokenizer(), model.chat_template(), pairs, mc.max_seq), static_cast<float>(lr), opt);
      avg = step == 0 ? loss : 0.95 * avg + 0.05 * loss;
      if (hooks.log && ((step + 1) % 250 == 0 || step + 1 == u.generator_steps))
        hooks.log("u2s: generator step " + std::to_string(step + 1) + "/" + std::to_string(u.generator_steps) +
                  "  loss " + std::to_string(avg));
    }
    return model;
  };
  return cache::load_or_build<models::Model>(
      cache::entry_path(cache_dir(c), "u2s-generator", key), [&](const std::string& p) { return models::Model::load(p, lora); },
      train, [](const models::Model& m, const std::string& p) { m.save(p); }, hooks.log, "u2s: generator");
}

}  // namespace fedsim::sim::u2s
