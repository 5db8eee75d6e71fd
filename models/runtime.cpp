// Runtime: Kokkos for the process, the host BLAS's threads, the description the run banner and
// `fedsim --version` print, and the launch / sync / transfer counters of models/bench.hpp
// (Kokkos's profiling callbacks, registered in-process: no KOKKOS_TOOLS_LIBS).
#include <Kokkos_Core.hpp>
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

#include "models/bench.hpp"
#include "models/kernels/team.hpp"
#include "models/model.hpp"
#include "models/products.hpp"

// OpenBLAS's controls, weak so that builds against another BLAS (or cuBLAS through Kokkos
// Kernels) link unchanged.
extern "C" void openblas_set_num_threads(int) __attribute__((weak));
extern "C" char* openblas_get_corename() __attribute__((weak));
extern "C" char* openblas_get_config() __attribute__((weak));
extern "C" int openblas_get_num_threads() __attribute__((weak));
extern "C" int openblas_get_parallel() __attribute__((weak));

namespace fedsim::models {

namespace {
void register_allocation_callbacks();
}

// BLAS threads: every core the host execution space uses (the OpenMP build: all of them, in
// the OpenMP runtime Kokkos uses; Serial: one), or FEDSIM_BLAS_THREADS; OPENBLAS_NUM_THREADS,
// when set, is left to OpenBLAS.
Runtime::Runtime(int& argc, char** argv) {
  // Kokkos's OpenMP backend prints a binding hint on stdout (into every run's output, and before
  // a --json line) when OMP_PROC_BIND is unset. The OpenMP runtime read its environment when it
  // was loaded, so setting the variable now binds nothing: it records the runtime's default for
  // an unset variable (false: threads not bound), and the hint goes.
  if (!std::getenv("OMP_PROC_BIND")) setenv("OMP_PROC_BIND", "false", 0);
  if (!Kokkos::is_initialized()) Kokkos::initialize(argc, argv);
  int blas_threads = Kokkos::DefaultHostExecutionSpace().concurrency();
  if (const char* env = std::getenv("FEDSIM_BLAS_THREADS")) blas_threads = std::max(1, std::atoi(env));
  if (openblas_set_num_threads && !std::getenv("OPENBLAS_NUM_THREADS")) openblas_set_num_threads(blas_threads);
  register_allocation_callbacks();
}

Runtime::~Runtime() {
  if (Kokkos::is_initialized()) Kokkos::finalize();
}

namespace {
std::atomic<Products> g_products{Products::blas};

// "OpenBLAS 0.3.21 (OpenMP) core Haswell, 2 threads", or "" when the BLAS is not OpenBLAS.
std::string openblas_identity() {
  if (!openblas_get_corename || !openblas_get_config) return "";
  std::string config = openblas_get_config();  // "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64"
  const size_t v = config.find(' ', config.find(' ') + 1);
  std::ostringstream os;
  os << config.substr(0, v);
  if (openblas_get_parallel) {
    const int p = openblas_get_parallel();  // 0 sequential, 1 pthreads, 2 OpenMP
    os << (p == 2 ? " (OpenMP)" : p == 1 ? " (pthreads)" : " (sequential)");
  }
  os << " core " << openblas_get_corename();
  if (openblas_get_num_threads) {
    const int n = openblas_get_num_threads();
    os << ", " << n << (n == 1 ? " thread" : " threads");
  }
  return os.str();
}
}  // namespace

void set_products(Products p) { g_products.store(p, std::memory_order_relaxed); }
Products products() { return g_products.load(std::memory_order_relaxed); }

std::string products_identity() {
  if (products() == Products::blas) {
#ifdef FEDSIM_HAVE_CBLAS
    if (kHostSpace) {
      const std::string ob = openblas_identity();
      return "blas: " + (ob.empty() ? std::string("host CBLAS") : ob);
    }
#endif
#ifdef FEDSIM_HAVE_KOKKOSKERNELS
    return "blas: KokkosBlas::gemm";
#endif
  }
  return "portable";
}

std::string Runtime::describe() {
  std::ostringstream os;
  const int n = Kokkos::DefaultExecutionSpace().concurrency();
  os << "Kokkos " << KOKKOS_VERSION / 10000 << "." << (KOKKOS_VERSION / 100) % 100 << "." << KOKKOS_VERSION % 100
     << ", " << Kokkos::DefaultExecutionSpace::name() << " (" << n << (n == 1 ? " thread" : " threads") << ")";
  if constexpr (kHostSpace) os << ", host vectors " << FEDSIM_HOST_SIMD_NAME;  // cmake: FEDSIM_HOST_SIMD
  os << ", dense products: " << products_identity();
  return os.str();
}

// ---- counters -------------------------------------------------------------------------------
namespace {
// Allocations the callbacks have seen: where each starts, its size, and whether it is device
// memory in the sense of a GPU build (the default memory space, not a host staging buffer or a
// mirror). On host builds both sides of a transfer are host memory; this is what tells them apart.
struct Alloc {
  uint64_t size;
  bool device;
};
std::mutex g_mutex;
std::map<uintptr_t, Alloc>& allocs() {
  static std::map<uintptr_t, Alloc> m;
  return m;
}
bool host_label(const char* label) {
  const size_t n = std::strlen(label);
  return std::strncmp(label, "fedsim::host::", 14) == 0 || (n >= 7 && std::strcmp(label + n - 7, "_mirror") == 0);
}
bool is_device_ptr(const Kokkos::Tools::SpaceHandle& h, const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = allocs().upper_bound(a);
  if (it != allocs().begin()) {
    --it;
    if (a < it->first + std::max<uint64_t>(it->second.size, 1)) return it->second.device;
  }
  return std::strcmp(h.name, Kokkos::HostSpace::name()) != 0;  // memory Kokkos did not allocate
}
std::atomic<int64_t> g_launches{0}, g_fences{0}, g_reads{0}, g_writes{0}, g_bytes{0}, g_copies{0}, g_allocs{0};
std::atomic<int64_t> g_steps{0}, g_runs{0};
std::atomic<bool> g_counting{false};
void on_allocate(const Kokkos::Tools::SpaceHandle h, const char* label, const void* p, const uint64_t size) {
  const bool device = std::strcmp(h.name, MemSpace::name()) == 0 && !host_label(label);
  std::lock_guard<std::mutex> lock(g_mutex);
  allocs()[reinterpret_cast<uintptr_t>(p)] = Alloc{size, device};
  if (g_counting) ++g_allocs;
}
void on_deallocate(const Kokkos::Tools::SpaceHandle, const char*, const void* p, const uint64_t) {
  if (g_counting) ++g_allocs;
  std::lock_guard<std::mutex> lock(g_mutex);
  allocs().erase(reinterpret_cast<uintptr_t>(p));
}

// Open regions: whether each is a BLAS call and the launches counted when it opened. A BLAS
// call that launched no Kokkos kernel (a TPL: OpenBLAS, cuBLAS) counts as one launch.
std::vector<std::pair<bool, int64_t>>& regions() {
  static std::vector<std::pair<bool, int64_t>> r;
  return r;
}

// Kokkos's host deep_copy splits large copies over the host threads with kernels of its own:
// part of a copy (counted as one), which a device build makes with a memcpy, not a launch.
void on_begin_kernel(const char* name, const uint32_t, uint64_t*) {
  if (std::strncmp(name, "Kokkos::Impl::host_space_deepcopy", 33) != 0) ++g_launches;
}
void on_push(const char* name) { regions().emplace_back(std::strcmp(name, "fedsim::blas") == 0, g_launches.load()); }
void on_pop() {
  if (regions().empty()) return;
  const auto [blas, at] = regions().back();
  regions().pop_back();
  if (blas && g_launches.load() == at) ++g_launches;
}
void on_deep_copy(Kokkos::Tools::SpaceHandle dh, const char* dname, const void* dp, Kokkos::Tools::SpaceHandle sh,
                  const char* sname, const void* sp, uint64_t size) {
  (void)dname;
  if (std::strcmp(sname, "Scalar") == 0 || std::strcmp(sname, "(none)") == 0) return;  // a fill: its kernel counts
  const bool dd = is_device_ptr(dh, dp), sd = is_device_ptr(sh, sp);
  if (dd && sd) {
    ++g_copies;
  } else if (dd != sd) {
    g_bytes += static_cast<int64_t>(size);
    ++(sd ? g_reads : g_writes);  // a read into pageable host memory blocks the host
  }
}
void on_fence(const char* name, const uint32_t, uint64_t*) {
  if (std::strstr(name, "Profile Tool Fence") == nullptr) ++g_fences;  // not the tools' own
}

void register_allocation_callbacks() {
  Kokkos::Tools::Experimental::set_allocate_data_callback(on_allocate);
  Kokkos::Tools::Experimental::set_deallocate_data_callback(on_deallocate);
}
void set_counting_callbacks(bool on) {
  namespace E = Kokkos::Tools::Experimental;
  E::set_begin_parallel_for_callback(on ? on_begin_kernel : nullptr);
  E::set_begin_parallel_reduce_callback(on ? on_begin_kernel : nullptr);
  E::set_begin_parallel_scan_callback(on ? on_begin_kernel : nullptr);
  E::set_push_region_callback(on ? on_push : nullptr);
  E::set_pop_region_callback(on ? on_pop : nullptr);
  E::set_begin_deep_copy_callback(on ? on_deep_copy : nullptr);
  E::set_begin_fence_callback(on ? on_fence : nullptr);
}
}  // namespace

void start_counting() {
  for (auto* c : {&g_launches, &g_fences, &g_reads, &g_writes, &g_bytes, &g_copies, &g_allocs, &g_steps, &g_runs})
    *c = 0;
  regions().clear();
  g_counting = true;
  set_counting_callbacks(true);
}

void resume_counting() {
  regions().clear();
  g_counting = true;
  set_counting_callbacks(true);
}

KernelCounts stop_counting() {
  set_counting_callbacks(false);
  g_counting = false;
  KernelCounts k;
  k.launches = g_launches;
  k.fences = g_fences;
  k.allocations = g_allocs;
  k.reads = g_reads;
  k.writes = g_writes;
  k.bytes = g_bytes;
  k.device_copies = g_copies;
  k.steps = g_steps;
  k.runs = g_runs;
  return k;
}

void count_step() {
  if (g_counting) ++g_steps;
}
void count_run() {
  if (g_counting) ++g_runs;
}

}  // namespace fedsim::models
