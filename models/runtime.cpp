#include <Kokkos_Core.hpp>
#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "models/model.hpp"

// OpenBLAS's own threads spin between the many small products of a training step and cost
// more than they give at fedsim's sizes (measured: tiny preset 2x faster with one thread).
// Weak, so builds against another BLAS (or cuBLAS through Kokkos Kernels) link unchanged.
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

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

std::string Runtime::describe() {
  std::ostringstream os;
  os << "Kokkos " << KOKKOS_VERSION / 10000 << "." << (KOKKOS_VERSION / 100) % 100 << "." << KOKKOS_VERSION % 100
     << ", " << Kokkos::DefaultExecutionSpace::name() << " (concurrency "
     << Kokkos::DefaultExecutionSpace().concurrency() << ")";
#ifdef FEDSIM_HAVE_KOKKOSKERNELS
  os << ", dense products: KokkosBlas::gemm";
#else
  os << ", dense products: fedsim tiled gemm";
#endif
  return os.str();
}

}  // namespace fedsim::models
