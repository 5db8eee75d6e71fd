// Field-by-field archives for simulation checkpoints. A type lists its fields once, in
//   template <class Ar> void fields(Ar& ar) { ar(a, b, c); }
// and the same list writes and reads it (no mirrored save/restore code). Values are stored
// one field at a time as little-endian bytes of their own width, never as raw structs, so no
// padding byte reaches the file and identical states give identical bytes. The reader checks
// every length against what is left, every bool against {0, 1} and every enum against its
// range (`archive_enum_count(E)`, found by argument-dependent lookup), so a truncated, foreign
// or corrupt blob fails with a UserError instead of loading invalid values.
//
// History that only grows (the results' rows, the job timeline) is marked `appended(v)`: with a
// journal attached (sim/journal.hpp) the archive holds only its length and the journal receives
// the elements added since the last checkpoint, so a checkpoint costs what the state holds, not
// what the run has done so far. Without a journal the whole vector is stored inline.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "common/error.hpp"
#include "sim/journal.hpp"

namespace fedsim::sim {

// A vector that only grows between checkpoints (elements never change once added).
template <class T>
struct Appended {
  std::vector<T>& v;
};
template <class T>
Appended<T> appended(std::vector<T>& v) {
  return {v};
}
template <class T>
Appended<T> appended(const std::vector<T>& v) {
  return {const_cast<std::vector<T>&>(v)};  // fields() only reads through a writer
}

namespace archive_detail {
template <class T, class Ar, class = void>
struct has_fields : std::false_type {};
template <class T, class Ar>
struct has_fields<T, Ar, std::void_t<decltype(std::declval<T&>().fields(std::declval<Ar&>()))>> : std::true_type {};
template <class T>
inline constexpr bool is_plain = std::is_arithmetic<T>::value && !std::is_same<T, bool>::value;
}  // namespace archive_detail

// A writer made with CountOnly stores nothing and only counts bytes: a first pass with it sizes
// the buffer of the real pass exactly, so a checkpoint of a large state costs one copy of it.
class ArchiveWriter {
 public:
  struct CountOnly {};
  ArchiveWriter() = default;
  explicit ArchiveWriter(CountOnly) : counting_(true) {}
  // Appended vectors go to `j` (elements since its marks) instead of inline.
  void attach(Journal* j) { journal_ = j; }
  void reserve(size_t n) { buf_.reserve(n); }
  size_t size() const { return counting_ ? count_ : buf_.size(); }
  std::vector<uint8_t> take() { return std::move(buf_); }

  template <class... T>
  void operator()(const T&... v) {
    (put(v), ...);
  }

 private:
  template <class T>
  void put(const T& v) {
    if constexpr (std::is_same<T, bool>::value) {
      put(static_cast<uint8_t>(v ? 1 : 0));
    } else if constexpr (std::is_enum<T>::value) {
      put(static_cast<std::underlying_type_t<T>>(v));
    } else if constexpr (archive_detail::is_plain<T>) {
      append(&v, sizeof(T));
    } else if constexpr (archive_detail::has_fields<T, ArchiveWriter>::value) {
      const_cast<T&>(v).fields(*this);  // fields() only reads through a writer
    } else {
      static_assert(sizeof(T) == 0, "no archive rule for this type: give it fields(Ar&)");
    }
  }
  template <class T>
  void put(const std::vector<T>& v) {
    put(static_cast<uint64_t>(v.size()));
    if constexpr (archive_detail::is_plain<T>)
      append(v.data(), v.size() * sizeof(T));
    else
      for (const auto& x : v) put(static_cast<const T&>(x));
  }
  void put(const std::vector<bool>& v) {
    put(static_cast<uint64_t>(v.size()));
    for (bool b : v) put(b);
  }
  template <class T, size_t N>
  void put(const std::array<T, N>& v) {
    for (const auto& x : v) put(x);
  }
  void put(const std::string& s) {
    put(static_cast<uint64_t>(s.size()));
    append(s.data(), s.size());
  }
  template <class T>
  void put(const Appended<T>& a) {
    if (!journal_) {
      put(a.v);
      return;
    }
    const size_t stream = stream_++;
    put(static_cast<uint64_t>(a.v.size()));
    if (counting_) return;
    const uint64_t from = journal_->mark(stream);
    FEDSIM_ASSERT_MSG(from <= a.v.size(), "appended history shrank: " << a.v.size() << " < " << from);
    ArchiveWriter seg;
    for (uint64_t i = from; i < a.v.size(); ++i) seg.put(a.v[i]);
    journal_->add(stream, a.v.size() - from, seg.take());
  }
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
  Journal* journal_ = nullptr;
  size_t stream_ = 0;
};

class ArchiveReader {
 public:
  ArchiveReader(const std::vector<uint8_t>& b, std::string what) : b_(b), what_(std::move(what)) {}
  // Appended vectors come from `j` (loaded) instead of inline.
  void attach(const Journal* j) { journal_ = j; }
  template <class... T>
  void operator()(T&&... v) {  // lvalues, and appended(...) temporaries
    (get(v), ...);
  }
  bool done() const { return pos_ == b_.size(); }
  [[noreturn]] void fail() const { throw UserError(what_ + ": truncated or corrupt simulation state"); }
  // Element counts read from the blob must fit in what is left (each element takes at least one byte).
  uint64_t count() {
    uint64_t n = 0;
    get(n);
    if (n > b_.size() - pos_) fail();
    return n;
  }

 private:
  template <class T>
  void get(T& v) {
    if constexpr (std::is_same<T, bool>::value) {
      uint8_t x = 0;
      get(x);
      if (x > 1) fail();
      v = x != 0;
    } else if constexpr (std::is_enum<T>::value) {
      std::underlying_type_t<T> x{};
      get(x);
      if (static_cast<uint64_t>(x) >= static_cast<uint64_t>(archive_enum_count(T{}))) fail();
      v = static_cast<T>(x);
    } else if constexpr (archive_detail::is_plain<T>) {
      if (sizeof(T) > b_.size() - pos_) fail();
      std::memcpy(&v, b_.data() + pos_, sizeof(T));
      pos_ += sizeof(T);
    } else if constexpr (archive_detail::has_fields<T, ArchiveReader>::value) {
      v.fields(*this);
    } else {
      static_assert(sizeof(T) == 0, "no archive rule for this type: give it fields(Ar&)");
    }
  }
  template <class T>
  void get(std::vector<T>& v) {
    const uint64_t n = count();
    if constexpr (archive_detail::is_plain<T>) {
      if (n > (b_.size() - pos_) / sizeof(T)) fail();
      v.resize(n);
      if (n) std::memcpy(v.data(), b_.data() + pos_, n * sizeof(T));
      pos_ += n * sizeof(T);
    } else {
      v.assign(n, T{});
      for (auto& x : v) get(x);
    }
  }
  void get(std::vector<bool>& v) {
    const uint64_t n = count();
    v.assign(n, false);
    for (uint64_t i = 0; i < n; ++i) {
      bool b = false;
      get(b);
      v[i] = b;
    }
  }
  template <class T, size_t N>
  void get(std::array<T, N>& v) {
    for (auto& x : v) get(x);
  }
  void get(std::string& s) {
    const uint64_t n = count();
    s.assign(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
  }
  template <class T>
  void get(Appended<T>& a) {
    if (!journal_) {
      get(a.v);
      return;
    }
    const size_t stream = stream_++;
    uint64_t n = 0;
    get(n);
    static const Journal::Stream kNone;  // a history still empty has no segment
    const Journal::Stream* s = journal_->stream(stream);
    if (!s) s = &kNone;
    // Each element takes at least one byte: a count beyond the bytes is damage, not a size.
    if (s->count != n || n > s->bytes.size()) fail();
    ArchiveReader r(s->bytes, what_);
    a.v.assign(n, T{});
    for (auto& x : a.v) r.get(x);
    if (!r.done()) fail();
  }
  template <class T>
  void get(Appended<T>&& a) {
    get(a);
  }
  const std::vector<uint8_t>& b_;
  std::string what_;
  size_t pos_ = 0;
  const Journal* journal_ = nullptr;
  size_t stream_ = 0;
};

}  // namespace fedsim::sim
