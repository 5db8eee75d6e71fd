// ExperimentConfig: every key of a fedsim YAML config, typed and range-checked.
//
// All keys are declared once, in visit_config() (config.cpp): its path, the field it fills,
// accepted values and a one-line doc. Loading, the list of valid keys (for "did you mean"),
// the resolved YAML stored in results and configs/reference.yaml all come from that one table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "datasets/dataset.hpp"
#include "sim/algorithms.hpp"
#include "sim/config_schema.hpp"
#include "sim/sampler.hpp"
#include "sim/system_model.hpp"

namespace fedsim::sim {

// Choices of the schema, each with names() listing its YAML spellings in enum order.
enum class DataSource : uint8_t { synthetic, file };
enum class ServerMode : uint8_t { sync, async };
enum class TrainerKind : uint8_t { model, none };
enum class Execution : uint8_t { batched, sequential };
enum class ClientWeights : uint8_t { by_algorithm, data_size, uniform };
enum class StepsMode : uint8_t { fixed, proportional };
enum class Mechanism : uint8_t { none, gaussian };
const std::vector<std::string>& names(DataSource);
const std::vector<std::string>& names(ServerMode);
const std::vector<std::string>& names(TrainerKind);
const std::vector<std::string>& names(Execution);
enum class LocalDraw : uint8_t { automatic, fedllm_bench, per_client };  // auto | fedllm-bench | per-client
enum class NoiseLr : uint8_t { initial, round };
enum class ModelSource : uint8_t { preset, hf };
enum class BaseStorage : uint8_t { fp32, bf16 };
enum class ProductsKind : uint8_t { blas, portable };  // models/products.hpp
const std::vector<std::string>& names(ModelSource);
const std::vector<std::string>& names(BaseStorage);
const std::vector<std::string>& names(ProductsKind);
const std::vector<std::string>& names(Sampling);
const std::vector<std::string>& names(LocalDraw);
const std::vector<std::string>& names(NoiseLr);
const std::vector<std::string>& names(ClientWeights);
const std::vector<std::string>& names(StepsMode);
const std::vector<std::string>& names(Mechanism);
const std::vector<std::string>& names(Algorithm);

struct ExperimentSection {
  std::string name = "experiment";
  int64_t seed = 1;
  std::string out = "";        // results file; "" = results/<name>.h5
  std::string cache_dir = "";  // generated data and pretrained models; "" = $FEDSIM_CACHE or ~/.cache/fedsim
  int64_t checkpoint_every = 10;  // rounds between simulation checkpoints; 0 = only on SIGINT/SIGTERM
  double max_memory_gb = 0.0;     // refuse runs estimated above this (sim/memory_estimate.hpp); 0 = the machine's
};

struct DataSection {
  DataSource source = DataSource::synthetic;
  std::string path = "";  // HDF5 data set (source: file)
  // The generator's parameters, keys declared by datasets (visit_synthetic_spec); its n_clients
  // and seed are federation.clients and experiment.seed (synthetic_spec in experiment.hpp).
  datasets::SyntheticSpec synthetic;
};

struct ModelSection {
  ModelSource source = ModelSource::preset;  // preset (fedsim's GPT) | hf (a Hugging Face folder at path)
  std::string path = "";                      // source hf: the model folder (config.json, *.safetensors)
  BaseStorage base_dtype = BaseStorage::fp32;  // storage of the frozen base (source hf)
  std::string chat_template = "auto";          // key `template`: a models/text chat template, or auto
  std::string preset = "tiny";
  int64_t seq_len = 0;  // 0 = preset's context
  int64_t d_model = 0, n_layers = 0, n_heads = 0, d_ff = 0;  // 0 = preset's
  int64_t pretrain_steps = 300;
  int64_t pretrain_batch = 16;
  double pretrain_lr = 3e-3;
  std::string checkpoint = "";  // base model checkpoint; "" = pretrain (cached)
  ProductsKind products = ProductsKind::blas;  // dense products (models/products.hpp)
};

struct LoraSection {
  int64_t rank = 8;
  double alpha = 16.0;
  double dropout = 0.05;
  std::vector<std::string> targets{"q", "v"};
  std::string export_dir = "";  // source hf: write the final global adapter here in PEFT's format
};

struct FederationSection {
  Algorithm algorithm = Algorithm::fedavg;
  ServerMode mode = ServerMode::sync;       // sync rounds | async (FedBuff)
  TrainerKind trainer = TrainerKind::model;  // real training | none (system only)
  Execution execution = Execution::batched;  // local training batched or one by one (wall time only)
  bool packing = true;                // batched steps skip padding rows (on) or compute them (off)
  int64_t batch_memory_mb = 1024;     // batched: activation budget of one stacked step
  Sampling sampling = Sampling::uniform;
  ClientWeights weighting = ClientWeights::by_algorithm;  // auto | data_size | uniform
  int64_t local_client = -1;          // algorithm local: -1 = every client separately
  int64_t clients = 20;
  int64_t clients_per_round = 4;
  int64_t rounds = 10;
  int64_t local_steps = 10;
  LocalDraw local_draw = LocalDraw::automatic;
  int64_t batch_size = 8;
  double lr = 2e-3;
  double lr_min = 1e-6;
  double weight_decay = 0.0;
  double grad_clip = 1.0;
  int64_t eval_every = 1;
  int64_t client_eval_every = 0;      // 0 = off
  int64_t client_eval_samples = 32;
  StepsMode local_steps_mode = StepsMode::fixed;
  double local_epochs = 3.0;          // proportional: ceil(epochs * n_i * N / (R * m) / batch)
  int64_t local_steps_rounds = 0;     // proportional: the R of the formula; 0 = rounds
  double prox_mu = 0.01;
  double server_beta1 = 0.9;
  double server_beta2 = 0.99;
  double server_eta = 1e-3;
  double server_tau = 1e-3;
  double dpo_beta = 0.1;
  double overcommit = 1.0;            // sync: select ceil(overcommit * m), keep the first m
  double deadline_s = 0.0;            // sync: 0 = wait for all
  int64_t async_concurrency = 10;
  int64_t async_buffer = 5;
  double staleness_exponent = 0.5;    // weight 1/(1+s)^a
  int64_t max_staleness = 20;
};

struct PrivacySection {
  Mechanism mechanism = Mechanism::none;
  double epsilon = 1.0;
  double delta = 1e-4;
  double clip = 1.0;
  NoiseLr noise_lr = NoiseLr::initial;  // initial (FedLLM-Bench) | round
};

using SystemSection = SystemSpec;  // sim/system_model.hpp: the system model reads its keys directly


struct ExperimentConfig {
  ExperimentSection experiment;
  DataSection data;
  ModelSection model;
  LoraSection lora;
  FederationSection federation;
  SystemSection system;
  PrivacySection privacy;
  FeatureSections features;  // u2s, masgpt: u2s_of(c), masgpt_of(c) in their folders
  std::string source_path;  // the YAML file it came from (for messages)
};

// Load `path`, apply `--set key.path=value` overrides, validate everything. Throws
// fedsim::UserError with one line: "<file>: <key.path>: <problem>; accepted: <...>".
ExperimentConfig load_config(const std::string& path, const std::vector<std::string>& overrides = {});
// Same from YAML text (tests, sweeps); `source` names it in messages.
ExperimentConfig parse_config(const std::string& yaml_text, const std::string& source,
                              const std::vector<std::string>& overrides = {});

// The resolved config as YAML (every key, canonical formatting); parse_config of it gives the
// same config back. Stored in results as `config_yaml`.
std::string to_yaml(const ExperimentConfig& c);
// configs/reference.yaml: every key with its default and doc comment.
std::string reference_yaml();
// Every valid key path, in declaration order.
std::vector<std::string> config_keys();

// Derived values.
std::string results_path(const ExperimentConfig& c);
std::string cache_dir(const ExperimentConfig& c);

}  // namespace fedsim::sim
