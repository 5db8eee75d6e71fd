// The config schema's visitor: every key is declared once, as a call on a Visitor (its key, the
// field it fills, accepted values, a one-line doc). Each layer declares the keys of its own
// specs with it (datasets: the synthetic generator's and the U2S corpus's; sim: the rest; the
// features: their sections); sim/config.cpp implements loading, key listing, the resolved YAML
// and configs/reference.yaml as Visitors. Enum choices list their YAML spellings once, in a
// names(E) table found by argument-dependent lookup.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace fedsim {

inline constexpr int64_t kConfigMaxInt = std::numeric_limits<int64_t>::max();
inline constexpr double kConfigHuge = 1e300;  // "no upper bound" for numbers

struct Visitor {
  virtual ~Visitor() = default;
  virtual void section(const char* name, const char* doc) = 0;
  virtual void integer(const char* key, int64_t& v, int64_t lo, int64_t hi, const char* doc) = 0;
  virtual void number(const char* key, double& v, double lo, double hi, const char* doc) = 0;
  virtual void text(const char* key, std::string& v, const char* doc) = 0;
  // A name from a list fixed elsewhere (presets of another layer).
  virtual void choice(const char* key, std::string& v, const std::vector<std::string>& accepted, const char* doc) = 0;
  // One of a fixed set of spellings, held as its index: an enum (option) or on/off (flag).
  virtual void option(const char* key, int& index, const std::vector<std::string>& names, const char* doc) = 0;
  virtual void list(const char* key, std::vector<std::string>& v, const std::vector<std::string>& accepted,
                    const char* doc) = 0;

  // Integer fields of other widths (specs keep the types their code uses); lo and hi fit them.
  void integer(const char* key, int& v, int64_t lo, int64_t hi, const char* doc) { narrow(key, v, lo, hi, doc); }
  void integer(const char* key, size_t& v, int64_t lo, int64_t hi, const char* doc) { narrow(key, v, lo, hi, doc); }
  // An enum choice; names(E) (found by argument-dependent lookup) lists its spellings in order.
  template <class E>
  void pick(const char* key, E& v, const char* doc) {
    int i = static_cast<int>(v);
    option(key, i, names(v), doc);
    v = static_cast<E>(i);
  }
  // on | off (or off | on, as the key lists them), held as a bool.
  void flag(const char* key, bool& v, const char* doc, bool off_first = false) {
    static const std::vector<std::string> on_off{"on", "off"}, off_on{"off", "on"};
    int i = (v != off_first) ? 0 : 1;
    option(key, i, off_first ? off_on : on_off, doc);
    v = (i == 0) != off_first;
  }

 private:
  template <class I>
  void narrow(const char* key, I& v, int64_t lo, int64_t hi, const char* doc) {
    int64_t x = static_cast<int64_t>(v);
    integer(key, x, lo, hi, doc);
    v = static_cast<I>(x);
  }
};

// Defines names(E): an enum's YAML spellings in enum order (one table per enum, in a .cpp).
#define FEDSIM_ENUM_NAMES(E, ...)                           \
  const std::vector<std::string>& names(E) {                \
    static const std::vector<std::string> n{__VA_ARGS__};   \
    return n;                                               \
  }

// The YAML spelling of an enum value.
template <class E>
const std::string& name_of(E e) {
  return names(e)[static_cast<size_t>(e)];
}

// The enum value spelled `s` (command-line options), one of `only` where that is not empty;
// UserError naming `what`, the value and the accepted spellings.
template <class E>
E parse_name(const std::string& s, const std::string& what, const std::vector<E>& only = {}) {
  const std::vector<std::string>& n = names(E{});
  std::string accepted;
  for (size_t i = 0; i < n.size(); ++i) {
    const E e = static_cast<E>(i);
    bool ok = only.empty();
    for (const E o : only) ok = ok || o == e;
    if (!ok) continue;
    if (n[i] == s) return e;
    accepted += (accepted.empty() ? "" : ", ") + n[i];
  }
  throw UserError(what + ": '" + s + "' is not accepted; accepted: " + accepted);
}

}  // namespace fedsim
