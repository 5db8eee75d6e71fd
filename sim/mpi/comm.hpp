// The MPI layer of fedsim: the few collective and point-to-point operations the sweep scheduler
// (sim/mpi/sweep_ranks.cpp) and the distributed trainer (sim/mpi/rank_trainer.cpp) need. No MPI
// type appears here, so every caller compiles the same way in a build without MPI, where the
// functions describe one rank (rank 0 of 1) and the transfers are never called.
//
// MPI is initialised only when fedsim was started by an MPI launcher (mpirun, mpiexec, srun with
// PMI/PMIx) or FEDSIM_MPI_INIT=1 is set: a plain `fedsim ...` is one rank and does not pay for
// MPI's singleton start-up (about a second with Open MPI).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fedsim::mpi {

// MPI_Init_thread (MPI_THREAD_SERIALIZED) in the constructor when launched by MPI,
// MPI_Finalize in the destructor. One per process, made by main before anything else.
class Session {
 public:
  Session(int& argc, char**& argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
};

bool built_with_mpi();   // compiled against an MPI library (FEDSIM_MPI=ON or AUTO and found)
bool running();          // MPI was initialised by Session
int rank();              // 0 without MPI
int size();              // 1 without MPI
inline bool is_root() { return rank() == 0; }
std::string describe();  // "MPI: Open MPI v4.1.4, 2 ranks" / "MPI: not built in" / "MPI: not started"
int local_size();        // ranks on this rank's node (MPI_COMM_TYPE_SHARED); 1 without MPI

// Ranks on one node share its cores: when more than one rank runs on this node and the user chose
// no thread count (OMP_NUM_THREADS, KOKKOS_NUM_THREADS, --kokkos-threads, --kokkos-num-threads),
// sets KOKKOS_NUM_THREADS for this rank's Kokkos (and so its BLAS) to its share: the CPUs it may
// run on when the launcher bound it to fewer than the node has, else the node's CPUs / local ranks
// (at least 1). Call after Session, before Kokkos starts. Returns the count set, or 0.
int share_node_cores(int argc, char** argv);

// Ends the whole job with `code` (MPI_Abort when more than one rank runs; std::exit otherwise).
[[noreturn]] void abort_job(int code);

// Point-to-point transfers of raw bytes. `tag` separates the protocols of the callers.
void send(int dest, int tag, const void* data, size_t bytes);
std::vector<char> recv(int source, int tag);      // blocking, from one rank
std::vector<char> recv_any(int tag, int* source);  // blocking, from any rank
bool probe_any(int tag, int* source);              // a message with `tag` is waiting
void send_i64(int dest, int tag, const std::vector<int64_t>& v);
std::vector<int64_t> recv_i64(int source, int tag);
// Root's bytes to every rank (size first, then the payload).
void broadcast(std::vector<char>& bytes, int root);
void broadcast_i64(std::vector<int64_t>& v, int root);
void barrier();

// Bytes this rank sent through send/broadcast (payload only), for `fedsim bench fl`.
int64_t bytes_sent();

}  // namespace fedsim::mpi
