// Named views of the base tensors (llm.c's ParameterTensors): `p.layer(l).q` instead of offsets
// repeated at every call site. Built once from a BaseLayout over the float buffer and, for a
// bf16 base, the bf16 buffer; the same builder over the gradient buffer gives the gradients'
// views (matrices there are always in T). A tensor the architecture lacks, or a gradient that
// is not computed, is a view without data; kernels skip those.
#pragma once

#include <vector>

#include "models/kernels/dense.hpp"
#include "models/layout.hpp"

namespace fedsim::models {

template <class T>
struct LayerParams {
  UVec<T> ln1w, ln1b;       // (C)
  WMat<T> q, k, v;          // (Q,C), (KV,C), (KV,C)
  UVec<T> qb, kb, vb;       // (Q), (KV), (KV)
  UVec<T> q_norm, k_norm;   // (hd)
  WMat<T> o;                // (C,Q)
  UVec<T> ob;               // (C)
  UVec<T> ln2w, ln2b;       // (C)
  WMat<T> gate, up, down;   // (F,C), (F,C), (C,F)
  UVec<T> gateb, upb, downb;  // (F), (F), (C)
};

template <class T>
struct Params {
  WMat<T> wte;   // (V,C)
  WMat<T> wpe;   // (maxT,C) GPT only
  std::vector<LayerParams<T>> layers;
  UVec<T> lnfw, lnfb;  // (C)
  WMat<T> head;  // (V,C): lm_head, or wte when tied
  const LayerParams<T>& layer(int l) const { return layers[static_cast<size_t>(l)]; }
};

// Views over `f` (float buffer, T) and `h` (bf16 buffer; nullptr when the base is all T) with
// `panel` as the bf16 widening scratch. f == nullptr gives views without data (no gradients).
template <class T>
Params<T> make_params(const BaseLayout& bl, T* f, Bf16* h, UVec<T> panel) {
  auto vec = [&](const Slot& s) {
    return (s.present() && f != nullptr) ? as_vec(f + s.off, s.size()) : as_vec<T>(nullptr, 0);
  };
  auto mat = [&](const Slot& s) {
    WMat<T> w{as_mat<T>(nullptr, 0, 0), UMat16<Bf16>(nullptr, 0, 0), panel};
    if (!s.present() || f == nullptr) return w;
    if (s.half) {
      FEDSIM_ASSERT(h != nullptr);
      w.h = UMat16<Bf16>(h + s.off, s.rows, s.cols);
    } else {
      w.f = as_mat(f + s.off, s.rows, s.cols);
    }
    return w;
  };
  Params<T> p;
  p.wte = mat(bl.wte);
  p.wpe = mat(bl.wpe);
  p.layers.reserve(bl.layers.size());
  for (const LayerSlots& s : bl.layers) {
    LayerParams<T> l{vec(s.ln1w), vec(s.ln1b), mat(s.q),    mat(s.k),    mat(s.v),     vec(s.qb),
                     vec(s.kb),   vec(s.vb),   vec(s.q_norm), vec(s.k_norm), mat(s.o),   vec(s.ob),
                     vec(s.ln2w), vec(s.ln2b), mat(s.gate), mat(s.up),   mat(s.down),  vec(s.gateb),
                     vec(s.upb),  vec(s.downb)};
    p.layers.push_back(l);
  }
  p.lnfw = vec(bl.lnfw);
  p.lnfb = vec(bl.lnfb);
  p.head = mat(bl.head());
  return p;
}

}  // namespace fedsim::models
