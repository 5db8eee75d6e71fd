// SIGINT / SIGTERM: the handlers only set a flag; every long loop (data generation, import,
// pretraining, the event loop, sweeps, big reads) polls it through check_stop(), which throws
// Stopped, so files being written are removed by their destructors (h5::AtomicFile) and the
// CLI exits with 128 + the signal number. A simulation that checkpoints catches the flag
// itself, writes its state and throws sim::Interrupted instead (sim/checkpoint.hpp).
#pragma once

namespace fedsim {

// Not a std::exception: code that maps errors to messages (catch std::exception) must not
// swallow a stop.
struct Stopped {
  int signal = 0;
};

// Installs the handlers (idempotent). A second signal of either kind while a stop is pending
// restores the default action, so a stuck process still dies on the next Ctrl-C.
void install_stop_handlers();
int stop_signal();  // 0 while no stop was requested
// Throws Stopped{signal} once a stop was requested.
inline void check_stop() {
  if (const int s = stop_signal()) throw Stopped{s};
}
// Tests: forget a request (the handlers stay installed).
void clear_stop_for_tests();

}  // namespace fedsim
