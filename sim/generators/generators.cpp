// The one list of generators: the feature sections the config holds (in the order of
// configs/reference.yaml), the experiment kinds run_experiment dispatches to and the run
// features that run beside the federation. The core declares these functions and names no
// feature; the features register here.
#include "sim/config.hpp"
#include "sim/eval/eval_config.hpp"
#include "sim/eval/eval_job.hpp"
#include "sim/experiment.hpp"
#include "sim/federation.hpp"
#include "sim/masgpt/masgpt_config.hpp"
#include "sim/u2s/u2s_phase.hpp"

namespace fedsim::sim {

const std::vector<std::function<std::unique_ptr<ConfigSection>()>>& feature_section_factories() {
  static const std::vector<std::function<std::unique_ptr<ConfigSection>()>> f{
      [] { return std::make_unique<U2sConfigSection>(); },
      [] { return std::make_unique<MasgptConfigSection>(); },
      [] { return std::make_unique<EvalConfigSection>(); },
  };
  return f;
}

const std::vector<RunFeature>& run_features() {
  static const std::vector<RunFeature> f{
      {"eval", [](const ExperimentConfig& c) { return eval_of(c).enabled(); }, eval::validate_eval,
       [](const ExperimentConfig& c, const RunInputs& in, const RunHooks& h) -> std::unique_ptr<RoundObserver> {
         return std::make_unique<eval::EvalRun>(c, in, h);
       }},
  };
  return f;
}

const std::vector<ExperimentKind>& experiment_kinds() {
  static const std::vector<ExperimentKind> k{
      {"u2s", [](const ExperimentConfig& c) { return u2s_of(c).enabled(); }, u2s::validate_u2s,
       [](const ExperimentConfig& c, const RunHooks& h, const RunControl& r) { return u2s::run_u2s_experiment(c, h, r); }},
  };
  return k;
}

}  // namespace fedsim::sim
