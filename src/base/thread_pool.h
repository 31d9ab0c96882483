// base/thread_pool.h: persistent worker threads with a static split of each parallel loop.
//
// A job `fn(thread_index, n_threads)` runs on every thread of the pool (the caller is thread 0)
// and returns when all have finished. No thread is created or destroyed per job and nothing is
// allocated per job. Work splits are static and depend only on the thread count, so results that
// are computed per output element are identical at any thread count.
//
// A job may run several phases separated by barrier() (every thread of the job calls it the
// same number of times), so that a whole forward pass is one job: the workers are woken once per
// pass, not once per operation. Waits spin briefly with `pause`, then yield the core (the pool may
// share cores with other processes), then sleep on a condition variable between jobs.
//
// Thread-safety: one job at a time; run() must not be called concurrently or from inside a job.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace mnemo {

class ThreadPool {
 public:
  // resolve_threads(n_threads) threads: n_threads <= 0 means every online CPU, and more than the
  // online CPUs is capped at them with a warning. Use this for any count that comes from a user.
  explicit ThreadPool(int n_threads);
  // Exactly n_threads (>= 1) threads, even more than the CPUs: for tests that check that results
  // do not depend on the thread count on machines with fewer cores than the counts they try.
  struct Exact {};
  static constexpr Exact kExact{};
  ThreadPool(int n_threads, Exact);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // The number of threads a pool asked for `requested` gets: the online CPUs when requested <= 0
  // or above them (more threads than cores only take turns on the cores and wait for each other
  // at every barrier; 100000 would exhaust the process). The first cap in a process is reported
  // by one warning on stderr. Thread-safe.
  static int resolve_threads(int requested);
  // Online CPUs (at least 1).
  static int online_cpus();

  // Runs fn(ith, nth) on all threads; blocks until every call has returned.
  template <typename Fn>
  void run(Fn&& fn) {
    if (n_threads_ == 1) {
      fn(0, 1);
      return;
    }
    auto thunk = [](void* ctx, int ith, int nth) { (*static_cast<Fn*>(ctx))(ith, nth); };
    dispatch(thunk, &fn);
  }

  // Inside a job: returns once every thread of the job has reached this barrier. A no-op with one
  // thread. Memory written before the barrier by any thread is visible after it to all.
  void barrier();

  // Splits [0, n) into contiguous ranges, one per thread, aligned to `grain` elements:
  // fn(begin, end) per thread with a non-empty range.
  template <typename Fn>
  void parallel_for(int64_t n, int64_t grain, Fn&& fn) {
    run([&](int ith, int nth) {
      int64_t begin, end;
      split_range(n, grain, ith, nth, &begin, &end);
      if (begin < end) fn(begin, end);
    });
  }

  // The static split used by parallel_for.
  static void split_range(int64_t n, int64_t grain, int ith, int nth, int64_t* begin, int64_t* end);

 private:
  using Thunk = void (*)(void*, int, int);
  void dispatch(Thunk thunk, void* ctx);
  void worker_main(int ith);

  int n_threads_;
  std::vector<std::thread> workers_;
  Thunk thunk_ = nullptr;
  void* ctx_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<int> sleepers_{0};
  // barrier(): arrivals in the current round, and the round number (bumped by the last arrival).
  alignas(64) std::atomic<int> barrier_count_{0};
  alignas(64) std::atomic<uint32_t> barrier_round_{0};
};

}  // namespace mnemo
