#include "train/comm.h"

#include <cstdlib>
#include <cstring>

#include "base/strings.h"

namespace mnemo::train {

#ifdef MNEMO_HAVE_MPI
std::unique_ptr<Comm> make_mpi_comm();  // comm_mpi.cc
#endif

namespace {

// The ring formulas of comm.h, in bytes, for N ranks.
uint64_t ring_all_reduce(uint64_t m, int n) { return 2 * m * static_cast<uint64_t>(n - 1) / static_cast<uint64_t>(n); }
uint64_t ring_share(uint64_t own, int n) { return own * static_cast<uint64_t>(n - 1); }

class LocalComm final : public Comm {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  const char* backend() const override { return "local"; }

 protected:
  void do_all_reduce(void*, int64_t, bool) override {}
  void do_reduce_scatter_block(float*, int64_t) override {}
  void do_reduce_scatter(float*, const std::vector<int>&) override {}
  void do_all_gather(void*, int64_t) override {}
  void do_all_gather_v(float*, const std::vector<int>&) override {}
  void do_broadcast(void*, int64_t, int) override {}
};

}  // namespace

void Comm::all_reduce_sum(float* x, int64_t n) {
  do_all_reduce(x, n, false);
  counters_.all_reduce += ring_all_reduce(static_cast<uint64_t>(n) * 4, size());
  ++counters_.calls;
}

void Comm::all_reduce_sum(double* x, int64_t n) {
  do_all_reduce(x, n, true);
  counters_.all_reduce += ring_all_reduce(static_cast<uint64_t>(n) * 8, size());
  ++counters_.calls;
}

void Comm::reduce_scatter_block(float* x, int64_t block) {
  do_reduce_scatter_block(x, block);
  counters_.reduce_scatter += ring_share(static_cast<uint64_t>(block) * 4, size());
  ++counters_.calls;
}

void Comm::reduce_scatter(float* x, const std::vector<int>& counts) {
  do_reduce_scatter(x, counts);
  counters_.reduce_scatter += ring_share(static_cast<uint64_t>(counts[static_cast<size_t>(rank())]) * 4, size());
  ++counters_.calls;
}

void Comm::all_gather(float* x, int64_t block) {
  do_all_gather(x, block * 4);
  counters_.all_gather += ring_share(static_cast<uint64_t>(block) * 4, size());
  ++counters_.calls;
}

void Comm::all_gather_v(float* x, const std::vector<int>& counts) {
  do_all_gather_v(x, counts);
  counters_.all_gather += ring_share(static_cast<uint64_t>(counts[static_cast<size_t>(rank())]) * 4, size());
  ++counters_.calls;
}

std::vector<uint64_t> Comm::all_gather_u64(uint64_t mine) {
  std::vector<uint64_t> all(static_cast<size_t>(size()));
  all[static_cast<size_t>(rank())] = mine;
  do_all_gather(all.data(), 8);
  counters_.all_gather += ring_share(8, size());
  ++counters_.calls;
  return all;
}

void Comm::broadcast(void* x, int64_t bytes, int root) {
  do_broadcast(x, bytes, root);
  counters_.broadcast += static_cast<uint64_t>(bytes) * static_cast<uint64_t>(size() - 1) / static_cast<uint64_t>(size());
  ++counters_.calls;
}

std::unique_ptr<Comm> make_local_comm() { return std::make_unique<LocalComm>(); }

bool launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"}) {
    if (std::getenv(v) != nullptr) return true;
  }
  return false;
}

bool have_mpi() {
#ifdef MNEMO_HAVE_MPI
  return true;
#else
  return false;
#endif
}

Expected<Comm*> world_comm() {
  static std::unique_ptr<Comm> world;
  if (world) return world.get();
  if (launched_by_mpirun()) {
#ifdef MNEMO_HAVE_MPI
    world = make_mpi_comm();
    return world.get();
#else
    const char* n = std::getenv("OMPI_COMM_WORLD_SIZE");
    if (n != nullptr && std::atoi(n) > 1) {
      return unsupported(str_printf("launched by mpirun with %s ranks, but this mnemo was built without MPI "
                                            "(install libopenmpi-dev and reconfigure; MNEMO_MPI)",
                                            n));
    }
#endif
  }
  world = make_local_comm();
  return world.get();
}

}  // namespace mnemo::train
