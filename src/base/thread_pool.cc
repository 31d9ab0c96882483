#include "base/thread_pool.h"

#include <algorithm>

#include "base/check.h"
#include "base/log.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace mnemo {
namespace {
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}
constexpr int kSpinIterations = 1 << 15;  // worker polls before sleeping on the condition variable
constexpr int kWaitSpins = 1 << 12;       // caller polls before yielding while workers finish
}  // namespace

int ThreadPool::online_cpus() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

int ThreadPool::resolve_threads(int requested) {
  const int cpus = online_cpus();
  if (requested <= 0) return cpus;
  if (requested <= cpus) return requested;
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true)) {
    MNEMO_LOG_WARN("%d threads requested, more than the %d online CPUs: using %d", requested, cpus, cpus);
  }
  return cpus;
}

ThreadPool::ThreadPool(int n_threads) : ThreadPool(resolve_threads(n_threads), kExact) {}

ThreadPool::ThreadPool(int n_threads, Exact) {
  MNEMO_CHECK(n_threads >= 1);
  n_threads_ = n_threads;
  workers_.reserve(static_cast<size_t>(n_threads_ - 1));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_main(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::split_range(int64_t n, int64_t grain, int ith, int nth, int64_t* begin, int64_t* end) {
  if (grain < 1) grain = 1;
  const int64_t units = (n + grain - 1) / grain;
  const int64_t per = units / nth;
  const int64_t extra = units % nth;
  const int64_t ub = ith * per + std::min<int64_t>(ith, extra);
  const int64_t ue = ub + per + (ith < extra ? 1 : 0);
  *begin = std::min(n, ub * grain);
  *end = std::min(n, ue * grain);
}

void ThreadPool::dispatch(Thunk thunk, void* ctx) {
  thunk_ = thunk;
  ctx_ = ctx;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  {
    // The lock orders the generation bump against a worker that is about to sleep.
    std::lock_guard<std::mutex> lock(mu_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  if (sleepers_.load(std::memory_order_acquire) > 0) cv_.notify_all();
  thunk(ctx, 0, n_threads_);
  // Spin briefly, then yield: with more threads than free cores a worker may be descheduled, and
  // spinning would only delay it further.
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < kWaitSpins) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
}

void ThreadPool::barrier() {
  if (n_threads_ == 1) return;
  const uint32_t round = barrier_round_.load(std::memory_order_acquire);
  if (barrier_count_.fetch_add(1, std::memory_order_acq_rel) == n_threads_ - 1) {
    barrier_count_.store(0, std::memory_order_relaxed);
    barrier_round_.store(round + 1, std::memory_order_release);
    return;
  }
  for (int spins = 0; barrier_round_.load(std::memory_order_acquire) == round; ++spins) {
    if (spins < kWaitSpins) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
}

void ThreadPool::worker_main(int ith) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    int spins = 0;
    while (g == seen && spins < kSpinIterations) {
      if (spins < kWaitSpins) {
        cpu_relax();
      } else {
        std::this_thread::yield();
      }
      ++spins;
      g = generation_.load(std::memory_order_acquire);
    }
    if (g == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      sleepers_.fetch_add(1);
      cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      sleepers_.fetch_sub(1);
      g = generation_.load(std::memory_order_acquire);
    }
    seen = g;
    if (stop_.load()) return;
    thunk_(ctx_, ith, n_threads_);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace mnemo
