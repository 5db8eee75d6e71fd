// HDF5 readers: read_dataset (datasets/dataset_io.cpp), read_results (sim/results.cpp, then
// final_metrics as `fedsim results summary` does) and Model::load / load_adapters
// (models/checkpoint.cpp), read_checkpoint (sim/checkpoint.cpp), read_sweep_index (sim/sweep.cpp),
// through common/h5.cpp.
//
// Raw bytes almost never get past HDF5's signature check, so the input is a small program that
// edits a valid file written by fedsim's own writer, through the HDF5 API: delete or replace a
// dataset (any type, rank 0-2, tiny or huge declared shape, NaN/negative/huge values, invalid
// UTF-8), set or delete attributes (wrong type, non-scalar), replace a dataset by a group, add
// soft links. The edited file is well-formed HDF5 but hostile to fedsim's readers, which must
// answer with UserError. Byte 0: bits 0-2 pick the base file (mod 6); bit 7 switches to corrupting the
// file's bytes instead, only with FEDSIM_FUZZ_H5_CORRUPT=1 (HDF5's own parser; README.md).
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "common/h5.hpp"
#include "datasets/dataset.hpp"
#include "fuzz_common.hpp"
#include "models/model.hpp"
#include "sim/checkpoint.hpp"
#include "sim/results.hpp"
#include "sim/sweep.hpp"

using namespace fedsim;

namespace {

enum Base { kDataMultiturn, kDataDpo, kResults, kCheckpoint, kSimState, kSweepIndex, kNumBases };

datasets::FederatedDataset small_dataset(datasets::DataKind kind) {
  datasets::FederatedDataset d;
  d.name = "fuzz";
  d.kind = kind;
  d.task_names = {"general", "math"};
  d.languages = {"en", "zh"};
  d.generator_yaml = "generator: fuzz\n";
  for (int c = 0; c < 2; ++c) {
    datasets::ClientData cd;
    cd.name = "client_" + std::to_string(c);
    cd.attributes["language"] = c ? "zh" : "en";
    for (int i = 0; i < 2; ++i) {
      datasets::Sample s;
      s.instruction = "q" + std::to_string(i);
      s.response = "a" + std::to_string(i);
      s.answer = s.response;
      s.task = i;
      s.language = c;
      s.quality = 0.5f;
      if (kind == datasets::DataKind::dpo) s.rejected = "no";
      if (kind == datasets::DataKind::multiturn) s.turns = {"h", "g", s.instruction, s.response};
      cd.samples.push_back(s);
    }
    d.clients.push_back(cd);
  }
  d.test = d.clients[0].samples;
  d.public_split = d.clients[1].samples;
  return d;
}

sim::RunResults small_results() {
  sim::RunResults r;
  r.fedsim_version = "fuzz";
  r.config_yaml = "experiment:\n  name: fuzz\n";
  for (int64_t k = 0; k < 3; ++k) {
    sim::RoundRow row;
    row.round = k;
    row.sim_time_s = 10.0 * k;
    r.rounds.push_back(row);
  }
  r.participation = {{0, 1}, {1}, {0, 1}};
  r.clients.resize(2);
  r.clients.n_samples = {3, 4};
  r.client_n_samples = r.clients.n_samples;
  r.timeline = {{0, 0, 0, 1, 0.0, 1.0}, {1, 0, 0, 1, 0.5, 2.0}};
  r.client_eval_round = {2};
  r.client_eval_accuracy = {{0.5, 0.25}};
  return r;
}

struct BaseFile {
  std::string path;
  std::vector<std::string> objects;  // every link path, and paths a reader probes for
  std::vector<std::string> groups;   // where attributes live
  std::vector<std::string> attrs;    // attribute names
};
std::vector<BaseFile> g_bases;

herr_t collect(hid_t, const char* name, const H5O_info_t* info, void* op) {
  auto* b = static_cast<BaseFile*>(op);
  const std::string p = std::string("/") + (std::strcmp(name, ".") ? name : "");
  if (p != "/") b->objects.push_back(p);
  if (info->type == H5O_TYPE_GROUP) b->groups.push_back(p);
  return 0;
}

BaseFile describe(const std::string& path, std::vector<std::string> extra_objects, std::vector<std::string> extra_attrs) {
  BaseFile b;
  b.path = path;
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  H5Ovisit(f, H5_INDEX_NAME, H5_ITER_NATIVE, collect, &b);
  for (const auto& g : b.groups) {
    const hid_t gid = H5Gopen2(f, g.c_str(), H5P_DEFAULT);
    H5O_info_t info;
    H5Oget_info(gid, &info);
    for (hsize_t i = 0; i < info.num_attrs; ++i) {
      char name[256] = {};
      H5Aget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_NATIVE, i, name, sizeof name, H5P_DEFAULT);
      if (std::find(b.attrs.begin(), b.attrs.end(), name) == b.attrs.end()) b.attrs.push_back(name);
    }
    H5Gclose(gid);
  }
  H5Fclose(f);
  b.objects.insert(b.objects.end(), extra_objects.begin(), extra_objects.end());
  b.attrs.insert(b.attrs.end(), extra_attrs.begin(), extra_attrs.end());
  return b;
}

void make_bases() {
  const std::string dir = fuzz::scratch_dir();
  datasets::write_dataset(small_dataset(datasets::DataKind::multiturn), dir + "/base_multiturn.h5");
  datasets::write_dataset(small_dataset(datasets::DataKind::dpo), dir + "/base_dpo.h5");
  sim::write_results(small_results(), dir + "/base_results.h5");
  {
    models::LoraConfig lora;
    const models::Model m(models::preset_config("nano"), lora, 1);
    m.save(dir + "/base_checkpoint.h5", {{"global", m.init_adapter(2)}});
  }
  g_bases.push_back(describe(dir + "/base_multiturn.h5", {}, {}));
  g_bases.push_back(describe(dir + "/base_dpo.h5", {}, {}));
  g_bases.push_back(describe(dir + "/base_results.h5", {"/clients/local_eval_accuracy"}, {}));
  g_bases.push_back(describe(dir + "/base_checkpoint.h5", {"/base_optimizer", "/base_optimizer/m", "/base_optimizer/v"},
                             {"steps"}));
  sim::write_checkpoint(dir + "/base_state.h5", {"experiment:\n  name: fuzz\n", 3, {1, 2, 3, 4, 5, 6, 7, 8}});
  g_bases.push_back(describe(dir + "/base_state.h5", {}, {}));
  {  // a sweep index of two points over two axes (what `fedsim results summary` reads)
    sim::SweepSpec spec;
    spec.name = "fuzz";
    spec.base = "base.yaml";
    spec.text = "base: base.yaml\n";
    std::vector<sim::SweepPoint> points(2);
    for (size_t i = 0; i < 2; ++i) {
      points[i].name = "p" + std::to_string(i);
      points[i].params = {{"federation.algorithm", i ? "fedprox" : "fedavg"}, {"data.alpha", i ? "0.1" : "1"}};
    }
    sim::FinalMetrics m = sim::final_metrics(small_results());
    sim::write_sweep_index(spec, points, {1, 0}, {m, m}, dir + "/sweep");
    g_bases.push_back(describe(sim::index_path(dir + "/sweep"), {}, {}));
  }
}

// The fuzz input as a stream of choices; exhausted = zeros.
struct Bytes {
  const uint8_t* p;
  size_t n;
  uint8_t next() {
    if (!n) return 0;
    --n;
    return *p++;
  }
  bool empty() const { return n == 0; }
  template <class T>
  const T& pick(const std::vector<T>& v) { return v[next() % v.size()]; }
};

hsize_t pick_dim(Bytes& in) {
  static const hsize_t kDims[] = {0, 1, 2, 3, 4, 5, 8, hsize_t(1) << 20, hsize_t(1) << 31, hsize_t(1) << 40,
                                  hsize_t(1) << 62};
  const uint8_t b = in.next();
  return b < sizeof kDims / sizeof *kDims ? kDims[b] : b % 16;
}

double pick_number(Bytes& in) {
  static const double kValues[] = {0.0, 1.0, -1.0, 0.5, 2.0, 3.0, 7.0, 32.0, 64.0, 128.0, 255.0, 256.0, 263.0, 264.0,
                                   65536.0, 2147483647.0, -2147483648.0, 4294967296.0 + 64.0, 9.2e18, -9.2e18, 1e300,
                                   -1e300, 4.9e-324, std::numeric_limits<double>::quiet_NaN(),
                                   std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
  const uint8_t b = in.next();
  return b < sizeof kValues / sizeof *kValues ? kValues[b] : static_cast<double>(b) - 128.0;
}

int64_t to_int(double x) {
  if (std::isnan(x)) return 0;
  if (x >= 9.2e18) return std::numeric_limits<int64_t>::max();
  if (x <= -9.2e18) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(x);
}

// Element types a reader may meet: 0 int32, 1 int64, 2 uint8, 3 uint64, 4 float, 5 double,
// 6 variable-length string, 7 fixed-length string.
struct Typed {
  hid_t type = -1;
  bool own = false;
  std::vector<uint8_t> bytes;           // numeric values or fixed strings
  std::vector<std::string> strings;     // vlen strings
  std::vector<const char*> ptrs;
  ~Typed() {
    if (own) H5Tclose(type);
  }
  const void* buf() {
    if (strings.empty()) return bytes.data();
    for (const auto& s : strings) ptrs.push_back(s.c_str());
    return ptrs.data();
  }
};

void fill(Typed& t, int kind, hsize_t n, Bytes& in) {
  auto put = [&](const auto v) {
    const auto* b = reinterpret_cast<const uint8_t*>(&v);
    t.bytes.insert(t.bytes.end(), b, b + sizeof v);
  };
  switch (kind) {
    case 0: t.type = H5T_NATIVE_INT32; break;
    case 1: t.type = H5T_NATIVE_INT64; break;
    case 2: t.type = H5T_NATIVE_UINT8; break;
    case 3: t.type = H5T_NATIVE_UINT64; break;
    case 4: t.type = H5T_NATIVE_FLOAT; break;
    case 5: t.type = H5T_NATIVE_DOUBLE; break;
    default: {
      t.type = H5Tcopy(H5T_C_S1);
      t.own = true;
      H5Tset_cset(t.type, H5T_CSET_UTF8);
      if (kind == 6) H5Tset_size(t.type, H5T_VARIABLE);
      else H5Tset_size(t.type, 1 + in.next() % 16);
    }
  }
  for (hsize_t i = 0; i < n; ++i) {
    if (kind >= 6) {
      std::string s(in.next() % 24, '\0');
      for (auto& ch : s) ch = static_cast<char>(in.next());
      if (kind == 6) {
        t.strings.push_back(s);
      } else {
        s.resize(H5Tget_size(t.type), '\0');
        t.bytes.insert(t.bytes.end(), s.begin(), s.end());
      }
      continue;
    }
    const double x = pick_number(in);
    switch (kind) {
      case 0: put(static_cast<int32_t>(to_int(x))); break;
      case 1: put(to_int(x)); break;
      case 2: put(static_cast<uint8_t>(to_int(x))); break;
      case 3: put(static_cast<uint64_t>(to_int(x))); break;
      case 4: put(std::isfinite(x) && std::fabs(x) > 3e38 ? static_cast<float>(x > 0 ? INFINITY : -INFINITY) : static_cast<float>(x)); break;
      case 5: put(x); break;
    }
  }
}

void edit(hid_t f, const BaseFile& b, Bytes& in) {
  for (int ops = 0; ops < 8 && !in.empty(); ++ops) {
    const uint8_t op = in.next() % 6;
    const std::string& path = in.pick(b.objects);
    switch (op) {
      case 0: H5Ldelete(f, path.c_str(), H5P_DEFAULT); break;
      case 1: {  // replace a dataset
        H5Ldelete(f, path.c_str(), H5P_DEFAULT);
        const int kind = in.next() % 8, rank = in.next() % 3;
        std::vector<hsize_t> dims(static_cast<size_t>(rank));
        long double total = 1;
        for (auto& d : dims) total *= (d = pick_dim(in));
        const hid_t space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims.data(), nullptr);
        Typed t;
        const bool small = total <= 64;
        fill(t, kind, small ? static_cast<hsize_t>(total) : 0, in);
        const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        if (!small) {  // a huge declared shape with (almost) no data in the file
          std::vector<hsize_t> chunk(dims.size(), 1);
          H5Pset_chunk(dcpl, rank, chunk.data());
        }
        const hid_t ds = H5Dcreate2(f, path.c_str(), t.type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (ds >= 0 && small && total > 0) H5Dwrite(ds, t.type, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.buf());
        if (ds >= 0) H5Dclose(ds);
        H5Pclose(dcpl);
        H5Sclose(space);
        break;
      }
      case 2: {  // set an attribute, maybe of another type or not scalar
        const std::string& obj = in.pick(b.groups);
        const std::string& name = in.pick(b.attrs);
        const int kind = in.next() % 8;
        const hsize_t n = in.next() % 4;
        const hid_t space = n <= 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr);
        Typed t;
        fill(t, kind, std::max<hsize_t>(n, 1), in);
        if (H5Aexists_by_name(f, obj.c_str(), name.c_str(), H5P_DEFAULT) > 0)
          H5Adelete_by_name(f, obj.c_str(), name.c_str(), H5P_DEFAULT);
        const hid_t a = H5Acreate_by_name(f, obj.c_str(), name.c_str(), t.type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (a >= 0) {
          H5Awrite(a, t.type, t.buf());
          H5Aclose(a);
        }
        H5Sclose(space);
        break;
      }
      case 3: H5Adelete_by_name(f, in.pick(b.groups).c_str(), in.pick(b.attrs).c_str(), H5P_DEFAULT); break;
      case 4: {  // a group where a dataset was
        H5Ldelete(f, path.c_str(), H5P_DEFAULT);
        const hid_t g = H5Gcreate2(f, path.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g >= 0) H5Gclose(g);
        break;
      }
      case 5: {  // a soft link, maybe dangling or a cycle
        H5Ldelete(f, path.c_str(), H5P_DEFAULT);
        H5Lcreate_soft(in.pick(b.objects).c_str(), f, path.c_str(), H5P_DEFAULT, H5P_DEFAULT);
        break;
      }
    }
  }
}

void read_back(Base base, const std::string& path) {
  switch (base) {
    case kDataMultiturn:
    case kDataDpo: datasets::read_dataset(path); break;
    case kResults: sim::final_metrics(sim::read_results(path)); break;  // as `fedsim results summary`
    case kCheckpoint: {
      models::LoraConfig lora;
      const models::Model m = models::Model::load(path, lora);
      m.load_adapters(path);
      break;
    }
    case kSimState: sim::read_checkpoint(path); break;  // the HDF5 layer; the archive inside is not fuzzed
    case kSweepIndex: {  // read as `fedsim results summary DIR/index.h5` does, every cell touched
      const sim::SweepIndex x = sim::read_sweep_index(path);
      size_t cells = 0;
      for (size_t i = 0; i < x.point_names.size(); ++i) {
        for (const auto& column : x.params) cells += column[i].size();
        cells += x.done[i] + static_cast<size_t>(x.metrics[i].rounds & 1);
      }
      (void)cells;
      break;
    }
    case kNumBases: break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  static models::Runtime runtime(*argc, *argv);
  make_bases();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const Base base = static_cast<Base>((data[0] & 7) % kNumBases);
  const BaseFile& b = g_bases[base];
  const std::string path = fuzz::scratch_dir() + "/edited.h5";
  std::filesystem::copy_file(b.path, path, std::filesystem::copy_options::overwrite_existing);
  Bytes in{data + 1, size - 1};
  // Corrupting bytes crashes libhdf5 itself within seconds (README.md): only on request.
  static const bool corrupt_ok = std::getenv("FEDSIM_FUZZ_H5_CORRUPT") != nullptr;
  if (data[0] & 0x80 && !corrupt_ok) return 0;
  if (data[0] & 0x80) {  // corrupt bytes: (offset hi, offset lo, value) triples
    std::FILE* f = std::fopen(path.c_str(), "r+b");
    const long len = static_cast<long>(std::filesystem::file_size(path));
    while (in.n >= 3) {
      const long at = ((long(in.next()) << 8 | in.next()) * 2654435761L) % len;
      std::fseek(f, at, SEEK_SET);
      std::fputc(in.next(), f);
    }
    std::fclose(f);
  } else {
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) return 0;
    edit(f, b, in);
    H5Fclose(f);
  }
  fuzz::expect_user_error_only([&] { read_back(base, path); });
  return 0;
}
