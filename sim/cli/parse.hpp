// Shared Boost.Program_options plumbing for the sub-commands: the visible options plus at most
// one positional argument (the config, spec, file or target the command works on).
#pragma once

#include <boost/program_options.hpp>

#include <string>
#include <vector>

namespace fedsim::cli {

// Parses `args` against `desc` and, when `name` is set, one positional value stored in *value.
inline boost::program_options::variables_map parse_args(const std::vector<std::string>& args,
                                                        const boost::program_options::options_description& desc,
                                                        const char* name = nullptr, std::string* value = nullptr) {
  namespace po = boost::program_options;
  po::options_description hidden;
  if (name) hidden.add_options()(name, po::value<std::string>(value));
  po::options_description all;
  all.add(desc).add(hidden);
  po::positional_options_description pos;
  if (name) pos.add(name, 1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
  po::notify(vm);
  return vm;
}

}  // namespace fedsim::cli
