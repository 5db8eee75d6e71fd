// What a client's local work computes. ModelTrainer runs real LoRA training through models/;
// NullTrainer (federation.trainer: none) computes nothing and only reports the sizes the cost
// model needs, so system studies run at full scale in milliseconds.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "datasets/dataset.hpp"
#include "models/model.hpp"
#include "sim/config.hpp"

namespace fedsim::sim {

struct LocalResult {
  double loss = 0.0;  // mean local training loss (NaN without a model)
  int steps = 0;
  int64_t tokens = 0;
  int64_t rows = 0;  // activation rows computed: tokens less the padding a packed batched step skips
  // Sequences (DPO: pairs) of the local batches with no target token within model.seq_len: their
  // response lies beyond the context, so they trained nothing (results /clients/no_target_sequences).
  int64_t no_target = 0;
  template <class Ar>
  void fields(Ar& ar) { ar(loss, steps, tokens, rows, no_target); }
};

struct EvalResult {
  double loss = 0.0, accuracy = 0.0;  // NaN without a model
};

// One participation's local training, for train_many.
struct TrainTask {
  int32_t client = -1;
  int64_t round = 0;
  int steps = 0;
  std::vector<float>* adapter = nullptr;  // start in, result out
  double lr = 0.0;
  models::LocalHooks hooks;
};

class LocalTrainer {
 public:
  virtual ~LocalTrainer() = default;
  virtual int64_t adapter_params() const = 0;  // 0 for NullTrainer
  virtual double flops_per_token() const = 0;
  virtual std::vector<float> initial_adapter() const = 0;
  // Tokens a participation of `steps` steps processes (its simulated cost), without training:
  // steps x batch_size x model.seq_len, tokens of the model's tokenizer.
  virtual int64_t tokens(int steps) const = 0;
  // `steps` local optimizer steps from `adapter` (in place) on client data drawn for `round`.
  virtual LocalResult train(int32_t client, int64_t round, int steps, std::vector<float>& adapter, double lr,
                            const models::LocalHooks& hooks) = 0;
  // Several participations at once, each result equal to train() on its task: ModelTrainer
  // trains them batched (models::Model::train_adapters_batched); the default loops.
  virtual std::vector<LocalResult> train_many(const std::vector<TrainTask>& tasks);
  // Relative cost of training a task, for spreading a group over MPI ranks (sim/mpi): the
  // activation rows its batches take when packed (ModelTrainer), else tokens(steps).
  virtual double task_cost(const TrainTask& t) const { return static_cast<double>(tokens(t.steps)); }
  virtual EvalResult evaluate(const std::vector<float>& adapter) const = 0;  // the test split
  virtual double client_accuracy(const std::vector<float>& adapter, int32_t client) const = 0;
};

std::unique_ptr<LocalTrainer> make_model_trainer(const ExperimentConfig& c, const datasets::FederatedDataset& data,
                                                 models::Model& model);
std::unique_ptr<LocalTrainer> make_null_trainer(const ExperimentConfig& c);

// Optimizer steps of a participation by a client holding n_i samples in a federation of
// n_clients: federation.local_steps, or with local_steps_mode: proportional FedLLM-Bench's
// ceil(local_epochs * n_i * N / (R * m) / batch) (every client sees about local_epochs passes
// over its data during the run, being sampled R*m/N times; the DPO run's setting in
// FedLLM-Bench's training scripts).
int local_steps(const FederationSection& f, int n_clients, int64_t n_i);
// The round's learning rate: the cosine schedule over rounds (cosine_lr).
double round_lr(const FederationSection& f, int64_t round);

// A client's samples for one round: it takes min(batch * steps, n_i) of its sample indices and
// cycles through them in an order seeded by (seed, client, round); returns steps * batch
// indices. Which indices: with `upstream_subset` FedLLM-Bench's draw (get_dataset_this_round:
// random.seed(round); random.sample(range(n_i), k), CPython bit for bit, the same seed for
// every client), else the first k of a (seed, client, round) permutation.
std::vector<size_t> draw_local_samples(uint64_t seed, int32_t client, int64_t round, size_t n_i, int steps, int batch,
                                       bool upstream_subset = false);

// The training batch of samples[idx] in the model's tokenizer and chat template, rows of the
// model's context: instruction -> response, or for multi-turn data the whole conversations,
// every assistant turn a target (models::make_sft_batch of models/text/batch.hpp).
models::Batch training_batch(const datasets::FederatedDataset& d, const std::vector<datasets::Sample>& samples,
                             const std::vector<size_t>& idx, const models::Model& m);

}  // namespace fedsim::sim
