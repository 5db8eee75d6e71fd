// A U2S experiment: corpora and the server's pool, the base model (pretrained on the pool's
// pairs), each client's generation job, then federated instruction tuning on what each client
// generated, with clients joining when their job is done. Only adapters travel in the
// federation; the generated pairs stay with the client that made them.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>

#include "common/error.hpp"
#include "common/h5.hpp"
#include "models/text/batch.hpp"
#include "sim/federation.hpp"
#include "sim/u2s/u2s_phase.hpp"

namespace fedsim::sim::u2s {
namespace {

datasets::U2sCorpusSpec corpus_spec(const ExperimentConfig& c) {
  const U2sSection& u = u2s_of(c);
  datasets::U2sCorpusSpec s;
  s.n_clients = static_cast<int>(c.federation.clients);
  s.domains = u.domains;
  s.docs_min = static_cast<int>(u.docs_min);
  s.docs_max = static_cast<int>(u.docs_max);
  s.facts_per_doc = static_cast<int>(u.facts_per_doc);
  s.dirichlet_alpha = u.domain_alpha;
  s.filler_prob = u.filler_prob;
  s.repeat_prob = u.repeat_prob;
  s.pool_size = static_cast<int>(u.pool_size);
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

// Evaluates every test domain apart (the federation reports the pooled test split): the untuned
// base (the initial adapter, which leaves it unchanged) and the last evaluation.
class DomainEvalTrainer : public LocalTrainer {
 public:
  DomainEvalTrainer(LocalTrainer& inner, const models::Model& m, const datasets::FederatedDataset& d)
      : inner_(inner), m_(m), names_(d.task_names) {
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
    // The base (round 0: the run's initial adapter), computed here so that a resumed run, which
    // does not evaluate round 0 again, reports it too.
    per_domain(inner_.initial_adapter(), first_acc_, first_loss_);
  }
  int64_t adapter_params() const override { return inner_.adapter_params(); }
  double flops_per_token() const override { return inner_.flops_per_token(); }
  std::vector<float> initial_adapter() const override { return inner_.initial_adapter(); }
  int64_t tokens(int steps) const override { return inner_.tokens(steps); }
  LocalResult train(int32_t client, int64_t round, int steps, std::vector<float>& adapter, double lr,
                    const models::LocalHooks& hooks) override {
    return inner_.train(client, round, steps, adapter, lr, hooks);
  }
  EvalResult evaluate(const std::vector<float>& adapter) const override {
    per_domain(adapter, last_acc_, last_loss_);
    return inner_.evaluate(adapter);
  }
  double client_accuracy(const std::vector<float>& adapter, int32_t client) const override {
    return inner_.client_accuracy(adapter, client);
  }
  // Exact match (teacher forcing) and mean loss per target token, per domain.
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
  // Writes the table into `g`; a callable that outlives this trainer.
  std::function<void(const h5::Group&)> writer() const {
    return [names = names_, n = n_, ba = first_acc_, fa = last_acc_, bl = first_loss_, fl = last_loss_](const h5::Group& g) {
      g.write_strings("domains", names);
      g.write("n_test", n);
      g.write("base_accuracy", ba);
      g.write("final_accuracy", fa);
      g.write("base_loss", bl);
      g.write("final_loss", fl);
    };
  }

 private:
  LocalTrainer& inner_;
  const models::Model& m_;
  std::vector<std::string> names_;
  std::vector<int64_t> n_;
  std::vector<std::vector<models::Batch>> batches_;
  std::vector<double> first_acc_, first_loss_;
  mutable std::vector<double> last_acc_, last_loss_;
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
      if (pool.size() < static_cast<size_t>(u.pool_size)) pool.push_back({"", s.instruction, s.response, -1});
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

// Every client's generation: the true pairs (train_on: true), or a generate job per client with
// the configured backend (run_phase).
PhaseOutput generate_pairs(const ExperimentConfig& c, const U2sInputs& inputs, const models::Model& base,
                           const RunHooks& hooks) {
  const U2sSection& u = u2s_of(c);
  const auto say = [&](const std::string& s) { if (hooks.log) hooks.log(s); };
  const datasets::U2sWorld& world = inputs.world;
  const std::vector<PoolExample>& pool = inputs.pool;
  const std::map<std::string, std::string>& truth = inputs.truth;
  const int n = static_cast<int>(inputs.corpus.clients.size());
  PhaseOutput phase;
  phase.clients.resize(static_cast<size_t>(n));
  if (u.train_on == U2sTrainOn::true_pairs) {
    for (int i = 0; i < n; ++i) {
      ClientReport& r = phase.clients[static_cast<size_t>(i)];
      r.pairs = world.true_pairs.clients[static_cast<size_t>(i)].samples;
      r.kept = static_cast<int64_t>(r.pairs.size());
      r.ready_s = 0.0;
      r.status = "true pairs";
    }
  } else {
    std::unique_ptr<llm::Backend> backend;
    std::unique_ptr<models::Model> generator;
    PhaseInput in;
    in.corpus = &inputs.corpus;
    in.pool = &pool;
    // u2s.embedding: hidden embeds with the base every client holds (README.md).
    const models::Model* hidden = u.embedding == Embedding::hidden ? &base : nullptr;
    const Selector sel(pool, u.selection, static_cast<int>(u.k), static_cast<int>(u.ngram), static_cast<int>(u.embed_dim),
                       hidden);
    in.selector = &sel;
    in.truth = truth.empty() ? nullptr : &truth;
    for (const auto& e : pool) in.download_bytes += static_cast<int64_t>(e.source.size() + e.instruction.size() + e.response.size());
    if (u.backend == U2sBackend::extractive) {
      backend = make_extractive_backend();
      in.flops_per_token = models::forward_flops_per_token(base.config());  // charged as the run's model would cost
    } else if (u.backend == U2sBackend::openai) {
      llm::OpenAIConfig oc;
      oc.url = u.openai_url;
      oc.model = u.openai_model;
      if (!u.openai_api_key_env.empty()) {
        const char* key = std::getenv(u.openai_api_key_env.c_str());
        if (!key) fail(c, "openai_api_key_env", u.openai_api_key_env + " is not set in the environment", "a set variable or \"\"");
        oc.api_key = key;
      }
      oc.timeout_s = u.openai_timeout_s;
      oc.retries = static_cast<int>(u.openai_retries);
      oc.backoff_s = u.openai_backoff_s;
      oc.rpm = u.openai_rpm;
      backend = llm::make_openai_backend(oc);
    } else {
      const models::Model* gen = &base;
      if (!u.generator_checkpoint.empty()) {
        generator = std::make_unique<models::Model>(models::Model::load(u.generator_checkpoint, lora_config(c)));
        gen = generator.get();
      } else if (u.generator == GeneratorSource::trained) {
        std::vector<PoolExample> demos;
        for (const auto& f : world.demos) demos.push_back({f.sentence, f.question, f.answer, f.domain});
        std::string embed_key;
        if (hidden) {
          const std::vector<float> w = base.base_weights();
          embed_key = ";base=" + content_hash(std::string(reinterpret_cast<const char*>(w.data()), w.size() * sizeof(float)));
        }
        generator = std::make_unique<models::Model>(trained_generator(c, pool, demos, hidden, embed_key, hooks));
        gen = generator.get();
      }
      backend = llm::make_model_backend(*gen, nullptr);
      in.flops_per_token = models::forward_flops_per_token(gen->config());
      in.download_bytes += gen->n_base_params() * 4;
    }
    in.backend = backend.get();
    say("u2s: " + std::to_string(n) + " clients generate with the " + name_of(u.backend) + " backend (" + name_of(u.selection) +
        " examples, k = " + std::to_string(u.k) + ")");
    phase = run_phase(c, in, hooks);
  }

  return phase;
}

// The clients' training data from what they generated: a client joins at its ready tick (never
// without pairs; one pool pair keeps the data set valid). Returns every client's n_i.
std::vector<int64_t> attach_clients(const ExperimentConfig& c, const PhaseOutput& phase, U2sInputs& inputs,
                                    std::vector<int64_t>& ready, const RunHooks& hooks) {
  const U2sSection& u = u2s_of(c);
  const auto say = [&](const std::string& s) { if (hooks.log) hooks.log(s); };
  datasets::FederatedDataset& data = inputs.data;
  const int n = static_cast<int>(inputs.corpus.clients.size());
  ready.assign(static_cast<size_t>(n), kNever);
  std::vector<int64_t> n_samples;
  int64_t total = 0;
  for (int i = 0; i < n; ++i) {
    const ClientReport& r = phase.clients[static_cast<size_t>(i)];
    datasets::ClientData cd{inputs.corpus.clients[static_cast<size_t>(i)].name, r.pairs, {}};
    if (std::isfinite(r.ready_s)) ready[static_cast<size_t>(i)] = seconds_to_ticks(r.ready_s);
    // A client without pairs never trains (ready never); one pool pair keeps the data set valid.
    if (cd.samples.empty()) cd.samples.push_back(data.public_split.front());
    total += r.kept;
    n_samples.push_back(static_cast<int64_t>(cd.samples.size()));
    data.clients.push_back(std::move(cd));
  }
  if (total == 0)  // not an error: the run ends after round 0 and /u2s tells why
    say("u2s: warning: no client kept any generated pair, so no client trains; HINT: check the generator "
        "(u2s.backend) and the filters (u2s.min_question ... u2s.check_truth) against /u2s/drops");
  if (!u.save_data.empty()) {
    // The data format names every sample's task in /tasks. Samples of no domain (a file pool's
    // pairs, test questions of tasks the corpus does not name) go under one more task, "none".
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
    datasets::write_dataset(out, u.save_data);
  }
  say("u2s: " + std::to_string(total) + " pairs kept over " + std::to_string(n) + " clients");

  return n_samples;
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
  if (u.docs_min > u.docs_max) fail(c, "docs_min", std::to_string(u.docs_min) + " > docs_max", "docs_min <= docs_max");
  if (u.min_question > u.max_question) fail(c, "min_question", std::to_string(u.min_question) + " > max_question", "<= max_question");
  if (u.min_answer > u.max_answer) fail(c, "min_answer", std::to_string(u.min_answer) + " > max_answer", "<= max_answer");
  if (u.corpus == TextSource::file && u.corpus_path.empty()) fail(c, "corpus_path", "empty with corpus: file", "an HDF5 data set of kind corpus");
  if (u.pool_source == TextSource::file && u.pool_path.empty()) fail(c, "pool_path", "empty with pool_source: file", "an sft HDF5 data set");
  const models::ModelConfig g = generator_config(u);
  if (u.backend == U2sBackend::model && g.d_model % g.n_heads != 0)
    fail(c, "generator_heads", std::to_string(g.n_heads) + " does not divide the generator width " + std::to_string(g.d_model),
         "a divisor of u2s.generator_d_model (or of the preset's width)");
  if (u.backend == U2sBackend::openai && u.openai_url.empty()) fail(c, "openai_url", "empty", "http://host:port/v1");
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
  U2sInputs inputs = load_inputs(c);
  models::Model base = prepare_model(c, inputs.data, hooks);
  PhaseOutput phase = generate_pairs(c, inputs, base, hooks);
  std::vector<int64_t> ready;
  const std::vector<int64_t> n_samples = attach_clients(c, phase, inputs, ready, hooks);
  auto inner = make_model_trainer(c, inputs.data, base);
  DomainEvalTrainer trainer(*inner, base, inputs.data);
  RunHooks fh = hooks;
  fh.client_ready_ticks = ready;
  RunResults res = run_federation(c, n_samples, trainer, fh, control, RunInputs{&base, &inputs.data});
  for (const auto& t : phase.timeline)
    res.timeline.push_back({t.client, static_cast<int32_t>(t.kind), static_cast<int32_t>(t.end), -1, ticks_to_seconds(t.start),
                            ticks_to_seconds(t.stop)});
  res.jobs_started += phase.jobs_started;
  res.write_extra.push_back(u2s_writer(u2s_of(c), std::move(phase), trainer.writer()));
  return res;
}

}  // namespace fedsim::sim::u2s
