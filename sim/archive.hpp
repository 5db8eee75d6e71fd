// Byte archives for simulation checkpoints: typed little-endian values and vectors, written in
// one order and read back in the same order. The reader checks every length against what is
// left, so a truncated or foreign blob fails with a UserError instead of reading garbage.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "common/error.hpp"

namespace fedsim::sim {

// A writer made with count_only stores nothing and only counts bytes: a first pass with it sizes
// the buffer of the real pass exactly, so a checkpoint of a large state costs one copy of it in
// memory, not the up to three a growing vector passes through.
class ByteWriter {
 public:
  struct CountOnly {};
  ByteWriter() = default;
  explicit ByteWriter(CountOnly) : counting_(true) {}
  void reserve(size_t n) { buf_.reserve(n); }
  size_t size() const { return counting_ ? count_ : buf_.size(); }
  template <class T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable<T>::value, "plain values only");
    append(&v, sizeof(T));
  }
  template <class T>
  void put_vec(const std::vector<T>& v) {
    static_assert(std::is_trivially_copyable<T>::value, "plain values only");
    put<uint64_t>(v.size());
    append(v.data(), v.size() * sizeof(T));
  }
  void put_bools(const std::vector<bool>& v) {
    std::vector<uint8_t> b(v.begin(), v.end());
    put_vec(b);
  }
  void put_str(const std::string& s) { put_vec(std::vector<char>(s.begin(), s.end())); }
  const std::vector<uint8_t>& bytes() const { return buf_; }
  std::vector<uint8_t> take() { return std::move(buf_); }

 private:
  void append(const void* p, size_t n) {
    if (counting_) {
      count_ += n;
      return;
    }
    const auto* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
  }
  std::vector<uint8_t> buf_;
  bool counting_ = false;
  size_t count_ = 0;
};

class ByteReader {
 public:
  ByteReader(const std::vector<uint8_t>& b, std::string what) : b_(b), what_(std::move(what)) {}
  template <class T>
  T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  template <class T>
  std::vector<T> get_vec() {
    const auto n = get<uint64_t>();
    if (n > (b_.size() - pos_) / sizeof(T)) fail();
    std::vector<T> v(n);
    if (n) std::memcpy(v.data(), b_.data() + pos_, n * sizeof(T));
    pos_ += n * sizeof(T);
    return v;
  }
  std::vector<bool> get_bools() {
    const auto b = get_vec<uint8_t>();
    return std::vector<bool>(b.begin(), b.end());
  }
  std::string get_str() {
    const auto v = get_vec<char>();
    return std::string(v.begin(), v.end());
  }
  bool done() const { return pos_ == b_.size(); }
  [[noreturn]] void fail() const { throw UserError(what_ + ": truncated or corrupt simulation state"); }

 private:
  void need(size_t n) const {
    if (n > b_.size() - pos_) fail();
  }
  const std::vector<uint8_t>& b_;
  std::string what_;
  size_t pos_ = 0;
};

}  // namespace fedsim::sim
