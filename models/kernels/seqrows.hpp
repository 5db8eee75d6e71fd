// Where the sequences of a batch sit in the activations' rows. A padded batch gives every
// sequence T rows; a packed one (batched local training, models/README.md "Packing") gives
// sequence b only its first len_b positions, the ones up to its last target token, so no
// row is spent on padding. Everything position-dependent (position embedding, causal
// attention, per-sequence loss weights, dropout indices) reads it from here.
#pragma once

#include <vector>

#include "common/error.hpp"
#include "models/kokkos_compat.hpp"

namespace fedsim::models {

struct SeqRows {
  std::vector<int64_t> off;  // (B+1) host: first row of sequence b, off[B] = rows
  int Tc = 0;                // longest sequence: the attention matrices' columns
  IVec pos;                  // (rows) position of the row within its sequence
  IVec seq;                  // (rows) sequence of the row
  IVec att_t;                // (NH*rows) query position of each attention row
  IVec off_d;                // (B+1) off on the device

  int B() const { return static_cast<int>(off.size()) - 1; }
  int64_t rows() const { return off.empty() ? 0 : off.back(); }
  int64_t len(int b) const { return off[size_t(b) + 1] - off[size_t(b)]; }
  // Attention rows of (sequence b, head h) start here: sequences in order, heads in order
  // within a sequence, len_b query rows each.
  int64_t att_row(int b, int h, int NH) const { return int64_t(NH) * off[size_t(b)] + int64_t(h) * len(b); }

  // Sets the layout from per-sequence lengths (host) and fills the device index views,
  // which grow and never shrink.
  void set(const ExecSpace& exec, const std::vector<int>& lens, int NH) {
    const int B = static_cast<int>(lens.size());
    off.assign(size_t(B) + 1, 0);
    Tc = 0;
    for (int b = 0; b < B; ++b) {
      FEDSIM_ASSERT(lens[size_t(b)] >= 1);
      off[size_t(b) + 1] = off[size_t(b)] + lens[size_t(b)];
      Tc = lens[size_t(b)] > Tc ? lens[size_t(b)] : Tc;
    }
    const int64_t N = rows();
    auto grow = [&](IVec& v, int64_t n, const char* label) {
      if (static_cast<int64_t>(v.extent(0)) < n) v = IVec(Kokkos::view_alloc(exec, std::string(label)), n);
    };
    grow(pos, N, "fedsim::models::row_pos");
    grow(seq, N, "fedsim::models::row_seq");
    grow(att_t, int64_t(NH) * N, "fedsim::models::att_pos");
    grow(off_d, B + 1, "fedsim::models::seq_off");
    std::vector<int32_t> hp(static_cast<size_t>(N)), hs(static_cast<size_t>(N)), ha(static_cast<size_t>(NH * N)),
        ho(size_t(B) + 1);
    for (int b = 0; b < B; ++b) {
      for (int64_t t = 0; t < len(b); ++t) {
        hp[static_cast<size_t>(off[size_t(b)] + t)] = static_cast<int32_t>(t);
        hs[static_cast<size_t>(off[size_t(b)] + t)] = b;
      }
      for (int h = 0; h < NH; ++h)
        for (int64_t t = 0; t < len(b); ++t) ha[static_cast<size_t>(att_row(b, h, NH) + t)] = static_cast<int32_t>(t);
    }
    for (int b = 0; b <= B; ++b) ho[size_t(b)] = static_cast<int32_t>(off[size_t(b)]);
    auto up = [&](IVec& v, const std::vector<int32_t>& h) {
      Kokkos::View<const int32_t*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> hv(h.data(), h.size());
      Kokkos::deep_copy(exec, Kokkos::subview(v, std::make_pair(size_t(0), h.size())), hv);
    };
    up(pos, hp);
    up(seq, hs);
    up(att_t, ha);
    up(off_d, ho);
    exec.fence();  // the host vectors go out of scope
  }
  // B sequences of T rows each (a padded batch).
  void set_uniform(const ExecSpace& exec, int B, int T, int NH) { set(exec, std::vector<int>(size_t(B), T), NH); }
};

}  // namespace fedsim::models
