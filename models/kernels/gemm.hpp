// Dense products C = alpha * op(A) * op(B) + beta * C on row-major device matrices.
// With Kokkos Kernels and `Products::blas` (models/products.hpp) this is KokkosBlas::gemm
// (OpenBLAS sgemm/dgemm on the host, cuBLAS or rocBLAS on GPUs); otherwise gemm_tiled below,
// which is always compiled so the test checks it against a host reference on every build.
#pragma once

#include "common/error.hpp"
#include "models/kokkos_compat.hpp"
#include "models/products.hpp"

#ifdef FEDSIM_HAVE_KOKKOSKERNELS
#include <KokkosBlas3_gemm.hpp>
#endif

namespace fedsim::models {

// Own kernel: each work item owns a kTile x kTile block of C and walks K in order. Every
// element is the same sequence of operations (one product sum over k = 0..K-1 in order, the
// same code for edge tiles, which clamp their loads), so its bits depend on neither M, N, the
// tile it falls in, nor the backend's scheduling: Products::portable rests on this. op(A) (M,K), op(B) (K,N), C (M,N).
template <class T, class AV, class BV, class CV>
void gemm_tiled(const ExecSpace& exec, char ta, char tb, T alpha, const AV& A, const BV& B, T beta, const CV& C) {
  constexpr int kTile = 4;
  const int64_t M = C.extent(0), N = C.extent(1);
  const int64_t K = (ta == 'N') ? A.extent(1) : A.extent(0);
  const bool at = (ta == 'T'), bt = (tb == 'T');
  const int64_t tm = (M + kTile - 1) / kTile, tn = (N + kTile - 1) / kTile;
  Kokkos::parallel_for(
      "fedsim::models::gemm_tiled", range(exec, tm * tn), KOKKOS_LAMBDA(const int64_t tile) {
        const int64_t i0 = (tile / tn) * kTile, j0 = (tile % tn) * kTile;
        T acc[kTile][kTile];
        for (int a = 0; a < kTile; ++a)
          for (int b = 0; b < kTile; ++b) acc[a][b] = T(0);
        for (int64_t k = 0; k < K; ++k) {
          T av[kTile], bv[kTile];
          for (int a = 0; a < kTile; ++a) {
            const int64_t i = i0 + a < M ? i0 + a : M - 1;
            av[a] = at ? A(k, i) : A(i, k);
          }
          for (int b = 0; b < kTile; ++b) {
            const int64_t j = j0 + b < N ? j0 + b : N - 1;
            bv[b] = bt ? B(j, k) : B(k, j);
          }
          for (int a = 0; a < kTile; ++a)
            for (int b = 0; b < kTile; ++b) acc[a][b] += av[a] * bv[b];
        }
        for (int a = 0; a < kTile && i0 + a < M; ++a)
          for (int b = 0; b < kTile && j0 + b < N; ++b) {
            T& c = C(i0 + a, j0 + b);
            // beta == 0 must not read C (it may hold anything), as in BLAS.
            c = (beta == T(0)) ? alpha * acc[a][b] : alpha * acc[a][b] + beta * c;
          }
      });
}

template <class T, class AV, class BV, class CV>
void gemm(const ExecSpace& exec, char ta, char tb, T alpha, const AV& A, const BV& B, T beta, const CV& C) {
  const int64_t K = (ta == 'N') ? A.extent(1) : A.extent(0);
  FEDSIM_ASSERT(((ta == 'N') ? A.extent(0) : A.extent(1)) == C.extent(0));
  FEDSIM_ASSERT(((tb == 'N') ? B.extent(1) : B.extent(0)) == C.extent(1));
  FEDSIM_ASSERT(((tb == 'N') ? B.extent(0) : B.extent(1)) == static_cast<size_t>(K));
  if (C.extent(0) == 0 || C.extent(1) == 0) return;
  if (K == 0) {  // op(A) op(B) is zero; only scale C.
    gemm_tiled(exec, ta, tb, alpha, A, B, beta, C);
    return;
  }
#ifdef FEDSIM_HAVE_KOKKOSKERNELS
  if (products() == Products::portable) {  // models/products.hpp: the same bits for any shape
    gemm_tiled(exec, ta, tb, alpha, A, B, beta, C);
    return;
  }
  const char sa[2] = {ta, 0}, sb[2] = {tb, 0};
#if defined(KOKKOSKERNELS_VERSION) && KOKKOSKERNELS_VERSION >= 40100
  KokkosBlas::gemm(exec, sa, sb, alpha, A, B, beta, C);
#else
  KokkosBlas::gemm(sa, sb, alpha, A, B, beta, C);  // 3.x: default instance only
#endif
#else
  gemm_tiled(exec, ta, tb, alpha, A, B, beta, C);
#endif
}

}  // namespace fedsim::models
