#include "sim/simulation.hpp"

#include <csignal>

#include "common/error.hpp"
#include "sim/checkpoint.hpp"

namespace fedsim::sim {
namespace {
constexpr uint64_t kStateMagic = 0x66656473696d5333ULL;  // "fedsimS3"
}  // namespace

void Process::on_event(const Event& ev, uint32_t kind) {
  FEDSIM_ASSERT_MSG(false, "process got event kind " << kind << " at t=" << ev.time << " but handles none");
}
void Process::on_job_end(const Job& job, JobEnd, const Event&) {
  FEDSIM_ASSERT_MSG(false, "process got the end of a " << job_kind_name(job.kind) << " job but starts none");
}
Simulation& Process::sim() const {
  FEDSIM_ASSERT_MSG(sim_, "process used before Simulation::add");
  return *sim_;
}
Tick Process::now() const { return sim().now(); }
EventId Process::schedule(Tick at, uint32_t kind, int32_t client, int64_t payload) {
  return sim().queue().schedule(at, first_kind_ + kind, client, payload);
}
EventId Process::schedule_in(Tick delay, uint32_t kind, int32_t client, int64_t payload) {
  return sim().queue().schedule_in(delay, first_kind_ + kind, client, payload);
}
uint32_t Process::start_job(int32_t client, JobKind kind, int64_t round, Tick duration, int64_t tag) {
  return sim().jobs().start(job_owner_, client, kind, round, duration, tag);
}

Simulation::Simulation(const SystemSpec& system, int n_clients, uint64_t seed)
    : system_(system, n_clients, seed), jobs_(queue_, system_, true) {}

void Simulation::add(Process& p, uint32_t n_kinds, uint64_t job_seed, bool observer) {
  FEDSIM_ASSERT_MSG(!p.sim_, "process registered twice");
  p.sim_ = this;
  p.first_kind_ = next_kind_;
  p.job_owner_ = jobs_.add_owner(job_seed);
  FEDSIM_ASSERT(p.job_owner_ == processes_.size());
  processes_.push_back(&p);
  first_kind_.push_back(next_kind_);
  next_kind_ += n_kinds;
  end_kind_.push_back(next_kind_);
  observer_.push_back(observer);
}

uint64_t Simulation::run_jobs_started() const {
  uint64_t n = 0;
  for (size_t i = 0; i < processes_.size(); ++i)
    if (!observer_[i]) n += jobs_.started(static_cast<uint32_t>(i));
  return n;
}

void Simulation::set_checkpointing(std::string file, std::string config_yaml) {
  checkpoint_file_ = std::move(file);
  config_yaml_ = std::move(config_yaml);
}

void Simulation::count(size_t owner, const Event& ev) {
  if (observer_[owner]) return;
  ++run_events_;
  run_end_ = ev.time;
}

void Simulation::dispatch(const Event& ev) {
  if (ev.kind == JobScheduler::kJobDone || ev.kind == JobScheduler::kJobOffline || ev.kind == JobScheduler::kJobFailed) {
    JobEnd how;
    const Job j = jobs_.finish(ev, &how);
    count(j.owner, ev);
    processes_.at(j.owner)->on_job_end(j, how, ev);
    return;
  }
  for (size_t i = 0; i < processes_.size(); ++i)
    if (ev.kind >= first_kind_[i] && ev.kind < end_kind_[i]) {
      count(i, ev);
      processes_[i]->on_event(ev, ev.kind - first_kind_[i]);
      return;
    }
  FEDSIM_ASSERT_MSG(false, "event kind " << ev.kind << " has no process");
}

template <class Ar, class Self>
void Simulation::core_fields(Self& self, Ar& ar) {
  uint64_t magic = kStateMagic, n = self.processes_.size();
  ar(magic, n, self.events_, self.run_events_, self.run_end_, self.progress_, self.queue_, self.jobs_);
  if (magic != kStateMagic || n != self.processes_.size())
    throw UserError("checkpoint: saved by another kind of run (other processes); it does not match this config");
}

std::vector<uint8_t> Simulation::save_state() const {
  auto write = [this](ArchiveWriter& w) {
    core_fields(const_cast<Simulation&>(*this), w);
    for (const Process* p : processes_) p->save(w);
    uint64_t end = kStateMagic;
    w(end);
  };
  ArchiveWriter count(ArchiveWriter::CountOnly{});
  write(count);
  ArchiveWriter w;
  w.reserve(count.size());
  write(w);
  FEDSIM_ASSERT(w.size() == count.size());
  return w.take();
}

void Simulation::load_state(const std::vector<uint8_t>& bytes) {
  ArchiveReader r(bytes, "checkpoint");
  core_fields(*this, r);
  queue_.check_loaded();
  jobs_.check_loaded();
  for (Process* p : processes_) p->load(r);
  uint64_t end = 0;
  r(end);
  if (end != kStateMagic || !r.done()) r.fail();
}

void Simulation::write_checkpoint_now() const {
  write_checkpoint(checkpoint_file_, {config_yaml_, progress_, save_state()});
}

void Simulation::run() {
  // Fault injection exercises checkpoints: it counts the events of the simulation that writes them.
  const FaultPlan fault = checkpoint_file_.empty() ? FaultPlan{} : FaultPlan::from_env();
  Event ev;
  while (queue_.pop(ev)) {
    ++events_;
    dispatch(ev);
    if (static_cast<int64_t>(events_) == fault.kill_after_events) std::raise(SIGKILL);
    if (static_cast<int64_t>(events_) == fault.term_after_events) std::raise(SIGTERM);
    if (checkpoint_file_.empty()) continue;
    if (checkpoint_due_ && queue_.pending() > 0) write_checkpoint_now();
    checkpoint_due_ = false;
    if (stop_signal() != 0 && queue_.pending() > 0) {
      write_checkpoint_now();
      throw Interrupted{stop_signal(), checkpoint_file_};
    }
  }
}

}  // namespace fedsim::sim
