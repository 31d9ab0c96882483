// analysis/bandwidth.cc: DRAM read bandwidth per thread count (include/mnemo/hw.h).
//
// Each pass splits the buffer into one contiguous range per thread (4 KiB aligned) and reads it
// with kernels::read_bytes (wide loads into eight independent accumulators, so the loads and not
// a dependency chain limit the rate). The buffer is touched once before timing so page faults are
// not measured. A pass is timed from the dispatch of the job to the return of the last thread.
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "base/strings.h"
#include "base/thread_pool.h"
#include "kernels/kernels.h"
#include "mnemo/hw.h"
#include "mnemo/util.h"

namespace mnemo {

Expected<std::vector<BandwidthPoint>> measure_read_bandwidth(const BandwidthOptions& o) {
  const uint64_t bytes = o.buffer_bytes / 4096 * 4096;
  if (bytes < (1u << 20)) return invalid_argument("bandwidth buffer: expected at least 1 MiB");
  if (o.repetitions < 1) return invalid_argument("bandwidth repetitions: expected at least 1");
  std::vector<int> threads = o.threads;
  if (threads.empty()) {
    const int n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (int t = 1; t <= n; ++t) threads.push_back(t);
  }
  for (int t : threads) {
    if (t < 1) return invalid_argument(str_printf("bandwidth threads: expected positive counts, found %d", t));
  }
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    return resource_exhausted("bandwidth buffer: cannot allocate " + format_bytes(bytes));
  }
  auto* buf = static_cast<uint8_t*>(mem);
  // Distinct values on every page, so no page is shared (zero page) or compressed.
  for (uint64_t i = 0; i < bytes; i += 4096) std::memset(buf + i, static_cast<int>(i >> 12), 4096);

  std::vector<BandwidthPoint> out;
  uint64_t sink = 0;
  for (int nt : threads) {
    ThreadPool pool(nt);
    std::vector<uint64_t> sums(static_cast<size_t>(nt));
    std::vector<double> rates;
    for (int rep = 0; rep <= o.repetitions; ++rep) {  // rep 0 warms up the threads
      const double t0 = now_seconds();
      pool.run([&](int ith, int nth) {
        int64_t b, e;
        ThreadPool::split_range(static_cast<int64_t>(bytes / 4096), 1, ith, nth, &b, &e);
        if (b < e) sums[static_cast<size_t>(ith)] = kernels::read_bytes(buf + b * 4096, static_cast<size_t>(e - b) * 4096);
      });
      const double dt = now_seconds() - t0;
      for (uint64_t s : sums) sink += s;
      if (rep > 0) rates.push_back(static_cast<double>(bytes) / dt / 1e9);
    }
    std::sort(rates.begin(), rates.end());
    BandwidthPoint p;
    p.threads = pool.size();  // capped at the online CPUs
    p.best_gb_s = rates.back();
    p.median_gb_s = rates[rates.size() / 2];
    out.push_back(p);
  }
  munmap(mem, bytes);
  if (sink == 42) out.front().best_gb_s += 0.0;  // keeps the sums observable
  return out;
}

}  // namespace mnemo
