#include <doctest/doctest.h>

#include <vector>

#include "sim/event_queue.hpp"

using namespace fedsim::sim;

TEST_CASE("event queue: events run in time order, ties in scheduling order") {
  EventQueue q;
  q.schedule(30, 1, 0, 0);
  q.schedule(10, 2, 0, 0);
  q.schedule(20, 3, 0, 0);
  q.schedule(10, 4, 0, 0);  // same time as kind 2, scheduled later: runs after it
  q.schedule(10, 5, 0, 0);
  std::vector<uint32_t> kinds;
  std::vector<Tick> times;
  Event e;
  while (q.pop(e)) {
    kinds.push_back(e.kind);
    times.push_back(e.time);
    CHECK(q.now() == e.time);
  }
  CHECK(kinds == std::vector<uint32_t>{2, 4, 5, 3, 1});
  CHECK(times == std::vector<Tick>{10, 10, 10, 20, 30});
  CHECK(q.pending() == 0);
}

TEST_CASE("event queue: schedule_in is relative to now, ties with earlier events keep order") {
  EventQueue q;
  q.schedule(5, 1, 0, 0);
  Event e;
  REQUIRE(q.pop(e));
  q.schedule(7, 2, 0, 0);
  q.schedule_in(2, 3, 0, 0);  // also at t=7, scheduled after kind 2
  q.schedule_in(0, 4, 0, 0);  // at t=5, now
  std::vector<uint32_t> kinds;
  while (q.pop(e)) kinds.push_back(e.kind);
  CHECK(kinds == std::vector<uint32_t>{4, 2, 3});
  CHECK(q.now() == 7);
}

TEST_CASE("event queue: cancellation removes exactly the cancelled event") {
  EventQueue q;
  const EventId a = q.schedule(10, 1, 0, 0);
  const EventId b = q.schedule(20, 2, 0, 0);
  q.schedule(30, 3, 0, 0);
  CHECK(q.pending() == 3);
  CHECK(q.cancel(b));
  CHECK_FALSE(q.cancel(b));  // already cancelled
  CHECK(q.pending() == 2);
  Event e;
  REQUIRE(q.pop(e));
  CHECK(e.kind == 1);
  CHECK_FALSE(q.cancel(a));  // already ran
  // The cancelled slot is reused only after its heap entry is gone; the new event must not be
  // mistaken for the cancelled one.
  const EventId c = q.schedule(25, 4, 0, 0);
  std::vector<uint32_t> kinds;
  while (q.pop(e)) kinds.push_back(e.kind);
  CHECK(kinds == std::vector<uint32_t>{4, 3});
  CHECK_FALSE(q.cancel(c));
}

TEST_CASE("event queue: scheduling into the past is an assertion failure") {
  EventQueue q;
  q.schedule(100, 1, 0, 0);
  Event e;
  REQUIRE(q.pop(e));
  CHECK_THROWS_AS(q.schedule(99, 2, 0, 0), fedsim::InternalError);
  CHECK_THROWS_AS(q.schedule_in(-1, 2, 0, 0), fedsim::InternalError);
  CHECK_NOTHROW(q.schedule(100, 2, 0, 0));
}

TEST_CASE("event queue: no event lost across many interleaved schedules and cancels") {
  EventQueue q;
  uint64_t x = 12345;
  auto next = [&] { x = x * 6364136223846793005ULL + 1442695040888963407ULL; return x >> 33; };
  std::vector<EventId> ids;
  int scheduled = 0, cancelled = 0, popped = 0;
  Tick last = 0;
  uint64_t last_seq = 0;
  Event e;
  for (int i = 0; i < 20000; ++i) {
    const auto r = next() % 10;
    if (r < 6) {
      ids.push_back(q.schedule_in(static_cast<Tick>(next() % 100), 1, 0, 0));
      ++scheduled;
    } else if (r < 7 && !ids.empty()) {
      if (q.cancel(ids[next() % ids.size()])) ++cancelled;
    } else if (q.pop(e)) {
      CHECK(e.time >= last);
      if (e.time == last && popped > 0) CHECK(e.seq > last_seq);
      last = e.time;
      last_seq = e.seq;
      ++popped;
    }
  }
  while (q.pop(e)) ++popped;
  CHECK(scheduled == cancelled + popped);
}

TEST_CASE("ticks: seconds convert to integer microseconds") {
  CHECK(seconds_to_ticks(1.5) == 1500000);
  CHECK(seconds_to_ticks(0.0) == 0);
  CHECK(ticks_to_seconds(2500000) == doctest::Approx(2.5));
}
