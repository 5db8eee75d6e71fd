#include "models/hf/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.hpp"
#include "models/hf/half.hpp"

namespace fedsim::models {

const char* st_dtype_name(StDtype d) {
  switch (d) {
    case StDtype::f32: return "F32";
    case StDtype::bf16: return "BF16";
    case StDtype::f16: return "F16";
  }
  return "?";
}
int st_dtype_size(StDtype d) { return d == StDtype::f32 ? 4 : 2; }

StDtype parse_st_dtype(const std::string& s, const std::string& what) {
  if (s == "F32" || s == "f32" || s == "fp32") return StDtype::f32;
  if (s == "BF16" || s == "bf16") return StDtype::bf16;
  if (s == "F16" || s == "f16" || s == "fp16") return StDtype::f16;
  throw UserError(what + ": dtype '" + s + "' is not supported; accepted: F32, BF16, F16");
}

int64_t StTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

namespace {
static_assert(sizeof(float) == 4, "IEEE binary32 floats");
bool little_endian() {
  const uint16_t x = 1;
  uint8_t b;
  std::memcpy(&b, &x, 1);
  return b == 1;
}
}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  FEDSIM_ASSERT_MSG(little_endian(), "safetensors data are little-endian; this host is not");
  const std::string at = path + ": ";
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw UserError(at + "cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw UserError(at + "cannot stat (" + std::strerror(errno) + ")");
  }
  size_ = static_cast<int64_t>(st.st_size);
  if (size_ < 8) {
    ::close(fd);
    throw UserError(at + "file of " + std::to_string(size_) + " bytes is shorter than the 8-byte header length" +
                    "\nHINT: the file is truncated or not a safetensors file");
  }
  void* m = ::mmap(nullptr, static_cast<size_t>(size_), PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) throw UserError(at + "cannot memory-map (" + std::strerror(errno) + ")");
  map_ = static_cast<const uint8_t*>(m);
  try {
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | map_[i];
    if (n > static_cast<uint64_t>(size_ - 8))
      throw UserError(at + "header length " + std::to_string(n) + " runs past the end of the file (" +
                      std::to_string(size_) + " bytes)\nHINT: the file is truncated or not a safetensors file");
    data_ = map_ + 8 + n;
    const int64_t data_size = size_ - 8 - static_cast<int64_t>(n);
    nlohmann::json h;
    try {
      h = nlohmann::json::parse(reinterpret_cast<const char*>(map_ + 8), reinterpret_cast<const char*>(data_));
    } catch (const nlohmann::json::exception& e) {
      throw UserError(at + "header is not valid JSON (" + e.what() + ")");
    }
    if (!h.is_object()) throw UserError(at + "header is not a JSON object");
    for (auto it = h.begin(); it != h.end(); ++it) {
      const std::string& name = it.key();
      const nlohmann::json& v = it.value();
      if (name == "__metadata__") {
        if (v.is_object())
          for (auto m2 = v.begin(); m2 != v.end(); ++m2)
            if (m2.value().is_string()) metadata_[m2.key()] = m2.value().get<std::string>();
        continue;
      }
      const std::string tat = at + "tensor '" + name + "': ";
      if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
        throw UserError(tat + "expected an object with dtype, shape and data_offsets");
      if (!v["dtype"].is_string()) throw UserError(tat + "dtype is not a string");
      StTensor t;
      t.name = name;
      t.dtype = parse_st_dtype(v["dtype"].get<std::string>(), tat.substr(0, tat.size() - 2));
      const nlohmann::json& shape = v["shape"];
      if (!shape.is_array()) throw UserError(tat + "shape must be a list of non-negative integers");
      int64_t numel = 1;
      for (const auto& d : shape) {
        if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > (int64_t(1) << 40))
          throw UserError(tat + "shape must be a list of non-negative integers (below 2^40)");
        t.shape.push_back(d.get<int64_t>());
        numel = (numel > (int64_t(1) << 60) / std::max<int64_t>(1, d.get<int64_t>())) ? (int64_t(1) << 61)
                                                                                       : numel * d.get<int64_t>();
      }
      const nlohmann::json& off = v["data_offsets"];
      if (!off.is_array() || off.size() != 2 || !off[0].is_number_integer() || !off[1].is_number_integer() ||
          off[0].get<int64_t>() < 0 || off[1].get<int64_t>() < off[0].get<int64_t>())
        throw UserError(tat + "data_offsets must be two integers [begin, end] with 0 <= begin <= end");
      t.begin = off[0].get<int64_t>();
      t.end = off[1].get<int64_t>();
      const std::string offs = "[" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]";
      if (t.end > data_size)
        throw UserError(tat + "data_offsets " + offs + " run past the end of the data (" + std::to_string(data_size) +
                        " bytes)\nHINT: the file is truncated");
      if (t.end - t.begin != numel * st_dtype_size(t.dtype))
        throw UserError(tat + "data_offsets " + offs + " hold " + std::to_string(t.end - t.begin) + " bytes; shape " +
                        shape_str(t.shape) + " of " + st_dtype_name(t.dtype) + " needs " +
                        std::to_string(numel * st_dtype_size(t.dtype)));
      tensors_.push_back(std::move(t));
    }
    // The data must be covered exactly: sorted by offset, each tensor starts where the last ended.
    std::vector<const StTensor*> by_off;
    for (const StTensor& t : tensors_) by_off.push_back(&t);
    std::sort(by_off.begin(), by_off.end(), [](const StTensor* a, const StTensor* b) {
      return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    int64_t covered = 0;
    const StTensor* prev = nullptr;
    for (const StTensor* t : by_off) {
      if (t->begin < covered)
        throw UserError(at + "tensors '" + prev->name + "' and '" + t->name + "' overlap (bytes [" +
                        std::to_string(prev->begin) + ", " + std::to_string(prev->end) + ") and [" +
                        std::to_string(t->begin) + ", " + std::to_string(t->end) + "))");
      if (t->begin > covered)
        throw UserError(at + "bytes [" + std::to_string(covered) + ", " + std::to_string(t->begin) +
                        ") of the data belong to no tensor");
      covered = t->end;
      prev = t;
    }
    if (covered != data_size)
      throw UserError(at + "bytes [" + std::to_string(covered) + ", " + std::to_string(data_size) +
                      ") of the data belong to no tensor");
    for (size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
  } catch (...) {
    ::munmap(const_cast<uint8_t*>(map_), static_cast<size_t>(size_));
    throw;
  }
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& o) noexcept
    : path_(std::move(o.path_)), map_(o.map_), size_(o.size_), data_(o.data_), tensors_(std::move(o.tensors_)),
      index_(std::move(o.index_)), metadata_(std::move(o.metadata_)) {
  o.map_ = nullptr;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(const_cast<uint8_t*>(map_), static_cast<size_t>(size_));
}

const StTensor* SafetensorsFile::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void SafetensorsFile::read(const StTensor& t, int64_t i0, int64_t n, float* out) const {
  FEDSIM_ASSERT(i0 >= 0 && n >= 0 && i0 + n <= t.numel());
  const int sz = st_dtype_size(t.dtype);
  const uint8_t* p = data_ + t.begin + i0 * sz;
  for (int64_t i = 0; i < n; ++i, p += sz) {  // memcpy: the data need not be aligned
    if (t.dtype == StDtype::f32) {
      std::memcpy(out + i, p, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, p, 2);
      out[i] = t.dtype == StDtype::bf16 ? bf16_to_float(h) : f16_to_float(h);
    }
  }
}

void SafetensorsFile::release(const StTensor& t) const {
  const int64_t page = ::sysconf(_SC_PAGESIZE);
  const int64_t first = ((data_ - map_) + t.begin + page - 1) / page * page, last = ((data_ - map_) + t.end) / page * page;
  if (last > first) ::madvise(const_cast<uint8_t*>(map_) + first, static_cast<size_t>(last - first), MADV_DONTNEED);
}

void write_safetensors(const std::string& path, const std::vector<StSpec>& specs,
                       const std::function<void(size_t, float*)>& fill,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json h = nlohmann::json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  int64_t off = 0, largest = 0;
  for (const StSpec& s : specs) {
    int64_t n = 1;
    for (int64_t d : s.shape) n *= d;
    const int64_t bytes = n * st_dtype_size(s.dtype);
    h[s.name] = {{"dtype", st_dtype_name(s.dtype)}, {"shape", s.shape}, {"data_offsets", {off, off + bytes}}};
    off += bytes;
    largest = std::max(largest, n);
  }
  std::string header = h.dump();
  header.append((8 - header.size() % 8) % 8, ' ');
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw UserError(tmp + ": cannot open for writing");
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>((uint64_t(header.size()) >> (8 * i)) & 0xff);
    f.write(reinterpret_cast<const char*>(len), 8);
    f.write(header.data(), static_cast<std::streamsize>(header.size()));
    std::vector<float> vals(static_cast<size_t>(largest));
    std::vector<uint16_t> half(static_cast<size_t>(largest));
    for (size_t i = 0; i < specs.size(); ++i) {
      int64_t n = 1;
      for (int64_t d : specs[i].shape) n *= d;
      fill(i, vals.data());
      if (specs[i].dtype == StDtype::f32) {
        f.write(reinterpret_cast<const char*>(vals.data()), static_cast<std::streamsize>(n * 4));
        continue;
      }
      for (int64_t j = 0; j < n; ++j)
        half[size_t(j)] = specs[i].dtype == StDtype::bf16 ? float_to_bf16(vals[size_t(j)]) : float_to_f16(vals[size_t(j)]);
      f.write(reinterpret_cast<const char*>(half.data()), static_cast<std::streamsize>(n * 2));
    }
    if (!f.flush()) throw UserError(tmp + ": write failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw UserError(path + ": cannot rename from " + tmp);
}

}  // namespace fedsim::models
