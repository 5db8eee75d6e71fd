#include "sim/csv.hpp"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/error.hpp"

namespace fedsim::sim {
namespace {
std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::string f;
  std::stringstream ss(line);
  while (std::getline(ss, f, ',')) out.push_back(f);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}
}  // namespace

CsvFile::CsvFile(const std::string& path, const std::string& header) : path_(path), names_(split(header)) {
  std::ifstream is(path);
  if (!is) throw UserError(path + ": cannot read (no such file or not readable)");
  std::string line;
  int line_no = 0;
  bool header_seen = false;
  while (std::getline(is, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    if (!header_seen) {
      if (line != header)
        throw UserError(path + ":" + std::to_string(line_no) + ": expected the header '" + header + "', got '" + line + "'");
      header_seen = true;
      continue;
    }
    CsvRow r{line_no, split(line)};
    if (r.fields.size() != names_.size())
      fail(r, "expected " + std::to_string(names_.size()) + " fields " + header + ", got '" + line + "'");
    rows_.push_back(std::move(r));
  }
  if (!header_seen) throw UserError(path + ": empty; expected the header '" + header + "'");
}

void CsvFile::fail(const CsvRow& r, const std::string& what) const {
  throw UserError(path_ + ":" + std::to_string(r.line) + ": " + what);
}

double CsvFile::number(const CsvRow& r, size_t field) const {
  const std::string& s = r.fields.at(field);
  char* end = nullptr;
  const double x = std::strtod(s.c_str(), &end);
  if (s.empty() || *end || !std::isfinite(x)) fail(r, names_[field] + ": expected a finite number, got '" + s + "'");
  return x;
}

long CsvFile::integer(const CsvRow& r, size_t field, long lo, long hi) const {
  const std::string& s = r.fields.at(field);
  char* end = nullptr;
  const long x = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end) fail(r, names_[field] + ": expected an integer, got '" + s + "'");
  if (x < lo || x > hi)
    fail(r, names_[field] + ": " + s + " is out of range; accepted: " + std::to_string(lo) + " to " + std::to_string(hi));
  return x;
}

}  // namespace fedsim::sim
