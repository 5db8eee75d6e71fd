// Net<T>: staging of batches. A client run uploads everything its steps need at once (tokens,
// targets, row offsets, segment tables, dropout keys: one copy of ints, one of keys, from
// pageable host buffers that are reused, so no fence), then each step selects its batch on the
// device (use). Evaluation stages one batch (set_batch).
#include <algorithm>

#include "models/net.hpp"

namespace fedsim::models {

namespace {
template <class V>
void grow(V& v, int64_t n, const char* label) {
  if (static_cast<int64_t>(v.extent(0)) < n) v = V(Kokkos::view_alloc(std::string(label)), n);
}
template <class D, class H>
void upload(const ExecSpace& exec, const D& dev, const H& host, int64_t n) {
  if (n == 0) return;
  Kokkos::deep_copy(exec, Kokkos::subview(dev, std::make_pair(int64_t(0), n)),
                    Kokkos::subview(host, std::make_pair(int64_t(0), n)));
}
}  // namespace

template <class T>
int64_t Net<T>::write_segments(const Staged& s, const std::vector<Segment>& segs, int32_t* at, uint64_t* kat) const {
  const int S = static_cast<int>(segs.size());
  int b = 0;
  for (int i = 0; i < S; ++i) {
    const Segment& g = segs[size_t(i)];
    FEDSIM_ASSERT(g.seqs >= 1 && g.row < static_cast<int>(adapters.extent(0)));
    int64_t tg = 0;
    for (int k = 0; k < g.seqs; ++k, ++b) {
      FEDSIM_ASSERT_MSG(b < s.B, "segments cover more than the batch's " << s.B << " sequences");
      at[b] = i;  // of_seq
      tg += s.seq_targets[size_t(b)];
    }
    at[s.B + i] = g.row;
    at[s.B + S + i] = b - g.seqs;  // b0
    at[s.B + 2 * S + i] = g.seqs;
    at[s.B + 3 * S + i] = static_cast<int32_t>(tg);
    kat[i] = g.step_key;
  }
  FEDSIM_ASSERT_MSG(b == s.B, "segments cover " << b << " of " << s.B << " sequences");
  return s.B + 4 * int64_t(S);
}

template <class T>
void Net<T>::point_segments(const Staged& s, const IVec& ibuf, int64_t at, const Kokkos::View<uint64_t*, MemSpace>& kbuf,
                            int64_t kat) {
  const int64_t B = s.B, S = static_cast<int64_t>(st_.host.size());
  auto part = [&](int64_t from, int64_t n) { return Kokkos::subview(ibuf, std::make_pair(at + from, at + from + n)); };
  st_.of_seq = part(0, B);
  st_.row = part(B, S);
  st_.b0 = part(B + S, S);
  st_.seqs = part(B + 2 * S, S);
  st_.targets = part(B + 3 * S, S);
  st_.key = Kokkos::subview(kbuf, std::make_pair(kat, kat + S));
}

template <class T>
void Net<T>::stage(const std::vector<const Batch*>& batches, const std::vector<std::vector<Segment>>& segs, bool pack) {
  FEDSIM_ASSERT(!batches.empty() && batches.size() == segs.size());
  const bool token_rows = base_grad.extent(0) > 0;  // full-parameter mode: the embedding gradient's rows
  staged_.assign(batches.size(), Staged{});
  std::vector<std::vector<int32_t>> csr(token_rows ? batches.size() : 0);
  int64_t words = 0, keys = 0, most_rows = 0, most_acts = 0, most_S = 0;
  for (size_t i = 0; i < batches.size(); ++i) {
    const Batch& batch = *batches[i];
    Staged& s = staged_[i];
    FEDSIM_ASSERT_MSG(batch.B >= 1 && batch.T >= 1 && batch.T <= cfg.max_seq,
                      "batch (B=" << batch.B << ", T=" << batch.T << ") does not fit max_seq " << cfg.max_seq);
    const int64_t padded = int64_t(batch.B) * batch.T;
    FEDSIM_ASSERT(static_cast<int64_t>(batch.inputs.size()) == padded &&
                  static_cast<int64_t>(batch.targets.size()) == padded);
    s.B = batch.B;
    s.Tpad = batch.T;
    s.packed = pack;
    s.seq_targets.assign(size_t(batch.B), 0);
    // Rows per sequence: all T, or (packed) up to the last target token, at least one.
    std::vector<int> lens(size_t(batch.B), batch.T);
    for (int b = 0; b < batch.B; ++b) {
      for (int t = 0; t < batch.T; ++t) {
        const size_t k = size_t(b) * batch.T + size_t(t);
        const int32_t tok = batch.inputs[k], tg = batch.targets[k];
        FEDSIM_ASSERT_MSG(tok >= 0 && tok < cfg.vocab_size, "input token " << tok << " at " << k);
        FEDSIM_ASSERT_MSG(tg >= -1 && tg < cfg.vocab_size, "target " << tg << " at " << k);
        s.seq_targets[size_t(b)] += tg >= 0;
      }
      s.n_targets += s.seq_targets[size_t(b)];
      if (pack) lens[size_t(b)] = packed_len(batch, b);
    }
    SeqLayout lay;  // host layout only: no device allocation
    lay.set_host(lens);
    s.off = lay.off;
    s.Tc = lay.Tc;
    const int64_t N = lay.rows(), S = static_cast<int64_t>(segs[i].size());
    s.segs = segs[i];
    s.seg_b0.assign(size_t(S), 0);
    for (int64_t g = 1; g < S; ++g) s.seg_b0[size_t(g)] = s.seg_b0[size_t(g) - 1] + s.segs[size_t(g) - 1].seqs;
    s.tok = words;
    s.tgt = s.tok + N;
    s.offs = s.tgt + N;
    s.of_seq = s.offs + batch.B + 1;
    words = s.of_seq + batch.B + 4 * S;
    s.key = keys;
    keys += S;
    if (token_rows) {  // the staged rows' tokens, then their CSR
      std::vector<int32_t> toks(static_cast<size_t>(N)), ids, start, rows;
      for (int b = 0; b < batch.B; ++b)
        for (int64_t t = 0; t < lay.len(b); ++t)
          toks[size_t(lay.off[size_t(b)] + t)] = batch.inputs[size_t(b) * batch.T + size_t(t)];
      token_rows_host(toks.data(), N, cfg.vocab_size, ids, start, rows);
      s.csr = words;
      s.U = static_cast<int64_t>(ids.size());
      csr[i] = ids;
      csr[i].insert(csr[i].end(), start.begin(), start.end());
      csr[i].insert(csr[i].end(), rows.begin(), rows.end());
      words += static_cast<int64_t>(csr[i].size());
    }
    most_rows = std::max(most_rows, N);
    most_acts = std::max(most_acts, build_acts(nullptr, N, s.Tc));
    most_S = std::max(most_S, S);
  }
  // Host buffers, then one upload of each.
  grow(stage_ih_, words, "fedsim::host::staged");
  grow(stage_kh_, std::max<int64_t>(keys, 1), "fedsim::host::staged_keys");
  for (size_t i = 0; i < batches.size(); ++i) {
    const Batch& batch = *batches[i];
    const Staged& s = staged_[i];
    int32_t* h = stage_ih_.data();
    for (int b = 0; b < s.B; ++b)
      for (int64_t t = 0; t < s.off[size_t(b) + 1] - s.off[size_t(b)]; ++t) {
        const size_t from = size_t(b) * batch.T + size_t(t);
        h[s.tok + s.off[size_t(b)] + t] = batch.inputs[from];
        h[s.tgt + s.off[size_t(b)] + t] = batch.targets[from];
      }
    for (int b = 0; b <= s.B; ++b) h[s.offs + b] = static_cast<int32_t>(s.off[size_t(b)]);
    write_segments(s, s.segs, h + s.of_seq, stage_kh_.data() + s.key);
    if (token_rows) std::copy(csr[i].begin(), csr[i].end(), h + s.csr);
  }
  grow(stage_i_, words, "fedsim::models::staged");
  grow(stage_k_, std::max<int64_t>(keys, 1), "fedsim::models::staged_keys");
  upload(exec, stage_i_, stage_ih_, words);
  upload(exec, stage_k_, stage_kh_, keys);
  // Buffers for the largest batch, allocated now, before the run's first kernel.
  grow(acts_mem_, most_acts, "fedsim::models::activations");
  grow(argmax_, most_rows, "fedsim::models::argmax");
  grow(seg_loss_, most_S, "fedsim::models::seg_loss");
  sr_.reserve(exec, most_rows);
}

template <class T>
void Net<T>::use(size_t i) {
  FEDSIM_ASSERT(i < staged_.size());
  cur_ = i;
  const Staged& s = staged_[i];
  const int64_t N = s.off.back();
  auto part = [&](int64_t from, int64_t n) { return Kokkos::subview(stage_i_, std::make_pair(from, from + n)); };
  sr_.off = s.off;
  sr_.Tc = s.Tc;
  sr_.off_d = part(s.offs, s.B + 1);
  sr_.build(exec);
  tokens_ = part(s.tok, N);
  targets_ = part(s.tgt, N);
  st_.host = s.segs;
  st_.host_b0 = s.seg_b0;
  point_segments(s, stage_i_, s.of_seq, stage_k_, s.key);
  seg_targets_.assign(s.segs.size(), 0);
  for (size_t g = 0; g < s.segs.size(); ++g)
    for (int b = s.seg_b0[g]; b < s.seg_b0[g] + s.segs[g].seqs; ++b) seg_targets_[g] += s.seq_targets[size_t(b)];
  if (s.csr >= 0) {
    tok_ids_ = part(s.csr, s.U);
    tok_start_ = part(s.csr + s.U, s.U + 1);
    tok_rows_ = part(s.csr + 2 * s.U + 1, N);
  }
  build_acts(acts_mem_.data(), N, s.Tc);
  B_ = s.B;
  T_ = s.Tpad;
  packed_ = s.packed;
  n_targets_ = s.n_targets;
}

template <class T>
void Net<T>::set_batch(const Batch& batch, bool pack) {
  stage({&batch}, {{Segment{-1, batch.B, 0}}}, pack);
  use(0);
}

// Segment tables given at forward time (evaluation, tests): uploaded into their own buffers.
template <class T>
std::vector<double> Net<T>::forward_segments(const std::vector<Segment>& segs, bool dropout) {
  FEDSIM_ASSERT(B_ > 0 && !segs.empty());
  const Staged& s = staged_[cur_];
  const int64_t words = s.B + 4 * static_cast<int64_t>(segs.size()), S = static_cast<int64_t>(segs.size());
  grow(seg_ih_, words, "fedsim::host::segments");
  grow(seg_kh_, S, "fedsim::host::segment_keys");
  write_segments(s, segs, seg_ih_.data(), seg_kh_.data());
  grow(seg_i_, words, "fedsim::models::segments");
  grow(seg_k_, S, "fedsim::models::segment_keys");
  grow(seg_loss_, S, "fedsim::models::seg_loss");
  upload(exec, seg_i_, seg_ih_, words);
  upload(exec, seg_k_, seg_kh_, S);
  st_.host = segs;
  st_.host_b0.assign(segs.size(), 0);
  for (size_t g = 1; g < segs.size(); ++g) st_.host_b0[g] = st_.host_b0[g - 1] + segs[g - 1].seqs;
  point_segments(s, seg_i_, 0, seg_k_, 0);
  seg_targets_.assign(segs.size(), 0);
  for (size_t g = 0; g < segs.size(); ++g)
    for (int b = st_.host_b0[g]; b < st_.host_b0[g] + segs[g].seqs; ++b) seg_targets_[g] += s.seq_targets[size_t(b)];
  forward_staged(true, dropout);
  const auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), seg_loss());  // a blocking read
  return std::vector<double>(h.data(), h.data() + S);
}

template <class T>
double Net<T>::forward(int client, bool dropout, uint64_t step_key) {
  FEDSIM_ASSERT(B_ > 0);
  return forward_segments({Segment{client, B_, step_key}}, dropout)[0];
}

#define FEDSIM_NET_STAGE(T)                                                                                     \
  template int64_t Net<T>::write_segments(const Staged&, const std::vector<Segment>&, int32_t*, uint64_t*) const; \
  template void Net<T>::point_segments(const Staged&, const IVec&, int64_t, const Kokkos::View<uint64_t*, MemSpace>&, \
                                       int64_t);                                                                  \
  template void Net<T>::stage(const std::vector<const Batch*>&, const std::vector<std::vector<Segment>>&, bool);       \
  template void Net<T>::use(size_t);                                                                              \
  template void Net<T>::set_batch(const Batch&, bool);                                                            \
  template std::vector<double> Net<T>::forward_segments(const std::vector<Segment>&, bool);                       \
  template double Net<T>::forward(int, bool, uint64_t);
FEDSIM_NET_STAGE(float)
FEDSIM_NET_STAGE(double)
#undef FEDSIM_NET_STAGE

}  // namespace fedsim::models
