#include "sim/algorithms.hpp"

#include "common/error.hpp"

namespace fedsim::sim {

const std::vector<AlgorithmInfo>& algorithm_table() {
  using R = ServerRuleKind;
  constexpr Weighting n = Weighting::data_size, u = Weighting::uniform;
  // FedOpt weights clients uniformly under `auto`, as OpenFedLLM's federated_learning/fed_global.py.
  static const std::vector<AlgorithmInfo> table{
      //  id                     name          rule           prox   scaffold dpo    async  weighting
      {Algorithm::local,      "local",      R::keep_local, false, false,   false, false, n},
      {Algorithm::fedavg,     "fedavg",     R::average,    false, false,   false, true,  n},
      {Algorithm::fedprox,    "fedprox",    R::average,    true,  false,   false, true,  n},
      {Algorithm::scaffold,   "scaffold",   R::average,    false, true,    false, false, n},
      {Algorithm::fedavgm,    "fedavgm",    R::avgm,       false, false,   false, true,  n},
      {Algorithm::fedadagrad, "fedadagrad", R::adagrad,    false, false,   false, true,  u},
      {Algorithm::fedyogi,    "fedyogi",    R::yogi,       false, false,   false, true,  u},
      {Algorithm::fedadam,    "fedadam",    R::adam,       false, false,   false, true,  u},
      {Algorithm::feddpo,     "feddpo",     R::average,    false, false,   true,  true,  n},
  };
  return table;
}

const AlgorithmInfo& algorithm_info(Algorithm a) {
  const auto& t = algorithm_table();
  FEDSIM_ASSERT(static_cast<size_t>(a) < t.size() && t[static_cast<size_t>(a)].id == a);
  return t[static_cast<size_t>(a)];
}

std::vector<std::string> algorithm_names() {
  std::vector<std::string> out;
  for (const auto& a : algorithm_table()) out.push_back(a.name);
  return out;
}

const AlgorithmInfo& algorithm_named(const std::string& name) {
  for (const auto& a : algorithm_table())
    if (name == a.name) return a;
  std::string accepted;
  for (const auto& a : algorithm_table()) accepted += (accepted.empty() ? "" : ", ") + std::string(a.name);
  throw UserError("federation.algorithm: '" + name + "' is not accepted; accepted: " + accepted);
}

}  // namespace fedsim::sim
