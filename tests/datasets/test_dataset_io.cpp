// HDF5 round trip, format checks, validation of inconsistent files, atomic writes and speed.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "common/error.hpp"
#include "common/h5.hpp"
#include "datasets/dataset.hpp"

using namespace fedsim::datasets;
namespace fs = std::filesystem;

namespace {

std::string scratch(const std::string& name) {
  const fs::path dir = fs::path(FEDSIM_TEST_TMP_DIR) / "datasets";
  fs::create_directories(dir);
  const fs::path p = dir / name;
  fs::remove(p);
  return p.string();
}

std::string read_error(const std::string& path) {
  try {
    read_dataset(path);
  } catch (const fedsim::UserError& e) {
    return e.what();
  }
  return "";
}

// Files left next to `path` by an unfinished atomic write.
int temp_files_beside(const std::string& path) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(fs::path(path).parent_path()))
    if (e.path().filename().string().find(fs::path(path).filename().string() + ".tmp") == 0) ++n;
  return n;
}

void check_equal(const std::vector<Sample>& a, const std::vector<Sample>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].instruction == b[i].instruction);
    CHECK(a[i].response == b[i].response);
    CHECK(a[i].answer == b[i].answer);
    CHECK(a[i].task == b[i].task);
    CHECK(a[i].quality == b[i].quality);
  }
}

FederatedDataset handmade() {
  FederatedDataset d;
  d.name = "handmade: café 東京";
  d.task_names = {"upper", "übersetzen"};
  d.generator_yaml = "generator: handmade\nnote: \"ünïcödé ✓\"\n";
  Sample s1{"upper: abc", "ABC", "ABC", 0, 1.0f};
  Sample s2{"übersetze: grüße 👋", "greetings", "greetings 👋", 1, 0.25f};
  Sample s3{"", "", "", 1, 0.0f};  // empty strings survive
  d.clients = {{"client_000", {s1, s2}}, {"client_001", {}}, {"client_002", {s3, s1, s2}}};
  d.test = {s2, s1};
  d.public_split = {s1};
  return d;
}

// A version-1 header: these files also check that version-1 files are still read.
void write_minimal_header(const fedsim::h5::Group& root, int64_t n_clients) {
  fedsim::h5::set_format(root, kFormatKind, 1);
  root.set_attr("name", "broken");
  root.set_attr("generator_yaml", "");
  root.set_attr("n_clients", n_clients);
  root.write_strings("tasks", std::vector<std::string>{"upper"});
}

}  // namespace

TEST_CASE("HDF5 round trip keeps every field, UTF-8 included") {
  const FederatedDataset d = handmade();
  const std::string path = scratch("roundtrip.h5");
  write_dataset(d, path);
  CHECK(temp_files_beside(path) == 0);
  const FederatedDataset r = read_dataset(path);
  CHECK(r.name == d.name);
  CHECK(r.generator_yaml == d.generator_yaml);
  CHECK(r.task_names == d.task_names);
  REQUIRE(r.clients.size() == 3);
  for (size_t c = 0; c < 3; ++c) {
    CHECK(r.clients[c].name == d.clients[c].name);
    check_equal(r.clients[c].samples, d.clients[c].samples);
  }
  check_equal(r.test, d.test);
  check_equal(r.public_split, d.public_split);
  CHECK(r.n_samples() == 5);
  CHECK(r.clients[0].samples[1].answer.size() == std::string("greetings 👋").size());  // bytes, not chars

  // The layout FORMAT.md documents.
  const fedsim::h5::File f = fedsim::h5::File::open_read(path);
  const fedsim::h5::Group root = f.root();
  CHECK(root.attr_string("format") == "fedsim-dataset");
  CHECK(root.attr_int("format_version") == kFormatVersion);
  CHECK(root.attr_int("n_clients") == 3);
  CHECK(root.open_group("clients").read_strings("name") == std::vector<std::string>{"client_000", "client_001", "client_002"});
  CHECK(root.open_group("clients").read<int64_t>("n_samples") == std::vector<int64_t>{2, 0, 3});
  CHECK(root.open_group("samples").read<int32_t>("task") == std::vector<int32_t>{0, 1, 1, 0, 1});
  CHECK(root.open_group("test").read<float>("quality") == std::vector<float>{0.25f, 1.0f});
  // Text as bytes plus end offsets (no variable-length strings), every dataset with its crc32.
  const fedsim::h5::Group instr = root.open_group("samples").open_group("instruction");
  CHECK(instr.read<int64_t>("ends").size() == 5);
  CHECK(instr.read<uint8_t>("bytes").size() == std::string("upper: abcübersetze: grüße 👋upper: abcübersetze: grüße 👋").size());
  CHECK(root.attr_string("checksums") == "crc32");
}

TEST_CASE("generated data round-trips and overwrites atomically") {
  SyntheticSpec spec;
  spec.n_clients = 15;
  spec.n_public = 100;
  const FederatedDataset d = generate_synthetic(spec);
  const std::string path = scratch("synthetic.h5");
  write_dataset(handmade(), path);
  write_dataset(d, path);  // replaces the earlier file
  CHECK(temp_files_beside(path) == 0);
  const FederatedDataset r = read_dataset(path);
  CHECK(r.generator_yaml == d.generator_yaml);
  CHECK(r.task_names == d.task_names);
  REQUIRE(r.clients.size() == 15);
  for (size_t c = 0; c < 15; ++c) check_equal(r.clients[c].samples, d.clients[c].samples);
  check_equal(r.test, d.test);
  check_equal(r.public_split, d.public_split);
  CHECK(task_heterogeneity(r) == task_heterogeneity(d));
}

TEST_CASE("a failed write leaves neither a file nor a temporary") {
  FederatedDataset d = handmade();
  d.clients[1].name = "a/b";
  const std::string path = scratch("bad_names.h5");
  CHECK_THROWS_WITH_AS(
      write_dataset(d, path),
      "client 1: name 'a/b' cannot be stored; expected a non-empty name without '/' and other than '.'",
      fedsim::UserError);
  d.clients[1].name = "client_000";
  CHECK_THROWS_WITH_AS(write_dataset(d, path),
                       "client 1: name 'client_000' is used by an earlier client; names must be unique",
                       fedsim::UserError);
  CHECK_FALSE(fs::exists(path));
  CHECK(temp_files_beside(path) == 0);

  // An error after the temporary exists (a folder that does not exist fails at create).
  const std::string missing_dir = scratch("no_such_dir") + "/x.h5";
  CHECK_THROWS_WITH_AS(write_dataset(handmade(), missing_dir), doctest::Contains("cannot create HDF5 file"),
                       fedsim::UserError);
  CHECK_FALSE(fs::exists(missing_dir));
}

TEST_CASE("reading checks existence, kind and format_version") {
  CHECK(read_error(scratch("missing.h5")) == scratch("missing.h5") + ": no such file");

  const std::string text = scratch("not_hdf5.h5");
  fedsim::h5::atomic_write_text(text, "hello");
  CHECK(read_error(text).find("not an HDF5 file") != std::string::npos);

  const std::string newer = scratch("newer.h5");
  {
    fedsim::h5::File f = fedsim::h5::File::create(newer);
    fedsim::h5::set_format(f.root(), kFormatKind, kFormatVersion + 1);
  }
  const std::string e = read_error(newer);
  CHECK(e.find("format_version") != std::string::npos);
  CHECK(e.find(newer) == 0);
  CHECK(e.find("format_version " + std::to_string(kFormatVersion + 1) + " is not supported; this fedsim reads versions 1 to " +
               std::to_string(kFormatVersion)) != std::string::npos);

  const std::string foreign = scratch("foreign.h5");
  {
    fedsim::h5::File f = fedsim::h5::File::create(foreign);
    fedsim::h5::set_format(f.root(), "fedsim-results", 1);
  }
  CHECK(read_error(foreign).find("not a fedsim-dataset file") != std::string::npos);
}

TEST_CASE("reading rejects inconsistent files naming the object") {
  const std::string uneven = scratch("uneven.h5");
  {
    fedsim::h5::File f = fedsim::h5::File::create(uneven);
    const auto root = f.root();
    write_minimal_header(root, 1);
    root.write_strings("client_names", std::vector<std::string>{"client_000"});
    const auto c = root.create_group("clients").create_group("client_000");
    c.write_strings("instruction", std::vector<std::string>{"upper: ab", "upper: cd"});
    c.write_strings("response", std::vector<std::string>{"AB"});
    c.write_strings("answer", std::vector<std::string>{"AB", "CD"});
    c.write("task", std::vector<int32_t>{0, 0});
    c.write("quality", std::vector<float>{1, 1});
  }
  CHECK(read_error(uneven) == uneven + ":/clients/client_000/response: expected 2 values, got 1");

  const std::string bad_task = scratch("bad_task.h5");
  {
    fedsim::h5::File f = fedsim::h5::File::create(bad_task);
    const auto root = f.root();
    write_minimal_header(root, 0);
    root.write_strings("client_names", std::vector<std::string>{});
    root.create_group("clients");
    const auto t = root.create_group("test");
    t.write_strings("instruction", std::vector<std::string>{"a", "b"});
    t.write_strings("response", std::vector<std::string>{"a", "b"});
    t.write_strings("answer", std::vector<std::string>{"a", "b"});
    t.write("task", std::vector<int32_t>{0, 3});
    t.write("quality", std::vector<float>{1, 1});
  }
  CHECK(read_error(bad_task) ==
        bad_task + ":/test/task: value 3 at index 1 is not a task index; expected [0, 1) for the 1 names in /tasks");

  const std::string count = scratch("count.h5");
  {
    fedsim::h5::File f = fedsim::h5::File::create(count);
    const auto root = f.root();
    write_minimal_header(root, 2);
    root.write_strings("client_names", std::vector<std::string>{"client_000"});
  }
  CHECK(read_error(count) == count + ":/@n_clients: 2 differs from the 1 names in " + count +
                                 ":/client_names (the file is inconsistent; regenerate it)");

  const std::string missing = scratch("missing_group.h5");
  {
    fedsim::h5::File f = fedsim::h5::File::create(missing);
    const auto root = f.root();
    write_minimal_header(root, 1);
    root.write_strings("client_names", std::vector<std::string>{"client_000"});
    root.create_group("clients").create_group("client_007");
  }
  CHECK(read_error(missing) == missing + ":/clients/client_000: missing group");
}

TEST_CASE("FedLLM-Bench sized data generates, writes and reads back (timings are printed, not asserted)") {
  struct Shape {
    int clients;
    double mean, sigma;
  };
  // Fed-ChatbotPA (747 x 13 +- 21) and Fed-ChatbotIT (237 x 26 +- 33), FedLLM-Bench Table 1.
  for (const Shape shape : {Shape{747, 13.0, 1.13}, Shape{237, 26.0, 0.97}}) {
    SyntheticSpec spec;
    spec.n_clients = shape.clients;
    spec.samples_mean = shape.mean;
    spec.samples_sigma = shape.sigma;
    spec.min_samples = 1;
    const std::string path = scratch("bench_" + std::to_string(shape.clients) + ".h5");
    const auto t0 = std::chrono::steady_clock::now();
    const FederatedDataset d = generate_synthetic(spec);
    const auto t1 = std::chrono::steady_clock::now();
    write_dataset(d, path);
    const auto t2 = std::chrono::steady_clock::now();
    const FederatedDataset r = read_dataset(path);
    const auto t3 = std::chrono::steady_clock::now();
    const auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
    MESSAGE(shape.clients << " clients, " << d.n_samples() << " samples: generate " << ms(t0, t1) << " ms, write "
                          << ms(t1, t2) << " ms, read " << ms(t2, t3) << " ms, file " << fs::file_size(path) / 1024
                          << " KiB");
    CHECK(r.clients.size() == static_cast<size_t>(shape.clients));
    CHECK(r.n_samples() == d.n_samples());
    // Speed is a benchmark's business (`fedsim data generate` reports it), never a test's.
  }
}
