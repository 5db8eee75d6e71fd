// The safetensors format (huggingface/safetensors, docs "Format"): an 8-byte little-endian
// header length N, N bytes of JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]},
// "__metadata__": {...}}, then the data; offsets count from the start of the data, tensors
// cover it without gaps or overlaps. Read through a memory map; written atomically. No Kokkos.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace fedsim::models {

enum class StDtype { f32, bf16, f16 };
const char* st_dtype_name(StDtype d);  // "F32", "BF16", "F16"
int st_dtype_size(StDtype d);
// "F32" | "BF16" | "F16" (also the lower-case spellings fedsim's CLI takes); UserError naming
// `what` otherwise.
StDtype parse_st_dtype(const std::string& s, const std::string& what);

struct StTensor {
  std::string name;
  StDtype dtype = StDtype::f32;
  std::vector<int64_t> shape;
  int64_t begin = 0, end = 0;  // bytes, relative to the start of the data
  int64_t numel() const;
};
std::string shape_str(const std::vector<int64_t>& shape);  // "[4, 8]"

// A memory-mapped safetensors file. Every defect (short file, header past the end, bad JSON,
// unknown dtype, offsets outside the data or not matching the shape, overlaps, gaps) is a
// UserError naming the file, the tensor and what was expected.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&& o) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(SafetensorsFile&&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<StTensor>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const StTensor* find(const std::string& name) const;  // nullptr if absent
  // Elements [i0, i0 + n) of t converted to float.
  void read(const StTensor& t, int64_t i0, int64_t n, float* out) const;
  // The raw bytes of t (little-endian elements of its dtype; not necessarily aligned).
  const uint8_t* bytes(const StTensor& t) const { return data_ + t.begin; }
  // Lets the kernel drop t's pages from this process (they are file-backed and were read
  // once): loading keeps at most one tensor of the file resident beside the model.
  void release(const StTensor& t) const;

 private:
  std::string path_;
  const uint8_t* map_ = nullptr;  // the whole file
  int64_t size_ = 0;
  const uint8_t* data_ = nullptr;  // map_ + 8 + N
  std::vector<StTensor> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Writes `path` (temporary name, then rename): tensors in the order given, fill(i, out) storing
// tensor i's numel values as floats, narrowed to its dtype (round to nearest even). The header
// is padded with spaces to a multiple of 8 bytes, as the reference writer does.
struct StSpec {
  std::string name;
  StDtype dtype = StDtype::f32;
  std::vector<int64_t> shape;
};
void write_safetensors(const std::string& path, const std::vector<StSpec>& specs,
                       const std::function<void(size_t, float*)>& fill,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace fedsim::models
