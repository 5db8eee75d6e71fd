// `fedsim bench model --json`: exit 0 and one JSON object with the documented keys on the last
// line, consistent with itself (no timing thresholds: only that the numbers are coherent).
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "models/model.hpp"

namespace {
// Runs a command, returns (exit status, stdout).
std::pair<int, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}
}  // namespace

TEST_CASE("fedsim bench model --json: last line is the documented JSON object; bad preset exits 2") {
  const char* bin = std::getenv("FEDSIM_BINARY");
  REQUIRE(bin != nullptr);
  const auto [rc, out] = run(std::string(bin) + " bench model --preset nano --seconds 0.05 --json 2>/dev/null");
  CHECK(rc == 0);
  std::string s = out;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  const std::string last = s.substr(s.rfind('\n') + 1);
  const nlohmann::json j = nlohmann::json::parse(last);
  CHECK(j.size() == 13);
  CHECK(j.at("preset") == "nano");
  const double tps = j.at("tokens_per_s"), gf = j.at("gflops"), sg = j.at("sgemm_gflops"), r = j.at("ratio");
  CHECK(tps > 0);
  CHECK(sg > 0);
  CHECK(r == doctest::Approx(gf / sg).epsilon(1e-4));
  // gflops = tokens/s x the FLOP formula for nano with the default LoRA.
  const double fpt = fedsim::models::train_flops_per_token(fedsim::models::preset_config("nano"), {});
  CHECK(gf * 1e9 / tps == doctest::Approx(fpt).epsilon(1e-4));
  // The counted passes (Kokkos profiling callbacks): kernels run, and a client run blocks on the
  // host once (its losses and clipping norm read at its end), stacked or not.
  CHECK(j.at("launches_per_step").get<double>() > 0);
  CHECK(j.at("host_syncs_per_run").get<double>() == 1.0);
  CHECK(j.at("host_syncs_per_run_stacked_16").get<double>() == 1.0);
  CHECK(run(std::string(bin) + " bench model --preset huge 2>/dev/null").first == 2);
}
