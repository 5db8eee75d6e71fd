// Checks yaml-cpp does not make: yaml-cpp 0.7 keeps both entries of a key written twice in one
// mapping and lookups return the first, so a repeated key or section was silently ignored.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

namespace fedsim::sim {

// UserError "<source>: key 'federation.rounds' appears twice (lines 3 and 9); each key may
// appear once" for the first key repeated in any mapping of `root` (nested ones included).
void check_duplicate_keys(const YAML::Node& root, const std::string& source);

}  // namespace fedsim::sim
