// Issue 21's fault campaign as tests, through the fedsim binary: a full disk at the results write,
// damaged checkpoints, what --out may replace, two runs on one output, and the config loader's
// refusals. Each asserts the exit code, the exact message and what is left on disk.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>
#include <fstream>
#include <iterator>
#include <string>

#include "common/error.hpp"
#include "common/h5.hpp"
#include "results_check.hpp"
#include "sim/checkpoint.hpp"
#include "sim/config.hpp"
#include "sim/journal.hpp"
#include "sim/memory_estimate.hpp"
#include "sim/output.hpp"
#include "sim/results.hpp"

using namespace fedsim::sim;
namespace fs = std::filesystem;

namespace {

const char* kYaml = R"(experiment:
  seed: 4
  cache_dir: rel-cache
  checkpoint_every: 1000
data:
  samples_mean: 20
  test_samples: 16
  public_samples: 100
model:
  preset: nano
  pretrain_steps: 5
federation:
  clients: 6
  clients_per_round: 3
  rounds: 4
  local_steps: 2
  batch_size: 4
)";

struct Outcome {
  int code = -1;
  std::string err;
};

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void put(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

Outcome run_cli(const std::string& args, const std::string& fault = "") {
  const char* bin = std::getenv("FEDSIM_BINARY");
  REQUIRE(bin != nullptr);
  const std::string env = fault.empty() ? "" : "FEDSIM_FAULT=" + fault + " ";
  const int st = std::system((env + bin + " " + args + " >/dev/null 2>rel.err").c_str());
  Outcome o;
  o.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  o.err = bytes_of("rel.err");
  return o;
}

// Starts `fedsim args` (stderr to `log`), sends `sig` once `log` contains `when`, and returns its
// exit code (-1: no such line within 2 minutes, or killed by a signal it should have handled).
int signal_when(const std::string& args, const std::string& log, const std::string& when, int sig) {
  const char* bin = std::getenv("FEDSIM_BINARY");
  REQUIRE(bin != nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const std::string cmd = "exec " + std::string(bin) + " " + args + " >/dev/null 2>" + log;
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  bool sent = false;
  for (int i = 0; i < 2400 && !sent; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (bytes_of(log).find(when) != std::string::npos) sent = ::kill(pid, sig) == 0;
  }
  if (!sent) ::kill(pid, SIGKILL);
  int st = 0;
  ::waitpid(pid, &st, 0);
  return sent && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string error_line(const std::string& msg) { return "fedsim: error: " + msg + "\n"; }

bool has_temporary(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("reliability: a full disk at the results write keeps the previous results and the checkpoint") {
  fs::remove_all("rel-disk");
  fs::create_directories("rel-disk");
  put("rel.yaml", kYaml);
  const std::string out = "rel-disk/r.h5", ckpt = out + ".ckpt";
  REQUIRE(run_cli("run rel.yaml --out " + out).code == 0);
  const RunResults want = read_results(out);
  const std::string before = bytes_of(out);
  // SIGTERM mid-run: the only checkpoint (checkpoint_every 1000) is the one written on the stop.
  CHECK(run_cli("run rel.yaml --out " + out, "term_after_events=9").code == 143);
  REQUIRE(fs::exists(ckpt));
  // The resumed run's only committed file is the results file: the disk is full there.
  const Outcome full = run_cli("run rel.yaml --out " + out, "disk_full_at=1");
  CHECK(full.code == 2);
  CHECK(full.err.find(out + ": cannot write ") != std::string::npos);
  CHECK(full.err.find("No space left on device") != std::string::npos);
  CHECK(full.err.find("ermission") == std::string::npos);
  CHECK(bytes_of(out) == before);  // the previous results, byte for byte
  CHECK(fs::exists(ckpt));         // kept: the results it would have become are not on disk
  CHECK_FALSE(has_temporary("rel-disk"));
  // With space again, the run resumes from that checkpoint to the same numbers.
  REQUIRE(run_cli("run rel.yaml --out " + out).code == 0);
  fedsim::test::check_same_run(read_results(out), want, false);
  CHECK_FALSE(fs::exists(ckpt));
}

TEST_CASE("reliability: every changed byte of a checkpoint's state or journal is exit 2 naming the file and --fresh") {
  fs::remove_all("rel-ckpt");
  fs::create_directories("rel-ckpt");
  put("rel.yaml", kYaml);
  const std::string out = "rel-ckpt/r.h5", ckpt = out + ".ckpt", journal = journal_path(ckpt);
  REQUIRE(run_cli("run rel.yaml --out " + out, "term_after_events=9").code == 143);
  const SimCheckpoint good = read_checkpoint(ckpt);
  const std::string file = bytes_of(ckpt), jbytes = bytes_of(journal);
  REQUIRE(good.state.size() > 64);
  // The state is stored contiguously: find it in the file, and change 30 of its bytes one at a time.
  const size_t at = file.find(std::string(good.state.begin(), good.state.begin() + 64));
  REQUIRE(at != std::string::npos);
  int refused = 0;
  for (size_t k = 0; k < 30; ++k) {
    std::string bad = file;
    bad[at + k * (good.state.size() - 1) / 29] ^= 0x10;
    put(ckpt, bad);
    try {
      read_checkpoint(ckpt);
    } catch (const fedsim::UserError& e) {
      const std::string msg = e.what();
      CAPTURE(msg);
      CHECK(msg.rfind(ckpt + ":/state: checksum mismatch (crc32 stored ", 0) == 0);
      CHECK(msg.find("HINT: rerun with --fresh") != std::string::npos);
      ++refused;
    }
  }
  CHECK(refused == 30);
  // Through the binary: one line, exit 2, nothing run; the exact text for the state's checksum.
  std::string bad = file;
  bad[at + good.state.size() / 2] ^= 0x01;
  put(ckpt, bad);
  Outcome o = run_cli("run rel.yaml --out " + out);
  CHECK(o.code == 2);
  CHECK(o.err.find("fedsim: error: " + ckpt + ":/state: checksum mismatch (crc32 stored ") != std::string::npos);
  CHECK(o.err.find("): the file is damaged; HINT: rerun with --fresh") != std::string::npos);
  CHECK(o.err.find("HINT: rerun with --fresh") != std::string::npos);
  CHECK_FALSE(fs::exists(out));
  // A changed byte of the journal (the history the state does not repeat) as well.
  put(ckpt, file);
  REQUIRE(jbytes.size() > 8);
  std::string jbad = jbytes;
  jbad[jbytes.size() / 2] ^= 0x01;
  put(journal, jbad);
  o = run_cli("run rel.yaml --out " + out);
  CHECK(o.code == 2);
  CHECK(o.err.find(journal) != std::string::npos);
  CHECK(o.err.find("--fresh") != std::string::npos);
  // --fresh starts over and completes.
  CHECK(run_cli("run rel.yaml --fresh --out " + out).code == 0);
  CHECK_FALSE(fs::exists(ckpt));
}

TEST_CASE("reliability: --out never replaces a folder, device, FIFO, link, foreign file or another config's results") {
  fs::remove_all("rel-out");
  fs::create_directories("rel-out/folder");
  put("rel.yaml", kYaml);
  put("rel-out/notes.txt", "my notes\n");
  fs::create_symlink("notes.txt", "rel-out/link.h5");
  REQUIRE(::mkfifo("rel-out/fifo.h5", 0600) == 0);
  auto refused = [](const std::string& out, const std::string& msg) {
    CAPTURE(out);
    const Outcome o = run_cli("run rel.yaml --out " + out);
    CHECK(o.code == 2);
    CHECK(o.err == error_line(msg));
  };
  refused("rel-out/folder", "rel-out/folder: is a folder; --out takes the results file's name, such as rel-out/folder/run.h5");
  refused("rel-out/new/", "rel-out/new/: names a folder; --out takes the results file's name, such as rel-out/new/run.h5");
  refused("/dev/null", "/dev/null: is a character device; fedsim writes results only to regular files");
  refused("rel-out/fifo.h5", "rel-out/fifo.h5: is a FIFO; fedsim writes results only to regular files");
  refused("rel-out/link.h5",
          "rel-out/link.h5: is a symbolic link; fedsim replaces only results files it wrote (--force replaces the link "
          "itself, not its target)");
  refused("rel-out/notes.txt",
          "rel-out/notes.txt: exists and is not a fedsim results file; refusing to replace it (--force replaces it, or "
          "choose another --out)");
  CHECK(bytes_of("rel-out/notes.txt") == "my notes\n");
  CHECK_FALSE(fs::exists("rel-out/new"));
  CHECK(fs::is_character_file("/dev/null"));
  // Another config's results: refused, then replaced with --fresh.
  REQUIRE(run_cli("run rel.yaml --out rel-out/a.h5").code == 0);
  const std::string a = bytes_of("rel-out/a.h5");
  const Outcome other = run_cli("run rel.yaml --set federation.rounds=2 --out rel-out/a.h5");
  CHECK(other.code == 2);
  CHECK(other.err == error_line("rel-out/a.h5: holds the results of another config; refusing to replace them (--fresh "
                                "runs this config in their place, or choose another --out)"));
  CHECK(bytes_of("rel-out/a.h5") == a);
  CHECK(run_cli("run rel.yaml --set federation.rounds=2 --fresh --out rel-out/a.h5").code == 0);
  CHECK(read_results("rel-out/a.h5").rounds.size() == 3);
  // --force replaces the user's file (and only with it).
  CHECK(run_cli("run rel.yaml --force --out rel-out/notes.txt").code == 0);
  CHECK(read_results("rel-out/notes.txt").rounds.size() == 5);
}

TEST_CASE("reliability: a second run on the same --out exits 2 at once naming the first") {
  fs::remove_all("rel-lock");
  fs::create_directories("rel-lock");
  put("rel.yaml", kYaml);
  {
    // This process plays the first run: it holds the lock as `fedsim run` does.
    const OutputLock first("rel-lock/r.h5");
    CHECK(bytes_of("rel-lock/r.h5.lock") == "pid " + std::to_string(::getpid()) + "\n");
    const Outcome o = run_cli("run rel.yaml --out rel-lock/r.h5");
    CHECK(o.code == 2);
    CHECK(o.err == error_line("rel-lock/r.h5: another fedsim run (pid " + std::to_string(::getpid()) +
                              ") is writing it; wait for it to finish or choose another --out"));
    CHECK_FALSE(fs::exists("rel-lock/r.h5"));
    CHECK_FALSE(fs::exists("rel-lock/r.h5.ckpt"));
  }
  CHECK_FALSE(fs::exists("rel-lock/r.h5.lock"));  // released and removed
  CHECK(run_cli("run rel.yaml --out rel-lock/r.h5").code == 0);
  CHECK_FALSE(fs::exists("rel-lock/r.h5.lock"));
}

TEST_CASE("reliability: config files that are folders, empty or repeat a key exit 2 naming the file and lines") {
  fs::remove_all("rel-cfg");
  fs::create_directories("rel-cfg/dir.yaml");
  put("rel-cfg/empty.yaml", "");
  put("rel-cfg/comments.yaml", "# nothing here\n\n");
  put("rel-cfg/dup.yaml", "federation:\n  rounds: 3\n  lr: 0.1\n  rounds: 9\n");
  put("rel-cfg/dup_section.yaml", "model:\n  preset: nano\nfederation:\n  rounds: 3\nmodel:\n  pretrain_steps: 2\n");
  const std::string empty_msg = ": is empty (no keys); expected a YAML config such as `federation:` with `rounds: 10` "
                                "under it (`fedsim config reference` lists every key)";
  const std::pair<const char*, std::string> cases[] = {
      {"rel-cfg/dir.yaml", "rel-cfg/dir.yaml: is a folder; expected a YAML config file"},
      {"rel-cfg/empty.yaml", "rel-cfg/empty.yaml" + empty_msg},
      {"rel-cfg/comments.yaml", "rel-cfg/comments.yaml" + empty_msg},
      {"rel-cfg/dup.yaml",
       "rel-cfg/dup.yaml: key 'federation.rounds' appears twice (lines 2 and 4); each key may appear once"},
      {"rel-cfg/dup_section.yaml",
       "rel-cfg/dup_section.yaml: section 'model' appears twice (lines 1 and 5); each key may appear once"},
  };
  for (const auto& c : cases) {
    const std::string file = c.first;
    CAPTURE(file);
    const Outcome o = run_cli("validate " + file);
    CHECK(o.code == 2);
    CHECK(o.err == error_line(c.second));
  }
  const Outcome set = run_cli("validate rel.yaml --set federation.rounds=abc");
  CHECK(set.code == 2);
  CHECK(set.err == error_line("--set federation.rounds=abc: federation.rounds: expected an integer, got 'abc'"));
}

TEST_CASE("reliability: SIGTERM/SIGINT in pretraining and in a sweep stop with 143/130 and leave no partial file") {
  fs::remove_all("rel-sig");
  fs::create_directories("rel-sig");
  // Pretraining (before any checkpoint): the stop is seen within a step, and no base is cached.
  std::string yaml = kYaml;
  yaml.replace(yaml.find("pretrain_steps: 5"), 17, "pretrain_steps: 1000000");
  yaml.replace(yaml.find("rel-cache"), 9, "rel-sig/cache");
  put("rel-sig/long.yaml", yaml);
  CHECK(signal_when("run rel-sig/long.yaml --out rel-sig/r.h5", "rel-sig/run.log", "pretrain: step 100/", SIGTERM) == 143);
  CHECK(bytes_of("rel-sig/run.log").find("stopped by signal 15") != std::string::npos);
  CHECK_FALSE(fs::exists("rel-sig/r.h5"));
  CHECK_FALSE(fs::exists("rel-sig/r.h5.ckpt"));
  CHECK_FALSE(fs::exists("rel-sig/r.h5.lock"));
  for (const auto& e : fs::directory_iterator("rel-sig/cache"))  // the data set only, no base model
    CHECK(e.path().filename().string().rfind("data-", 0) == 0);
  CHECK_FALSE(has_temporary("rel-sig/cache"));
  // A sweep: SIGINT during a point's rounds saves that point's state; the next sweep resumes it.
  std::string base = kYaml;
  base.replace(base.find("rounds: 4\n"), 10, "rounds: 800\n");
  put("rel-sig/base.yaml", base);
  put("rel-sig/spec.yaml", "name: sig\nbase: base.yaml\ngrid:\n  federation.lr: [0.01]\n");
  CHECK(signal_when("sweep rel-sig/spec.yaml --out rel-sig/out", "rel-sig/sweep.log", "round 160/800", SIGINT) == 130);
  CHECK(bytes_of("rel-sig/sweep.log").find("fedsim: sweep stopped by signal 2; the running point's state is saved") !=
        std::string::npos);
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator("rel-sig/out")) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  CHECK(left == std::vector<std::string>{"index.h5", "lr=0.01.h5.ckpt", "lr=0.01.h5.ckpt.journal"});
  CHECK_FALSE(fs::exists("rel-sig/out/index.h5.lock"));
}

TEST_CASE("reliability: the memory estimate, by hand for nano, refuses impossible sizes before allocating") {
  const ExperimentConfig c = parse_config(kYaml, "rel.yaml");
  const MemoryEstimate e = estimate_memory(c);
  // nano: V 264, T 32, C 32, L 1, H 2, F 128. Weights 264*32 + 32*32 + (4*32*32 + 3*32*128 + 4*32)
  // = 25984, times 4 bytes times 4 (weights, gradients, two Adam moments).
  CHECK(e.model == 16.0 * 25984);
  // B = max(batch_size 4, pretrain_batch 16); 4 bytes * 16 * 32 * (1 * (16*32 + 2*2*32) + 2*264).
  CHECK(e.activations == 4.0 * 16 * 32 * (16 * 32 + 2 * 2 * 32 + 2 * 264));
  put("rel.yaml", kYaml);
  fs::remove_all("rel-mem");
  const Outcome big = run_cli("run rel.yaml --out rel-mem/r.h5 --set model.d_model=65536");
  CHECK(big.code == 2);
  CHECK(big.err.rfind("fedsim: error: rel.yaml: the run needs about ", 0) == 0);
  CHECK(big.err.find("driven by model.d_model, model.n_layers, model.d_ff (the base model)") != std::string::npos);
  const Outcome capped = run_cli("run rel.yaml --out rel-mem/r.h5 --set experiment.max_memory_gb=0.001");
  CHECK(capped.code == 2);
  CHECK(capped.err == error_line("rel.yaml: the run needs about " + e.summary() +
                                 ", more than experiment.max_memory_gb (1 MiB); driven by " + e.largest_keys() +
                                 "; HINT: reduce them, or raise experiment.max_memory_gb on a machine that has the "
                                 "memory"));
  CHECK_FALSE(fs::exists("rel-mem"));  // refused before the output folder is made
  const Outcome ok = run_cli("run rel.yaml --out rel-mem/r.h5");
  CHECK(ok.code == 0);
  CHECK(ok.err.find("[fedsim] memory estimate: " + e.summary() + "\n") != std::string::npos);
}
