// A U2S experiment: corpora and the server's pool, the base model (pretrained on the pool's
// pairs), then each client's generation job and federated instruction tuning on what the
// clients generated, processes on one Simulation (clients join when their data is ready). Only
// adapters travel in the federation; the generated pairs stay with the client that made them.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>

#include "common/cache.hpp"
#include "common/error.hpp"
#include "common/h5.hpp"
#include "models/text/batch.hpp"
#include "sim/federation.hpp"
#include "sim/u2s/u2s_phase.hpp"

namespace fedsim::sim::u2s {
namespace {

// The synthetic world of the u2s section, with federation.clients clients, experiment.seed and
// the trained generator's demonstration facts.
datasets::U2sCorpusSpec corpus_spec(const ExperimentConfig& c) {
  const U2sSection& u = u2s_of(c);
  datasets::U2sCorpusSpec s = u.world;
  s.n_clients = static_cast<int>(c.federation.clients);
  s.n_demos = u.backend == U2sBackend::model && u.generator == GeneratorSource::trained && u.generator_checkpoint.empty() ? static_cast<int>(u.generator_demos) : 0;
  s.seed = static_cast<uint64_t>(c.experiment.seed);
  return s;
}

void fail(const ExperimentConfig& c, const std::string& key, const std::string& problem, const std::string& accepted) {
  throw UserError(c.source_path + ": u2s." + key + ": " + problem + "; accepted: " + accepted);
}

// Index `i` of the name list `from` as an index of `to`, the name appended to `to` when missing;
// -1 (none) and indices `from` does not hold stay -1.
int32_t rename_index(int32_t i, const std::vector<std::string>& from, std::vector<std::string>& to) {
  if (i < 0 || static_cast<size_t>(i) >= from.size()) return -1;
  const auto at = std::find(to.begin(), to.end(), from[static_cast<size_t>(i)]);
  if (at != to.end()) return static_cast<int32_t>(at - to.begin());
  to.push_back(from[static_cast<size_t>(i)]);
  return static_cast<int32_t>(to.size() - 1);
}

// Exact match (teacher forcing) and mean loss per target token on every test domain apart (the
// federation reports the pooled test split): the untuned base (the run's initial adapter, which
// leaves it unchanged) and the global adapter the run ends with.
class DomainEval {
 public:
  DomainEval(const models::Model& m, const datasets::FederatedDataset& d) : m_(m), names_(d.task_names) {
    std::vector<std::vector<std::pair<std::string, std::string>>> by(names_.size());
    for (const auto& s : d.test)
      if (s.task >= 0) by[static_cast<size_t>(s.task)].emplace_back(s.instruction, s.answer);
    for (auto& pairs : by) {
      std::vector<models::Batch> bs;
      for (size_t i = 0; i < pairs.size(); i += 32)
        bs.push_back(models::make_sft_batch(
            m.tokenizer(), m.chat_template(),
            std::vector<std::pair<std::string, std::string>>(pairs.begin() + static_cast<long>(i),
                                                             pairs.begin() + static_cast<long>(std::min(pairs.size(), i + 32))),
            m.config().max_seq));
      n_.push_back(static_cast<int64_t>(pairs.size()));
      batches_.push_back(std::move(bs));
    }
  }
  void per_domain(const std::vector<float>& adapter, std::vector<double>& acc, std::vector<double>& loss) const {
    acc.clear();
    loss.clear();
    for (const auto& bs : batches_) {
      double correct = 0, seqs = 0, l = 0, tok = 0;
      for (const auto& b : bs) {
        const models::EvalStats e = m_.evaluate(&adapter, b);
        double nt = 0;
        for (int32_t t : b.targets) nt += t >= 0 ? 1 : 0;
        correct += e.accuracy * static_cast<double>(e.sequences);
        seqs += static_cast<double>(e.sequences);
        l += e.mean_loss * nt;
        tok += nt;
      }
      acc.push_back(seqs > 0 ? correct / seqs : std::numeric_limits<double>::quiet_NaN());
      loss.push_back(tok > 0 ? l / tok : std::numeric_limits<double>::quiet_NaN());
    }
  }
  // The table of `base` and `final` for /u2s/eval; a callable that outlives this object.
  std::function<void(const h5::Group&)> writer(const std::vector<float>& base, const std::vector<float>& final) const {
    std::vector<double> ba, bl, fa, fl;
    per_domain(base, ba, bl);
    per_domain(final, fa, fl);
    return [names = names_, n = n_, ba, fa, bl, fl](const h5::Group& g) {
      g.write_strings("domains", names);
      g.write("n_test", n);
      g.write("base_accuracy", ba);
      g.write("final_accuracy", fa);
      g.write("base_loss", bl);
      g.write("final_loss", fl);
    };
  }

 private:
  const models::Model& m_;
  std::vector<std::string> names_;
  std::vector<int64_t> n_;
  std::vector<std::vector<models::Batch>> batches_;
};

// Corpora, truth and the pool; `data` is what the clients will train on (its clients are
// added once they have generated). The synthetic world also supplies the pool for a file corpus.
struct U2sInputs {
  datasets::U2sWorld world;
  datasets::FederatedDataset corpus, data;
  std::vector<PoolExample> pool;
  std::map<std::string, std::string> truth;  // question -> answer (synthetic corpus)
};

U2sInputs load_inputs(const ExperimentConfig& c) {
  const U2sSection& u = u2s_of(c);
  U2sInputs in{datasets::generate_u2s_world(corpus_spec(c)), {}, {}, {}, {}};
  const datasets::U2sWorld& world = in.world;
  datasets::FederatedDataset& corpus = in.corpus;
  datasets::FederatedDataset& data = in.data;
  std::vector<PoolExample>& pool = in.pool;
  corpus = world.corpus;
  if (u.corpus == TextSource::file) {
    corpus = datasets::read_dataset(u.corpus_path);
    if (corpus.kind != datasets::DataKind::corpus)
      fail(c, "corpus_path", u.corpus_path + " holds kind " + datasets::kind_name(corpus.kind), "a data set of kind corpus");
    if (corpus.clients.size() < static_cast<size_t>(c.federation.clients))
      throw UserError(c.source_path + ": federation.clients: " + std::to_string(c.federation.clients) + " is more than the " +
                      std::to_string(corpus.clients.size()) + " clients in " + u.corpus_path);
    corpus.clients.resize(static_cast<size_t>(c.federation.clients));
  }
  data.name = "u2s";
  data.kind = datasets::DataKind::sft;
  data.task_names = corpus.task_names;
  data.languages = corpus.languages;
  data.test = corpus.test;
  if (u.pool_source == TextSource::synthetic) {
    for (const auto& f : world.pool) pool.push_back({f.sentence, f.question, f.answer, f.domain});
  } else {
    const datasets::FederatedDataset pd = datasets::read_dataset(u.pool_path);
    std::vector<datasets::Sample> src = pd.public_split;
    if (src.empty())
      for (const auto& cl : pd.clients) src.insert(src.end(), cl.samples.begin(), cl.samples.end());
    for (const auto& s : src)
      if (pool.size() < static_cast<size_t>(u.world.pool_size)) pool.push_back({"", s.instruction, s.response, -1});
    if (pool.empty()) fail(c, "pool_path", u.pool_path + " holds no samples", "an sft data set with samples");
    if (data.test.empty()) {
      // Held-out questions from the pool file: its task and language indices, renamed into ours.
      data.test = pd.test;
      for (auto& t : data.test) {
        t.task = rename_index(t.task, pd.task_names, data.task_names);
        t.language = rename_index(t.language, pd.languages, data.languages);
      }
    }
  }
  for (const auto& e : pool) data.public_split.push_back({e.instruction, e.response, e.response, e.domain, 1.0f, -1, {}, {}});
  if (data.test.empty()) fail(c, "corpus_path", "no held-out questions (test split) in the corpus or the pool", "a data set with a test split");
  for (auto& s : data.test)
    if (s.task >= static_cast<int32_t>(data.task_names.size())) s.task = -1;
  if (u.corpus == TextSource::synthetic)
    for (const auto& s : world.corpus.test) in.truth[s.instruction] = s.answer;

  return in;
}

// What the clients generate with: the configured backend (and the trained or loaded generator
// behind the model backend), the example selector and the job costs.
struct GeneratorSetup {
  std::unique_ptr<llm::Backend> backend;
  std::unique_ptr<models::Model> model;
  std::unique_ptr<Selector> selector;
  PhaseInput in;
};

std::unique_ptr<GeneratorSetup> make_generator(const ExperimentConfig& c, const U2sInputs& inputs, const models::Model& base,
                                               const RunHooks& hooks) {
  const U2sSection& u = u2s_of(c);
  const std::vector<PoolExample>& pool = inputs.pool;
  auto g = std::make_unique<GeneratorSetup>();
  PhaseInput& in = g->in;
  in.corpus = &inputs.corpus;
  in.pool = &pool;
  // u2s.embedding: hidden embeds with the base every client holds (README.md).
  const models::Model* hidden = u.embedding == Embedding::hidden ? &base : nullptr;
  g->selector = std::make_unique<Selector>(pool, u.selection, static_cast<int>(u.k), static_cast<int>(u.ngram),
                                           static_cast<int>(u.embed_dim), hidden);
  in.selector = g->selector.get();
  in.truth = inputs.truth.empty() ? nullptr : &inputs.truth;
  for (const auto& e : pool) in.download_bytes += static_cast<int64_t>(e.source.size() + e.instruction.size() + e.response.size());
  if (u.backend == U2sBackend::extractive) {
    g->backend = make_extractive_backend();
    in.flops_per_token = models::forward_flops_per_token(base.config());  // charged as the run's model would cost
  } else if (u.backend == U2sBackend::openai) {
    llm::OpenAIConfig oc = u.openai;
    llm::resolve_api_key(oc, c.source_path + ": u2s.openai_api_key_env");
    g->backend = llm::make_openai_backend(oc);
  } else {
    const models::Model* gen = &base;
    if (!u.generator_checkpoint.empty()) {
      g->model = std::make_unique<models::Model>(models::Model::load(u.generator_checkpoint, lora_config(c)));
      gen = g->model.get();
    } else if (u.generator == GeneratorSource::trained) {
      std::vector<PoolExample> demos;
      for (const auto& f : inputs.world.demos) demos.push_back({f.sentence, f.question, f.answer, f.domain});
      std::string embed_key;
      if (hidden) {
        const std::vector<float> w = base.base_weights();
        embed_key = ";base=" + cache::content_hash(std::string(reinterpret_cast<const char*>(w.data()), w.size() * sizeof(float)));
      }
      g->model = std::make_unique<models::Model>(trained_generator(c, pool, demos, hidden, embed_key, hooks));
      gen = g->model.get();
    }
    g->backend = llm::make_model_backend(*gen, nullptr);
    in.flops_per_token = models::forward_flops_per_token(gen->config());
    in.download_bytes += gen->n_base_params() * 4;
  }
  in.backend = g->backend.get();
  if (hooks.log)
    hooks.log("u2s: " + std::to_string(inputs.corpus.clients.size()) + " clients generate with the " + name_of(u.backend) +
              " backend (" + name_of(u.selection) + " examples, k = " + std::to_string(u.k) + ")");
  return g;
}

// train_on: true: every client holds the true pairs of its facts from the start (the upper
// baseline; a client without any holds one pool pair). Returns the report and fills `data`.
PhaseOutput true_pairs(const U2sInputs& inputs, datasets::FederatedDataset& data) {
  PhaseOutput phase;
  for (size_t i = 0; i < data.clients.size(); ++i) {
    ClientReport r;
    r.pairs = inputs.world.true_pairs.clients[i].samples;
    r.kept = static_cast<int64_t>(r.pairs.size());
    r.ready_s = 0.0;
    r.status = "true pairs";
    data.clients[i].samples = r.pairs.empty() ? std::vector<datasets::Sample>{data.public_split.front()} : r.pairs;
    phase.clients.push_back(std::move(r));
  }
  return phase;
}

// u2s.save_data: the clients' data as the run ends, in the data format (kind sft). The format
// names every sample's task in /tasks: samples of no domain (a file pool's pairs, test questions
// of tasks the corpus does not name) go under one more task, "none".
void save_generated(const datasets::FederatedDataset& data, const std::string& path) {
  datasets::FederatedDataset out = data;
  bool none = false;
  auto place = [&](std::vector<datasets::Sample>& split) {
    for (auto& s : split)
      if (s.task < 0) {
        s.task = static_cast<int32_t>(data.task_names.size());
        none = true;
      }
  };
  for (auto& cl : out.clients) place(cl.samples);
  place(out.test);
  place(out.public_split);
  if (none) out.task_names.push_back("none");
  datasets::write_dataset(out, path);
}

// /u2s: per-client generation report and the per-domain evaluation (experiments/RESULTS.md); a
// callable that outlives the run's objects.
std::function<void(const h5::Group&)> u2s_writer(const U2sSection& u, PhaseOutput phase,
                                                 std::function<void(const h5::Group&)> eval) {
  auto clients = std::make_shared<std::vector<ClientReport>>(std::move(phase.clients));
  auto messages = std::make_shared<std::vector<std::string>>(std::move(phase.messages));
  const std::string backend_name = u.train_on == U2sTrainOn::true_pairs ? "true" : name_of(u.backend),
                    selection = name_of(u.selection);
  return [clients, messages, eval, backend_name, selection](const h5::Group& root) {
    const h5::Group g = root.create_group("u2s");
    g.set_attr("backend", backend_name);
    g.set_attr("selection", selection);
    std::vector<std::string> names;
    for (size_t d = 0; d < kDropKinds; ++d) names.push_back(drop_name(static_cast<Drop>(d)));
    g.write_strings("drop_names", names);
    u2s_clients_table().write(g, *clients);
    std::vector<int64_t> drops;  // (clients, drop kinds)
    for (const auto& r : *clients) drops.insert(drops.end(), r.drops.begin(), r.drops.end());
    g.write("drops", drops, {static_cast<hsize_t>(clients->size()), static_cast<hsize_t>(kDropKinds)});
    g.write_strings("messages", *messages);
    eval(g.create_group("eval"));
  };
}

}  // namespace

const h5::RowTable<ClientReport>& u2s_clients_table() {
  static const h5::RowTable<ClientReport> t = h5::RowTable<ClientReport>()
      .col("pieces", &ClientReport::pieces, "pieces", "pieces the client's corpus was cut into")
      .col("processed", &ClientReport::processed, "pieces", "pieces a generator answered for in a finished job")
      .col("kept", &ClientReport::kept, "pairs", "pairs that passed every filter")
      .col("prompt_tokens", &ClientReport::prompt_tokens, "tokens", "prompt tokens of the processed pieces")
      .col("completion_tokens", &ClientReport::completion_tokens, "tokens", "completion tokens of the processed pieces")
      .col("attempts", &ClientReport::attempts, "jobs", "generate jobs started")
      .col("generation_s", &ClientReport::gen_time_s, "simulated s", "length of the last generate job")
      .col("ready_s", &ClientReport::ready_s, "simulated s", "when the client may first train (inf = never)")
      .col("status", &ClientReport::status, "", "done | cutoff | no pairs | gave up: <why> | true pairs");
  return t;
}

void validate_u2s(const ExperimentConfig& c) {
  const U2sSection& u = u2s_of(c);
  if (!u.enabled()) return;
  if (u.chunk_overlap >= u.chunk_size)
    fail(c, "chunk_overlap", std::to_string(u.chunk_overlap) + " is not below chunk_size " + std::to_string(u.chunk_size),
         "0 to chunk_size - 1");
  if (u.world.docs_min > u.world.docs_max)
    fail(c, "docs_min", std::to_string(u.world.docs_min) + " > docs_max", "docs_min <= docs_max");
  const FilterSpec& f = u.filter;
  if (f.min_question > f.max_question) fail(c, "min_question", std::to_string(f.min_question) + " > max_question", "<= max_question");
  if (f.min_answer > f.max_answer) fail(c, "min_answer", std::to_string(f.min_answer) + " > max_answer", "<= max_answer");
  if (u.corpus == TextSource::file && u.corpus_path.empty()) fail(c, "corpus_path", "empty with corpus: file", "an HDF5 data set of kind corpus");
  if (u.pool_source == TextSource::file && u.pool_path.empty()) fail(c, "pool_path", "empty with pool_source: file", "an sft HDF5 data set");
  const models::ModelConfig g = generator_config(u);
  if (u.backend == U2sBackend::model && g.d_model % g.n_heads != 0)
    fail(c, "generator_heads", std::to_string(g.n_heads) + " does not divide the generator width " + std::to_string(g.d_model),
         "a divisor of u2s.generator_d_model (or of the preset's width)");
  if (u.backend == U2sBackend::openai && u.openai.url.empty()) fail(c, "openai_url", "empty", "http://host:port/v1");
  if (c.federation.trainer != TrainerKind::model)
    throw UserError(c.source_path + ": federation.trainer: none with u2s.mode: on; accepted: model (U2S trains on real text)");
  const AlgorithmInfo& alg = algorithm_info(c.federation.algorithm);
  if (c.federation.sampling != Sampling::uniform || alg.rule == ServerRuleKind::keep_local || alg.dpo)
    throw UserError(c.source_path + ": federation: U2S clients join when their data is ready, which needs sampling: uniform "
                    "and an instruction-tuning algorithm; got sampling " + name_of(c.federation.sampling) + ", algorithm " +
                    alg.name + "; accepted: sampling uniform, any algorithm but local and feddpo");
  if (u.corpus == TextSource::synthetic) {
    try {
      datasets::validate_u2s_corpus_spec(corpus_spec(c));
    } catch (const UserError& e) {
      throw UserError(c.source_path + ": " + e.what());
    }
  }
}

RunResults run_u2s_experiment(const ExperimentConfig& c, const RunHooks& hooks, const RunControl& control) {
  const U2sSection& u = u2s_of(c);
  U2sInputs inputs = load_inputs(c);
  models::Model base = prepare_model(c, inputs.data, hooks);
  datasets::FederatedDataset& data = inputs.data;  // its clients get their samples during the run
  for (const auto& cl : inputs.corpus.clients) data.clients.push_back({cl.name, {}, {}});
  const size_t n = data.clients.size();
  const bool generated = u.train_on == U2sTrainOn::generated;
  PhaseOutput phase = generated ? PhaseOutput{} : true_pairs(inputs, data);
  std::vector<int64_t> sizes(n, kDataPending);
  if (!generated)
    for (size_t i = 0; i < n; ++i) sizes[i] = static_cast<int64_t>(data.clients[i].samples.size());
  const std::unique_ptr<GeneratorSetup> setup = generated ? make_generator(c, inputs, base, hooks) : nullptr;
  auto trainer = make_model_trainer(c, data, base);
  const DomainEval domains(base, data);
  // One timeline: the clients' generation jobs and the federation's rounds on one Simulation.
  Simulation sim(c.system, static_cast<int>(n), static_cast<uint64_t>(c.experiment.seed));
  Federation fed(c, sizes, *trainer, hooks, sim);
  std::unique_ptr<Generation> gen = generated ? std::make_unique<Generation>(c, setup->in, data, fed, sim, hooks) : nullptr;
  if (gen) fed.set_on_done([&gen] { gen->stop(); });  // the run ends with its training
  const auto observers = observe_run_features(sim, fed, c, RunInputs{&base, &data}, hooks);
  run_resumable(sim, c, hooks, control, [&] {
    if (gen) gen->start();
    if (!gen || u.start == U2sStart::as_ready) fed.start();
  });
  RunResults res = fed.finish();
  for (const auto& o : observers) o->finish(res);
  if (gen) phase = gen->finish();
  if (!u.save_data.empty()) save_generated(data, u.save_data);
  res.write_extra.push_back(u2s_writer(u, std::move(phase), domains.writer(trainer->initial_adapter(), res.global_adapter)));
  return res;
}

}  // namespace fedsim::sim::u2s
