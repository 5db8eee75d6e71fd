// fedsim bench model [--preset P | --hf DIR ...] [--batch B] [--seconds S] [--json]: training
// throughput of one client against this machine's sgemm rate (models/bench.hpp; FLOPs by the
// formula in models/README.md); --hf --clients K: memory of a K-client round (cmd_model.cpp).
// fedsim bench fl [--config C] [--rounds R] [--repeat N] [--json]: the same federated rounds with
// sequential and batched local training (federation.execution, federation.packing) in one
// process: tokens/s of local training each way, the speedup split into stacking and packing,
// and how far the final adapters differ. Under mpirun, also the batched rounds with training
// spread over the ranks: speed-up and efficiency against one rank, bytes moved per round.
#include <boost/program_options.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "common/error.hpp"
#include "models/bench.hpp"
#include "models/model.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/parse.hpp"
#include "sim/config.hpp"
#include "sim/experiment.hpp"
#include "sim/mpi/comm.hpp"
#include "sim/mpi/rank_trainer.hpp"
#include "sim/trainer.hpp"

namespace po = boost::program_options;

namespace fedsim::cli {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The fed-chatbotit setting of configs/fed-chatbotit.yaml (tiny preset, 10 clients per round,
// 5 local steps of 8 sequences), so the bench runs without a config file.
const char* kBenchFlYaml = R"(experiment:
  name: bench-fl
  seed: 1
data:
  source: synthetic
  preset: fed-chatbotit
  length_scale: 0.05
model:
  preset: tiny
  pretrain_steps: 300
lora:
  rank: 8
  alpha: 16
  dropout: 0.05
  targets: [q, v]
federation:
  algorithm: fedavg
  sampling: fedllm-bench
  clients: 237
  clients_per_round: 10
  rounds: 3
  local_steps: 5
  batch_size: 8
  lr: 0.005
  lr_min: 1e-6
)";

// Times the local training of a run (train and train_many calls) and keeps the last adapter
// evaluated: the final global adapter (the run evaluates it after its last round).
class TimedTrainer : public sim::LocalTrainer {
 public:
  // count: the kernel counters (models/bench.hpp) run during local training, and only then.
  TimedTrainer(sim::LocalTrainer& inner, bool count) : in_(inner), count_(count) {}
  int64_t adapter_params() const override { return in_.adapter_params(); }
  double flops_per_token() const override { return in_.flops_per_token(); }
  std::vector<float> initial_adapter() const override { return in_.initial_adapter(); }
  int64_t tokens(int steps) const override { return in_.tokens(steps); }
  sim::LocalResult train(int32_t client, int64_t round, int steps, std::vector<float>& adapter, double lr,
                         const models::LocalHooks& hooks) override {
    const auto t0 = std::chrono::steady_clock::now();
    if (count_) models::resume_counting();
    const sim::LocalResult r = in_.train(client, round, steps, adapter, lr, hooks);
    if (count_) counts = models::stop_counting();
    seconds += seconds_since(t0);
    tokens_trained += r.tokens;
    rows_computed += r.rows;
    ++calls;
    return r;
  }
  std::vector<sim::LocalResult> train_many(const std::vector<sim::TrainTask>& tasks) override {
    const auto t0 = std::chrono::steady_clock::now();
    if (count_) models::resume_counting();
    std::vector<sim::LocalResult> r = in_.train_many(tasks);
    if (count_) counts = models::stop_counting();
    seconds += seconds_since(t0);
    for (const auto& x : r) {
      tokens_trained += x.tokens;
      rows_computed += x.rows;
    }
    ++calls;
    return r;
  }
  sim::EvalResult evaluate(const std::vector<float>& adapter) const override {
    last_eval = adapter;
    return in_.evaluate(adapter);
  }
  double client_accuracy(const std::vector<float>& adapter, int32_t client) const override {
    return in_.client_accuracy(adapter, client);
  }

  double seconds = 0.0;
  int64_t tokens_trained = 0, rows_computed = 0;
  int64_t calls = 0;
  mutable std::vector<float> last_eval;
  models::KernelCounts counts;  // totals over the run's local training (count only)

 private:
  sim::LocalTrainer& in_;
  bool count_;
};

struct FlRun {
  double train_s = 0.0, wall_s = 0.0;
  int64_t tokens = 0, rows = 0, calls = 0;
  std::vector<float> final_adapter;
  models::KernelCounts counts;
};

// over_ranks: training spread over the MPI ranks (rank 0 here; the others in serve_rank_training).
FlRun run_fl(const sim::ExperimentConfig& base, sim::Execution execution, bool packing,
             const datasets::FederatedDataset& data, models::Model& model, bool over_ranks = false,
             bool count = false) {
  sim::ExperimentConfig c = base;
  c.federation.execution = execution;
  c.federation.packing = packing;
  auto inner = sim::make_model_trainer(c, data, model);
  std::unique_ptr<sim::LocalTrainer> ranks;
  if (over_ranks) ranks = sim::make_rank_trainer(*inner, nullptr);
  TimedTrainer timed(ranks ? *ranks : *inner, count);
  if (count) models::start_counting(), models::stop_counting();  // zero the totals
  std::vector<int64_t> n;
  for (const auto& cl : data.clients) n.push_back(static_cast<int64_t>(cl.samples.size()));
  const auto t0 = std::chrono::steady_clock::now();
  sim::run_federation(c, std::move(n), timed, sim::RunHooks{}, {});
  FlRun r;
  r.wall_s = seconds_since(t0);
  r.train_s = timed.seconds;
  r.tokens = timed.tokens_trained;
  r.rows = timed.rows_computed;
  r.calls = timed.calls;
  r.final_adapter = timed.last_eval;
  r.counts = timed.counts;
  return r;
}

// max |a - b| / max |b|: the normwise relative difference of two adapters.
double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  FEDSIM_ASSERT(a.size() == b.size());
  double d = 0.0, m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    d = std::max(d, std::fabs(static_cast<double>(a[i]) - b[i]));
    m = std::max(m, std::fabs(static_cast<double>(b[i])));
  }
  return m > 0 ? d / m : d;
}

// fedsim bench fl: the same rounds with sequential and batched local training, in one process.
int bench_fl(const std::string& config, int64_t rounds, int repeat, bool json, int& argc, char** argv) {
  sim::ExperimentConfig c = config.empty() ? sim::parse_config(kBenchFlYaml, "bench fl (built-in fed-chatbotit)")
                                           : sim::load_config(config);
  if (rounds > 0) c.federation.rounds = rounds;
  if (c.federation.trainer != sim::TrainerKind::model)
    throw UserError(c.source_path + ": federation.trainer: " + sim::name_of(c.federation.trainer) +
                    " trains nothing; bench fl needs model");
  c.federation.eval_every = c.federation.rounds;  // evaluate the start and the end only
  c.federation.client_eval_every = 0;
  sim::validate_experiment(c);
  models::Runtime rt(argc, argv);
  models::set_products(sim::products_of(c));
  sim::RunHooks hooks;
  hooks.log = [](const std::string& m) { std::fprintf(stderr, "%s\n", m.c_str()); };
  if (!mpi::is_root()) hooks.log = nullptr;
  const datasets::FederatedDataset data = sim::prepare_data(c, hooks);
  models::Model model = sim::prepare_model(c, data, hooks);
  if (!mpi::is_root()) {  // under MPI: train for rank 0's spread runs, nothing else
    for (int i = 0; i < repeat; ++i) {
      auto inner = sim::make_model_trainer(c, data, model);
      sim::serve_rank_training(*inner);
    }
    return 0;
  }
  // Three ways, alternating so load on a shared machine hits all: one client after another;
  // batched with padded rows (stacking alone, bit for bit sequential); batched and packed (the
  // default). Tokens are the (B,T) slots of the clients' batches, the same in every mode.
  std::vector<double> seq_rate, pad_rate, bat_rate;
  FlRun seq, pad, bat;
  for (int i = 0; i < repeat; ++i) {
    seq = run_fl(c, sim::Execution::sequential, true, data, model);
    pad = run_fl(c, sim::Execution::batched, false, data, model);
    bat = run_fl(c, sim::Execution::batched, true, data, model);
    seq_rate.push_back(static_cast<double>(seq.tokens) / seq.train_s);
    pad_rate.push_back(static_cast<double>(pad.tokens) / pad.train_s);
    bat_rate.push_back(static_cast<double>(bat.tokens) / bat.train_s);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  };
  const double s = median(seq_rate), p = median(pad_rate), b = median(bat_rate);
  // Counted passes (untimed): launches, host syncs and transfers per local step of each mode.
  const models::KernelCounts kb = run_fl(c, sim::Execution::batched, true, data, model, false, true).counts;
  const models::KernelCounts ks = run_fl(c, sim::Execution::sequential, true, data, model, false, true).counts;
  auto per = [](const models::KernelCounts& k, double x) { return x / double(std::max<int64_t>(k.steps, 1)); };
  const double diff = rel_diff(bat.final_adapter, seq.final_adapter), diff_pad = rel_diff(pad.final_adapter, seq.final_adapter);
  // Under MPI: the batched run again with training spread over the ranks (sim/mpi/rank_trainer.hpp).
  const int R = mpi::size();
  std::vector<double> rank_rate;
  FlRun spread;
  const sim::RankTrainingStats before = sim::rank_training_totals();
  for (int i = 0; i < repeat && R > 1; ++i) {
    spread = run_fl(c, sim::Execution::batched, true, data, model, true);
    rank_rate.push_back(static_cast<double>(spread.tokens) / spread.train_s);
  }
  const sim::RankTrainingStats moved = sim::rank_training_totals() - before;
  std::printf("%s\n", models::Runtime::describe().c_str());
  std::printf("%s: preset %s, %s, %lld rounds x %lld clients, %lld local steps of %lld sequences\n",
              c.source_path.c_str(), c.model.preset.c_str(), sim::name_of(c.federation.algorithm).c_str(),
              static_cast<long long>(c.federation.rounds), static_cast<long long>(c.federation.clients_per_round),
              static_cast<long long>(c.federation.local_steps), static_cast<long long>(c.federation.batch_size));
  auto line = [](const char* name, const FlRun& r, double rate) {
    std::printf("%-17s %lld tokens (%lld rows computed), training %.2f s (%lld calls), run %.2f s: %.0f tokens/s\n",
                name, static_cast<long long>(r.tokens), static_cast<long long>(r.rows), r.train_s,
                static_cast<long long>(r.calls), r.wall_s, rate);
  };
  line("sequential", seq, s);
  line("batched, padded", pad, p);
  line("batched (packed)", bat, b);
  std::printf("speedup     %.3f  (median of %d) = stacking %.3f x packing %.3f\n", b / s, repeat, p / s, b / p);
  std::printf("final adapters: max |batched - sequential| / max |sequential| = %.3g (padded: %.3g)\n", diff, diff_pad);
  for (const auto& [name, k] : {std::make_pair("batched", kb), std::make_pair("sequential", ks)})
    std::printf("%-10s per local step: %.1f launches, %.3f host syncs, %.0f host<->device bytes; %.2f syncs per client "
                "run (%lld steps, %lld runs)\n",
                name, per(k, double(k.launches + k.device_copies)), per(k, double(k.syncs())), per(k, double(k.bytes)),
                double(k.syncs()) / double(std::max<int64_t>(k.runs, 1)), static_cast<long long>(k.steps),
                static_cast<long long>(k.runs));
  std::string ranks_json;
  if (R > 1) {
    const double m = median(rank_rate), runs = static_cast<double>(repeat);
    const double per_round = static_cast<double>(moved.bytes) / runs / static_cast<double>(c.federation.rounds);
    line(("batched, " + std::to_string(R) + " ranks").c_str(), spread, m);
    std::printf("ranks       %d: speedup over 1 rank batched %.3f, efficiency %.3f; %lld of %lld participations on "
                "ranks 1-%d; %.0f bytes moved per round; final adapter rel diff %.3g\n",
                R, m / b, m / b / R, static_cast<long long>(moved.remote / repeat),
                static_cast<long long>(moved.tasks / repeat), R - 1, per_round, rel_diff(spread.final_adapter, bat.final_adapter));
    char buf[320];
    std::snprintf(buf, sizeof buf,
                  ", \"ranks\": %d, \"ranks_tokens_per_s\": %.6g, \"ranks_speedup\": %.6g, \"ranks_efficiency\": %.6g, "
                  "\"ranks_bytes_per_round\": %.6g, \"ranks_remote_fraction\": %.6g",
                  R, m, m / b, m / b / R, per_round,
                  moved.tasks ? static_cast<double>(moved.remote) / static_cast<double>(moved.tasks) : 0.0);
    ranks_json = buf;
  }
  if (json)
    std::printf(
        "{\"sequential_tokens_per_s\": %.6g, \"batched_tokens_per_s\": %.6g, \"speedup\": %.6g, "
        "\"batched_padded_tokens_per_s\": %.6g, \"stacking_speedup\": %.6g, \"packing_speedup\": %.6g, "
        "\"rows_fraction\": %.6g, \"final_adapter_rel_diff\": %.6g, \"launches_per_step\": %.6g, "
        "\"host_syncs_per_step\": %.6g, \"host_device_bytes_per_step\": %.6g, \"host_syncs_per_run\": %.6g, "
        "\"sequential_launches_per_step\": %.6g, \"sequential_host_syncs_per_step\": %.6g, "
        "\"sequential_host_device_bytes_per_step\": %.6g%s}\n",
        s, b, b / s, p, p / s, b / p, static_cast<double>(bat.rows) / static_cast<double>(bat.tokens), diff,
        per(kb, double(kb.launches + kb.device_copies)), per(kb, double(kb.syncs())), per(kb, double(kb.bytes)),
        double(kb.syncs()) / double(std::max<int64_t>(kb.runs, 1)), per(ks, double(ks.launches + ks.device_copies)),
        per(ks, double(ks.syncs())), per(ks, double(ks.bytes)), ranks_json.c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace

int cmd_bench(const std::vector<std::string>& args, int& argc, char** argv) {
  std::string what, preset = "small", config;
  HfBenchArgs hf;
  int batch = 8, repeat = 1;
  int64_t rounds = 0;
  double seconds = 3.0;
  po::options_description desc("fedsim bench model|fl [options]");
  desc.add_options()("help,h", "this help")("preset", po::value<std::string>(&preset)->default_value("small"),
                                            "model: preset: nano, tiny, small, gpt2-124m")(
      "batch", po::value<int>(&batch)->default_value(8), "model: sequences per step (each of the preset's context length)")(
      "seconds", po::value<double>(&seconds)->default_value(3.0), "model: minimum timed duration")(
      "config", po::value<std::string>(&config), "fl: experiment config (default: built-in fed-chatbotit, tiny)")(
      "rounds", po::value<int64_t>(&rounds)->default_value(0), "fl: rounds (0 = the config's)")(
      "repeat", po::value<int>(&repeat)->default_value(1), "fl: alternating runs of each mode; medians reported")(
      "hf", po::value<std::string>(&hf.dir), "model: a Hugging Face folder instead of a preset (cmd_model.cpp)")(
      "seq", po::value<int>(&hf.seq)->default_value(256), "model --hf: tokens per sequence")(
      "base-dtype", po::value<std::string>(&hf.dtype)->default_value("fp32"), "model --hf: fp32 | bf16")(
      "rank", po::value<int>(&hf.rank)->default_value(8), "model --hf: LoRA rank")(
      "targets", po::value<std::string>(&hf.targets)->default_value("q_proj,v_proj"), "model --hf: LoRA modules")(
      "clients", po::value<int>(&hf.clients)->default_value(0),
      "model --hf: memory of one batched step of this many clients instead of throughput")(
      "memory-mb", po::value<int64_t>(&hf.memory_mb)->default_value(1024), "model --hf --clients: activation budget")(
      "json", "print one JSON object on the last line");
  const po::variables_map vm = parse_args(args, desc, "what", &what);
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  if (what == "fl") {
    if (repeat < 1) throw UserError("fedsim bench fl: --repeat " + std::to_string(repeat) + " is invalid; accepted: >= 1");
    if (rounds < 0) throw UserError("fedsim bench fl: --rounds must be >= 0");
    return bench_fl(config, rounds, repeat, vm.count("json") > 0, argc, argv);
  }
  if (what != "model") throw UserError("fedsim bench: unknown target '" + what + "'; accepted: model, fl, events");
  if (batch < 1) throw UserError("fedsim bench: --batch " + std::to_string(batch) + " is invalid; accepted: >= 1");
  if (!(seconds > 0)) throw UserError("fedsim bench: --seconds must be > 0");
  if (!hf.dir.empty()) return bench_hf(hf, batch, seconds, vm.count("json") > 0, argc, argv);
  models::preset_config(preset);  // UserError naming the accepted presets
  models::Runtime rt(argc, argv);
  const models::BenchResult r = models::bench_model(preset, batch, seconds);
  std::printf("%s\n", r.runtime.c_str());
  std::printf("preset %s, B=%d T=%d, %d steps in %.2f s (%.1f ms/step)\n", r.preset.c_str(), r.B, r.T, r.steps,
              r.seconds, 1e3 * r.seconds / r.steps);
  std::printf("tokens/s      %.0f\n", r.tokens_per_s);
  std::printf("GFLOP/s       %.2f  (%.3g FLOP/token by formula, models/README.md)\n", r.gflops, r.flops_per_token);
  std::printf("sgemm GFLOP/s %.2f  (%d^3, same threads)\n", r.sgemm_gflops, r.sgemm_n);
  std::printf("ratio         %.3f\n", r.ratio);
  for (const models::StepCounts* k : {&r.one, &r.stacked1, &r.stacked16})
    std::printf("per step (%s%d client%s): %.1f launches, %.3f host syncs, %.0f host<->device bytes; %.2f syncs per run\n",
                k == &r.one ? "" : "stacked, ", k->clients, k->clients == 1 ? "" : "s", k->launches_per_step,
                k->host_syncs_per_step, k->host_device_bytes_per_step, k->host_syncs_per_run);
  if (vm.count("json"))
    std::printf(
        "{\"preset\": \"%s\", \"runtime\": \"%s\", \"tokens_per_s\": %.6g, \"gflops\": %.6g, \"sgemm_gflops\": %.6g, "
        "\"ratio\": %.6g, \"launches_per_step\": %.6g, \"host_syncs_per_step\": %.6g, "
        "\"host_device_bytes_per_step\": %.6g, \"host_syncs_per_run\": %.6g, \"launches_per_step_stacked_1\": %.6g, "
        "\"launches_per_step_stacked_16\": %.6g, \"host_syncs_per_run_stacked_16\": %.6g}\n",
        r.preset.c_str(), r.runtime.c_str(), r.tokens_per_s, r.gflops, r.sgemm_gflops, r.ratio, r.one.launches_per_step,
        r.one.host_syncs_per_step, r.one.host_device_bytes_per_step, r.one.host_syncs_per_run,
        r.stacked1.launches_per_step, r.stacked16.launches_per_step, r.stacked16.host_syncs_per_run);
  std::fflush(stdout);
  return 0;
}

}  // namespace fedsim::cli
