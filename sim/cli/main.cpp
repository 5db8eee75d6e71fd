// fedsim command line: parses arguments and wires datasets/, models/ and sim/. Sub-commands
// stay thin; the work lives in the libraries.
//
// Exit codes: 0 success, 2 user error (config, data file, CLI, the output path), 1 internal
// error, 128 + N stopped by signal N (130 SIGINT, 143 SIGTERM; common/stop.hpp). Under MPI with
// more than one rank, a rank that fails ends the whole job with its code (MPI_Abort) after
// printing the error with its rank.
#include <boost/program_options.hpp>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "common/cache.hpp"
#include "common/error.hpp"
#include "common/stop.hpp"
#include "fedsim_version.hpp"
#include "models/model.hpp"
#include "sim/cli/commands.hpp"
#include "sim/mpi/comm.hpp"

namespace po = boost::program_options;

namespace {

const char* kUsage =
    "fedsim: discrete-event simulator of federated LLM fine-tuning\n"
    "\n"
    "usage: fedsim <command> [options]\n"
    "\n"
    "commands:\n"
    "  run CONFIG.yaml [--out FILE.h5] [--set key.path=value ...]   run an experiment\n"
    "  validate CONFIG.yaml [--set key.path=value ...]              check a config without running it\n"
    "  config reference                                             print every config key with its default\n"
    "  data generate|import|stats|partition|debian ...              federated data sets (fedsim data --help)\n"
    "  sweep SPEC.yaml [--out DIR] [--max-points N] [--dry-run]     run every point of a sweep (resumable)\n"
    "  results summary FILE_OR_DIR                                  table of final metrics per results file\n"
    "  masgpt run|report|check ...                                  MAS-GPT pipeline and table (fedsim masgpt --help)\n"
    "  model init --arch A --layers L --hidden H ... --out DIR      random Hugging Face model folder (Llama family)\n"
    "  export adapter RESULTS.h5 --out DIR                          final global adapter in PEFT's format\n"
    "  bench model [--preset P | --hf DIR] [--json]                 training throughput vs. this machine's sgemm\n"
    "  bench events [--json]                                        event-core and trainer-none throughput\n"
    "  bench fl [--config C] [--json]                               local training tokens/s, sequential vs. batched\n"
    "\n"
    "under mpirun/mpiexec/srun (a build with MPI): sweep gives each rank the next pending point; run\n"
    "spreads each group of training clients over the ranks (README.md \"MPI\")\n"
    "\n"
    "options:\n"
    "  -h, --help       this help (also: fedsim <command> --help)\n"
    "  --version        print the version and the Kokkos set-up\n";

// A stop by signal `sig` outside a checkpointed run: exit code 128 + sig.
int stopped(int sig) {
  std::cerr << "fedsim: stopped by signal " << sig << "; no partial file was left\n";
  return 128 + sig;
}

// Prints the error and returns the exit code; on one of several MPI ranks ends the job instead.
int fail(int code, const std::string& line) {
  if (fedsim::mpi::size() > 1) {
    std::cerr << "fedsim: " << (code == 2 ? "error: " : "") << "rank " << fedsim::mpi::rank() << " of "
              << fedsim::mpi::size() << ": " << line << std::endl;
    fedsim::mpi::abort_job(code);
  }
  std::cerr << "fedsim: " << (code == 2 ? "error: " : "") << line << "\n";
  return code;
}

int run(int argc, char** argv) {
  // Long cache builds (pretraining, the U2S generator, MAS-GPT's agents) stop at their next step
  // once SIGINT/SIGTERM set the stop flag; their temporaries go as the stack unwinds.
  fedsim::cache::set_cancel_check(&fedsim::stop_signal);
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
      std::cout << kUsage;
      return args.empty() ? 2 : 0;
    }
    if (args[0] == "--version" || args[0] == "version") {
      fedsim::models::Runtime rt(argc, argv);
      std::cout << "fedsim " << FEDSIM_VERSION_STRING << " (" << fedsim::models::Runtime::describe() << "; "
                << fedsim::mpi::describe() << ")\n";
      return 0;
    }
    const std::string cmd = args[0];
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    // Under MPI only these spread their work; any other command runs once, on rank 0.
    const bool spreads = cmd == "run" || cmd == "sweep" || (cmd == "bench" && !rest.empty() && rest[0] == "fl");
    if (fedsim::mpi::size() > 1 && !spreads) {
      if (!fedsim::mpi::is_root()) return 0;
      std::cerr << "fedsim: " << cmd << " runs on rank 0 alone; ranks 1-" << fedsim::mpi::size() - 1 << " idle\n";
    }
    if (cmd == "run") return fedsim::cli::cmd_run(rest, argc, argv);
    if (cmd == "validate") return fedsim::cli::cmd_validate(rest);
    if (cmd == "config") return fedsim::cli::cmd_config(rest);
    if (cmd == "data") return fedsim::cli::cmd_data(rest);
    if (cmd == "bench" && !rest.empty() && rest[0] == "events")
      return fedsim::cli::cmd_bench_events(std::vector<std::string>(rest.begin() + 1, rest.end()));
    if (cmd == "bench") return fedsim::cli::cmd_bench(rest, argc, argv);
    if (cmd == "sweep") return fedsim::cli::cmd_sweep(rest, argc, argv);
    if (cmd == "results") return fedsim::cli::cmd_results(rest);
    if (cmd == "masgpt") return fedsim::cli::cmd_masgpt(rest, argc, argv);
    if (cmd == "model") return fedsim::cli::cmd_model(rest, argc, argv);
    if (cmd == "export") return fedsim::cli::cmd_export(rest);
    throw fedsim::UserError("unknown command '" + cmd +
                            "'; accepted: run, validate, config, bench, data, sweep, results, masgpt, model, export (see "
                            "fedsim --help)");
  } catch (const fedsim::Stopped& stop) {
    // A stop outside a checkpointed run (data, import, between sweep points): whatever was
    // being written was removed as the stack unwound.
    return stopped(stop.signal);
  } catch (const fedsim::cache::Cancelled& stop) {  // the same, inside a cache build (pretraining, ...)
    return stopped(stop.signal);
  } catch (const fedsim::UserError& e) {
    return fail(2, e.what());
  } catch (const po::error& e) {
    return fail(2, std::string(e.what()) + " (see fedsim --help)");
  } catch (const std::exception& e) {
    return fail(1, e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<fedsim::mpi::Session> mpi;
  try {
    mpi = std::make_unique<fedsim::mpi::Session>(argc, argv);
    fedsim::mpi::share_node_cores(argc, argv);  // before Kokkos starts (run's Runtime)
  } catch (const fedsim::UserError& e) {
    return fail(2, e.what());
  }
  return run(argc, argv);
}
