#include <algorithm>
#include <map>

#include "sim/llm/backend.hpp"

namespace fedsim::sim::llm {
namespace {

class ModelBackend : public Backend {
 public:
  ModelBackend(const models::Model& m, const std::vector<float>* adapter) : m_(m), adapter_(adapter) {}
  std::string name() const override { return "model"; }
  std::vector<Result> generate(const std::vector<Request>& requests) override {
    // Requests with equal settings are generated as one batch (the model batches prompts).
    std::vector<Result> out(requests.size());
    std::map<std::tuple<int, double, int, uint64_t>, std::vector<size_t>> groups;
    for (size_t i = 0; i < requests.size(); ++i) {
      const Request& r = requests[i];
      groups[{r.max_new_tokens, r.temperature, r.top_k, r.seed}].push_back(i);
    }
    for (const auto& [key, idx] : groups) {
      models::GenerateConfig g;
      g.max_new_tokens = std::get<0>(key);
      g.temperature = static_cast<float>(std::get<1>(key));
      g.top_k = std::get<2>(key);
      g.seed = std::get<3>(key);
      std::vector<models::Conversation> convs;
      for (size_t i : idx)
        convs.push_back(requests[i].chat.turns.empty() ? models::Conversation{"", {{models::Role::user, requests[i].prompt}}}
                                                       : requests[i].chat);
      const std::vector<models::Generation> gen = m_.generate_chat(adapter_, convs, g);
      for (size_t j = 0; j < idx.size(); ++j) {
        Result& r = out[idx[j]];
        r.ok = true;
        r.text = gen[j].text;
        r.prompt_tokens = gen[j].prompt_tokens;     // after cutting to the context, as the model read it
        r.completion_tokens = gen[j].new_tokens;    // the stop token included
      }
    }
    return out;
  }

 private:
  const models::Model& m_;
  const std::vector<float>* adapter_;
};

}  // namespace

std::unique_ptr<Backend> make_model_backend(const models::Model& model, const std::vector<float>* adapter) {
  return std::make_unique<ModelBackend>(model, adapter);
}

}  // namespace fedsim::sim::llm
