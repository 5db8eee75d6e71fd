// Small experiment configs shared by test binaries that run the same federation different ways
// (one rank and several, sequential and batched).
#pragma once

namespace fedsim::test {

// A sweep base: a run of well under a second (nano model, a few clients, two rounds).
// tests/sim/test_sweep.cpp, tests/sim/test_mpi_sweep.cpp.
inline const char* const kSweepBaseYaml = R"(experiment:
  name: base
  seed: 3
  cache_dir: sweep-cache
data:
  samples_mean: 20
  tasks: [last, reverse]
  public_tasks: [upper, first]
  test_samples: 32
  public_samples: 200
model:
  preset: nano
  pretrain_steps: 20
federation:
  clients: 6
  clients_per_round: 2
  rounds: 2
  local_steps: 2
  batch_size: 4
  lr: 0.01
)";

// A federation whose train jobs overlap, so groups of clients train at once.
// tests/sim/test_batched.cpp, tests/sim/test_mpi_run.cpp.
inline const char* const kBatchedBaseYaml = R"(experiment:
  name: batched
  seed: 11
  cache_dir: batched-cache
data:
  samples_mean: 40
  test_samples: 32
  public_samples: 400
model:
  preset: nano
  pretrain_steps: 40
  pretrain_batch: 16
system:
  compute_gflops: 0.02  # training dominates the downloads, so train jobs overlap
  compute_sigma: 0.5
federation:
  clients: 6
  clients_per_round: 4
  rounds: 2
  local_steps_mode: proportional
  local_epochs: 0.4
  batch_size: 4
  lr: 0.01
  prox_mu: 0.1
privacy:
  clip: 0.5
)";

}  // namespace fedsim::test
