// Model::embed: a text's embedding as the mean over its tokens of the final-layernorm hidden
// states (the input of the LM head), L2-normalised; cosine similarity of two embeddings is their
// dot product. Mean pooling of a transformer's last hidden states as a sentence embedding as in
// Sentence-BERT (Reimers & Gurevych 2019, sec. 3, MEAN strategy). The model is causal, so
// position t sees tokens 0..t only; the mean covers every position of the text.
#include <cmath>

#include "models/model_impl.hpp"

namespace fedsim::models {

std::vector<std::vector<float>> Model::embed(const std::vector<std::string>& texts) const {
  Net<float>& net = impl_->net;  // buffers only; weights and training state are untouched
  const int T = net.cfg.max_seq, C = net.cfg.d_model;
  const TextTokenizer& tok = tokenizer();
  const std::vector<int32_t>& prefix = tok.special_prefix();
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  // One text per forward: the dense products' summation order may depend on the number of rows
  // (BLAS blocking), and a text's embedding must not depend on what it is batched with.
  for (const std::string& text : texts) {
    // The post-processor's prefix (BOS where the tokenizer adds one), the text's ids, cut to T,
    // right-padded; no targets (the loss is not needed).
    std::vector<int32_t> ids(prefix);
    const std::vector<int32_t> body = tok.encode(text, false);
    ids.insert(ids.end(), body.begin(), body.end());
    if (static_cast<int>(ids.size()) > T) ids.resize(static_cast<size_t>(T));
    if (ids.empty()) {  // an empty text and no prefix (Qwen): nothing to read
      out.emplace_back(static_cast<size_t>(C), 0.0f);
      continue;
    }
    Batch batch;
    batch.B = 1;
    batch.T = T;
    batch.inputs.assign(static_cast<size_t>(T), tok.pad_id());
    batch.targets.assign(static_cast<size_t>(T), -1);
    std::copy(ids.begin(), ids.end(), batch.inputs.begin());
    net.set_batch(batch);
    net.forward(-1, false, 0);
    const auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), net.final_hidden());  // (T, C)
    FEDSIM_ASSERT(static_cast<int64_t>(h.extent(0)) >= T && static_cast<int>(h.extent(1)) == C);
    // The text's positions follow the prefix; an empty text (or a prefix filling the context)
    // averages every position read.
    const int n = static_cast<int>(ids.size()), p = static_cast<int>(prefix.size());
    const int first = n > p ? p : 0;
    std::vector<double> sum(static_cast<size_t>(C), 0.0);
    for (int t = first; t < n; ++t)  // in position order: deterministic on any backend
      for (int j = 0; j < C; ++j) sum[static_cast<size_t>(j)] += static_cast<double>(h(t, j));
    double norm2 = 0.0;
    for (double& x : sum) {
      x /= static_cast<double>(n - first);
      norm2 += x * x;
    }
    const double inv = norm2 > 0.0 ? 1.0 / std::sqrt(norm2) : 0.0;
    std::vector<float> e(static_cast<size_t>(C));
    for (int j = 0; j < C; ++j) e[static_cast<size_t>(j)] = static_cast<float>(sum[static_cast<size_t>(j)] * inv);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace fedsim::models
