// Column descriptors for HDF5 tables: a table is a list of columns, each one dataset in a group
// with one value per row, declared once with its name, type, unit and meaning. The same list
// writes the table, reads it back (every column checked to hold one value per row) and is the
// field list a format document must show (tests/sim/test_results.cpp checks
// experiments/RESULTS.md against it).
//   RowTable<Row>:  rows are structs; a column is a member of Row.
//   ColumnTable<S>: S holds one std::vector per column (per-client totals and the like).
#pragma once

#include <functional>
#include <type_traits>
#include <string>
#include <vector>

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
    write_.push_back([name, field](const Group& g, const std::vector<Row>& rows) {
      std::vector<T> v;
      v.reserve(rows.size());
      for (const Row& r : rows) v.push_back(r.*field);
      detail::write_column(g, name, v);
    });
    read_.push_back([name, field](const Group& g, std::vector<Row>& rows) {
      const std::vector<T> v = detail::read_checked<T>(g, name, rows.size());
      for (size_t i = 0; i < rows.size(); ++i) rows[i].*field = v[i];
    });
    first_len_.push_back([name](const Group& g) { return detail::read_any<T>(g, name).size(); });
    return *this;
  }
  void write(const Group& g, const std::vector<Row>& rows) const {
    for (const auto& w : write_) w(g, rows);
  }
  // The first column sets the number of rows; every other must hold as many values.
  std::vector<Row> read(const Group& g) const {
    std::vector<Row> rows(first_len_.empty() ? 0 : first_len_.front()(g));
    for (const auto& r : read_) r(g, rows);
    return rows;
  }
  const std::vector<ColumnInfo>& columns() const { return info_; }

 private:
  std::vector<ColumnInfo> info_;
  std::vector<std::function<void(const Group&, const std::vector<Row>&)>> write_;
  std::vector<std::function<void(const Group&, std::vector<Row>&)>> read_;
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
