// AdvBench's advbench.csv (benchmarks.hpp): RFC 4180 CSV as Python's csv module and pandas
// read it. Upstream loads it with `datasets.load_dataset("csv", ...)` (pandas underneath), so a
// field may be quoted ("..."), a quote inside a quoted field is doubled (""), a quoted field may
// span lines, records end with LF or CRLF, blank lines are skipped and a UTF-8 byte-order mark
// is dropped. Like those readers, a quote inside an unquoted field is kept as a character.
#include <string>
#include <vector>

#include "common/error.hpp"
#include "datasets/benchmarks.hpp"
#include "datasets/json_text.hpp"

namespace fedsim::datasets {
namespace {

struct Record {
  int line = 0;  // 1-based line where the record starts
  std::vector<std::string> fields;
};

UserError csv_error(const std::string& path, int line, const std::string& msg) {
  return UserError(path + ":" + std::to_string(line) + ": " + msg);
}

// Length of the UTF-8 sequence starting at t[i], or 0 if it is not well formed (RFC 3629).
size_t utf8_length(const std::string& t, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(t[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
  if (n == 0 || i + n > t.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  const unsigned char c1 = b(i + 1);
  if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0) || (c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 >= 0x90))
    return 0;  // overlong, surrogate or beyond U+10FFFF
  return n;
}

void check_utf8(const std::string& path, const std::string& t) {
  int line = 1;
  for (size_t i = 0; i < t.size();) {
    const size_t n = utf8_length(t, i);
    if (n == 0)
      throw csv_error(path, line, "invalid UTF-8 (byte " + std::to_string(i) + "); expected a UTF-8 text file");
    line += t[i] == '\n';
    i += n;
  }
}

std::vector<Record> parse_csv(const std::string& path, const std::string& t) {
  std::vector<Record> out;
  size_t i = t.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
  int line = 1;
  while (i < t.size()) {
    Record r;
    r.line = line;
    std::string field;
    bool end_of_record = false;
    while (!end_of_record) {
      if (i < t.size() && t[i] == '"') {  // quoted field
        const int opened = line;
        for (++i;; ++i) {
          if (i >= t.size())
            throw csv_error(path, opened, "a quoted field opened on this line is never closed; expected a closing \"");
          if (t[i] == '"') {
            if (i + 1 < t.size() && t[i + 1] == '"') {
              field += '"';
              ++i;
              continue;
            }
            ++i;
            break;
          }
          line += t[i] == '\n';
          field += t[i];
        }
        if (i < t.size() && t[i] != ',' && t[i] != '\n' && !(t[i] == '\r' && i + 1 < t.size() && t[i + 1] == '\n'))
          throw csv_error(
              path, line,
              "text after the closing quote of field " + std::to_string(r.fields.size() + 1) +
                  "; expected a comma or the end of the line (write a quote inside a quoted field as \"\")");
      } else {
        while (i < t.size() && t[i] != ',' && t[i] != '\n' && !(t[i] == '\r' && i + 1 < t.size() && t[i + 1] == '\n'))
          field += t[i++];
      }
      r.fields.push_back(std::move(field));
      field.clear();
      if (i < t.size() && t[i] == ',') {
        ++i;
        continue;
      }
      if (i < t.size()) {
        i += t[i] == '\r' ? 2 : 1;
        ++line;
      }
      end_of_record = true;
    }
    const bool blank = r.fields.size() == 1 && r.fields[0].find_first_not_of(" \t\r") == std::string::npos;
    if (!blank) out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

std::vector<BenchQuestion> read_advbench_csv(const std::string& path) {
  const std::string text = json_text::read_file(path);
  check_utf8(path, text);
  const std::vector<Record> rows = parse_csv(path, text);
  if (rows.empty()) throw UserError(path + ": empty; expected the header 'goal,target' and one request per line");
  const Record& head = rows[0];
  int goal = -1, target = -1;
  for (size_t k = 0; k < head.fields.size(); ++k) {
    if (head.fields[k] == "goal") goal = static_cast<int>(k);
    if (head.fields[k] == "target") target = static_cast<int>(k);
  }
  if (goal < 0 || target < 0) {
    std::string got;
    for (const auto& f : head.fields) got += (got.empty() ? "" : ",") + f;
    throw csv_error(path, head.line,
                    "expected a header with the columns goal and target (AdvBench: 'goal,target'), got '" + got + "'");
  }
  std::vector<BenchQuestion> out;
  for (size_t n = 1; n < rows.size(); ++n) {
    const Record& r = rows[n];
    if (r.fields.size() != head.fields.size())
      throw csv_error(path, r.line,
                      "expected " + std::to_string(head.fields.size()) + " fields as in the header, got " +
                          std::to_string(r.fields.size()) + " (quote a field that holds a comma)");
    if (r.fields[static_cast<size_t>(goal)].empty())
      throw csv_error(path, r.line, "the goal is empty; expected the harmful request to answer");
    BenchQuestion q;
    q.id = static_cast<int64_t>(n);
    q.turns = {r.fields[static_cast<size_t>(goal)]};
    q.reference = {r.fields[static_cast<size_t>(target)]};
    q.line = r.line;
    out.push_back(std::move(q));
  }
  if (out.empty()) throw csv_error(path, head.line, "holds only the header; expected at least one goal,target row");
  return out;
}

}  // namespace fedsim::datasets
