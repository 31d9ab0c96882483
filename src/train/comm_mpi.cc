// The OpenMPI backend of train/comm.h (built when CMake finds MPI; MNEMO_MPI).
#include <mpi.h>

#include <cstdlib>

#include "train/comm.h"

namespace mnemo::train {

namespace {

bool g_exit_together = false;

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (!g_exit_together && size > 1) MPI_Abort(MPI_COMM_WORLD, 1);  // the error was printed already
  MPI_Finalize();
}

class MpiComm final : public Comm {
 public:
  MpiComm() {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
      int provided = 0;
      // Only the main thread calls MPI; the ThreadPool's workers never do.
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      std::atexit(finalize_at_exit);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "mpi"; }
  void set_exit_together(bool together) override { g_exit_together = together; }

 protected:
  void do_all_reduce(void* x, int64_t n, bool is_double) override {
    MPI_Allreduce(MPI_IN_PLACE, x, static_cast<int>(n), is_double ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  }
  void do_reduce_scatter_block(float* x, int64_t block) override {
    MPI_Reduce_scatter_block(MPI_IN_PLACE, x, static_cast<int>(block), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  }
  void do_reduce_scatter(float* x, const std::vector<int>& counts) override {
    MPI_Reduce_scatter(MPI_IN_PLACE, x, counts.data(), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  }
  void do_all_gather(void* x, int64_t block_bytes) override {
    MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, static_cast<int>(block_bytes), MPI_BYTE, MPI_COMM_WORLD);
  }
  void do_all_gather_v(float* x, const std::vector<int>& counts) override {
    std::vector<int> displs(counts.size());
    for (size_t k = 1; k < counts.size(); ++k) displs[k] = displs[k - 1] + counts[k - 1];
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, counts.data(), displs.data(), MPI_FLOAT, MPI_COMM_WORLD);
  }
  void do_broadcast(void* x, int64_t bytes, int root) override {
    MPI_Bcast(x, static_cast<int>(bytes), MPI_BYTE, root, MPI_COMM_WORLD);
  }

 private:
  int rank_ = 0, size_ = 1;
};

}  // namespace

std::unique_ptr<Comm> make_mpi_comm() { return std::make_unique<MpiComm>(); }

}  // namespace mnemo::train
