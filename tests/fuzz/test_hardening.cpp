// Regression tests for what the fuzz targets (tests/fuzz) and the sanitizer build found in the
// readers of user input. Each hostile file is made here through the HDF5 C API or as text, and
// must be refused with this exact UserError.
#include <doctest/doctest.h>
#include <hdf5.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/checksum.hpp"
#include "common/error.hpp"
#include "datasets/dataset.hpp"
#include "datasets/import.hpp"
#include "models/layout.hpp"
#include "models/model.hpp"
#include "sim/config.hpp"
#include "sim/results.hpp"
#include "sim/sweep.hpp"

using namespace fedsim;
namespace fs = std::filesystem;

namespace {

std::string scratch(const std::string& name) {
  fs::create_directories(FEDSIM_TEST_TMP_DIR);
  return std::string(FEDSIM_TEST_TMP_DIR) + "/hardening_" + name;
}

datasets::FederatedDataset two_clients() {
  datasets::FederatedDataset d;
  d.name = "h";
  d.task_names = {"general"};
  for (int c = 0; c < 2; ++c) {
    datasets::ClientData cd;
    cd.name = "client_" + std::to_string(c);
    datasets::Sample s;
    s.instruction = "q";
    s.response = "a";
    s.task = 0;
    cd.samples = {s, s};
    d.clients.push_back(cd);
  }
  d.test = d.clients[0].samples;
  return d;
}

// Opens `path` for editing with the HDF5 C API; closes on scope exit.
struct Edit {
  hid_t f;
  explicit Edit(const std::string& path) : f(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)) { REQUIRE(f >= 0); }
  ~Edit() { H5Fclose(f); }
  void int_attr(const char* obj, const char* name, std::vector<int64_t> v, bool scalar) {
    H5Adelete_by_name(f, obj, name, H5P_DEFAULT);
    const hsize_t n = v.size();
    const hid_t space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr);
    const hid_t a = H5Acreate_by_name(f, obj, name, H5T_NATIVE_INT64, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(a >= 0);
    REQUIRE(H5Awrite(a, H5T_NATIVE_INT64, v.data()) >= 0);
    H5Aclose(a);
    H5Sclose(space);
  }
  // A one-dimensional dataset of `n` values of `type` at `data`, in place of `path`, with the
  // crc32 of its `bytes` (so the readers' own checks are reached, not the checksum's).
  void dataset_1d(const char* path, hid_t type, hsize_t n, const void* data, size_t bytes) {
    H5Ldelete(f, path, H5P_DEFAULT);
    const hid_t space = H5Screate_simple(1, &n, nullptr);
    const hid_t ds = H5Dcreate2(f, path, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(ds >= 0);
    REQUIRE(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    const uint32_t crc = crc32_update(0, data, bytes);
    const hid_t scalar = H5Screate(H5S_SCALAR);
    const hid_t a = H5Acreate2(ds, "crc32", H5T_NATIVE_UINT32, scalar, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(H5Awrite(a, H5T_NATIVE_UINT32, &crc) >= 0);
    H5Aclose(a);
    H5Sclose(scalar);
    H5Dclose(ds);
    H5Sclose(space);
  }
  void int64s(const char* path, const std::vector<int64_t>& v) {
    dataset_1d(path, H5T_NATIVE_INT64, v.size(), v.data(), v.size() * 8);
  }
  // A text column (common/h5.hpp): the group `path` with `bytes` and `ends`.
  void strings(const char* path, const std::vector<std::string>& v) {
    H5Ldelete(f, path, H5P_DEFAULT);
    const hid_t g = H5Gcreate2(f, path, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(g >= 0);
    H5Gclose(g);
    std::string bytes;
    std::vector<int64_t> ends;
    for (const auto& s : v) ends.push_back(static_cast<int64_t>((bytes += s).size()));
    dataset_1d((std::string(path) + "/bytes").c_str(), H5T_NATIVE_UINT8, bytes.size(), bytes.data(), bytes.size());
    int64s((std::string(path) + "/ends").c_str(), ends);
  }
  // A dataset of `dims` int32 that stores no data (chunked, never written), or an empty one.
  void unstored_dataset(const char* path, std::vector<hsize_t> dims) {
    REQUIRE(H5Ldelete(f, path, H5P_DEFAULT) >= 0);
    const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    std::vector<hsize_t> chunk(dims.size(), 1);
    bool empty = false;
    for (auto d : dims) empty = empty || d == 0;
    if (!empty) H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data());
    const hid_t ds = H5Dcreate2(f, path, H5T_NATIVE_INT32, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    REQUIRE(ds >= 0);
    const uint32_t crc = 0;  // of no values: the readers' own checks must refuse the shape
    const hid_t scalar = H5Screate(H5S_SCALAR);
    const hid_t a = H5Acreate2(ds, "crc32", H5T_NATIVE_UINT32, scalar, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(H5Awrite(a, H5T_NATIVE_UINT32, &crc) >= 0);
    H5Aclose(a);
    H5Sclose(scalar);
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(space);
  }
};

template <class F>
std::string user_error(F&& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("hdf5: an array where a single attribute value belongs is refused, not read past its end") {
  // Found in review for fuzz_h5 (which now reaches it): H5Aread wrote 4 int64 into one int64.
  const std::string p = scratch("array_attr.h5");
  datasets::write_dataset(two_clients(), p);
  Edit(p).int_attr("/", "n_clients", {2, 2, 2, 2}, false);
  CHECK(user_error([&] { datasets::read_dataset(p); }) == p + ":/@n_clients: expected a single value, found 4 values");
}

TEST_CASE("hdf5: a dataset declaring 2^40 values it does not store is refused before allocating") {
  const std::string p = scratch("huge_shape.h5");
  datasets::write_dataset(two_clients(), p);
  Edit(p).unstored_dataset("/samples/task", {hsize_t(1) << 40});
  CHECK(user_error([&] { datasets::read_dataset(p); }) ==
        p + ":/samples/task: declares shape (1099511627776) but stores 0 bytes (truncated or damaged file)");
  // Dimensions whose product wraps around 2^64 are refused the same way.
  Edit(p).unstored_dataset("/samples/task", {hsize_t(1) << 33, hsize_t(1) << 31});
  CHECK(user_error([&] { datasets::read_dataset(p); }) ==
        p + ":/samples/task: declares shape (8589934592, 2147483648) but stores 0 bytes (truncated or damaged file)");
  // The row count of a table comes from its first column's shape: refused the same way before
  // any row is allocated.
  Edit(p).unstored_dataset("/samples/instruction/ends", {hsize_t(1) << 40});
  CHECK(user_error([&] { datasets::read_dataset(p); }) ==
        p + ":/samples/instruction/ends: declares shape (1099511627776) but stores 0 bytes (truncated or damaged file)");
}

TEST_CASE("hdf5: a results participation matrix of 2^40 empty rows is refused") {
  sim::RunResults r;
  r.rounds.resize(3);
  r.participation = {{0}, {1}};
  r.clients.resize(2);
  const std::string p = scratch("participation.h5");
  sim::write_results(r, p);
  Edit(p).unstored_dataset("/participation", {hsize_t(1) << 40, 0});
  CHECK(user_error([&] { sim::read_results(p); }) ==
        p + ":/participation: has 1099511627776 rows; expected at most 3, one per row of /rounds");
}

TEST_CASE("hdf5: a sweep index column shorter than its points is refused, not indexed past its end") {
  // `fedsim results summary DIR/index.h5` indexes every params and metrics column by point.
  sim::SweepSpec spec;
  spec.name = "s";
  std::vector<sim::SweepPoint> points(3);
  for (size_t i = 0; i < 3; ++i) {
    points[i].name = "p" + std::to_string(i);
    points[i].params = {{"data.alpha", std::to_string(i)}};
  }
  const std::string dir = scratch("sweep");
  sim::write_sweep_index(spec, points, {1, 1, 0}, std::vector<sim::FinalMetrics>(3), dir);
  const std::string p = sim::index_path(dir);
  Edit(p).strings("/params/data.alpha", {"0"});
  CHECK(user_error([&] { sim::read_sweep_index(p); }) == p + ":/params/data.alpha: expected 3 values, got 1");
  sim::write_sweep_index(spec, points, {1, 1, 0}, std::vector<sim::FinalMetrics>(3), dir);
  Edit(p).int64s("/metrics/rounds", {30, 30});
  CHECK(user_error([&] { sim::read_sweep_index(p); }) == p + ":/metrics/rounds: expected 3 values, got 2");
}

TEST_CASE("hdf5: checkpoint shapes are range-checked before the model is allocated") {
  const std::string p = scratch("checkpoint.h5");
  models::LoraConfig lora;
  models::Model(models::preset_config("nano"), lora, 1).save(p);
  // 2^32 + 32 used to be cast to int (32) silently.
  Edit(p).int_attr("/", "d_model", {(int64_t(1) << 32) + 32}, true);
  CHECK(user_error([&] { models::Model::load(p, lora); }) ==
        p + ":/@d_model: 4294967328 is out of range; accepted: 1 to 65536\n"
            "HINT: the file is damaged or was not written by fedsim");
  // A valid but huge config whose weights the file does not hold: refused without allocating.
  Edit(p).int_attr("/", "d_model", {32}, true);
  Edit(p).int_attr("/", "n_layers", {1024}, true);
  models::ModelConfig c = models::preset_config("nano");
  c.n_layers = 1024;
  CHECK(user_error([&] { models::Model::load(p, lora); }) ==
        p + ":/base: shape does not hold the " + std::to_string(models::make_base_layout(c).total) +
            " weights of its config (C=32, L=1024, T=" + std::to_string(c.max_seq) + ", d_ff=" + std::to_string(c.d_ff) +
            ")\nHINT: the file is damaged or was not written by fedsim");
}

TEST_CASE("import: JSON nested deeper than 64 levels is refused before nlohmann recurses on it") {
  const std::string p = scratch("deep.json");
  std::ofstream(p) << R"({"c": [{"instruction": "i", "response": "r", "quality": )" << std::string(100000, '[')
                   << std::string(100000, ']') << "}]}";
  datasets::ImportOptions o;
  CHECK(user_error([&] { datasets::import_fedllm(p, o); }) ==
        p + ":1:118: nesting deeper than 64 levels; a sample nests at most 5");
}

TEST_CASE("config: text values with control characters survive to_yaml and back") {
  // Found writing fuzz_config's round-trip property: a line break in a double-quoted value was
  // emitted raw and read back as a space, so a results file's resolved config differed.
  const sim::ExperimentConfig c = sim::parse_config("experiment:\n  name: \"a\\nb\\tc\\x01\\\"\"\n", "t.yaml", {});
  CHECK(c.experiment.name == "a\nb\tc\x01\"");
  const sim::ExperimentConfig back = sim::parse_config(sim::to_yaml(c), "resolved.yaml", {});
  CHECK(back.experiment.name == c.experiment.name);
}

TEST_CASE("config: invalid UTF-8 and NUL characters in values are refused naming the key") {
  CHECK(user_error([] { sim::parse_config("experiment:\n  name: \"ok\xff\"\n", "t.yaml", {}); }) ==
        "t.yaml: experiment.name: byte 2 of the value is not UTF-8; accepted: UTF-8 text");
  CHECK(user_error([] { sim::parse_config("experiment:\n  name: \"a\\0b\"\n", "t.yaml", {}); }) ==
        "t.yaml: experiment.name: the value holds a NUL character (byte 1); accepted: text without NUL");
  CHECK(user_error([] { sim::parse_config("federation:\n  algorithm: \"\xed\xa0\x80\"\n", "t.yaml", {}); }) ==
        "t.yaml: federation.algorithm: byte 0 of the value is not UTF-8; accepted: UTF-8 text");
}

TEST_CASE("config: a megabyte-long unknown key is reported at once") {
  const std::string key(1 << 20, 'x');
  // An explicit key ("? ...") may be longer than the 1024 characters of an implicit one.
  const std::string msg = user_error([&] { sim::parse_config("federation:\n  ? " + key + "\n  : 1\n", "t.yaml", {}); });
  CHECK(msg.rfind("t.yaml: unknown key 'xxx", 0) == 0);
  CHECK(msg.size() < 3 * key.size());
}

TEST_CASE("import: a number beyond double's range is a UserError at its position") {
  // Found by fuzz_import: nlohmann throws out_of_range (not parse_error) for 1e400, which escaped
  // the importer as an internal error.
  const std::string p = scratch("overflow.json");
  std::ofstream(p) << "{\"u1\": [{\"instruction\": \"i\",\n \"response\": \"r\", \"quality\": 1e400}]}";
  datasets::ImportOptions o;
  CHECK(user_error([&] { datasets::import_fedllm(p, o); }) ==
        p + ":2:30: invalid JSON: the number 1e400 is out of range; accepted: numbers within +-1.8e308");
}

TEST_CASE("hdf5: single-bit flips and zeroed 4 KB blocks of a data set file are refused naming the file, or harmless") {
  // Issue 21 item 5: with variable-length strings, 8 of 12 bit flips crashed libhdf5 1.10
  // (H5HG_read) and zeroed blocks made it loop. Now every flip either fails a checksum (the
  // metadata's or a dataset's crc32) or a reader's check, naming the file, or lands in bytes
  // nothing reads: then the data read back rewrites to the original bytes.
  datasets::SyntheticSpec spec;
  spec.n_clients = 5;
  spec.samples_mean = 10;
  spec.n_test = 20;
  spec.n_public = 40;
  const std::string good = scratch("flip_good.h5"), bad = scratch("flip_bad.h5"), again = scratch("flip_again.h5");
  datasets::write_dataset(datasets::generate_synthetic(spec), good);
  std::ifstream in(good, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  REQUIRE(bytes.size() > 3 * 4096);
  std::vector<std::string> damaged;
  for (size_t k = 0; k < 64; ++k) {
    std::string b = bytes;
    b[k * (bytes.size() - 1) / 63] ^= static_cast<char>(1u << (k % 8));
    damaged.push_back(b);
  }
  for (size_t k = 0; k < 3; ++k) {
    std::string b = bytes;
    std::fill(b.begin() + static_cast<long>(k * (bytes.size() - 4096) / 2), b.begin() + static_cast<long>(k * (bytes.size() - 4096) / 2 + 4096), '\0');
    damaged.push_back(b);
  }
  int refused = 0, harmless = 0;
  for (size_t k = 0; k < damaged.size(); ++k) {
    CAPTURE(k);
    std::ofstream(bad, std::ios::binary | std::ios::trunc) << damaged[k];
    try {
      const datasets::FederatedDataset d = datasets::read_dataset(bad);
      datasets::write_dataset(d, again);
      std::ifstream back(again, std::ios::binary);
      CHECK(std::string((std::istreambuf_iterator<char>(back)), {}) == bytes);
      ++harmless;
    } catch (const UserError& e) {
      const std::string msg = e.what();
      CAPTURE(msg);
      CHECK(msg.rfind(bad, 0) == 0);
      ++refused;
    }
  }
  MESSAGE(refused << " of " << damaged.size() << " damaged files refused, " << harmless << " read back unchanged");
  CHECK(refused + harmless == static_cast<int>(damaged.size()));
  CHECK(refused >= 60);
}
