// The trained generator's demonstrations (generator.cpp): pieces made as a client makes them,
// whose target is the canonical pair of their first whole fact, and its shape keys.
#include <doctest/doctest.h>

#include "common/error.hpp"
#include "datasets/dataset.hpp"
#include "sim/u2s/u2s_phase.hpp"

using namespace fedsim;
using namespace fedsim::sim::u2s;

TEST_CASE("generator demonstrations: client-like pieces, the first whole fact as target, grounded") {
  datasets::U2sCorpusSpec spec;
  spec.n_clients = 3;
  spec.pool_size = 30;
  spec.n_demos = 300;
  const datasets::U2sWorld w = datasets::generate_u2s_world(spec);
  std::vector<PoolExample> demos;
  std::vector<std::vector<size_t>> by_domain(3);
  for (const auto& f : w.demos) {
    by_domain[static_cast<size_t>(f.domain)].push_back(demos.size());
    demos.push_back({f.sentence, f.question, f.answer, f.domain});
  }
  sim::U2sSection u;  // defaults: chunk 64/24, 4 facts per document, filler 0.3
  Rng rng(5, 1, 0, Purpose::pretrain);
  size_t per_domain[3] = {0, 0, 0};
  for (int i = 0; i < 300; ++i) {
    const Demo d = make_demo(u, by_domain, demos, rng);
    REQUIRE(d.fact < demos.size());
    CHECK(d.piece.size() <= static_cast<size_t>(u.chunk_size));
    const size_t at = d.piece.find(demos[d.fact].source);
    REQUIRE(at != std::string::npos);
    // No other demo fact is whole in the piece before it (the target is the first whole fact).
    for (const auto& e : demos) {
      const size_t other = d.piece.find(e.source);
      CHECK_FALSE((other != std::string::npos && other < at));
    }
    CHECK(d.piece.find(demos[d.fact].response) != std::string::npos);  // the answer is grounded
    ++per_domain[static_cast<size_t>(demos[d.fact].domain)];
  }
  for (size_t n : per_domain) CHECK(n > 60);  // domains drawn uniformly
  // Same stream, same demonstrations.
  Rng a(9, 1, 3, Purpose::pretrain), b(9, 1, 3, Purpose::pretrain);
  CHECK(make_demo(u, by_domain, demos, a).piece == make_demo(u, by_domain, demos, b).piece);
  // A chunk size below every sentence leaves no demonstration.
  u.chunk_size = 12;  // the shortest fact, "2 plus 3 is 5.", has 14 bytes
  u.chunk_overlap = 0;
  CHECK_THROWS_WITH_AS(make_demo(u, by_domain, demos, rng), doctest::Contains("u2s.chunk_size: 12"), UserError);
}

TEST_CASE("generator shape: the preset, with each generator_* override that is not 0") {
  sim::U2sSection u;
  u.generator_preset = "tiny";
  models::ModelConfig m = generator_config(u);
  CHECK(m.n_heads == 8);  // the default recipe's heads
  u.generator_heads = 0;
  m = generator_config(u);
  CHECK(m.n_layers == 2);
  CHECK(m.n_heads == 4);
  CHECK(m.d_model == 64);
  CHECK(m.max_seq == u.generator_seq_len);
  u.generator_layers = 3;
  u.generator_heads = 8;
  u.generator_d_model = 96;
  m = generator_config(u);
  CHECK(m.n_layers == 3);
  CHECK(m.n_heads == 8);
  CHECK(m.d_model == 96);
  CHECK(m.d_ff == 384);
}
