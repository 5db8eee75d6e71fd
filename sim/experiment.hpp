// One experiment end to end: data (generated and cached, or read), base model (pretrained and
// cached, or loaded), then federated rounds in simulated time, then results.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "datasets/dataset.hpp"
#include "models/model.hpp"
#include "sim/config.hpp"
#include "sim/results.hpp"
#include "sim/system_model.hpp"

namespace fedsim::sim {

struct RunHooks {
  // Called after each round row is recorded (row 0 included), with the planned total rows.
  std::function<void(const RoundRow& row, int64_t total_rows)> on_round;
  // Progress lines for the set-up phases (data, pretraining); nullptr = silent.
  std::function<void(const std::string& line)> log;
  // Host measurements: seconds on a monotonic clock, and peak resident memory in MiB; empty =
  // the real ones. Tests pin them to compare checkpoints byte for byte.
  std::function<double()> wall_clock;
  std::function<double()> peak_rss_mb;
};

// The shapes the config asks for (preset with per-field overrides). UserError on bad shapes.
models::ModelConfig model_config(const ExperimentConfig& c);
models::LoraConfig lora_config(const ExperimentConfig& c);
// `model.products` (models/products.hpp); run_experiment holds it for the whole run.
models::Products products_of(const ExperimentConfig& c);
// model.template for a model of chat family `family` (models::Model::chat_family) training on
// data of `kind`: the configured name, or with auto models::default_chat_template (multiturn:
// conversations, dpo: preferences, else instructions).
std::string chat_template_name(const ExperimentConfig& c, const std::string& family, datasets::DataKind kind);
// The model's text side: an hf folder's tokenizer.json (present, ids within vocab_size) and a
// named template against the tokenizer (every token it writes); UserError naming the key.
void check_model_text(const ExperimentConfig& c);
// Checks that need other layers (model shapes, the data generator's parameters, mode and
// algorithm combinations); UserError naming the key. Run by validate and before any output.
void validate_experiment(const ExperimentConfig& c);

// The synthetic generator's parameters: the data section's, with federation.clients clients and
// experiment.seed (validated by the generator).
datasets::SyntheticSpec synthetic_spec(const ExperimentConfig& c);

// Data for the run: generated (cached under cache_dir by its parameters) or read from
// data.path, keeping the first federation.clients clients.
datasets::FederatedDataset prepare_data(const ExperimentConfig& c, const RunHooks& hooks);
// Base model: model.checkpoint, or pretrained on the public split (cached by everything that
// determines its weights).
models::Model prepare_model(const ExperimentConfig& c, const datasets::FederatedDataset& d, const RunHooks& hooks);

// Checkpoints of a run (sim/checkpoint.hpp). With `checkpoint_file` set, the run writes its
// state there every experiment.checkpoint_every rounds and on SIGINT/SIGTERM, and with
// `resume` it continues from that file when it holds a checkpoint of the same resolved config
// (a checkpoint of another config is ignored with a warning and overwritten).
struct RunControl {
  std::string checkpoint_file;
  bool resume = true;
  // fedsim run on several MPI ranks: rank 0 simulates, the others train (sim/mpi/rank_trainer.hpp).
  bool over_ranks = false;
};

RunResults run_experiment(const ExperimentConfig& c, const RunHooks& hooks, const RunControl& control = {});

// A generator that runs a whole experiment of its own kind (U2S: each client's generation job
// and the federation on what it generated, processes on one Simulation). The list is sim/generators/generators.cpp's, so
// the core names no feature: run_experiment hands a config to the first kind enabled in it.
struct ExperimentKind {
  const char* name;
  std::function<bool(const ExperimentConfig&)> enabled;
  std::function<void(const ExperimentConfig&)> validate;  // UserError naming the key; run by validate_experiment
  std::function<RunResults(const ExperimentConfig&, const RunHooks&, const RunControl&)> run;
};
const std::vector<ExperimentKind>& experiment_kinds();

class LocalTrainer;
// What the features that run beside the federation (run_features(), federation.hpp: the
// open-ended evaluation) may use: the model the clients tune and the run's data set. Null
// without a model (trainer: none).
struct RunInputs {
  const models::Model* model = nullptr;
  const datasets::FederatedDataset* data = nullptr;
};
// The federation over clients holding n[i] samples, with `control`'s checkpoints and resume
// (run_experiment's last stage), and the run features the config enables beside it.
RunResults run_federation(const ExperimentConfig& c, std::vector<int64_t> n, LocalTrainer& trainer, const RunHooks& hooks,
                          const RunControl& control, const RunInputs& inputs = {});

// Cosine learning-rate schedule over rounds (OpenFedLLM's utils/utils.py, cosine_learning_rate):
// lr_r = lr_min + 0.5 * (lr0 - lr_min) * (1 + cos(pi * r / R)).
double cosine_lr(double lr0, double lr_min, int64_t round, int64_t rounds);

}  // namespace fedsim::sim
