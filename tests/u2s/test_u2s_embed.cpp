// Model::embed (mean-pooled final hidden states) and retrieval with it (u2s.embedding: hidden).
#include <doctest/doctest.h>

#include <cmath>

#include "datasets/dataset.hpp"
#include "models/model.hpp"
#include "sim/u2s/u2s.hpp"

using namespace fedsim;
using namespace fedsim::sim::u2s;
using fedsim::sim::Selection;

namespace {

// A nano model pretrained briefly on the pool's pairs, as the run's base is (sim/pretrain.cpp).
models::Model pool_base(const std::vector<PoolExample>& pool) {
  models::ModelConfig mc = models::preset_config("nano");
  mc.max_seq = 48;
  models::Model m(mc, models::LoraConfig{}, 11);
  for (int step = 0; step < 60; ++step) {
    std::vector<std::pair<std::string, std::string>> pairs;
    for (size_t b = 0; b < 16; ++b) {
      const PoolExample& e = pool[(static_cast<size_t>(step) * 16 + b) % pool.size()];
      pairs.emplace_back(e.instruction, e.response);
    }
    m.train_base_step(models::make_sft_batch(pairs, mc.max_seq), 3e-3f, models::OptimConfig{});
  }
  return m;
}

}  // namespace

TEST_CASE("Model::embed: unit length, identical for the same text, independent of the batch") {
  models::ModelConfig mc = models::preset_config("nano");
  const models::Model m(mc, models::LoraConfig{}, 3);
  const std::vector<std::string> texts{"What does Zorvex treat?", "12 plus 7 is 19.", "", std::string(200, 'x'),
                                       "What does Zorvex treat?"};
  const auto e = m.embed(texts);
  REQUIRE(e.size() == texts.size());
  for (const auto& v : e) {
    REQUIRE(static_cast<int>(v.size()) == mc.d_model);
    double n2 = 0;
    for (float x : v) n2 += static_cast<double>(x) * x;
    CHECK(std::sqrt(n2) == doctest::Approx(1.0).epsilon(1e-5));
  }
  CHECK(e[0] == e[4]);                              // same text, same bits
  CHECK(m.embed({texts[1]}).front() == e[1]);       // alone or in a batch
  CHECK(m.embed({std::string(300, 'x')}).front() == e[3]);  // cut to the context
  CHECK(cosine(e[0], e[1]) < 0.999);
}

TEST_CASE("retrieval by hidden states picks examples of the piece's domain above chance") {
  datasets::U2sCorpusSpec s;
  s.n_clients = 6;
  s.pool_size = 60;
  const datasets::U2sWorld w = datasets::generate_u2s_world(s);
  std::vector<PoolExample> pool;
  for (const auto& f : w.pool) pool.push_back({f.sentence, f.question, f.answer, f.domain});
  const models::Model base = pool_base(pool);
  const Selector ret(pool, Selection::retrieval, 2, 3, 4096, &base);
  size_t same = 0, n = 0;
  for (const auto& t : w.corpus.test) {
    const auto a = ret.select(t.instruction, 7);
    REQUIRE(a.size() == 2);
    CHECK(ret.select(t.instruction, 8) == a);  // deterministic, the key is not used
    same += pool[a[0]].domain == t.task;
    ++n;
  }
  const double rate = static_cast<double>(same) / static_cast<double>(n);
  MESSAGE("hidden-state retrieval: top example in the piece's domain for " << rate << " of " << n << " questions");
  CHECK(rate > 0.6);  // chance: 1/3 (the pool is spread evenly over three domains)
}
