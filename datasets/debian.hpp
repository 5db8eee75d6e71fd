// Real text from Debian packages, fetched with `apt-get download` and unpacked with
// `dpkg-deb -x` into a temporary folder (nothing is installed). FORMAT.md, "Debian sources".
#pragma once

#include <string>
#include <vector>

#include "datasets/dataset.hpp"

namespace fedsim::datasets {

struct DebianOptions {
  std::vector<std::string> packages;  // empty = the default list of the recipe
  int max_per_client = 2000;          // samples (headwords or fortunes) kept per client
  int n_test = 20;                    // held-out samples per client (freedict)
  uint64_t seed = 1;                  // which entries are kept and held out
  std::string work_dir;               // "" = a fresh folder under the system temp dir
};

// FreeDict dictionaries (dict-freedict-<src>-<dst>): one client per package, samples
// "translate <src>><dst>: <headword>" -> first translation; kind sft.
FederatedDataset debian_freedict(const DebianOptions& o);
// fortunes-* collections: one client per fortune file; kind corpus (text in `response`).
FederatedDataset debian_fortunes(const DebianOptions& o);
std::vector<std::string> default_freedict_packages();
std::vector<std::string> default_fortunes_packages();
// True when `apt-get download` can reach the archive (tests skip otherwise).
bool debian_archive_reachable();

}  // namespace fedsim::datasets
