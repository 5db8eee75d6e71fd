// Discrete-event core: integer ticks, events ordered by (time, sequence number) so ties run in
// the order they were scheduled (as ns-3's scheduler). Scheduling into the past is an
// assertion failure. Cancellation is O(1) through slot handles.
//
// Allocation-free in steady state: events live in a slot pool recycled through a free list,
// the heap holds (time, seq, slot) triples; both only grow to the peak number pending.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "common/error.hpp"

namespace fedsim::sim {

using Tick = int64_t;                       // simulated time; 1 tick = 1 microsecond
inline constexpr Tick kTicksPerSecond = 1000000;
inline Tick seconds_to_ticks(double s) {
  FEDSIM_ASSERT_MSG(std::isfinite(s) && s >= 0.0 && s < 9.2e12, "bad duration " << s << " s");
  return static_cast<Tick>(std::llround(s * static_cast<double>(kTicksPerSecond)));
}
inline double ticks_to_seconds(Tick t) { return static_cast<double>(t) / static_cast<double>(kTicksPerSecond); }

struct Event {
  Tick time = 0;
  uint64_t seq = 0;      // global scheduling order; breaks ties
  uint32_t kind = 0;     // what happens (the Simulation routes kinds to their process)
  int32_t client = -1;   // who it concerns (-1 = server)
  int64_t payload = 0;   // owner-defined (round number, job id, ...)
  template <class Ar>
  void fields(Ar& ar) { ar(time, seq, kind, client, payload); }
};

// Handle to a scheduled event, for cancellation.
struct EventId {
  uint32_t slot = UINT32_MAX;
  uint64_t seq = 0;
  template <class Ar>
  void fields(Ar& ar) { ar(slot, seq); }
};

class EventQueue {
 public:
  void reserve(size_t n);
  Tick now() const { return now_; }
  EventId schedule(Tick time, uint32_t kind, int32_t client, int64_t payload);
  EventId schedule_in(Tick delay, uint32_t kind, int32_t client, int64_t payload) {
    FEDSIM_ASSERT_MSG(delay >= 0, "negative delay " << delay);
    return schedule(now_ + delay, kind, client, payload);
  }
  // Returns false if the event already ran or was cancelled.
  bool cancel(EventId id);
  // The kind of a pending event, or 0 when it already ran or was cancelled.
  uint32_t pending_kind(EventId id) const {
    if (id.slot >= slots_.size()) return 0;
    const Slot& s = slots_[id.slot];
    return s.live && s.ev.seq == id.seq ? s.ev.kind : 0;
  }
  // The time of a pending event, or -1 when it already ran or was cancelled.
  Tick pending_time(EventId id) const {
    if (id.slot >= slots_.size()) return -1;
    const Slot& s = slots_[id.slot];
    return s.live && s.ev.seq == id.seq ? s.ev.time : -1;
  }
  // Next live event in (time, seq) order; advances now(). False when none is left.
  bool pop(Event& out);
  size_t pending() const { return live_; }
  // Checkpoints: the whole queue (clock, sequence counter, pending and cancelled events).
  template <class Ar>
  void fields(Ar& ar) { ar(now_, next_seq_, live_, slots_, free_, heap_); }
  void check_loaded() const;  // after reading: UserError if the state is inconsistent

 private:
  struct Slot {
    Event ev;
    bool live = false;
    template <class Ar>
    void fields(Ar& ar) { ar(ev, live); }
  };
  struct HeapEntry {
    Tick time = 0;
    uint64_t seq = 0;
    uint32_t slot = 0;
    template <class Ar>
    void fields(Ar& ar) { ar(time, seq, slot); }
  };
  static bool later(const HeapEntry& a, const HeapEntry& b) {
    return a.time != b.time ? a.time > b.time : a.seq > b.seq;
  }
  void sift_up(size_t i);
  void sift_down(size_t i);

  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  std::vector<HeapEntry> heap_;
  Tick now_ = 0;
  uint64_t next_seq_ = 0;
  uint64_t live_ = 0;
};

}  // namespace fedsim::sim
