// Plain-text traces: comma-separated, a fixed header line, '#' comments. Errors name the file,
// the line and what was expected (UserError).
#pragma once

#include <string>
#include <vector>

namespace fedsim::sim {

struct CsvRow {
  int line = 0;
  std::vector<std::string> fields;
};

class CsvFile {
 public:
  // Reads `path`; the first line that is not blank or a comment must equal `header`.
  CsvFile(const std::string& path, const std::string& header);
  const std::vector<CsvRow>& rows() const { return rows_; }
  double number(const CsvRow& r, size_t field) const;          // finite
  long integer(const CsvRow& r, size_t field, long lo, long hi) const;
  [[noreturn]] void fail(const CsvRow& r, const std::string& what) const;

 private:
  std::string path_;
  std::vector<std::string> names_;
  std::vector<CsvRow> rows_;
};

}  // namespace fedsim::sim
