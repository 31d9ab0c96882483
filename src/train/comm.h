// train/comm.h: the collectives data-parallel training uses (ZeRO, Rajbhandari et al., SC'20),
// over OpenMPI when mnemo is built with it (MNEMO_HAVE_MPI) and launched by mpirun, and a
// single-process implementation otherwise, so the trainer has one code path.
//
// Every collective counts the bytes this rank sends, by the ring algorithm's formulas (Patarasuk
// and Yuan 2009; the figures ZeRO's communication analysis uses), not by what the MPI library
// happens to pick:
//   all_reduce of M bytes:          2 (N-1)/N M   (a reduce-scatter then an all-gather)
//   reduce_scatter / all_gather of M bytes in N blocks, rank r's block M_r: (N-1) M_r
//     (a ring moves (N-1) M in total; each rank is charged its own block's share, which is
//      (N-1)/N M for equal blocks and sums to (N-1)/N of the buffer over a partition of it)
//   broadcast of M bytes:           (N-1)/N M     (pipelined chain, averaged over the ranks)
// With N = 1 every count is 0. All buffers are in place; only the calling (main) thread talks.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "mnemo/status.h"

namespace mnemo::train {

struct CommCounters {
  uint64_t all_reduce = 0, reduce_scatter = 0, all_gather = 0, broadcast = 0;  // bytes sent
  uint64_t calls = 0;
  uint64_t total() const { return all_reduce + reduce_scatter + all_gather + broadcast; }
  CommCounters operator-(const CommCounters& o) const {
    return {all_reduce - o.all_reduce, reduce_scatter - o.reduce_scatter, all_gather - o.all_gather,
            broadcast - o.broadcast, calls - o.calls};
  }
};

class Comm {
 public:
  virtual ~Comm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* backend() const = 0;  // "local" or "mpi"

  // x[0..n) becomes the sum over ranks (MPI_Allreduce, MPI_SUM).
  void all_reduce_sum(float* x, int64_t n);
  void all_reduce_sum(double* x, int64_t n);
  // x holds size() blocks of `block` floats; afterwards x[0..block) is the sum over ranks of block
  // rank() (MPI_Reduce_scatter_block, MPI_IN_PLACE).
  void reduce_scatter_block(float* x, int64_t block);
  // x holds counts[0] + ... + counts[N-1] floats; afterwards x[0..counts[rank]) is the sum over
  // ranks of rank()'s block (MPI_Reduce_scatter, MPI_IN_PLACE; blocks may be empty).
  void reduce_scatter(float* x, const std::vector<int>& counts);
  // x holds size() blocks of `block` floats, this rank's filled; afterwards all are
  // (MPI_Allgather, MPI_IN_PLACE).
  void all_gather(float* x, int64_t block);
  // x holds counts[0] + ... + counts[N-1] floats in rank order, this rank's block filled;
  // afterwards all are (MPI_Allgatherv, MPI_IN_PLACE; blocks may be empty).
  void all_gather_v(float* x, const std::vector<int>& counts);
  // One value per rank: all[r] = rank r's `mine` (MPI_Allgather of 8 bytes).
  std::vector<uint64_t> all_gather_u64(uint64_t mine);
  // bytes of x from root to every rank (MPI_Bcast).
  void broadcast(void* x, int64_t bytes, int root);

  const CommCounters& counters() const { return counters_; }

  // Whether every rank reaches the end of the process together (a finished run, or an error all
  // ranks agreed on): then MPI is finalized at exit. Otherwise (one rank's own error, while the
  // others may wait in a collective) the exit aborts the whole job (MPI_Abort) instead of hanging.
  virtual void set_exit_together(bool together) { (void)together; }

 protected:
  virtual void do_all_reduce(void* x, int64_t n, bool is_double) = 0;
  virtual void do_reduce_scatter_block(float* x, int64_t block) = 0;
  virtual void do_reduce_scatter(float* x, const std::vector<int>& counts) = 0;
  virtual void do_all_gather(void* x, int64_t block_bytes) = 0;
  virtual void do_all_gather_v(float* x, const std::vector<int>& counts) = 0;
  virtual void do_broadcast(void* x, int64_t bytes, int root) = 0;

  CommCounters counters_;
};

// One rank: every collective is the identity and sends nothing.
std::unique_ptr<Comm> make_local_comm();

// Whether this process was started by mpirun (OpenMPI's OMPI_COMM_WORLD_SIZE, or PMIx/PMI).
bool launched_by_mpirun();
// Whether this build has the MPI backend.
bool have_mpi();

// The process's communicator: MPI_COMM_WORLD (initialized on first use, finalized at exit) when
// launched by mpirun and built with MPI; a local single rank otherwise. An error when mpirun
// started several ranks but this build has no MPI.
Expected<Comm*> world_comm();

}  // namespace mnemo::train
