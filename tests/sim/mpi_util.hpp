// Starting fedsim on R MPI ranks from a test: $FEDSIM_MPIEXEC (set by tests/sim/CMakeLists.txt to
// mpiexec with --oversubscribe, and --allow-run-as-root where needed) -n R $FEDSIM_BINARY ...
#pragma once

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <string>

#include "tests/sim/cli_util.hpp"

namespace fedsim::test {

using fedsim_cli::Outcome;

// Runs `fedsim ARGS` on `ranks` ranks (1: the binary alone, without mpiexec); stdout and stderr
// go to LOG.out and LOG.err; `env` ("NAME=value ") is set for the launcher, which passes it on.
inline Outcome fedsim_ranks(int ranks, const std::string& args, const std::string& log, const std::string& env = "") {
  const char* bin = std::getenv("FEDSIM_BINARY");
  const char* mpiexec = std::getenv("FEDSIM_MPIEXEC");
  REQUIRE(bin != nullptr);
  REQUIRE(mpiexec != nullptr);
  const std::string launcher = ranks == 1 ? "" : std::string(mpiexec) + " -n " + std::to_string(ranks) + " ";
  // One thread per process, whatever the ranks: R ranks are the parallelism, the OpenMP CI build
  // would otherwise oversubscribe its 2 cores R-fold, and every run of a comparison uses the same
  // thread count (reductions over threads round by thread count).
  const std::string cmd = "OMP_NUM_THREADS=1 " + env + launcher + bin + " " + args + " >" + log + ".out 2>" + log + ".err";
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, fedsim_cli::slurp(log + ".out"), fedsim_cli::slurp(log + ".err")};
}

}  // namespace fedsim::test
