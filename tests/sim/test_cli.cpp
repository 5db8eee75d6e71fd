// The fedsim executable's contract: exit codes, one-line errors, nothing written on error.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

struct Outcome {
  int code = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream is(path);
  std::stringstream ss;
  ss << is.rdbuf();
  return ss.str();
}

Outcome fedsim(const std::string& args) {
  const char* bin = std::getenv("FEDSIM_BINARY");
  REQUIRE(bin != nullptr);
  const std::string cmd = std::string(bin) + " " + args + " >cli.out 2>cli.err";
  const int status = std::system(cmd.c_str());
  Outcome o;
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  o.out = slurp("cli.out");
  o.err = slurp("cli.err");
  return o;
}

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

size_t lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace

TEST_CASE("cli: --help and --version exit 0") {
  CHECK(fedsim("--help").code == 0);
  const Outcome v = fedsim("--version");
  CHECK(v.code == 0);
  CHECK(v.out.rfind("fedsim ", 0) == 0);
}

TEST_CASE("cli: bad configs exit 2 with one clear line and write nothing") {
  std::filesystem::remove_all("cli-out");
  write("unknown_key.yaml", "experiment:\n  out: cli-out/r.h5\nfederation:\n  roundz: 3\n");
  write("wrong_type.yaml", "experiment:\n  out: cli-out/r.h5\nfederation:\n  rounds: ten\n");
  write("missing_data.yaml", "experiment:\n  out: cli-out/r.h5\ndata:\n  source: file\n  path: nowhere/data.h5\n");
  const std::pair<const char*, const char*> cases[] = {
      {"unknown_key.yaml",
       "fedsim: error: unknown_key.yaml: unknown key 'roundz' at federation.roundz; nearest valid key: federation.rounds\n"},
      {"wrong_type.yaml", "fedsim: error: wrong_type.yaml: federation.rounds: expected an integer, got 'ten'\n"},
      {"missing_data.yaml", "fedsim: error: missing_data.yaml: data.path: nowhere/data.h5: no such file\n"},
  };
  for (const auto& file_message : cases) {
    // Not a structured binding: CAPTURE's lambda cannot capture one before C++20 (clang refuses).
    const auto& file = file_message.first;
    const auto& message = file_message.second;
    for (const char* cmd : {"validate", "run"}) {
      CAPTURE(file);
      CAPTURE(cmd);
      const Outcome o = fedsim(std::string(cmd) + " " + file);
      CHECK(o.code == 2);
      CHECK(o.err == message);
      CHECK(lines(o.err) == 1);
      CHECK(o.out.empty());
      CHECK_FALSE(std::filesystem::exists("cli-out"));
    }
  }
}

TEST_CASE("cli: usage errors exit 2") {
  CHECK(fedsim("frobnicate").code == 2);
  CHECK(fedsim("run").code == 2);
  CHECK(fedsim("run x.yaml --no-such-flag").code == 2);
  const Outcome o = fedsim("validate absent.yaml");
  CHECK(o.code == 2);
  CHECK(o.err == "fedsim: error: absent.yaml: cannot read config file (no such file or not readable)\n");
}

TEST_CASE("cli: validate accepts the shipped configs") {
  const char* src = std::getenv("FEDSIM_SOURCE_DIR");
  REQUIRE(src != nullptr);
  for (const char* cfg : {"configs/quickstart.yaml", "configs/reference.yaml", "configs/fed-aya.yaml", "configs/fed-chatbotit.yaml",
                          "configs/fed-wildchat.yaml", "configs/fed-wildchat-multiturn.yaml", "configs/fed-chatbotpa-dpo.yaml",
                          "experiments/chatbotit-standin.yaml"}) {
    CAPTURE(cfg);
    const Outcome o = fedsim(std::string("validate ") + src + "/" + cfg);
    CHECK(o.code == 0);
    CHECK(o.err.empty());
  }
}
