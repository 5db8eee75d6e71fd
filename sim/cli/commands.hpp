#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fedsim::cli {

int cmd_run(const std::vector<std::string>& args, int& argc, char** argv);
int cmd_validate(const std::vector<std::string>& args);
int cmd_config(const std::vector<std::string>& args);
int cmd_data(const std::vector<std::string>& args);  // cmd_data.cpp
int cmd_bench(const std::vector<std::string>& args, int& argc, char** argv);
int cmd_sweep(const std::vector<std::string>& args, int& argc, char** argv);  // cmd_sweep.cpp
int cmd_results(const std::vector<std::string>& args);                        // cmd_results.cpp
int cmd_bench_events(const std::vector<std::string>& args);  // cmd_bench_events.cpp
// fedsim bench model --hf DIR (cmd_model.cpp): throughput, or with clients > 0 the memory of a
// batched round of that many clients.
struct HfBenchArgs {
  std::string dir, dtype = "fp32", targets = "q_proj,v_proj";
  int seq = 256, rank = 8, clients = 0;
  int64_t memory_mb = 1024;
};
int bench_hf(const HfBenchArgs& a, int batch, double seconds, bool json, int& argc, char** argv);
int cmd_model(const std::vector<std::string>& args, int& argc, char** argv);  // cmd_model.cpp: model init, forward
int cmd_export(const std::vector<std::string>& args);  // cmd_model.cpp: export adapter
int cmd_masgpt(const std::vector<std::string>& args, int& argc, char** argv);  // cmd_masgpt.cpp

}  // namespace fedsim::cli
