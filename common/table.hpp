// Column descriptors for HDF5 tables: a table is a list of columns, each one dataset in a group
// with one value per row, declared once with its name, type, unit and meaning. The same list
// writes the table, reads it back (every column checked to hold one value per row) and is the
// field list a format document must show (tests/sim/test_results.cpp checks
// experiments/RESULTS.md against it).
//   RowTable<Row>:  rows are structs; a column is a member of Row; `list` adds a ragged text
//                   column (a count per row and the strings of every row back to back).
//   ColumnTable<S>: S holds one std::vector per column (per-client totals and the like).
// String columns go through h5::Group::write_strings / read_strings: text as bytes plus end
// offsets, never HDF5's global heap, each dataset with its checksum (common/h5.hpp).
#pragma once

#include <functional>
#include <iterator>
#include <type_traits>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/h5.hpp"

namespace fedsim::h5 {

struct ColumnInfo {
  std::string name, type, unit, doc;
};

template <class T>
const char* column_type_name();
template <>
inline const char* column_type_name<int64_t>() { return "int64"; }
template <>
inline const char* column_type_name<int32_t>() { return "int32"; }
template <>
inline const char* column_type_name<double>() { return "float64"; }
template <>
inline const char* column_type_name<float>() { return "float32"; }
template <>
inline const char* column_type_name<uint8_t>() { return "uint8"; }
template <>
inline const char* column_type_name<std::string>() { return "string"; }

namespace detail {
template <class T>
void write_column(const Group& g, const std::string& name, const std::vector<T>& v) {
  if constexpr (std::is_same<T, std::string>::value)
    g.write_strings(name, v);
  else
    g.write(name, v);
}
template <class T>
std::vector<T> read_any(const Group& g, const std::string& name) {
  if constexpr (std::is_same<T, std::string>::value)
    return g.read_strings(name);
  else
    return g.read<T>(name);
}
// Values in a column, from its shape (h5::Group::length), without reading it.
template <class T>
size_t column_length(const Group& g, const std::string& name) {
  return g.length(name);
}
template <class T>
std::vector<T> read_checked(const Group& g, const std::string& name, size_t n) {
  if constexpr (std::is_same<T, std::string>::value)
    return read_string_column(g, name, n);
  else
    return read_column<T>(g, name, n);
}
}  // namespace detail

template <class Row>
class RowTable {
 public:
  template <class T>
  RowTable& col(const char* name, T Row::*field, const char* unit, const char* doc) {
    info_.push_back({name, column_type_name<T>(), unit, doc});
    write_.push_back([name, field](const Group& g, size_t n, const RowAt& row) {
      std::vector<T> v;
      v.reserve(n);
      for (size_t i = 0; i < n; ++i) v.push_back(row(i).*field);
      detail::write_column(g, name, v);
    });
    read_.push_back([name, field](const Group& g, size_t n, const RowRef& row) {
      std::vector<T> v = detail::read_checked<T>(g, name, n);
      for (size_t i = 0; i < n; ++i) row(i).*field = std::move(v[i]);
    });
    first_len_.push_back([name](const Group& g) { return detail::column_length<T>(g, name); });
    return *this;
  }
  // A ragged text column: `count_name` (int32, strings of each row) and `values_name` (the
  // strings of every row back to back). Read back, the counts must be >= 0 and sum to the values.
  RowTable& list(const char* count_name, const char* values_name, std::vector<std::string> Row::*field,
                 const char* unit, const char* doc) {
    info_.push_back({count_name, column_type_name<int32_t>(), "strings", doc});
    info_.push_back({values_name, column_type_name<std::string>(), unit, doc});
    write_.push_back([count_name, values_name, field](const Group& g, size_t n, const RowAt& row) {
      std::vector<int32_t> count;
      std::vector<std::string> values;
      count.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        const Row& r = row(i);
        count.push_back(static_cast<int32_t>((r.*field).size()));
        values.insert(values.end(), (r.*field).begin(), (r.*field).end());
      }
      g.write(count_name, count);
      g.write_strings(values_name, values);
    });
    read_.push_back([count_name, values_name, field](const Group& g, size_t n, const RowRef& row) {
      const std::vector<int32_t> count = read_column<int32_t>(g, count_name, n);
      std::vector<std::string> values = g.read_strings(values_name);
      size_t at = 0;
      for (size_t i = 0; i < n; ++i) {
        if (count[i] < 0 || static_cast<size_t>(count[i]) > values.size() - at)
          throw UserError(g.where(count_name) + ": value " + std::to_string(count[i]) + " at index " + std::to_string(i) +
                          " overruns the " + std::to_string(values.size()) + " strings of " + g.where(values_name));
        auto& out = row(i).*field;
        out.assign(std::make_move_iterator(values.begin() + static_cast<long>(at)),
                   std::make_move_iterator(values.begin() + static_cast<long>(at + static_cast<size_t>(count[i]))));
        at += static_cast<size_t>(count[i]);
      }
      if (at != values.size())
        throw UserError(g.where(values_name) + ": holds " + std::to_string(values.size()) + " strings but " +
                        g.where(count_name) + " sums to " + std::to_string(at));
    });
    first_len_.push_back([count_name](const Group& g) { return detail::column_length<int32_t>(g, count_name); });
    return *this;
  }
  void write(const Group& g, const std::vector<Row>& rows) const {
    write(g, rows.size(), [&rows](size_t i) -> const Row& { return rows[i]; });
  }
  // Rows that are not one vector (a data set's samples, client after client): row(i) for i < n.
  // Only one column's values are held at a time.
  using RowAt = std::function<const Row&(size_t)>;
  void write(const Group& g, size_t n, const RowAt& row) const {
    for (const auto& w : write_) w(g, n, row);
  }
  // The first column sets the number of rows; every other must hold as many values.
  std::vector<Row> read(const Group& g) const {
    std::vector<Row> rows(length(g));
    read(g, rows.size(), [&rows](size_t i) -> Row& { return rows[i]; });
    return rows;
  }
  // Rows the first column holds (from its shape; nothing is read).
  size_t length(const Group& g) const { return first_len_.empty() ? 0 : first_len_.front()(g); }
  // Into rows that are not one vector: row(i) for i < n, which must equal length(g). Only one
  // column's values are held at a time.
  using RowRef = std::function<Row&(size_t)>;
  void read(const Group& g, size_t n, const RowRef& row) const {
    for (const auto& r : read_) r(g, n, row);
  }
  const std::vector<ColumnInfo>& columns() const { return info_; }

 private:
  std::vector<ColumnInfo> info_;
  std::vector<std::function<void(const Group&, size_t, const RowAt&)>> write_;
  std::vector<std::function<void(const Group&, size_t, const RowRef&)>> read_;
  std::vector<std::function<size_t(const Group&)>> first_len_;
};

template <class S>
class ColumnTable {
 public:
  // `optional` columns are written only when they hold values and read only when present.
  template <class T>
  ColumnTable& col(const char* name, std::vector<T> S::*field, const char* unit, const char* doc, bool optional = false) {
    info_.push_back({name, column_type_name<T>(), unit, doc});
    write_.push_back([name, field, optional](const Group& g, const S& s) {
      if (!optional || !(s.*field).empty()) detail::write_column(g, name, s.*field);
    });
    read_.push_back([name, field, optional](const Group& g, S& s, size_t& n, bool first) {
      if (optional && !g.has(name)) return;
      if (first) {
        s.*field = detail::read_any<T>(g, name);
        n = (s.*field).size();
      } else {
        s.*field = detail::read_checked<T>(g, name, n);
      }
    });
    return *this;
  }
  void write(const Group& g, const S& s) const {
    for (const auto& w : write_) w(g, s);
  }
  void read(const Group& g, S& s) const {
    size_t n = 0;
    for (size_t i = 0; i < read_.size(); ++i) read_[i](g, s, n, i == 0);
  }
  const std::vector<ColumnInfo>& columns() const { return info_; }

 private:
  std::vector<ColumnInfo> info_;
  std::vector<std::function<void(const Group&, const S&)>> write_;
  std::vector<std::function<void(const Group&, S&, size_t&, bool)>> read_;
};

}  // namespace fedsim::h5
