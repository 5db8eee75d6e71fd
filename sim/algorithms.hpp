// The federated algorithms as rows of one table: what the server does with the updates, which
// hooks a client's local training takes, whether FedBuff may run it and how clients are
// weighted by default. A new algorithm is one row here plus its server rule (aggregator.cpp)
// or client hook (models::LocalHooks). The rules and their sources: sim/README.md "Algorithms".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fedsim::sim {

enum class Algorithm : uint8_t { local, fedavg, fedprox, scaffold, fedavgm, fedadagrad, fedyogi, fedadam, feddpo };
constexpr int archive_enum_count(Algorithm) { return 9; }

// What the server does with a round's weighted mean delta D (aggregator.hpp).
enum class ServerRuleKind : uint8_t {
  keep_local,  // no aggregation: each client keeps its own adapter
  average,     // x = x + D
  avgm,        // server momentum
  adagrad,
  yogi,
  adam,
};

enum class Weighting : uint8_t { data_size, uniform };

struct AlgorithmInfo {
  Algorithm id;
  const char* name;       // the config spelling (federation.algorithm)
  ServerRuleKind rule;
  bool prox;              // the client adds FedProx's proximal term (prox_mu)
  bool scaffold;          // client and server keep SCAFFOLD control variates
  bool dpo;               // the client minimises the DPO loss on preference data
  bool async_ok;          // FedBuff (federation.mode: async) may run it
  Weighting weighting;    // what `weighting: auto` means for it
};

const std::vector<AlgorithmInfo>& algorithm_table();
const AlgorithmInfo& algorithm_info(Algorithm a);
// The row named `name`; UserError "federation.algorithm: '<name>' is not accepted; accepted: ..."
const AlgorithmInfo& algorithm_named(const std::string& name);
std::vector<std::string> algorithm_names();

}  // namespace fedsim::sim
