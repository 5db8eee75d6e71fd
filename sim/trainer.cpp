#include "sim/trainer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "models/text/batch.hpp"
#include "sim/experiment.hpp"
#include "sim/sampler.hpp"

namespace fedsim::sim {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr size_t kEvalBatch = 32;

// The sample's language as the data set names it ("" when unknown): the per-language alpaca
// template reads it.
std::string language_of(const datasets::FederatedDataset& d, const datasets::Sample& s) {
  return s.language >= 0 && static_cast<size_t>(s.language) < d.languages.size() ? d.languages[static_cast<size_t>(s.language)]
                                                                                  : std::string();
}

// Rows of T tokens through the model's tokenizer and chat template.
models::Batch text_batch(const models::Model& m, const std::vector<models::Conversation>& convs, int T) {
  return models::make_sft_batch(m.tokenizer(), m.chat_template(), convs, T);
}

// True when the clients' responses are "<answer>\n<more text>" (the FedLLM-Bench-calibrated
// presets pad responses to the published lengths after the answer line).
bool answer_is_first_line(const datasets::FederatedDataset& d) {
  size_t seen = 0, first_line = 0;
  for (const auto& c : d.clients)
    for (const auto& x : c.samples) {
      if (seen == 256) break;
      ++seen;
      if (!x.answer.empty() && x.response.size() > x.answer.size() && x.response.compare(0, x.answer.size(), x.answer) == 0 &&
          x.response[x.answer.size()] == '\n')
        ++first_line;
    }
  return seen > 0 && 2 * first_line > seen;
}

// Test-time batches score the ground truth answer, not a possibly corrupted response, as one
// exchange in the run's template (multi-turn runs: one-exchange conversations). The answer must
// be followed by the end of the answer (EOS, or the template's end-of-turn token), or, where
// training responses continue after the answer line, by a newline: then the targets that end the
// answer become the newline's id (the tokenizer's one token for "\n"; newline < 0 keeps them),
// so a sample counts iff greedy decoding writes exactly the answer line.
std::vector<models::Batch> eval_batches(const models::Model& m, const datasets::FederatedDataset& d,
                                        const std::vector<datasets::Sample>& s, size_t limit, int T, int32_t newline) {
  std::vector<models::Batch> out;
  const std::vector<int32_t> stop = models::stop_ids(m.tokenizer(), m.chat_template());
  const size_t n = std::min(limit, s.size());
  for (size_t start = 0; start < n; start += kEvalBatch) {
    std::vector<models::Conversation> convs;
    for (size_t i = start; i < std::min(start + kEvalBatch, n); ++i)
      convs.push_back(models::exchange(s[i].instruction, s[i].answer.empty() ? s[i].response : s[i].answer, language_of(d, s[i])));
    models::Batch b = text_batch(m, convs, T);
    if (newline >= 0)
      for (auto& t : b.targets)
        if (std::find(stop.begin(), stop.end(), t) != stop.end()) t = newline;
    out.push_back(std::move(b));
  }
  return out;
}

EvalResult eval_on(const models::Model& m, const std::vector<float>& adapter, const std::vector<models::Batch>& bs) {
  double loss_sum = 0.0, correct = 0.0, tokens = 0.0, seqs = 0.0;
  for (const auto& b : bs) {
    const models::EvalStats s = m.evaluate(&adapter, b);
    const auto n_tok = static_cast<double>(std::count_if(b.targets.begin(), b.targets.end(), [](int32_t t) { return t >= 0; }));
    loss_sum += s.mean_loss * n_tok;
    tokens += n_tok;
    correct += s.accuracy * static_cast<double>(s.sequences);
    seqs += static_cast<double>(s.sequences);
  }
  return {tokens > 0 ? loss_sum / tokens : kNaN, seqs > 0 ? correct / seqs : kNaN};
}

class ModelTrainer : public LocalTrainer {
 public:
  ModelTrainer(const ExperimentConfig& c, const datasets::FederatedDataset& d, models::Model& m)
      : c_(c), d_(d), m_(m), T_(m.config().max_seq), dpo_(algorithm_info(c.federation.algorithm).dpo),
        batch_{c.federation.packing, c.federation.batch_memory_mb} {
    if (dpo_ && d.kind != datasets::DataKind::dpo)
      throw UserError(c.source_path + ": federation.algorithm: feddpo needs preference data (kind dpo); the data set is " +
                      datasets::kind_name(d.kind));
    if (!dpo_ && d.kind == datasets::DataKind::dpo)
      throw UserError(c.source_path + ": federation.algorithm: " + name_of(c.federation.algorithm) +
                      " trains on instructions, but the data set holds preference pairs; accepted: feddpo");
    if (d.test.empty()) throw UserError(c.source_path + ": data: the data set has no test split to evaluate on");
    // Scoring the answer line needs "\n" as one token (byte-level BPE and byte-fallback
    // tokenizers have it); otherwise the whole response is scored.
    const std::vector<int32_t> nl = m.tokenizer().encode("\n", false);
    newline_ = answer_is_first_line(d) && nl.size() == 1 ? nl[0] : -1;
    multiturn_ = d.kind == datasets::DataKind::multiturn;
    // Upstream's multi-turn path hands the trainer the client's whole conversation set
    // (main_sft.py passes the data module, not get_dataset_this_round's subset): no subset draw.
    const LocalDraw draw = c.federation.local_draw;
    upstream_draw_ = !multiturn_ && (draw == LocalDraw::fedllm_bench ||
                                     (draw == LocalDraw::automatic && c.federation.sampling == Sampling::fedllm_bench));
    test_ = eval_batches(m, d, d.test, d.test.size(), T_, newline_);
    opt_.weight_decay = static_cast<float>(c.federation.weight_decay);
    opt_.grad_clip = static_cast<float>(c.federation.grad_clip);
  }
  int64_t adapter_params() const override { return m_.n_adapter_params(); }
  double flops_per_token() const override { return m_.train_flops_per_token() * (dpo_ ? 2.0 : 1.0); }
  std::vector<float> initial_adapter() const override {
    return m_.init_adapter(stream_key(static_cast<uint64_t>(c_.experiment.seed), 0, 0, Purpose::adapter_init));
  }
  // The cost of a step is its padded rows: batch_size sequences of T = model.seq_len tokens of
  // the model's tokenizer (sim/README.md "Tokens and cost"). The tokenizer decides what the T
  // tokens hold, not how many there are, so NullTrainer charges the same count.
  int64_t tokens(int steps) const override {
    return static_cast<int64_t>(steps) * c_.federation.batch_size * T_;
  }
  LocalResult train(int32_t client, int64_t round, int steps, std::vector<float>& adapter, double lr,
                    const models::LocalHooks& hooks) override {
    models::TrainStats st;
    int64_t empty = 0;
    if (dpo_) {
      const std::vector<models::DpoBatch> b = dpo_batches(client, round, steps);
      empty = no_target(b);
      st = m_.train_adapter_dpo(adapter, b, static_cast<float>(lr), opt_, dropout_seed(client, round),
                                static_cast<float>(c_.federation.dpo_beta), hooks);
    } else {
      const std::vector<models::Batch> b = sft_batches(client, round, steps);
      empty = no_target(b);
      st = m_.train_adapter(adapter, b, static_cast<float>(lr), opt_, dropout_seed(client, round), hooks);
    }
    return result(st, empty);
  }
  std::vector<LocalResult> train_many(const std::vector<TrainTask>& tasks) override {
    std::vector<std::vector<float>*> adapters;
    std::vector<float> lrs;
    std::vector<uint64_t> seeds;
    std::vector<models::LocalHooks> hooks;
    for (const TrainTask& t : tasks) {
      adapters.push_back(t.adapter);
      lrs.push_back(static_cast<float>(t.lr));
      seeds.push_back(dropout_seed(t.client, t.round));
      hooks.push_back(t.hooks);
    }
    std::vector<models::TrainStats> st;
    std::vector<int64_t> empty;
    if (dpo_) {
      std::vector<std::vector<models::DpoBatch>> batches;
      for (const TrainTask& t : tasks) batches.push_back(dpo_batches(t.client, t.round, t.steps));
      for (const auto& b : batches) empty.push_back(no_target(b));
      st = m_.train_adapters_dpo_batched(adapters, batches, lrs, opt_, seeds, static_cast<float>(c_.federation.dpo_beta),
                                         hooks, batch_);
    } else {
      std::vector<std::vector<models::Batch>> batches;
      for (const TrainTask& t : tasks) batches.push_back(sft_batches(t.client, t.round, t.steps));
      for (const auto& b : batches) empty.push_back(no_target(b));
      st = m_.train_adapters_batched(adapters, batches, lrs, opt_, seeds, hooks, batch_);
    }
    std::vector<LocalResult> out;
    for (size_t i = 0; i < st.size(); ++i) out.push_back(result(st[i], empty[i]));
    return out;
  }
  // Packed rows of the task's batches: each sequence up to its last target token (models/README
  // "Packing"); building the batches is cheap beside training them.
  double task_cost(const TrainTask& t) const override {
    int64_t rows = 0;
    auto add = [&](const models::Batch& b) {
      for (int q = 0; q < b.B; ++q) rows += models::packed_len(b, q);
    };
    if (dpo_)
      for (const models::DpoBatch& d : dpo_batches(t.client, t.round, t.steps)) add(d.chosen), add(d.rejected);
    else
      for (const models::Batch& b : sft_batches(t.client, t.round, t.steps)) add(b);
    return static_cast<double>(rows);
  }
  EvalResult evaluate(const std::vector<float>& adapter) const override { return eval_on(m_, adapter, test_); }
  double client_accuracy(const std::vector<float>& adapter, int32_t client) const override {
    const auto& s = d_.clients[static_cast<size_t>(client)].samples;
    return eval_on(m_, adapter, eval_batches(m_, d_, s, static_cast<size_t>(c_.federation.client_eval_samples), T_, newline_))
        .accuracy;
  }

 private:
  LocalResult result(const models::TrainStats& st, int64_t empty) const {
    return {st.mean_loss, st.steps, st.tokens * (dpo_ ? 2 : 1), st.rows * (dpo_ ? 2 : 1), empty};
  }
  // Rows with no target token: the response starts at or beyond model.seq_len. DPO: pairs where
  // either side has none (the pair's loss then compares nothing).
  static bool empty_row(const models::Batch& b, int q) {
    const auto row = b.targets.begin() + static_cast<std::ptrdiff_t>(q) * b.T;
    return std::none_of(row, row + b.T, [](int32_t t) { return t >= 0; });
  }
  static int64_t no_target(const std::vector<models::Batch>& bs) {
    int64_t n = 0;
    for (const auto& b : bs)
      for (int q = 0; q < b.B; ++q) n += empty_row(b, q);
    return n;
  }
  static int64_t no_target(const std::vector<models::DpoBatch>& bs) {
    int64_t n = 0;
    for (const auto& d : bs)
      for (int q = 0; q < d.chosen.B; ++q) n += empty_row(d.chosen, q) || empty_row(d.rejected, q);
    return n;
  }
  uint64_t dropout_seed(int32_t client, int64_t round) const {
    return stream_key(static_cast<uint64_t>(c_.experiment.seed), static_cast<uint64_t>(client),
                      static_cast<uint64_t>(round), Purpose::dropout);
  }
  std::vector<size_t> draw(int32_t client, int64_t round, int steps) const {
    return draw_local_samples(static_cast<uint64_t>(c_.experiment.seed), client, round,
                              d_.clients[static_cast<size_t>(client)].samples.size(), steps,
                              static_cast<int>(c_.federation.batch_size), upstream_draw_);
  }
  std::vector<models::Batch> sft_batches(int32_t client, int64_t round, int steps) const {
    const auto& samples = d_.clients[static_cast<size_t>(client)].samples;
    const auto B = static_cast<long>(c_.federation.batch_size);
    const std::vector<size_t> idx = draw(client, round, steps);
    std::vector<models::Batch> batches;
    for (int s = 0; s < steps; ++s)
      batches.push_back(training_batch(d_, samples, std::vector<size_t>(idx.begin() + s * B, idx.begin() + (s + 1) * B), m_));
    return batches;
  }
  std::vector<models::DpoBatch> dpo_batches(int32_t client, int64_t round, int steps) const {
    const auto& samples = d_.clients[static_cast<size_t>(client)].samples;
    const auto B = static_cast<size_t>(c_.federation.batch_size);
    const std::vector<size_t> idx = draw(client, round, steps);
    std::vector<models::DpoBatch> batches;
    for (int s = 0; s < steps; ++s) {  // chosen and rejected rows of the same prompts
      std::vector<models::Conversation> chosen, rejected;
      for (size_t j = 0; j < B; ++j) {
        const auto& x = samples[idx[static_cast<size_t>(s) * B + j]];
        chosen.push_back(models::exchange(x.instruction, x.response, language_of(d_, x)));
        rejected.push_back(models::exchange(x.instruction, x.rejected, language_of(d_, x)));
      }
      batches.push_back(models::DpoBatch{text_batch(m_, chosen, T_), text_batch(m_, rejected, T_)});
    }
    return batches;
  }

  const ExperimentConfig& c_;
  const datasets::FederatedDataset& d_;
  models::Model& m_;
  int T_;
  bool dpo_;
  models::BatchOptions batch_;
  int32_t newline_ = -1;        // the answer line is scored: the id its newline must be
  bool multiturn_ = false;      // whole conversations
  bool upstream_draw_ = false;  // local_draw fedllm-bench: CPython's per-round subset
  models::OptimConfig opt_;
  std::vector<models::Batch> test_;
};

class NullTrainer : public LocalTrainer {
 public:
  explicit NullTrainer(const ExperimentConfig& c)
      : c_(c),
        params_(models::adapter_param_count(model_config(c), lora_config(c))),
        flops_(models::train_flops_per_token(model_config(c), lora_config(c))),
        T_(model_config(c).max_seq) {}
  int64_t adapter_params() const override { return params_; }
  double flops_per_token() const override { return flops_; }
  std::vector<float> initial_adapter() const override { return {}; }
  // ModelTrainer's count (steps x batch x T tokens) without a tokenizer: it does not depend on the text.
  int64_t tokens(int steps) const override { return static_cast<int64_t>(steps) * c_.federation.batch_size * T_; }
  LocalResult train(int32_t, int64_t, int steps, std::vector<float>&, double, const models::LocalHooks&) override {
    return {kNaN, steps, tokens(steps)};
  }
  EvalResult evaluate(const std::vector<float>&) const override { return {kNaN, kNaN}; }
  double client_accuracy(const std::vector<float>&, int32_t) const override { return kNaN; }

 private:
  const ExperimentConfig& c_;
  int64_t params_;
  double flops_;
  int T_;
};

}  // namespace

std::vector<LocalResult> LocalTrainer::train_many(const std::vector<TrainTask>& tasks) {
  std::vector<LocalResult> out;
  for (const TrainTask& t : tasks) out.push_back(train(t.client, t.round, t.steps, *t.adapter, t.lr, t.hooks));
  return out;
}

int local_steps(const FederationSection& f, int n_clients, int64_t n_i) {
  if (f.local_steps_mode == StepsMode::fixed) return static_cast<int>(f.local_steps);
  const double N = n_clients, m = std::min<double>(static_cast<double>(f.clients_per_round), N);
  // R is local_steps_rounds when set, so a run scaled to fewer rounds keeps the published work
  // per participation (FedLLM-Bench's utils/utils.py, get_dynamic_local_step).
  const double R = static_cast<double>(f.local_steps_rounds > 0 ? f.local_steps_rounds : f.rounds);
  const double B = static_cast<double>(f.batch_size);
  const double steps = std::ceil(f.local_epochs * static_cast<double>(n_i) * N / (R * m) / B);
  return static_cast<int>(std::max(1.0, std::min(steps, 1e6)));
}

double round_lr(const FederationSection& f, int64_t round) { return cosine_lr(f.lr, f.lr_min, round, f.rounds); }

std::vector<size_t> draw_local_samples(uint64_t seed, int32_t client, int64_t round, size_t n_i, int steps, int batch,
                                       bool upstream_subset) {
  FEDSIM_ASSERT(n_i > 0 && steps > 0 && batch > 0);
  const size_t want = static_cast<size_t>(steps) * static_cast<size_t>(batch);
  const size_t take = std::min(want, n_i);
  std::vector<size_t> order(n_i);
  std::iota(order.begin(), order.end(), size_t{0});
  Rng rng(seed, static_cast<uint64_t>(client), static_cast<uint64_t>(round), Purpose::batch_draw);
  if (upstream_subset) {
    // federated_learning/split_dataset.py, get_dataset_this_round:
    //   random.seed(round); random.sample(range(n_i), min(batch * accum * steps, n_i))
    // then fedsim's own order inside the subset (upstream: the HF Trainer's torch sampler).
    FEDSIM_ASSERT(n_i <= static_cast<size_t>(std::numeric_limits<int32_t>::max()));
    const std::vector<int32_t> picked = CPythonRandom(static_cast<uint64_t>(round))
                                            .sample_range(static_cast<int32_t>(n_i), static_cast<int32_t>(take));
    for (size_t i = 0; i < take; ++i) order[i] = static_cast<size_t>(picked[i]);
    for (size_t i = take; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  } else {
    for (size_t i = 0; i < take; ++i) std::swap(order[i], order[i + rng.below(n_i - i)]);
  }
  std::vector<size_t> out(want);
  for (size_t k = 0; k < want; ++k) out[k] = order[k % take];
  return out;
}

models::Batch training_batch(const datasets::FederatedDataset& d, const std::vector<datasets::Sample>& samples,
                             const std::vector<size_t>& idx, const models::Model& m) {
  std::vector<models::Conversation> convs;
  convs.reserve(idx.size());
  for (size_t i : idx) {
    const datasets::Sample& s = samples[i];
    convs.push_back(d.kind == datasets::DataKind::multiturn ? models::alternating(s.turns, language_of(d, s))
                                                            : models::exchange(s.instruction, s.response, language_of(d, s)));
  }
  return text_batch(m, convs, m.config().max_seq);
}

std::unique_ptr<LocalTrainer> make_model_trainer(const ExperimentConfig& c, const datasets::FederatedDataset& data,
                                                 models::Model& model) {
  return std::make_unique<ModelTrainer>(c, data, model);
}

std::unique_ptr<LocalTrainer> make_null_trainer(const ExperimentConfig& c) { return std::make_unique<NullTrainer>(c); }

}  // namespace fedsim::sim
