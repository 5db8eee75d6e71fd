// KvDecoder (decode.hpp) and Model::generate: KV-cache generation, greedy or sampled.
#include "models/decode.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "models/model_impl.hpp"

namespace fedsim::models {

template <class T>
KvDecoder<T>::KvDecoder(Net<T>& net, int B, int client) : net_(net), B_(B), client_(client) {
  FEDSIM_ASSERT(B >= 1 && client < static_cast<int>(net.adapters.extent(0)));
  const ModelConfig& c = net.cfg;
  const int64_t C = c.d_model, F = c.d_ff, V = c.vocab_size, L = c.n_layers, maxT = c.max_seq;
  const int64_t sizes =
      2 * L * B * maxT * C + 7 * B * C + 2 * B + 2 * B * F + B * net.al.rank + int64_t(B) * c.n_heads * maxT + B * V;
  mem_ = Vec<T>(Kokkos::view_alloc(net.exec, "fedsim::models::kv_decoder"), sizes);
  int64_t off = 0;
  auto mat = [&](int64_t r, int64_t cols) {
    UMat<T> m = as_mat(mem_.data() + off, r, cols);
    off += r * cols;
    return m;
  };
  for (int l = 0; l < L; ++l) {
    kc_.push_back(mat(B * maxT, C));
    vc_.push_back(mat(B * maxT, C));
  }
  x_ = mat(B, C), ln_ = mat(B, C), q_ = mat(B, C), k_ = mat(B, C), v_ = mat(B, C), y_ = mat(B, C), proj_ = mat(B, C);
  mean_ = as_vec(mem_.data() + off, B), off += B;
  rstd_ = as_vec(mem_.data() + off, B), off += B;
  h_ = mat(B, F), hg_ = mat(B, F), u_ = mat(B, net.al.rank), att_ = mat(int64_t(B) * c.n_heads, maxT);
  logits_ = mat(B, V);
  FEDSIM_ASSERT(off == sizes);
  tok_ = IVec(Kokkos::view_alloc(net.exec, "fedsim::models::kv_tokens"), B);
  tok_h_ = Kokkos::create_mirror_view(tok_);
}

template <class T>
void KvDecoder<T>::proj(int l, int t, UMat<T> out, UMat<T> inp, int64_t w_off, int64_t b_off, int d_out, int d_in) {
  T* base = net_.base.data();
  linear_forward(net_.exec, out, inp, as_mat(base + w_off, d_out, d_in), as_vec(base + b_off, d_out));
  const AdapterLayout& al = net_.al;
  if (client_ < 0 || !al.enabled[t]) return;
  T* ad = net_.adapters.data() + int64_t(client_) * al.total;
  lora_forward(net_.exec, out, u_, inp, as_mat(ad + al.a(l, t), al.rank, d_in), as_mat(ad + al.b(l, t), d_out, al.rank),
               T(al.scale));
}

template <class T>
const std::vector<T>& KvDecoder<T>::step(const std::vector<int32_t>& tokens) {
  const ModelConfig& c = net_.cfg;
  const BaseLayout& bl = net_.bl;
  FEDSIM_ASSERT(static_cast<int>(tokens.size()) == B_ && pos_ < c.max_seq);
  const int C = c.d_model, F = c.d_ff, V = c.vocab_size, NH = c.n_heads, hs = C / NH, maxT = c.max_seq, s = pos_;
  const ExecSpace& ex = net_.exec;
  for (int b = 0; b < B_; ++b) {
    FEDSIM_ASSERT(tokens[b] >= 0 && tokens[b] < V);
    tok_h_(b) = tokens[b];
  }
  Kokkos::deep_copy(ex, tok_, tok_h_);
  T* base = net_.base.data();
  const UMat<T> wte = as_mat(base + bl.wte, V, C), wpe = as_mat(base + bl.wpe, maxT, C);
  const UMat<T> x = x_;
  const IVec tok = tok_;
  Kokkos::parallel_for(
      "fedsim::models::kv_embedding", range(ex, int64_t(B_) * C), KOKKOS_LAMBDA(const int64_t i) {
        const int64_t b = i / C, ch = i % C;
        x(b, ch) = wte(tok(b), ch) + wpe(s, ch);
      });
  auto vec = [&](int64_t off) { return as_vec(base + off, C); };
  for (int l = 0; l < c.n_layers; ++l) {
    const int64_t CC = int64_t(C) * C, CF = int64_t(C) * F;
    layernorm_forward(ex, ln_, mean_, rstd_, x_, vec(bl.ln1w + l * C), vec(bl.ln1b + l * C));
    proj(l, kQ, q_, ln_, bl.qw + l * CC, bl.qb + l * C, C, C);
    proj(l, kK, k_, ln_, bl.kw + l * CC, bl.kb + l * C, C, C);
    proj(l, kV, v_, ln_, bl.vw + l * CC, bl.vb + l * C, C, C);
    const UMat<T> kc = kc_[l], vc = vc_[l], q = q_, k = k_, v = v_, y = y_, att = att_;
    const int B = B_;
    Kokkos::parallel_for(
        "fedsim::models::kv_append", range(ex, int64_t(B) * C), KOKKOS_LAMBDA(const int64_t i) {
          const int64_t b = i / C, ch = i % C;
          kc(b * maxT + s, ch) = k(b, ch);
          vc(b * maxT + s, ch) = v(b, ch);
        });
    const T scale = T(1) / kmath::sqrt(T(hs));
    // One thread per (sequence, head): the same arithmetic as attention_forward's row.
    Kokkos::parallel_for(
        "fedsim::models::kv_attention", range(ex, int64_t(B) * NH), KOKKOS_LAMBDA(const int64_t row) {
          const int64_t b = row / NH, h = row % NH;
          T maxv = T(0);
          for (int t2 = 0; t2 <= s; ++t2) {
            T d = 0;
            for (int i = 0; i < hs; ++i) d += q(b, h * hs + i) * kc(b * maxT + t2, h * hs + i);
            att(row, t2) = d * scale;
            maxv = (t2 == 0 || att(row, t2) > maxv) ? att(row, t2) : maxv;
          }
          T sum = 0;
          for (int t2 = 0; t2 <= s; ++t2) {
            att(row, t2) = kmath::exp(att(row, t2) - maxv);
            sum += att(row, t2);
          }
          for (int i = 0; i < hs; ++i) {
            T acc = 0;
            for (int t2 = 0; t2 <= s; ++t2) acc += att(row, t2) * vc(b * maxT + t2, h * hs + i);
            y(b, h * hs + i) = acc / sum;
          }
        });
    proj(l, kO, proj_, y_, bl.ow + l * CC, bl.ob + l * C, C, C);
    residual_forward(ex, x_, x_, proj_);
    layernorm_forward(ex, ln_, mean_, rstd_, x_, vec(bl.ln2w + l * C), vec(bl.ln2b + l * C));
    proj(l, kUp, h_, ln_, bl.upw + l * CF, bl.upb + l * F, F, C);
    gelu_forward(ex, hg_, h_);
    proj(l, kDown, proj_, hg_, bl.downw + l * CF, bl.downb + l * C, C, F);
    residual_forward(ex, x_, x_, proj_);
  }
  layernorm_forward(ex, ln_, mean_, rstd_, x_, vec(bl.lnfw), vec(bl.lnfb));
  gemm(ex, 'N', 'T', T(1), ln_, wte, T(0), logits_);
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), logits_);
  logits_h_.assign(h.data(), h.data() + h.size());
  ++pos_;
  return logits_h_;
}

template class KvDecoder<float>;
template class KvDecoder<double>;

namespace {
// Greedy: the lowest index among ties (as evaluate's argmax). Sampled: softmax(logits / temp)
// over the top_k largest (all if top_k <= 0), inverse CDF at u.
int32_t pick(const float* logits, int V, const GenerateConfig& g, double u) {
  if (g.temperature <= 0) return static_cast<int32_t>(std::max_element(logits, logits + V) - logits);
  std::vector<int32_t> idx(V);
  std::iota(idx.begin(), idx.end(), 0);
  // Stable order: by logit descending, ties by index, so the draw does not depend on the sort.
  std::sort(idx.begin(), idx.end(),
            [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  const int k = (g.top_k > 0 && g.top_k < V) ? g.top_k : V;
  std::vector<double> p(k);
  double sum = 0;
  for (int i = 0; i < k; ++i) sum += (p[i] = std::exp((double(logits[idx[i]]) - logits[idx[0]]) / g.temperature));
  double acc = 0;
  for (int i = 0; i < k; ++i) {
    acc += p[i] / sum;
    if (u < acc) return idx[i];
  }
  return idx[k - 1];
}
}  // namespace

std::vector<std::string> Model::generate(const std::vector<float>* adapter, const std::vector<std::string>& prompts,
                                         const GenerateConfig& g) const {
  Net<float>& net = impl_->net;
  const int B = static_cast<int>(prompts.size()), maxT = net.cfg.max_seq, V = net.cfg.vocab_size;
  std::vector<std::string> out(B);
  if (B == 0) return out;
  int client = -1;
  if (adapter != nullptr) {
    FEDSIM_ASSERT(static_cast<int64_t>(adapter->size()) == net.al.total);
    net.set_row(net.adapters, kEvalRow, *adapter);
    client = kEvalRow;
  }
  // BOS INST <prompt> RESP, the prompt cut so that at least one token can be generated.
  std::vector<std::vector<int32_t>> seq(B);
  for (int b = 0; b < B; ++b) {
    std::vector<int32_t> p = Tokenizer::encode(prompts[b]);
    if (static_cast<int>(p.size()) > maxT - 4) p.resize(std::max(0, maxT - 4));
    seq[b] = {Tokenizer::BOS, Tokenizer::INST};
    seq[b].insert(seq[b].end(), p.begin(), p.end());
    seq[b].push_back(Tokenizer::RESP);
  }
  std::vector<fedsim::Rng> rng;
  for (int b = 0; b < B; ++b) rng.emplace_back(g.seed, static_cast<uint64_t>(b), 0, Purpose::generation);
  std::vector<std::vector<int32_t>> gen(B);
  std::vector<bool> done(B, false);
  KvDecoder<float> dec(net, B, client);
  std::vector<int32_t> tok(B);
  for (int s = 0; s < maxT; ++s) {
    bool any = false;
    for (int b = 0; b < B; ++b) {
      const size_t n = seq[b].size();
      // Finished sequences are fed PAD: their outputs are ignored, the batch keeps its shape.
      tok[b] = s < static_cast<int>(n) ? seq[b][s] : (s - n < gen[b].size() ? gen[b][s - n] : Tokenizer::PAD);
      any = any || !done[b];
    }
    if (!any) break;
    const std::vector<float>& logits = dec.step(tok);
    for (int b = 0; b < B; ++b) {
      if (done[b] || s + 1 < static_cast<int>(seq[b].size())) continue;  // still reading the prompt
      const double u = g.temperature > 0 ? rng[b].uniform() : 0.0;
      const int32_t next = pick(logits.data() + size_t(b) * V, V, g, u);
      if (next == Tokenizer::EOS) {
        done[b] = true;
        continue;
      }
      gen[b].push_back(next);
      if (static_cast<int>(gen[b].size()) >= g.max_new_tokens) done[b] = true;
    }
  }
  for (int b = 0; b < B; ++b) out[b] = Tokenizer::decode(gen[b]);
  return out;
}

double exact_match(const std::vector<std::string>& generated, const std::vector<std::string>& references) {
  FEDSIM_ASSERT_MSG(generated.size() == references.size(),
                    "exact_match: " << generated.size() << " answers, " << references.size() << " references");
  if (generated.empty()) return 0.0;
  size_t same = 0;
  for (size_t i = 0; i < generated.size(); ++i) same += generated[i] == references[i];
  return static_cast<double>(same) / generated.size();
}

}  // namespace fedsim::models
