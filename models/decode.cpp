// KvDecoder (decode.hpp) and Model::generate_chat: KV-cache generation through the model's chat
// template, greedy or sampled.
#include "models/decode.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "models/model_impl.hpp"
#include "models/text/batch.hpp"

namespace fedsim::models {

template <class T>
KvDecoder<T>::KvDecoder(Net<T>& net, int B, int client) : net_(net), B_(B), client_(client) {
  FEDSIM_ASSERT(B >= 1 && client < static_cast<int>(net.adapters.extent(0)));
  const ModelConfig& c = net.cfg;
  const bool llama = c.llama();
  const int64_t C = c.d_model, F = c.d_ff, V = c.vocab_size, L = c.n_layers, maxT = c.max_seq, NH = c.n_heads;
  const int64_t Q = llama ? c.q_dim() : C, KV = llama ? c.kv_dim() : C, QN = c.qk_norm ? Q : 0, KN = c.qk_norm ? KV : 0;
  const int64_t sizes = 2 * L * B * maxT * KV + 3 * B * C + B * (2 * Q + QN) + B * (2 * KV + KN) + 2 * B + B * NH +
                        B * F * (llama ? 3 : 2) + B * net.al.rank + B * NH * maxT + B * V;
  mem_ = Vec<T>(Kokkos::view_alloc(net.exec, "fedsim::models::kv_decoder"), sizes);
  int64_t off = 0;
  auto mat = [&](int64_t r, int64_t cols) {
    UMat<T> m = as_mat(mem_.data() + off, r, cols);
    off += r * cols;
    return m;
  };
  auto vec = [&](int64_t n) {
    UVec<T> v = as_vec(mem_.data() + off, n);
    off += n;
    return v;
  };
  for (int l = 0; l < L; ++l) {
    kc_.push_back(mat(B * maxT, KV));
    vc_.push_back(mat(B * maxT, KV));
  }
  x_ = mat(B, C), ln_ = mat(B, C), proj_ = mat(B, C);
  q_ = mat(B, Q), y_ = mat(B, Q), qp_ = mat(B, QN);
  k_ = mat(B, KV), v_ = mat(B, KV), kp_ = mat(B, KN);
  mean_ = vec(B), rstd_ = vec(B), head_rstd_ = vec(B * NH);
  h_ = mat(B, F), hg_ = mat(B, F), gate_ = mat(B, llama ? F : 0);
  u_ = mat(B, net.al.rank), att_ = mat(B * NH, maxT), logits_ = mat(B, V);
  FEDSIM_ASSERT(off == sizes);
  tok_ = IVec(Kokkos::view_alloc(net.exec, "fedsim::models::kv_tokens"), B);
  pos_d_ = IVec(Kokkos::view_alloc(net.exec, "fedsim::models::kv_positions"), B);
  tok_h_ = Kokkos::create_mirror_view(tok_);
}

template <class T>
void KvDecoder<T>::proj(int l, int t, UMat<T> out, UMat<T> inp, const WMat<T>& w, UVec<T> b) {
  linear_forward(net_.exec, out, inp, w, b);
  const AdapterLayout& al = net_.al;
  if (client_ < 0 || !al.enabled[t]) return;
  T* ad = net_.adapters.data() + int64_t(client_) * al.total;
  lora_forward(net_.exec, out, u_, inp, as_mat(ad + al.a(l, t), al.rank, al.d_in[t]),
               as_mat(ad + al.b(l, t), al.d_out[t], al.rank), T(al.scale));
}

// Appends k_, v_ at position pos_ to layer l's cache and attends: one thread per (sequence,
// head), the arithmetic of attention_forward's row (keys in (pos - window, pos]).
template <class T>
void KvDecoder<T>::attend(int l) {
  const ModelConfig& c = net_.cfg;
  const int NH = c.n_heads, NKV = c.llama() ? c.kv_heads() : NH, hs = c.llama() ? c.hd() : c.d_model / NH;
  const int64_t maxT = c.max_seq, KV = int64_t(NKV) * hs, s = pos_;
  const int group = NH / NKV, lo = (c.sliding_window > 0 && s - c.sliding_window + 1 > 0) ? s - c.sliding_window + 1 : 0;
  const UMat<T> kc = kc_[l], vc = vc_[l], q = q_, k = k_, v = v_, y = y_, att = att_;
  const ExecSpace& ex = net_.exec;
  Kokkos::parallel_for(
      "fedsim::models::kv_append", range(ex, int64_t(B_) * KV), KOKKOS_LAMBDA(const int64_t i) {
        const int64_t b = i / KV, ch = i % KV;
        kc(b * maxT + s, ch) = k(b, ch);
        vc(b * maxT + s, ch) = v(b, ch);
      });
  const T scale = T(1) / kmath::sqrt(T(hs));
  Kokkos::parallel_for(
      "fedsim::models::kv_attention", range(ex, int64_t(B_) * NH), KOKKOS_LAMBDA(const int64_t row) {
        const int64_t b = row / NH, h = row % NH, kh = (h / group) * hs;
        T maxv = T(0);
        for (int64_t t2 = lo; t2 <= s; ++t2) {
          T d = 0;
          for (int i = 0; i < hs; ++i) d += q(b, h * hs + i) * kc(b * maxT + t2, kh + i);
          att(row, t2) = d * scale;
          maxv = (t2 == lo || att(row, t2) > maxv) ? att(row, t2) : maxv;
        }
        T sum = 0;
        for (int64_t t2 = lo; t2 <= s; ++t2) {
          att(row, t2) = kmath::fexp(att(row, t2) - maxv);
          sum += att(row, t2);
        }
        for (int i = 0; i < hs; ++i) {
          T acc = 0;
          for (int64_t t2 = lo; t2 <= s; ++t2) acc += att(row, t2) * vc(b * maxT + t2, kh + i);
          y(b, h * hs + i) = acc / sum;
        }
      });
}

template <class T>
const std::vector<T>& KvDecoder<T>::step(const std::vector<int32_t>& tokens) {
  const ModelConfig& c = net_.cfg;
  const Params<T>& w = net_.w;
  FEDSIM_ASSERT(static_cast<int>(tokens.size()) == B_ && pos_ < c.max_seq);
  const int V = c.vocab_size, hd = c.hd();
  const ExecSpace& ex = net_.exec;
  for (int b = 0; b < B_; ++b) {
    FEDSIM_ASSERT(tokens[b] >= 0 && tokens[b] < V);
    tok_h_(b) = tokens[b];
  }
  Kokkos::deep_copy(ex, tok_, tok_h_);
  Kokkos::deep_copy(ex, pos_d_, pos_);
  embedding_forward(ex, x_, tok_, w.wte, w.wpe, pos_d_);
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerParams<T>& p = w.layer(l);
    if (c.llama()) {
      rmsnorm_forward(ex, ln_, rstd_, x_, p.ln1w, c.norm_eps);
      if (c.qk_norm) {
        proj(l, kQ, qp_, ln_, p.q, p.qb);
        proj(l, kK, kp_, ln_, p.k, p.kb);
        rmsnorm_forward(ex, per_head(q_, hd), head_rstd_, per_head(qp_, hd), p.q_norm, c.norm_eps);
        rmsnorm_forward(ex, per_head(k_, hd), head_rstd_, per_head(kp_, hd), p.k_norm, c.norm_eps);
      } else {
        proj(l, kQ, q_, ln_, p.q, p.qb);
        proj(l, kK, k_, ln_, p.k, p.kb);
      }
      proj(l, kV, v_, ln_, p.v, p.vb);
      rope_apply(ex, q_, pos_d_, net_.rope(), hd, false);
      rope_apply(ex, k_, pos_d_, net_.rope(), hd, false);
    } else {
      layernorm_forward(ex, ln_, mean_, rstd_, x_, p.ln1w, p.ln1b);
      proj(l, kQ, q_, ln_, p.q, p.qb);
      proj(l, kK, k_, ln_, p.k, p.kb);
      proj(l, kV, v_, ln_, p.v, p.vb);
    }
    attend(l);
    proj(l, kO, proj_, y_, p.o, p.ob);
    residual_forward(ex, x_, x_, proj_);
    if (c.llama()) {
      rmsnorm_forward(ex, ln_, rstd_, x_, p.ln2w, c.norm_eps);
      proj(l, kGate, gate_, ln_, p.gate, p.gateb);
      proj(l, kUp, h_, ln_, p.up, p.upb);
      swiglu_forward(ex, hg_, gate_, h_);
    } else {
      layernorm_forward(ex, ln_, mean_, rstd_, x_, p.ln2w, p.ln2b);
      proj(l, kUp, h_, ln_, p.up, p.upb);
      gelu_forward(ex, hg_, h_);
    }
    proj(l, kDown, proj_, hg_, p.down, p.downb);
    residual_forward(ex, x_, x_, proj_);
  }
  if (c.llama())
    rmsnorm_forward(ex, ln_, rstd_, x_, w.lnfw, c.norm_eps);
  else
    layernorm_forward(ex, ln_, mean_, rstd_, x_, w.lnfw, w.lnfb);
  dense_nt(ex, logits_, ln_, w.head);
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

namespace {
// The generation prompt of c in at most `budget` tokens: the oldest exchanges go first, then the
// end of the last user text (bytes; with the byte layout one pass cuts it to budget - 3 bytes,
// the rule Model::generate always had); a template whose own text exceeds the budget keeps its
// first `budget` tokens.
std::vector<int32_t> fit_prompt(const TextTokenizer& tok, const ChatTemplate& t, Conversation c, size_t budget) {
  std::vector<int32_t> ids = tokenize_prompt(tok, t, c);
  while (ids.size() > budget && c.turns.size() > 1) {
    c.turns.erase(c.turns.begin(), c.turns.begin() + 2);
    ids = tokenize_prompt(tok, t, c);
  }
  std::string& last = c.turns.back().text;
  while (ids.size() > budget && !last.empty()) {
    last.resize(last.size() - std::min(last.size(), ids.size() - budget));
    ids = tokenize_prompt(tok, t, c);
  }
  if (ids.size() > budget) ids.resize(budget);
  return ids;
}
}  // namespace

std::vector<Generation> Model::generate_chat(const std::vector<float>* adapter, const std::vector<Conversation>& convs,
                                             const GenerateConfig& g) const {
  Net<float>& net = impl_->net;
  const int B = static_cast<int>(convs.size()), maxT = net.cfg.max_seq, V = net.cfg.vocab_size;
  std::vector<Generation> out(B);
  if (B == 0) return out;
  const TextTokenizer& tok = tokenizer();
  const ChatTemplate& tmpl = chat_template();
  // Picks range over the tokenizer's ids: rows of a padded embedding decode to nothing.
  const int Vp = std::min(V, static_cast<int>(tok.vocab_size()));
  const std::vector<int32_t> stop = stop_ids(tok, tmpl);
  const int client = impl_->eval_row(adapter);
  // At least one position is left to generate into.
  std::vector<std::vector<int32_t>> seq(B);
  for (int b = 0; b < B; ++b) seq[b] = fit_prompt(tok, tmpl, convs[b], static_cast<size_t>(std::max(1, maxT - 1)));
  std::vector<fedsim::Rng> rng;
  for (int b = 0; b < B; ++b) rng.emplace_back(g.seed, static_cast<uint64_t>(b), 0, Purpose::generation);
  std::vector<std::vector<int32_t>> gen(B);
  std::vector<bool> done(B, false), stopped(B, false);
  KvDecoder<float> dec(net, B, client);
  std::vector<int32_t> in(B);
  for (int s = 0; s < maxT; ++s) {
    bool any = false;
    for (int b = 0; b < B; ++b) {
      const size_t n = seq[b].size();
      // Finished sequences are fed PAD: their outputs are ignored, the batch keeps its shape.
      in[b] = s < static_cast<int>(n) ? seq[b][s] : (s - n < gen[b].size() ? gen[b][s - n] : tok.pad_id());
      any = any || !done[b];
    }
    if (!any) break;
    const std::vector<float>& logits = dec.step(in);
    for (int b = 0; b < B; ++b) {
      if (done[b] || s + 1 < static_cast<int>(seq[b].size())) continue;  // still reading the prompt
      const double u = g.temperature > 0 ? rng[b].uniform() : 0.0;
      const int32_t next = pick(logits.data() + size_t(b) * V, Vp, g, u);
      if (std::find(stop.begin(), stop.end(), next) != stop.end()) {
        done[b] = stopped[b] = true;
        continue;
      }
      gen[b].push_back(next);
      if (static_cast<int>(gen[b].size()) >= g.max_new_tokens) done[b] = true;
    }
  }
  for (int b = 0; b < B; ++b) {
    out[b].text = tok.decode(gen[b], true);
    out[b].prompt_tokens = static_cast<int64_t>(seq[b].size());
    out[b].new_tokens = static_cast<int64_t>(gen[b].size()) + (stopped[b] ? 1 : 0);
  }
  return out;
}

std::vector<std::string> Model::generate(const std::vector<float>* adapter, const std::vector<std::string>& prompts,
                                         const GenerateConfig& g) const {
  std::vector<Conversation> convs;
  convs.reserve(prompts.size());
  for (const std::string& p : prompts) convs.push_back(Conversation{"", {{Role::user, p}}});
  std::vector<std::string> out;
  for (Generation& x : generate_chat(adapter, convs, g)) out.push_back(std::move(x.text));
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
