#include <Kokkos_Core.hpp>
#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "models/model.hpp"
#include "models/products.hpp"
#include <atomic>

// OpenBLAS's own threads spin between the many small products of a training step and cost
// more than they give at fedsim's sizes (measured: tiny preset 2x faster with one thread).
// Weak, so builds against another BLAS (or cuBLAS through Kokkos Kernels) link unchanged.
extern "C" void openblas_set_num_threads(int) __attribute__((weak));
extern "C" char* openblas_get_corename() __attribute__((weak));
extern "C" char* openblas_get_config() __attribute__((weak));
extern "C" int openblas_get_num_threads() __attribute__((weak));

namespace fedsim::models {

Runtime::Runtime(int& argc, char** argv) {
  if (!Kokkos::is_initialized()) Kokkos::initialize(argc, argv);
  int blas_threads = 1;
  if (const char* env = std::getenv("FEDSIM_BLAS_THREADS")) blas_threads = std::max(1, std::atoi(env));
  if (openblas_set_num_threads && !std::getenv("OPENBLAS_NUM_THREADS")) openblas_set_num_threads(blas_threads);
}

Runtime::~Runtime() {
  if (Kokkos::is_initialized()) Kokkos::finalize();
}

namespace {
std::atomic<Products> g_products{Products::blas};

// "OpenBLAS 0.3.21 core Haswell, 1 thread", or "" when the BLAS is not OpenBLAS.
std::string openblas_identity() {
  if (!openblas_get_corename || !openblas_get_config) return "";
  std::string config = openblas_get_config();  // "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64"
  const size_t v = config.find(' ', config.find(' ') + 1);
  std::ostringstream os;
  os << config.substr(0, v) << " core " << openblas_get_corename();
  if (openblas_get_num_threads) {
    const int n = openblas_get_num_threads();
    os << ", " << n << (n == 1 ? " thread" : " threads");
  }
  return os.str();
}
}  // namespace

void set_products(Products p) { g_products.store(p, std::memory_order_relaxed); }
Products products() { return g_products.load(std::memory_order_relaxed); }

std::string products_identity() {
#ifdef FEDSIM_HAVE_KOKKOSKERNELS
  if (products() == Products::blas) {
    const std::string ob = openblas_identity();
    return "blas: KokkosBlas::gemm" + (ob.empty() ? std::string() : " -> " + ob);
  }
#endif
  return "portable";
}

std::string Runtime::describe() {
  std::ostringstream os;
  os << "Kokkos " << KOKKOS_VERSION / 10000 << "." << (KOKKOS_VERSION / 100) % 100 << "." << KOKKOS_VERSION % 100
     << ", " << Kokkos::DefaultExecutionSpace::name() << " (concurrency "
     << Kokkos::DefaultExecutionSpace().concurrency() << ")";
  os << ", dense products: " << products_identity();
  return os.str();
}

}  // namespace fedsim::models
