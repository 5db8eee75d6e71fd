// Train jobs over MPI ranks (see rank_trainer.hpp). Messages, all raw bytes:
//   rank 0 -> r, kTagTasks: n (0 = stop), then per task: client, round, steps, lr, prox_mu, and
//     the start adapter, the FedProx anchor (unless equal to the start) and the SCAFFOLD
//     correction, each a length-prefixed float vector (length -1: none, -2: same as the start);
//   r -> rank 0, kTagResults: per task in the same order: the LocalResult and the trained adapter.
#include "sim/mpi/rank_trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "common/error.hpp"
#include "sim/mpi/comm.hpp"

namespace fedsim::sim {
namespace {

constexpr int kTagTasks = 201, kTagResults = 202;
RankTrainingStats g_totals;  // rank 0's, over the process

class Writer {
 public:
  template <class T>
  void put(const T& x) {
    const auto* p = reinterpret_cast<const char*>(&x);
    b_.insert(b_.end(), p, p + sizeof(T));
  }
  void floats(const std::vector<float>* v) {
    put<int64_t>(v ? static_cast<int64_t>(v->size()) : -1);
    if (v) floats_raw(*v);
  }
  void floats_raw(const std::vector<float>& v) {
    const auto* p = reinterpret_cast<const char*>(v.data());
    b_.insert(b_.end(), p, p + v.size() * sizeof(float));
  }
  std::vector<char>& bytes() { return b_; }

 private:
  std::vector<char> b_;
};

class Reader {
 public:
  explicit Reader(const std::vector<char>& b) : b_(b) {}
  template <class T>
  T get() {
    T x;
    take(&x, sizeof(T));
    return x;
  }
  // Reads a vector written by Writer::floats into `v`; returns its length field.
  int64_t floats(std::vector<float>& v) {
    const auto n = get<int64_t>();
    if (n >= 0) {
      v.resize(static_cast<size_t>(n));
      take(v.data(), v.size() * sizeof(float));
    }
    return n;
  }

 private:
  void take(void* out, size_t n) {
    FEDSIM_ASSERT_MSG(at_ + n <= b_.size(), "MPI message ends early: " << b_.size() << " bytes");
    std::memcpy(out, b_.data() + at_, n);
    at_ += n;
  }
  const std::vector<char>& b_;
  size_t at_ = 0;
};

// A rank's share of a group, one task too, trains as Participations::train_now trains a group in
// batched execution: train_many.
std::vector<LocalResult> train_tasks(LocalTrainer& t, const std::vector<TrainTask>& tasks) { return t.train_many(tasks); }

class RankTrainer : public LocalTrainer {
 public:
  RankTrainer(LocalTrainer& local, std::function<void(const std::string&)> log) : local_(local), log_(std::move(log)) {}
  ~RankTrainer() override {
    for (int r = 1; r < mpi::size(); ++r) {
      Writer w;
      w.put<int64_t>(0);
      mpi::send(r, kTagTasks, w.bytes().data(), w.bytes().size());
    }
    if (log_) {
      const RankTrainingStats d = g_totals - at_start_;
      char buf[240];
      std::snprintf(buf, sizeof buf,
                    "MPI: %lld of %lld participations trained on ranks 1-%d (%lld groups); %.3f MB moved between "
                    "ranks (%.3f MB per group)",
                    static_cast<long long>(d.remote), static_cast<long long>(d.tasks), mpi::size() - 1,
                    static_cast<long long>(d.groups), static_cast<double>(d.bytes) / 1e6,
                    d.groups ? static_cast<double>(d.bytes) / 1e6 / static_cast<double>(d.groups) : 0.0);
      log_(buf);
    }
  }
  int64_t adapter_params() const override { return local_.adapter_params(); }
  double flops_per_token() const override { return local_.flops_per_token(); }
  std::vector<float> initial_adapter() const override { return local_.initial_adapter(); }
  int64_t tokens(int steps) const override { return local_.tokens(steps); }
  LocalResult train(int32_t client, int64_t round, int steps, std::vector<float>& adapter, double lr,
                    const models::LocalHooks& hooks) override {
    return local_.train(client, round, steps, adapter, lr, hooks);
  }
  EvalResult evaluate(const std::vector<float>& adapter) const override { return local_.evaluate(adapter); }
  double client_accuracy(const std::vector<float>& adapter, int32_t client) const override {
    return local_.client_accuracy(adapter, client);
  }
  double task_cost(const TrainTask& t) const override { return local_.task_cost(t); }

  std::vector<LocalResult> train_many(const std::vector<TrainTask>& tasks) override {
    const int R = mpi::size();
    if (static_cast<int>(tasks.size()) < R && !said_idle_ && log_) {
      log_("MPI: a group of " + std::to_string(tasks.size()) + " clients trains on " + std::to_string(R) +
           " ranks; ranks " + std::to_string(tasks.size()) + "-" + std::to_string(R - 1) +
           " idle for such groups (said once)");
      said_idle_ = true;
    }
    const std::vector<std::vector<size_t>> of_rank = assign(tasks, R);
    ++g_totals.groups;
    g_totals.tasks += static_cast<int64_t>(tasks.size());
    for (int r = 1; r < R; ++r)
      if (!of_rank[static_cast<size_t>(r)].empty()) {
        g_totals.bytes += send_tasks(r, tasks, of_rank[static_cast<size_t>(r)]);
        g_totals.remote += static_cast<int64_t>(of_rank[static_cast<size_t>(r)].size());
      }
    std::vector<LocalResult> out(tasks.size());
    std::vector<TrainTask> mine;
    for (size_t i : of_rank[0]) mine.push_back(tasks[i]);
    if (!mine.empty()) {
      const std::vector<LocalResult> res = train_tasks(local_, mine);
      for (size_t k = 0; k < of_rank[0].size(); ++k) out[of_rank[0][k]] = res[k];
    }
    for (int r = 1; r < R; ++r) {
      const std::vector<size_t>& idx = of_rank[static_cast<size_t>(r)];
      if (idx.empty()) continue;
      const std::vector<char> bytes = mpi::recv(r, kTagResults);
      g_totals.bytes += static_cast<int64_t>(bytes.size());
      Reader rd(bytes);
      for (size_t i : idx) {
        LocalResult& lr = out[i];
        lr.loss = rd.get<double>();
        lr.steps = static_cast<int>(rd.get<int64_t>());
        lr.tokens = rd.get<int64_t>();
        lr.rows = rd.get<int64_t>();
        FEDSIM_ASSERT(rd.floats(*tasks[i].adapter) == static_cast<int64_t>(tasks[i].adapter->size()));
      }
    }
    return out;
  }

 private:
  // Tasks of each rank: longest processing time first (Graham 1969, "Bounds on multiprocessing
  // timing anomalies": each task, largest cost first, to the least loaded rank), so that the
  // slowest rank, which every rank waits for, finishes early. Ties go to the higher rank: rank 0
  // also packs, sends and aggregates. Deterministic (costs are; ties broken by index), and each
  // rank's list stays in task order.
  std::vector<std::vector<size_t>> assign(const std::vector<TrainTask>& tasks, int R) const {
    std::vector<double> cost(tasks.size());
    for (size_t i = 0; i < tasks.size(); ++i) cost[i] = local_.task_cost(tasks[i]);
    std::vector<size_t> order(tasks.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return cost[a] > cost[b]; });
    std::vector<double> load(static_cast<size_t>(R), 0.0);
    std::vector<std::vector<size_t>> of_rank(static_cast<size_t>(R));
    for (const size_t i : order) {
      size_t best = static_cast<size_t>(R) - 1;
      for (size_t r = best; r-- > 0;)
        if (load[r] < load[best]) best = r;
      load[best] += cost[i];
      of_rank[best].push_back(i);
    }
    for (auto& v : of_rank) std::sort(v.begin(), v.end());
    return of_rank;
  }

  // Returns the bytes sent.
  static int64_t send_tasks(int rank, const std::vector<TrainTask>& tasks, const std::vector<size_t>& idx) {
    Writer w;
    w.put<int64_t>(static_cast<int64_t>(idx.size()));
    for (size_t i : idx) {
      const TrainTask& t = tasks[i];
      w.put<int64_t>(t.client);
      w.put<int64_t>(t.round);
      w.put<int64_t>(t.steps);
      w.put<double>(t.lr);
      w.put<float>(t.hooks.prox_mu);
      w.floats(t.adapter);
      const std::vector<float>* anchor = t.hooks.prox_anchor;
      if (anchor && *anchor == *t.adapter)
        w.put<int64_t>(-2);  // FedProx's anchor is the start adapter: not sent twice
      else
        w.floats(anchor);
      w.floats(t.hooks.scaffold_correction);
    }
    mpi::send(rank, kTagTasks, w.bytes().data(), w.bytes().size());
    return static_cast<int64_t>(w.bytes().size());
  }

  LocalTrainer& local_;
  std::function<void(const std::string&)> log_;
  bool said_idle_ = false;
  const RankTrainingStats at_start_ = g_totals;  // for the closing log line
};

// A blocking receive would spin a core in most MPI libraries while rank 0 simulates and
// evaluates; poll instead.
std::vector<char> wait_for_tasks() {
  int from = -1;
  while (!mpi::probe_any(kTagTasks, &from)) std::this_thread::sleep_for(std::chrono::microseconds(200));
  FEDSIM_ASSERT(from == 0);
  return mpi::recv(0, kTagTasks);
}

}  // namespace

std::unique_ptr<LocalTrainer> make_rank_trainer(LocalTrainer& local, std::function<void(const std::string&)> log) {
  return std::make_unique<RankTrainer>(local, std::move(log));
}

RankTrainingStats rank_training_totals() { return g_totals; }

void serve_rank_training(LocalTrainer& local) {
  for (;;) {
    const std::vector<char> bytes = wait_for_tasks();
    Reader rd(bytes);
    const auto n = static_cast<size_t>(rd.get<int64_t>());
    if (n == 0) return;
    std::vector<std::vector<float>> adapters(n), anchors(n), corrections(n);
    std::vector<TrainTask> tasks(n);
    for (size_t i = 0; i < n; ++i) {
      TrainTask& t = tasks[i];
      t.client = static_cast<int32_t>(rd.get<int64_t>());
      t.round = rd.get<int64_t>();
      t.steps = static_cast<int>(rd.get<int64_t>());
      t.lr = rd.get<double>();
      t.hooks.prox_mu = rd.get<float>();
      rd.floats(adapters[i]);
      t.adapter = &adapters[i];
      const int64_t anchor = rd.floats(anchors[i]);
      if (anchor == -2) anchors[i] = adapters[i];
      if (anchor != -1) t.hooks.prox_anchor = &anchors[i];
      if (rd.floats(corrections[i]) >= 0) t.hooks.scaffold_correction = &corrections[i];
    }
    const std::vector<LocalResult> res = train_tasks(local, tasks);
    Writer w;
    for (size_t i = 0; i < n; ++i) {
      w.put<double>(res[i].loss);
      w.put<int64_t>(res[i].steps);
      w.put<int64_t>(res[i].tokens);
      w.put<int64_t>(res[i].rows);
      w.floats(&adapters[i]);
    }
    mpi::send(0, kTagResults, w.bytes().data(), w.bytes().size());
  }
}

}  // namespace fedsim::sim
