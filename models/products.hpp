// How dense products (every gemm of a forward, backward or decoding step) are computed.
// A process-wide execution setting, like the thread count: set once per run, before any
// training (sim/ does it from `model.products`); no Kokkos in this header.
//
//   blas      Kokkos Kernels' gemm: OpenBLAS sgemm on the host, cuBLAS/rocBLAS on GPUs. Fastest.
//             The rounding of an element depends on the kernel the BLAS picks for the processor
//             (OPENBLAS_CORETYPE) and on the product's shape (its edge kernels and blocking),
//             so runs that stack clients differently (batched vs sequential, packed vs padded,
//             a resume that groups clients otherwise) or run on another processor agree only
//             within float rounding.
//   portable  fedsim's own tiled gemm (kernels/gemm.hpp): every element is one sum over k in
//             order, whatever the shape, tiling, BLAS or thread count, so all of the above give
//             the same bits with the same binary. Several times slower on the CPU.
// Without Kokkos Kernels both names run the portable product.
#pragma once

#include <string>

namespace fedsim::models {

enum class Products { blas, portable };

void set_products(Products p);
Products products();
// What decides the bits of a product, for cache keys and run banners: "portable", or e.g.
// "blas: OpenBLAS 0.3.21 core Haswell, 1 thread" (the core OpenBLAS selected at run time).
std::string products_identity();

// Sets the mode for a scope and restores the previous one (tests, one run of a sweep).
class ProductsScope {
 public:
  explicit ProductsScope(Products p) : saved_(products()) { set_products(p); }
  ~ProductsScope() { set_products(saved_); }
  ProductsScope(const ProductsScope&) = delete;
  ProductsScope& operator=(const ProductsScope&) = delete;

 private:
  Products saved_;
};

}  // namespace fedsim::models
