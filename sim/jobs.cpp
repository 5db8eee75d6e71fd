#include "sim/jobs.hpp"

#include <algorithm>

#include "common/error.hpp"
#include "common/rng.hpp"

namespace fedsim::sim {

const char* job_kind_name(JobKind k) {
  switch (k) {
    case JobKind::download: return "download";
    case JobKind::train: return "train";
    case JobKind::upload: return "upload";
    case JobKind::eval: return "eval";
    case JobKind::generate: return "generate";
  }
  return "?";
}

const char* job_end_name(JobEnd e) {
  switch (e) {
    case JobEnd::done: return "done";
    case JobEnd::offline: return "offline";
    case JobEnd::failed: return "failed";
    case JobEnd::cancelled: return "cancelled";
  }
  return "?";
}

JobScheduler::JobScheduler(EventQueue& q, const SystemModel& sys, bool record_timeline)
    : q_(q), sys_(sys), record_(record_timeline) {}

uint32_t JobScheduler::add_owner(uint64_t seed) {
  seeds_.push_back(seed);
  started_.push_back(0);
  return static_cast<uint32_t>(seeds_.size() - 1);
}

uint64_t JobScheduler::started() const {
  uint64_t n = 0;
  for (uint64_t s : started_) n += s;
  return n;
}

uint32_t JobScheduler::start(uint32_t owner, int32_t client, JobKind kind, int64_t round, Tick duration, int64_t tag) {
  FEDSIM_ASSERT(duration >= 0 && owner < seeds_.size());
  uint32_t id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else {
    id = static_cast<uint32_t>(jobs_.size());
    jobs_.emplace_back();
  }
  Job& j = jobs_[id];
  const Tick now = q_.now();
  j = Job{client, kind, round, tag, now, now + duration, {}, true, owner};
  uint32_t how = kJobDone;
  Tick at = j.end;
  if (client >= 0) {
    // The whole interval is checked: an offline time inside it ends the job there.
    const Tick off = sys_.availability().offline_at(client, now);
    if (off < at) {
      at = off;
      how = kJobOffline;
    }
    if (sys_.dropout_prob() > 0.0) {
      // One stream per started job, keyed by (client, job number): deterministic for a config.
      Rng rng(seeds_[owner], static_cast<uint64_t>(client), started_[owner], Purpose::task_failure);
      if (rng.uniform() < sys_.dropout_prob()) {
        const Tick fail = now + static_cast<Tick>(rng.uniform() * static_cast<double>(duration));
        if (fail < at) {
          at = fail;
          how = kJobFailed;
        }
      }
    }
  }
  ++started_[owner];
  j.event = q_.schedule(at, how, client, id);
  return id;
}

Job JobScheduler::finish(const Event& ev, JobEnd* how) {
  const auto id = static_cast<uint32_t>(ev.payload);
  FEDSIM_ASSERT(id < jobs_.size() && jobs_[id].active);
  Job j = jobs_[id];
  *how = ev.kind == kJobDone ? JobEnd::done : (ev.kind == kJobOffline ? JobEnd::offline : JobEnd::failed);
  if (record_) timeline_.push_back({j.client, j.kind, *how, j.round, j.start, ev.time});
  jobs_[id].active = false;
  free_.push_back(id);
  return j;
}

void JobScheduler::check_loaded() const {
  bool ok = started_.size() == seeds_.size();
  for (uint32_t id : free_) ok = ok && id < jobs_.size() && !jobs_[id].active;
  for (const Job& j : jobs_) ok = ok && j.owner < seeds_.size();
  if (!ok) throw UserError("checkpoint: the job table is inconsistent (corrupt simulation state)");
}

void JobScheduler::cancel(uint32_t id) {
  FEDSIM_ASSERT(id < jobs_.size() && jobs_[id].active);
  Job& j = jobs_[id];
  const bool was_pending = q_.cancel(j.event);
  FEDSIM_ASSERT(was_pending);
  if (record_) timeline_.push_back({j.client, j.kind, JobEnd::cancelled, j.round, j.start, q_.now()});
  j.active = false;
  free_.push_back(id);
}

}  // namespace fedsim::sim
