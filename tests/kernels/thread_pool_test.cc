// base/thread_pool (owned with the kernels): the static split and job execution.
#include <atomic>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "test_util.h"

namespace mnemo {
namespace {

TEST(ThreadPool, SplitRangeCoversExactlyOnceAndIsAligned) {
  for (int nth = 1; nth <= 5; ++nth) {
    for (int64_t n : {0, 1, 7, 16, 100, 1001}) {
      for (int64_t grain : {1, 4, 16}) {
        int64_t expect_begin = 0;
        for (int ith = 0; ith < nth; ++ith) {
          int64_t b, e;
          ThreadPool::split_range(n, grain, ith, nth, &b, &e);
          EXPECT_EQ(b, std::min(expect_begin, n));
          EXPECT_LE(b, e);
          if (b < e && e < n) {
            EXPECT_EQ(e % grain, 0);
          }
          expect_begin = std::max(expect_begin, e);
        }
        EXPECT_EQ(expect_begin, n) << "nth=" << nth << " n=" << n << " grain=" << grain;
      }
    }
  }
}

TEST(ThreadPool, RunsEveryThreadOncePerJob) {
  for (int n : {1, 2, 3, 4}) {
    ThreadPool pool(n, ThreadPool::kExact);  // more threads than this machine may have CPUs
    for (int job = 0; job < 200; ++job) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.run([&](int ith, int nth) {
        EXPECT_EQ(nth, n);
        hits[static_cast<size_t>(ith)].fetch_add(1);
      });
      for (auto& h : hits) ASSERT_EQ(h.load(), 1);
    }
  }
}

// Phases separated by barrier(): every thread sees all writes of the previous phase.
TEST(ThreadPool, BarrierSeparatesPhases) {
  for (int n : {1, 2, 3, 4}) {
    ThreadPool pool(n, ThreadPool::kExact);  // more threads than this machine may have CPUs
    for (int job = 0; job < 20; ++job) {
      std::vector<int> v(static_cast<size_t>(n), 0);
      std::atomic<int> bad{0};
      pool.run([&](int ith, int nth) {
        for (int phase = 1; phase <= 50; ++phase) {
          v[static_cast<size_t>(ith)] = phase;
          pool.barrier();
          for (int j = 0; j < nth; ++j) {
            if (v[static_cast<size_t>(j)] != phase) bad.fetch_add(1);
          }
          pool.barrier();
        }
      });
      ASSERT_EQ(bad.load(), 0) << "threads " << n;
    }
  }
}

TEST(ThreadPool, ParallelForWritesEachElementOnce) {
  ThreadPool pool(3, ThreadPool::kExact);
  std::vector<int> v(1000, 0);
  pool.parallel_for(1000, 7, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) v[static_cast<size_t>(i)] += 1;
  });
  for (int x : v) ASSERT_EQ(x, 1);
}

// More threads than online CPUs (mnemo run -t 100000) are capped at the CPUs, with one warning
// on stderr per process; 0 means all CPUs.
TEST(ThreadPool, CapsThreadsAtOnlineCpusWithOneWarning) {
  const int cpus = ThreadPool::online_cpus();
  ASSERT_GE(cpus, 1);
  testing::internal::CaptureStderr();
  ThreadPool big(100000);
  ThreadPool again(cpus + 1);
  ThreadPool all(0);
  ThreadPool one(1);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(big.size(), cpus);
  EXPECT_EQ(again.size(), cpus);
  EXPECT_EQ(all.size(), cpus);
  EXPECT_EQ(one.size(), 1);
  EXPECT_NE(err.find("mnemo: warning: 100000 threads requested"), std::string::npos) << err;
  EXPECT_NE(err.find(std::to_string(cpus) + " online CPUs"), std::string::npos) << err;
  EXPECT_EQ(err.find("warning"), err.rfind("warning")) << "expected one warning, found: " << err;
  std::atomic<int> calls{0};
  big.run([&](int, int nth) {
    EXPECT_EQ(nth, cpus);
    calls.fetch_add(1);
  });
  EXPECT_EQ(calls.load(), cpus);
}

}  // namespace
}  // namespace mnemo
