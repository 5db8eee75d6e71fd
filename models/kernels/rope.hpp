// Rotary position embedding (Su et al. 2021, "RoFormer", sec. 3.4.2, eq. 34) in the
// "rotate_half" pairing transformers' Llama uses (modeling_llama.py, apply_rotary_pos_emb):
// within each head of hd channels, channel i < hd/2 pairs with i + hd/2 and the pair turns by
// the angle pos * inv_freq[i]:
//   y_i = x_i cos - x_{i+hd/2} sin,   y_{i+hd/2} = x_{i+hd/2} cos + x_i sin.
// The rotation is orthogonal, so the backward is the same turn by -angle. cos/sin come from a
// table (maxT, hd/2) computed on the host in double (rope_table), the same on every backend.
#pragma once

#include <cmath>
#include <vector>

#include "common/error.hpp"
#include "models/kernels/team.hpp"
#include "models/model.hpp"

namespace fedsim::models {

// inv_freq (hd/2) of transformers' ROPE_INIT_FUNCTIONS (modeling_rope_utils.py):
// default: theta^(-2i/hd); linear: that / factor; llama3 (_compute_llama3_parameters):
// wavelengths 2 pi / f longer than original_max / low_freq_factor divide by factor, shorter than
// original_max / high_freq_factor stay, and those between interpolate with
// s = (original_max / wavelen - low) / (high - low): f' = (1 - s) f / factor + s f.
inline std::vector<double> rope_inv_freq(const RopeConfig& r, int hd) {
  std::vector<double> f(static_cast<size_t>(hd / 2));
  const double pi = 3.14159265358979323846;
  for (int i = 0; i < hd / 2; ++i) {
    double x = 1.0 / std::pow(r.theta, 2.0 * i / hd);
    if (r.type == "linear") x /= r.factor;
    if (r.type == "llama3") {
      const double old_len = r.original_max_positions, wavelen = 2 * pi / x;
      const double low_wavelen = old_len / r.low_freq_factor, high_wavelen = old_len / r.high_freq_factor;
      if (wavelen > low_wavelen) {
        x /= r.factor;
      } else if (wavelen >= high_wavelen) {
        const double s = (old_len / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
        x = (1 - s) * x / r.factor + s * x;
      }
    }
    f[static_cast<size_t>(i)] = x;
  }
  return f;
}

// cos and sin (maxT, hd/2) on the device.
template <class T>
struct RopeTable {
  using Table = Kokkos::View<T**, Kokkos::LayoutRight, MemSpace>;
  Table cos = Table("fedsim::models::rope_cos", 0, 0), sin = Table("fedsim::models::rope_sin", 0, 0);
  void set(const ExecSpace& exec, const RopeConfig& r, int hd, int maxT) {
    FEDSIM_ASSERT(hd % 2 == 0 && maxT >= 1);
    const std::vector<double> f = rope_inv_freq(r, hd);
    const int half = hd / 2;
    cos = decltype(cos)(Kokkos::view_alloc(exec, "fedsim::models::rope_cos"), maxT, half);
    sin = decltype(sin)(Kokkos::view_alloc(exec, "fedsim::models::rope_sin"), maxT, half);
    auto hc = Kokkos::create_mirror_view(cos), hs = Kokkos::create_mirror_view(sin);
    for (int t = 0; t < maxT; ++t)
      for (int i = 0; i < half; ++i) {
        hc(t, i) = static_cast<T>(std::cos(t * f[static_cast<size_t>(i)]));
        hs(t, i) = static_cast<T>(std::sin(t * f[static_cast<size_t>(i)]));
      }
    Kokkos::deep_copy(exec, cos, hc);
    Kokkos::deep_copy(exec, sin, hs);
    fence(exec, "fedsim::models::rope_table");  // the mirrors go out of scope (once per model)
  }
};

// x (N, H*hd) rotated in place by the angles of each row's position pos (N); backward = true
// turns by minus the angle (the gradient of the forward turn). One team per row.
template <class T>
void rope_apply(const ExecSpace& exec, UMat<T> x, IVec pos, const RopeTable<T>& tab, int hd, bool backward) {
  const int64_t half = hd / 2, H = int64_t(x.extent(1)) / hd;
  const auto cs = tab.cos, sn = tab.sin;
  const T sign = backward ? T(-1) : T(1);
  Kokkos::parallel_for(
      "fedsim::models::rope", team_policy(exec, x.extent(0), 0), KOKKOS_LAMBDA(const Member& team) {
        const int64_t n = team.league_rank();
        const int t = pos(n);
        team_for(team, H * half, [&](const int64_t k) {
          const int64_t h = k / half, i = k % half;
          const T c = cs(t, i), s = sign * sn(t, i);
          const int64_t a = h * hd + i, b = a + half;
          const T x1 = x(n, a), x2 = x(n, b);
          x(n, a) = x1 * c - x2 * s;
          x(n, b) = x2 * c + x1 * s;
        });
      });
}

}  // namespace fedsim::models
