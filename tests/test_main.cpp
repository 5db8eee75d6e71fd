// Shared doctest main: starts Kokkos once (through models::Runtime, so tests see the same
// set-up as the CLI) and traps floating-point invalid operations, so a NaN fails where it is
// made instead of several kernels later (as ArborX's test main does).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <fenv.h>

#include <cstdio>

#include "models/model.hpp"

int main(int argc, char** argv) {
  fedsim::models::Runtime runtime(argc, argv);
#if defined(__GLIBC__)
  feenableexcept(FE_INVALID | FE_DIVBYZERO);
#endif
  // Which products the binary runs (with OpenBLAS: the core it selected, which OPENBLAS_CORETYPE
  // may force), so every test log says which kernels its numbers came from.
  std::printf("[fedsim tests] %s\n", fedsim::models::Runtime::describe().c_str());
  doctest::Context ctx;
  ctx.applyCommandLine(argc, argv);
  return ctx.run();
}
