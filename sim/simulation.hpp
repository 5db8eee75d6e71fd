// The simulation engine: one event queue, one job scheduler over one system model, and the only
// event loop of a run. Everything that happens in simulated time is a Process registered here
// (the federation's participations and server strategy, U2S generation, MAS-GPT's jobs): the
// engine gives each process its own event kinds and its own job stream, routes every event and
// every job end to the process that owns it, and checkpoints and restores all of them together
// (queue, jobs and each process's save/load, in registration order). Fault injection for the
// crash tests (FEDSIM_FAULT, counted in the events of a simulation that checkpoints) and the
// SIGINT/SIGTERM stop live here too, so every process gets them. As ns-3's Simulator, but events are plain data, so the whole queue checkpoints.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/archive.hpp"
#include "sim/event_queue.hpp"
#include "sim/jobs.hpp"
#include "sim/journal.hpp"
#include "sim/system_model.hpp"

namespace fedsim::sim {

class Simulation;

// A component with state in simulated time. It schedules its own events (kinds 0 .. n_kinds-1,
// as registered) and starts jobs on its own stream; the engine hands both back to it.
class Process {
 public:
  virtual ~Process() = default;
  // One of this process's own events; `kind` is the local kind it was scheduled with.
  virtual void on_event(const Event& ev, uint32_t kind);
  // A job this process started ended (done, offline or failed; cancellations are the owner's own).
  virtual void on_job_end(const Job& job, JobEnd how, const Event& ev);
  // Checkpoints: everything of this process that changes during a run.
  virtual void save(ArchiveWriter& ar) const = 0;
  virtual void load(ArchiveReader& ar) = 0;

 protected:
  Simulation& sim() const;
  Tick now() const;
  EventId schedule(Tick at, uint32_t kind, int32_t client, int64_t payload);
  EventId schedule_in(Tick delay, uint32_t kind, int32_t client, int64_t payload);
  uint32_t start_job(int32_t client, JobKind kind, int64_t round, Tick duration, int64_t tag);

 private:
  friend class Simulation;
  Simulation* sim_ = nullptr;
  uint32_t first_kind_ = 0;
  uint32_t job_owner_ = 0;
};

class Simulation {
 public:
  Simulation(const SystemSpec& system, int n_clients, uint64_t seed);
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  // Registers `p` (which must outlive the run) with `n_kinds` event kinds of its own and a job
  // stream whose failure draws are keyed by `job_seed`. An `observer` (open-ended evaluation)
  // runs beside the run without changing it: its events and jobs are left out of run_events(),
  // run_jobs_started() and run_end().
  void add(Process& p, uint32_t n_kinds, uint64_t job_seed, bool observer = false);

  EventQueue& queue() { return queue_; }
  JobScheduler& jobs() { return jobs_; }
  const JobScheduler& jobs() const { return jobs_; }
  const SystemModel& system() const { return system_; }
  Tick now() const { return queue_.now(); }
  uint64_t events() const { return events_; }  // every process's
  // The run's own totals, observers left out: events handled, jobs started, and the time of its
  // last event (without observers: now() once run() has returned).
  uint64_t run_events() const { return run_events_; }
  uint64_t run_jobs_started() const;
  Tick run_end() const { return run_end_; }

  // Checkpoints (sim/checkpoint.hpp). `config_yaml` names the run in the file; a process calls
  // request_checkpoint() after a point worth resuming from and set_progress() with the rounds
  // completed so far (the file's `completed_rounds`). The history goes to the file's journal.
  void set_checkpointing(std::string file, std::string config_yaml);
  void request_checkpoint() { checkpoint_due_ = true; }
  void set_progress(int64_t completed_rounds) { progress_ = completed_rounds; }
  // The whole state in one blob (the history inline; tests and tools).
  std::vector<uint8_t> save_state() const;
  // A blob of save_state() or of a checkpoint (whose history is loaded from the journal of
  // set_checkpointing's file). UserError for a damaged or foreign one.
  void load_state(const std::vector<uint8_t>& bytes);

  // The event loop: pops every event in (time, sequence) order and hands it to its owner; writes
  // a checkpoint when one was requested. On SIGINT/SIGTERM (common/stop.hpp) a simulation that
  // checkpoints writes one and throws Interrupted; one that does not throws Stopped. Returns
  // when no event is left.
  void run();

 private:
  void dispatch(const Event& ev);
  void count(size_t owner, const Event& ev);
  void write_checkpoint_now();
  // The blob: header, body (queue, jobs, processes; appended history to `journal` if given,
  // which is committed before the trailer records its length and CRC), trailer.
  std::vector<uint8_t> archive(Journal* journal) const;
  template <class Ar, class Self>
  static void body_fields(Self& self, Ar& ar);

  EventQueue queue_;
  SystemModel system_;
  JobScheduler jobs_;
  std::vector<Process*> processes_;
  std::vector<uint32_t> first_kind_, end_kind_;  // per process: its kinds [first, end)
  std::vector<bool> observer_;                    // per process
  uint32_t next_kind_ = JobScheduler::kOwnerKinds;
  uint64_t events_ = 0, run_events_ = 0;
  Tick run_end_ = 0;
  bool checkpoint_due_ = false;
  int64_t progress_ = 0;
  std::string checkpoint_file_, config_yaml_;
  Journal journal_;
};

}  // namespace fedsim::sim
