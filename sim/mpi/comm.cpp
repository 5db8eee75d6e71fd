// MPI wrapper (see comm.hpp). Compiled with FEDSIM_HAVE_MPI=1 when the build found MPI; without
// it the same functions describe a single rank.
#include "sim/mpi/comm.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include <sched.h>
#include <unistd.h>

#include "common/error.hpp"

#if FEDSIM_HAVE_MPI
#include <mpi.h>
#endif

namespace fedsim::mpi {
namespace {

std::atomic<int64_t> g_bytes_sent{0};

#if FEDSIM_HAVE_MPI
bool g_started = false;
int g_rank = 0, g_size = 1;

// Variables that Open MPI's mpirun, PMIx (srun --mpi=pmix, Open MPI 4+), PMI (MPICH's hydra,
// srun --mpi=pmi2) and MVAPICH set in every process they start.
bool launched_by_mpi() {
  for (const char* v : {"FEDSIM_MPI_INIT", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE",
                        "MV2_COMM_WORLD_SIZE"}) {
    const char* s = std::getenv(v);
    if (s && *s && !(std::strcmp(v, "FEDSIM_MPI_INIT") == 0 && std::strcmp(s, "0") == 0)) return true;
  }
  return false;
}

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw InternalError(std::string("MPI: ") + what + " failed: " + std::string(msg, static_cast<size_t>(len)));
}

int count_of(MPI_Status& st) {
  int n = 0;
  check(MPI_Get_count(&st, MPI_BYTE, &n), "MPI_Get_count");
  return n;
}
#else
[[noreturn]] void no_mpi(const char* what) {
  throw InternalError(std::string("MPI: ") + what + " called in a build without MPI (one rank)");
}
#endif

}  // namespace

#if FEDSIM_HAVE_MPI

Session::Session(int& argc, char**& argv) {
  if (!launched_by_mpi()) return;
  int provided = 0;
  check(MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
  g_started = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  // The sweep scheduler serves requests from a second thread of rank 0 (never concurrently with
  // the main thread's MPI calls); one rank needs no thread support.
  if (g_size > 1 && provided < MPI_THREAD_SERIALIZED)
    throw UserError("MPI: the MPI library provides thread level " + std::to_string(provided) +
                    "; fedsim on more than one rank needs MPI_THREAD_SERIALIZED (" +
                    std::to_string(MPI_THREAD_SERIALIZED) + ")");
}

Session::~Session() {
  if (!g_started) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

bool built_with_mpi() { return true; }
bool running() { return g_started; }
int rank() { return g_rank; }
int size() { return g_size; }

std::string describe() {
  if (!g_started) return "MPI: not started (one rank)";
  char lib[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(lib, &len);
  std::string name(lib, static_cast<size_t>(len));
  name = name.substr(0, name.find_first_of(",\n"));
  return "MPI: " + name + ", " + std::to_string(g_size) + (g_size == 1 ? " rank" : " ranks");
}

int local_size() {
  if (!g_started || g_size == 1) return 1;
  static int n = 0;  // collective the first time: every rank calls it from share_node_cores
  if (n == 0) {
    MPI_Comm node;
    check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node), "MPI_Comm_split_type");
    MPI_Comm_size(node, &n);
    MPI_Comm_free(&node);
  }
  return n;
}

void abort_job(int code) {
  if (g_started && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
  if (g_started) MPI_Finalize();
  std::exit(code);
}

void send(int dest, int tag, const void* data, size_t bytes) {
  FEDSIM_ASSERT(bytes <= static_cast<size_t>(INT32_MAX));
  check(MPI_Send(data, static_cast<int>(bytes), MPI_BYTE, dest, tag, MPI_COMM_WORLD), "MPI_Send");
  g_bytes_sent += static_cast<int64_t>(bytes);
}

std::vector<char> recv(int source, int tag) {
  MPI_Status st;
  check(MPI_Probe(source, tag, MPI_COMM_WORLD, &st), "MPI_Probe");
  std::vector<char> out(static_cast<size_t>(count_of(st)));
  check(MPI_Recv(out.data(), static_cast<int>(out.size()), MPI_BYTE, source, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
        "MPI_Recv");
  return out;
}

std::vector<char> recv_any(int tag, int* source) {
  MPI_Status st;
  check(MPI_Probe(MPI_ANY_SOURCE, tag, MPI_COMM_WORLD, &st), "MPI_Probe");
  *source = st.MPI_SOURCE;
  return recv(st.MPI_SOURCE, tag);
}

bool probe_any(int tag, int* source) {
  int flag = 0;
  MPI_Status st;
  check(MPI_Iprobe(MPI_ANY_SOURCE, tag, MPI_COMM_WORLD, &flag, &st), "MPI_Iprobe");
  if (flag) *source = st.MPI_SOURCE;
  return flag != 0;
}

void broadcast(std::vector<char>& bytes, int root) {
  if (g_size == 1) return;
  int64_t n = static_cast<int64_t>(bytes.size());
  check(MPI_Bcast(&n, 1, MPI_INT64_T, root, MPI_COMM_WORLD), "MPI_Bcast");
  bytes.resize(static_cast<size_t>(n));
  // Large payloads (a model's adapter) go in pieces below MPI's int count limit.
  constexpr int64_t kChunk = int64_t{1} << 30;
  for (int64_t at = 0; at < n; at += kChunk) {
    const int len = static_cast<int>(std::min(kChunk, n - at));
    check(MPI_Bcast(bytes.data() + at, len, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
  }
  if (g_rank == root) g_bytes_sent += n * (g_size - 1);
}

void barrier() {
  if (g_size > 1) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

#else  // one rank, no MPI library

// R copies of a one-rank fedsim would each run everything and write the same files.
Session::Session(int&, char**&) {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"}) {
    const char* s = std::getenv(v);
    if (s && std::atoi(s) > 1)
      throw UserError(std::string("this fedsim was built without MPI (FEDSIM_MPI=OFF, or MPI not found) but an MPI "
                                  "launcher started it on ") +
                      s + " ranks (" + v + "); accepted: one process without mpirun, or a build with MPI");
  }
}
Session::~Session() = default;
bool built_with_mpi() { return false; }
bool running() { return false; }
int rank() { return 0; }
int size() { return 1; }
std::string describe() { return "MPI: not built in"; }
int local_size() { return 1; }
void abort_job(int code) { std::exit(code); }
void send(int, int, const void*, size_t) { no_mpi("send"); }
std::vector<char> recv(int, int) { no_mpi("recv"); }
std::vector<char> recv_any(int, int*) { no_mpi("recv_any"); }
bool probe_any(int, int*) { return false; }
void broadcast(std::vector<char>&, int) {}
void barrier() {}

#endif

void send_i64(int dest, int tag, const std::vector<int64_t>& v) {
  send(dest, tag, v.data(), v.size() * sizeof(int64_t));
}

std::vector<int64_t> recv_i64(int source, int tag) {
  const std::vector<char> b = recv(source, tag);
  std::vector<int64_t> v(b.size() / sizeof(int64_t));
  if (!v.empty()) std::memcpy(v.data(), b.data(), v.size() * sizeof(int64_t));
  return v;
}

void broadcast_i64(std::vector<int64_t>& v, int root) {
  if (size() == 1) return;
  std::vector<char> b(v.size() * sizeof(int64_t));
  if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
  broadcast(b, root);
  v.resize(b.size() / sizeof(int64_t));
  if (!v.empty()) std::memcpy(v.data(), b.data(), b.size());
}

int64_t bytes_sent() { return g_bytes_sent.load(); }

int share_node_cores(int argc, char** argv) {
  const int ranks = local_size();
  if (ranks <= 1 || std::getenv("OMP_NUM_THREADS") || std::getenv("KOKKOS_NUM_THREADS")) return 0;
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--kokkos-threads", 16) == 0 || std::strncmp(argv[i], "--kokkos-num-threads", 20) == 0)
      return 0;
  const long node = sysconf(_SC_NPROCESSORS_ONLN);
  cpu_set_t set;
  CPU_ZERO(&set);
  const int allowed = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : static_cast<int>(node);
  const int threads = allowed < node ? allowed : std::max(1, static_cast<int>(node) / ranks);
  setenv("KOKKOS_NUM_THREADS", std::to_string(threads).c_str(), 1);
  return threads;
}

}  // namespace fedsim::mpi
