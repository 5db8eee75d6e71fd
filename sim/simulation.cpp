#include "sim/simulation.hpp"

#include <csignal>

#include "common/error.hpp"
#include "common/stop.hpp"
#include "sim/checkpoint.hpp"

namespace fedsim::sim {
namespace {
constexpr uint64_t kStateMagic = 0x66656473696d5333ULL;  // "fedsimS3"
// Trailer: journaled (u8), journal length (u64), journal CRC (u32), end magic (u64).
constexpr size_t kTrailerBytes = 1 + 8 + 4 + 8;
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
  journal_ = Journal(checkpoint_file_.empty() ? "" : journal_path(checkpoint_file_));
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
void Simulation::body_fields(Self& self, Ar& ar) {
  ar(self.queue_, self.jobs_);
}

std::vector<uint8_t> Simulation::archive(Journal* journal) const {
  auto& self = const_cast<Simulation&>(*this);  // fields() only reads through a writer
  auto write = [&](ArchiveWriter& w, bool real) {
    uint64_t magic = kStateMagic, n = processes_.size();
    w(magic, n, self.events_, self.run_events_, self.run_end_, self.progress_);
    w.attach(journal);
    body_fields(self, w);
    for (const Process* p : processes_) p->save(w);
    if (real && journal) journal->commit();  // the segments first: the trailer counts them
    const uint8_t journaled = journal != nullptr;
    w(journaled, journal ? journal->length() : uint64_t{0}, journal ? journal->crc() : uint32_t{0}, magic);
  };
  ArchiveWriter count(ArchiveWriter::CountOnly{});
  write(count, false);
  ArchiveWriter w;
  w.reserve(count.size());
  try {
    write(w, true);
  } catch (...) {
    if (journal) journal->discard_pending();
    throw;
  }
  FEDSIM_ASSERT(w.size() == count.size());
  return w.take();
}

std::vector<uint8_t> Simulation::save_state() const { return archive(nullptr); }

void Simulation::load_state(const std::vector<uint8_t>& bytes) {
  ArchiveReader r(bytes, "checkpoint");
  if (bytes.size() < 40 + kTrailerBytes) r.fail();  // header: magic, n, 3 counters, progress
  uint64_t magic = 0, n = 0;
  r(magic, n, events_, run_events_, run_end_, progress_);
  if (magic != kStateMagic || n != processes_.size())
    throw UserError("checkpoint: saved by another kind of run (other processes); it does not match this config");
  // The trailer first: it says whether the history is in the journal, and how much of it.
  const std::vector<uint8_t> tail(bytes.end() - static_cast<long>(kTrailerBytes), bytes.end());
  ArchiveReader t(tail, "checkpoint");
  uint8_t journaled = 0;
  uint64_t length = 0, end = 0;
  uint32_t crc = 0;
  t(journaled, length, crc, end);
  if (journaled > 1 || end != kStateMagic) r.fail();
  if (journaled) {
    if (checkpoint_file_.empty()) r.fail();  // a journaled blob without its checkpoint's journal
    journal_.load(length, crc);
    r.attach(&journal_);
  }
  body_fields(*this, r);
  queue_.check_loaded();
  jobs_.check_loaded();
  for (Process* p : processes_) p->load(r);
  uint8_t journaled2 = 0;
  uint64_t length2 = 0, end2 = 0;
  uint32_t crc2 = 0;
  r(journaled2, length2, crc2, end2);
  if (!r.done() || journaled2 != journaled || length2 != length || crc2 != crc || end2 != kStateMagic) r.fail();
  journal_.release_loaded();
}

void Simulation::write_checkpoint_now() {
  write_checkpoint(checkpoint_file_, {config_yaml_, progress_, archive(&journal_)});
}

void Simulation::run() {
  // Fault injection exercises checkpoints: it counts the events of the simulation that writes them.
  const FaultPlan fault = checkpoint_file_.empty() ? FaultPlan{} : FaultPlan::get();
  Event ev;
  while (queue_.pop(ev)) {
    ++events_;
    dispatch(ev);
    if (static_cast<int64_t>(events_) == fault.kill_after_events) std::raise(SIGKILL);
    if (static_cast<int64_t>(events_) == fault.term_after_events) std::raise(SIGTERM);
    if (checkpoint_file_.empty()) {
      check_stop();  // nothing to save: stop now (the caller's files are removed as it unwinds)
      continue;
    }
    if (checkpoint_due_ && queue_.pending() > 0) write_checkpoint_now();
    checkpoint_due_ = false;
    if (stop_signal() != 0 && queue_.pending() > 0) {
      write_checkpoint_now();
      throw Interrupted{stop_signal(), checkpoint_file_};
    }
  }
}

}  // namespace fedsim::sim
