// Where the sequences of a batch sit in the activations' rows. A padded batch gives every
// sequence T rows; a packed one (batched local training, models/README.md "Packing") gives
// sequence b only its first len_b positions, the ones up to its last target token, so no
// row is spent on padding. Everything position-dependent (position embedding, causal
// attention, per-sequence loss weights, dropout indices) reads it from here.
//
// Only the B+1 row offsets come from the host (staged with the batch's tokens, no fence); each
// row's sequence and position are computed from them on the device.
#pragma once

#include <vector>

#include "common/error.hpp"
#include "models/kokkos_compat.hpp"

namespace fedsim::models {

// The host side alone: no Kokkos View, so making one allocates nothing on the device (a
// deallocation fences the device on Kokkos 4.x).
struct SeqLayout {
  std::vector<int64_t> off;  // (B+1) host: first row of sequence b, off[B] = rows
  int Tc = 0;                // longest sequence: the attention matrices' columns

  int B() const { return static_cast<int>(off.size()) - 1; }
  int64_t rows() const { return off.empty() ? 0 : off.back(); }
  int64_t len(int b) const { return off[size_t(b) + 1] - off[size_t(b)]; }
  // Attention rows of (sequence b, head h) start here: sequences in order, heads in order
  // within a sequence, len_b query rows each.
  int64_t att_row(int b, int h, int NH) const { return int64_t(NH) * off[size_t(b)] + int64_t(h) * len(b); }

  // The host layout from per-sequence lengths (no device work).
  void set_host(const std::vector<int>& lens) {
    const int B = static_cast<int>(lens.size());
    off.assign(size_t(B) + 1, 0);
    Tc = 0;
    for (int b = 0; b < B; ++b) {
      FEDSIM_ASSERT(lens[size_t(b)] >= 1);
      off[size_t(b) + 1] = off[size_t(b)] + lens[size_t(b)];
      Tc = lens[size_t(b)] > Tc ? lens[size_t(b)] : Tc;
    }
  }
};

struct SeqRows : SeqLayout {
  // Device views, never default-constructed (README "Kokkos versions"); they grow, never shrink.
  IVec off_d = IVec("fedsim::models::seq_off", 0);  // (B+1) off on the device
  IVec pos = IVec("fedsim::models::row_pos", 0);    // (rows) position of the row within its sequence
  IVec seq = IVec("fedsim::models::row_seq", 0);    // (rows) sequence of the row

  // Room for `rows` rows in pos and seq (allocates; call before a run's first kernel).
  void reserve(const ExecSpace& exec, int64_t rows) {
    if (static_cast<int64_t>(pos.extent(0)) >= rows) return;
    pos = IVec(Kokkos::view_alloc(exec, "fedsim::models::row_pos"), rows);
    seq = IVec(Kokkos::view_alloc(exec, "fedsim::models::row_seq"), rows);
  }
  // pos and seq of every row from off_d, on the device (binary search over the B+1 offsets).
  void build(const ExecSpace& exec) {
    FEDSIM_ASSERT(static_cast<int64_t>(pos.extent(0)) >= rows() && static_cast<int64_t>(off_d.extent(0)) > B());
    const IVec o = off_d, p = pos, s = seq;
    const int nb = B();
    Kokkos::parallel_for(
        "fedsim::models::seq_rows", range(exec, rows()), KOKKOS_LAMBDA(const int64_t n) {
          int lo = 0, hi = nb;  // o(lo) <= n < o(hi)
          while (hi - lo > 1) {
            const int mid = (lo + hi) / 2;
            if (o(mid) <= n)
              lo = mid;
            else
              hi = mid;
          }
          s(n) = lo;
          p(n) = static_cast<int32_t>(n - o(lo));
        });
  }
  // Standalone layout (kernel tests, decoder-free tools): lens on the host, offsets uploaded
  // from a member buffer (no fence), rows built on the device. NH is unused (kept for callers).
  void set(const ExecSpace& exec, const std::vector<int>& lens, int /*NH*/ = 1) {
    set_host(lens);
    const size_t nb = off.size();
    if (off_h_.extent(0) < nb) off_h_ = decltype(off_h_)("fedsim::host::seq_off", nb);
    for (size_t b = 0; b < nb; ++b) off_h_(b) = static_cast<int32_t>(off[b]);
    if (off_d.extent(0) < nb) off_d = IVec(Kokkos::view_alloc(exec, "fedsim::models::seq_off"), nb);
    Kokkos::deep_copy(exec, Kokkos::subview(off_d, std::make_pair(size_t(0), nb)),
                      Kokkos::subview(off_h_, std::make_pair(size_t(0), nb)));
    reserve(exec, rows());
    build(exec);
  }
  // B sequences of T rows each (a padded batch).
  void set_uniform(const ExecSpace& exec, int B, int T, int NH = 1) { set(exec, std::vector<int>(size_t(B), T), NH); }

 private:
  Kokkos::View<int32_t*, Kokkos::HostSpace> off_h_ = Kokkos::View<int32_t*, Kokkos::HostSpace>("fedsim::host::seq_off", 0);
};

}  // namespace fedsim::models
