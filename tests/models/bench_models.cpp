// Throughput of train_adapter (forward + backward + AdamW per step) per preset. Not a test:
//   bench_models [preset [B [steps]]]
#include <chrono>
#include <cstdio>
#include <string>

#include "models/model.hpp"

using namespace fedsim::models;

int main(int argc, char** argv) {
  Runtime rt(argc, argv);
  const std::string preset = argc > 1 ? argv[1] : "tiny";
  const int B = argc > 2 ? std::stoi(argv[2]) : 8;
  const int steps = argc > 3 ? std::stoi(argv[3]) : 20;
  const ModelConfig cfg = preset_config(preset);
  Model m(cfg, LoraConfig{}, 1);
  std::vector<std::pair<std::string, std::string>> pairs;
  for (int b = 0; b < B; ++b)
    pairs.push_back(
        {"instruction number " + std::to_string(b) + std::string(cfg.max_seq / 2, 'x'), std::string(cfg.max_seq, 'y')});
  const Batch batch = make_sft_batch(pairs, cfg.max_seq);
  std::vector<float> ad = m.init_adapter(1);
  m.train_adapter(ad, {batch, batch}, 1e-3f, OptimConfig{}, 1);  // warm-up: buffers allocated
  const auto t0 = std::chrono::steady_clock::now();
  const TrainStats st = m.train_adapter(ad, std::vector<Batch>(steps, batch), 1e-3f, OptimConfig{}, 2);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s  %s  B=%d T=%d: %.2f ms/step, %.0f tokens/s, %.2f GFLOP/s (formula), loss %.3f\n",
              Runtime::describe().c_str(), preset.c_str(), B, cfg.max_seq, 1e3 * s / steps, st.tokens / s,
              m.train_flops_per_token() * st.tokens / s * 1e-9, st.mean_loss);
  return 0;
}
