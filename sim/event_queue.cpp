#include "sim/event_queue.hpp"

namespace fedsim::sim {

void EventQueue::reserve(size_t n) {
  slots_.reserve(n);
  free_.reserve(n);
  heap_.reserve(n);
}

EventId EventQueue::schedule(Tick time, uint32_t kind, int32_t client, int64_t payload) {
  FEDSIM_ASSERT_MSG(time >= now_, "scheduling into the past: t=" << time << " < now=" << now_);
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.push_back({});
  }
  const uint64_t seq = next_seq_++;
  slots_[slot].ev = Event{time, seq, kind, client, payload};
  slots_[slot].live = true;
  heap_.push_back({time, seq, slot});
  sift_up(heap_.size() - 1);
  ++live_;
  return {slot, seq};
}

bool EventQueue::cancel(EventId id) {
  if (id.slot >= slots_.size()) return false;
  Slot& s = slots_[id.slot];
  if (!s.live || s.ev.seq != id.seq) return false;
  s.live = false;  // the heap entry is dropped lazily when it reaches the top
  --live_;
  return true;
}

bool EventQueue::pop(Event& out) {
  while (!heap_.empty()) {
    const HeapEntry top = heap_.front();
    heap_.front() = heap_.back();
    heap_.pop_back();
    if (!heap_.empty()) sift_down(0);
    Slot& s = slots_[top.slot];
    const bool live = s.live && s.ev.seq == top.seq;
    if (s.ev.seq == top.seq) free_.push_back(top.slot);  // the slot is done either way
    if (!live) continue;
    s.live = false;
    --live_;
    FEDSIM_ASSERT(top.time >= now_);
    now_ = top.time;
    out = s.ev;
    return true;
  }
  return false;
}

void EventQueue::check_loaded() const {
  size_t live = 0;
  for (const auto& s : slots_) live += s.live ? 1 : 0;
  bool ok = live == live_ && heap_.size() >= live_;
  for (const auto& h : heap_) ok = ok && h.slot < slots_.size() && h.time >= now_;
  for (uint32_t f : free_) ok = ok && f < slots_.size();
  if (!ok) throw UserError("checkpoint: the event queue is inconsistent (corrupt simulation state)");
}

void EventQueue::sift_up(size_t i) {
  const HeapEntry e = heap_[i];
  while (i > 0) {
    const size_t parent = (i - 1) / 2;
    if (!later(heap_[parent], e)) break;
    heap_[i] = heap_[parent];
    i = parent;
  }
  heap_[i] = e;
}

void EventQueue::sift_down(size_t i) {
  const size_t n = heap_.size();
  const HeapEntry e = heap_[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && later(heap_[child], heap_[child + 1])) ++child;
    if (!later(e, heap_[child])) break;
    heap_[i] = heap_[child];
    i = child;
  }
  heap_[i] = e;
}

}  // namespace fedsim::sim
