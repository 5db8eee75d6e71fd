#include <Kokkos_Core.hpp>
#include <sstream>

#include "models/model.hpp"

namespace fedsim::models {

Runtime::Runtime(int& argc, char** argv) {
  if (!Kokkos::is_initialized()) Kokkos::initialize(argc, argv);
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
