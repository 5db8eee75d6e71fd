#include "sim/memory_estimate.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/error.hpp"
#include "models/model.hpp"
#include "sim/experiment.hpp"

namespace fedsim::sim {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

std::string human(double bytes) {
  char buf[32];
  if (bytes >= kGiB)
    std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / kGiB);
  else
    std::snprintf(buf, sizeof buf, "%.0f MiB", bytes / (1024.0 * 1024.0));
  return buf;
}

}  // namespace

MemoryEstimate estimate_memory(const ExperimentConfig& c) {
  const models::ModelConfig m = model_config(c);
  const double C = m.d_model, L = m.n_layers, T = m.max_seq, V = m.vocab_size, F = m.d_ff, H = m.n_heads;
  const double B = static_cast<double>(std::max(c.federation.batch_size, c.model.pretrain_batch));
  MemoryEstimate e;
  // Weights: embeddings, attention (4 C x C) and a gated or plain MLP (up to 3 C x F) per layer;
  // weights, gradients and Adam's two moments while pretraining (fp32).
  const double params = V * C + T * C + L * (4 * C * C + 3 * C * F + 4 * C);
  e.model = 4.0 * 4.0 * params;
  // One step's cache, as llm.c counts it: per layer about 16 C values per position plus the
  // attention scores and probabilities (2 H T per position), and the logits and their gradient.
  e.activations = 4.0 * B * T * (L * (16 * C + 2 * H * T) + 2 * V);
  const double adapter = static_cast<double>(models::adapter_param_count(m, lora_config(c)));
  const AlgorithmInfo& alg = algorithm_info(c.federation.algorithm);
  const bool keeps_per_client = alg.scaffold || c.federation.algorithm == Algorithm::local;
  e.clients = 4.0 * 4.0 * adapter * static_cast<double>(c.federation.clients_per_round) +
              (keeps_per_client ? 4.0 * adapter * static_cast<double>(c.federation.clients) : 0.0);
  // A sample: its text (about two context lengths of bytes, prompt and response) and the
  // strings' and vector's own overhead.
  const double sample = 2 * T + 160;
  const datasets::SyntheticSpec& d = c.data.synthetic;
  e.data = sample * (d.samples_mean * static_cast<double>(c.federation.clients) +
                     static_cast<double>(d.n_test + d.n_public));
  // A round row, one participation entry and two timeline rows (train, eval) per selected client.
  e.history = static_cast<double>(c.federation.rounds) * (256.0 + 8.0 * static_cast<double>(c.federation.clients_per_round) *
                                                                      (1 + 2 * 64.0 / 8.0));
  return e;
}

std::string MemoryEstimate::summary() const {
  return human(total()) + " (model " + human(model) + ", activations " + human(activations) + ", clients " +
         human(clients) + ", data " + human(data) + ", history " + human(history) + ")";
}

std::string MemoryEstimate::largest_keys() const {
  const double parts[] = {model, activations, clients, data, history};
  const char* keys[] = {
      "model.d_model, model.n_layers, model.d_ff (the base model)",
      "federation.batch_size (or model.pretrain_batch), model.seq_len, model.d_model, model.n_layers (one step's "
      "activations)",
      "federation.clients_per_round, federation.clients, lora.rank, lora.targets (adapters and optimizer state)",
      "federation.clients, data.samples_mean, data.test_samples, data.public_samples (the data set)",
      "federation.rounds, federation.clients_per_round (the run's history)",
  };
  return keys[std::max_element(std::begin(parts), std::end(parts)) - std::begin(parts)];
}

double memory_limit_bytes(const ExperimentConfig& c) {
  if (c.experiment.max_memory_gb > 0) return c.experiment.max_memory_gb * kGiB;
  std::ifstream is("/proc/meminfo");
  std::string key;
  double kb = 0;
  while (is >> key >> kb) {
    if (key == "MemTotal:") return kb * 1024.0;
    is.ignore(256, '\n');
  }
  return 0;
}

void check_memory(const ExperimentConfig& c, const MemoryEstimate& e) {
  const double limit = memory_limit_bytes(c);
  if (limit <= 0 || e.total() <= limit) return;
  const std::string what = c.experiment.max_memory_gb > 0 ? "experiment.max_memory_gb (" + human(limit) + ")"
                                                           : "this machine's " + human(limit) + " of memory";
  throw UserError(c.source_path + ": the run needs about " + e.summary() + ", more than " + what +
                  "; driven by " + e.largest_keys() + "; HINT: reduce them, or raise experiment.max_memory_gb on a "
                  "machine that has the memory");
}

}  // namespace fedsim::sim
