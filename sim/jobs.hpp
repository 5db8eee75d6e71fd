// Jobs: the scheduled units of work of a simulation (download, train, upload, eval, and later
// the U2S and MAS-GPT generators). A job belongs to a client (or the server, client -1), has a
// simulated duration fixed when it starts and ends in one of three ways:
//   done       - it ran to its end;
//   offline    - its client went offline inside the interval (checked over the whole interval,
//                unlike FedScale, which checks only at the end);
//   failed     - a dropout drawn with system.dropout_prob, at a uniform time inside it;
// or it is cancelled by its owner (a straggler past a deadline). Every job leaves one row in
// the timeline. Real computation belongs to the owner's completion handler, so work of jobs
// that never finish is never done.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/archive.hpp"
#include "sim/event_queue.hpp"
#include "sim/system_model.hpp"

namespace fedsim::sim {

enum class JobKind : uint8_t { download = 0, train = 1, upload = 2, eval = 3, generate = 4 };
enum class JobEnd : uint8_t { done = 0, offline = 1, failed = 2, cancelled = 3 };
constexpr int archive_enum_count(JobKind) { return 5; }
constexpr int archive_enum_count(JobEnd) { return 4; }
const char* job_kind_name(JobKind k);
const char* job_end_name(JobEnd e);

struct TimelineRow {
  int32_t client = -1;
  JobKind kind = JobKind::train;
  JobEnd end = JobEnd::done;
  int64_t round = 0;
  Tick start = 0, stop = 0;
  template <class Ar>
  void fields(Ar& ar) { ar(client, kind, end, round, start, stop); }
};

struct Job {
  int32_t client = -1;
  JobKind kind = JobKind::train;
  int64_t round = 0;
  int64_t tag = 0;  // owner's data (for example a slot index)
  Tick start = 0, end = 0;
  EventId event;
  bool active = false;
  uint32_t owner = 0;  // the job stream (add_owner) whose process gets its end
  template <class Ar>
  void fields(Ar& ar) { ar(client, kind, round, tag, start, end, event, active, owner); }
};

class JobScheduler {
 public:
  // Queue event kinds the scheduler uses; owners use kinds >= kOwnerKinds for their own events.
  static constexpr uint32_t kJobDone = 1, kJobOffline = 2, kJobFailed = 3, kOwnerKinds = 16;

  JobScheduler(EventQueue& q, const SystemModel& sys, bool record_timeline);
  // A job stream: its failure draws come from (seed, client, the stream's job count,
  // task_failure), so one owner's jobs do not shift another's draws. Returns the owner id.
  uint32_t add_owner(uint64_t seed);
  // Starts a job now; returns its id. The matching queue event carries the id as payload.
  uint32_t start(uint32_t owner, int32_t client, JobKind kind, int64_t round, Tick duration, int64_t tag);
  // Called by the owner for a popped scheduler event: closes the job, records it and returns it.
  Job finish(const Event& ev, JobEnd* how);
  void cancel(uint32_t id);
  const Job& job(uint32_t id) const { return jobs_[id]; }
  // Whether an active job is due to end `done` (its end was drawn when it started); owners use
  // it to compute ahead work whose completion is already certain unless they cancel it.
  bool ends_done(uint32_t id) const { return jobs_[id].active && q_.pending_kind(jobs_[id].event) == kJobDone; }
  const std::vector<TimelineRow>& timeline() const { return timeline_; }
  uint64_t started() const;                 // all owners
  uint64_t started(uint32_t owner) const { return started_.at(owner); }
  template <class Ar>
  void fields(Ar& ar) { ar(jobs_, free_, appended(timeline_), started_); }
  void check_loaded() const;  // after reading: UserError if the state is inconsistent

 private:
  EventQueue& q_;
  const SystemModel& sys_;
  bool record_;
  std::vector<uint64_t> seeds_;    // per owner
  std::vector<uint64_t> started_;  // per owner
  std::vector<Job> jobs_;
  std::vector<uint32_t> free_;
  std::vector<TimelineRow> timeline_;
};

}  // namespace fedsim::sim
