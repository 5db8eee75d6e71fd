#pragma once

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
int cmd_masgpt(const std::vector<std::string>& args, int& argc, char** argv);  // cmd_masgpt.cpp

}  // namespace fedsim::cli
