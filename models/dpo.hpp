// DPO (Rafailov et al. 2023, "Direct Preference Optimization", eq. 7) on top of Net<T>:
//   loss = mean over pairs of -log sigmoid(beta * ((lp_c - ref_c) - (lp_r - ref_r)))
// where lp = sum over response tokens of log p(token) under the adapter and ref the same under
// the base alone. Templated so the gradient test runs it in double.
#pragma once

#include <cmath>
#include <vector>

#include "models/net.hpp"

namespace fedsim::models {

// Chosen rows 0..P-1, then rejected rows P..2P-1, one batch: one forward/backward per step.
inline Batch stack_dpo(const DpoBatch& d) {
  FEDSIM_ASSERT_MSG(d.chosen.B == d.rejected.B && d.chosen.T == d.rejected.T,
                    "DPO batch: chosen (" << d.chosen.B << "," << d.chosen.T << ") and rejected (" << d.rejected.B
                                          << "," << d.rejected.T << ") differ in shape");
  Batch b;
  b.B = 2 * d.chosen.B;
  b.T = d.chosen.T;
  b.inputs = d.chosen.inputs;
  b.inputs.insert(b.inputs.end(), d.rejected.inputs.begin(), d.rejected.inputs.end());
  b.targets = d.chosen.targets;
  b.targets.insert(b.targets.end(), d.rejected.targets.begin(), d.rejected.targets.end());
  return b;
}

// Per-sequence log-probabilities of the targets of the batch set in `net` (B).
template <class T>
std::vector<double> sequence_logps(Net<T>& net, int client, bool dropout, uint64_t step_key) {
  net.forward(client, dropout, step_key);
  std::vector<double> lp = net.sequence_losses();
  for (double& x : lp) x = -x;
  return lp;
}

struct DpoResult {
  double loss = 0;      // mean over pairs
  double margin = 0;    // mean over pairs of (lp_c - ref_c) - (lp_r - ref_r)
  double accuracy = 0;  // fraction of pairs with a positive margin
};

// The DPO loss of one client's pairs from the policy's (lp) and the reference's (ref)
// per-sequence log-probabilities (chosen 0..P-1, rejected P..2P-1), and in `w` (2P) the weights
// of each sequence's summed token losses in the backward.
// One pair's terms for margin m: the loss softplus(-beta m) (stable form) and sigmoid(-beta m),
// the factor of its gradient. Shared by the host (dpo_loss) and the device (dpo_step_device).
KOKKOS_INLINE_FUNCTION void dpo_pair(double m, double beta, double& loss, double& sig) {
  const double z = beta * m;
  loss = kmath::fmax(-z, 0.0) + kmath::log1p(kmath::exp(-kmath::fabs(z)));
  sig = z >= 0 ? kmath::exp(-z) / (1.0 + kmath::exp(-z)) : 1.0 / (1.0 + kmath::exp(z));
}

template <class T>
DpoResult dpo_loss(const std::vector<double>& lp, const std::vector<double>& ref, double beta, std::vector<T>& w) {
  FEDSIM_ASSERT(lp.size() == ref.size() && lp.size() % 2 == 0);
  const size_t P = lp.size() / 2;
  DpoResult r;
  w.assign(lp.size(), T(0));
  for (size_t b = 0; b < P; ++b) {
    const double m = (lp[b] - ref[b]) - (lp[P + b] - ref[P + b]);
    double loss = 0, sig = 0;
    dpo_pair(m, beta, loss, sig);
    r.loss += loss;
    r.margin += m;
    r.accuracy += m > 0;
    // d loss / d (sum of token losses) = -d loss / d lp; d loss / d z = -sigmoid(-z) / P.
    w[b] = static_cast<T>(beta * sig / P);
    w[P + b] = static_cast<T>(-beta * sig / P);
  }
  if (P > 0) {
    r.loss /= P;
    r.margin /= P;
    r.accuracy /= P;
  }
  return r;
}

// The same on the device for every segment of the staged batch at once: segment s holds
// sequences b0(s) .. b0(s)+seqs(s)-1 (chosen first, then rejected), nl and ref their summed token
// losses under the adapters and the base. Writes each sequence's backward weight into w and adds
// each segment's mean pair loss into acc(row(s) - row0) (rows >= row0 only): no host read.
template <class T>
void dpo_step_device(const ExecSpace& exec, UVec<T> w, UVec<double> acc, int row0, UVec<double> nl, UVec<double> ref,
                     IVec row, IVec b0, IVec seqs, double beta) {
  Kokkos::parallel_for(
      "fedsim::models::dpo_loss", range(exec, int64_t(row.extent(0))), KOKKOS_LAMBDA(const int64_t s) {
        const int P = seqs(s) / 2, f = b0(s);
        double sum = 0;
        for (int b = 0; b < P; ++b) {  // in pair order, as dpo_loss
          const double m = (ref(f + b) - nl(f + b)) - (ref(f + P + b) - nl(f + P + b));
          double loss = 0, sig = 0;
          dpo_pair(m, beta, loss, sig);
          sum += loss;
          w(f + b) = static_cast<T>(beta * sig / P);
          w(f + P + b) = static_cast<T>(-beta * sig / P);
        }
        if (P > 0 && row(s) >= row0) acc(row(s) - row0) += sum / P;
      });
}

// Forward of the policy (adapter row `client`) on the stacked batch already set in `net`, the
// loss against `ref` (sequence_logps of the base on the same batch), and, if `backward`, its
// gradient added into adapter_grads(client).
template <class T>
DpoResult dpo_forward_backward(Net<T>& net, int client, const std::vector<double>& ref, double beta, bool dropout,
                               uint64_t step_key, bool backward) {
  const std::vector<double> lp = sequence_logps(net, client, dropout, step_key);
  std::vector<T> w;
  const DpoResult r = dpo_loss(lp, ref, beta, w);
  if (backward) net.backward(false, &w);
  return r;
}

}  // namespace fedsim::models
