// hnswlib 0.6.2 (Debian libhnswlib-dev) for the ANN benchmark. This file is compiled with -mavx so
// that hnswlib takes its AVX distance path (it checks the CPU at run time).
#include <hnswlib/hnswlib.h>

#include <atomic>
#include <thread>

#include "bench_common.h"

namespace mnemo::ann_bench {

int build_hnsw(const Args& a) {
  auto base = load_fvecs(a.str("base"), size_t(a.num("n", 0)));
  const size_t m = size_t(a.num("hnsw-m", 16)), efc = size_t(a.num("hnsw-efc", 200));
  const int threads = int(a.num("threads", 2));
  hnswlib::L2Space space(size_t(base.dim));
  const double t0 = now_seconds();
  hnswlib::HierarchicalNSW<float> h(&space, base.n, m, efc, 100);
  h.addPoint(base.row(0), 0);
  std::atomic<size_t> next{1};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (size_t i = next++; i < base.n; i = next++) h.addPoint(base.row(i), i);
    });
  }
  for (auto& t : pool) t.join();
  const double t1 = now_seconds();
  h.saveIndex(a.str("index"));
  auto j = memory_json();
  j.update({{"kind", "build"},
            {"seconds", t1 - t0},
            {"disk_bytes", 0},
            {"params", "M " + std::to_string(m) + ", efConstruction " + std::to_string(efc) + ", AVX"}});
  emit(j);
  return 0;
}

int search_hnsw(const Args& a) {
  auto probe = load_fvecs(a.str("query"), 1);
  hnswlib::L2Space space(size_t(probe.dim));
  const double t0 = now_seconds();
  hnswlib::HierarchicalNSW<float> h(&space, a.str("index"));
  const double load_s = now_seconds() - t0;
  const int k = int(a.num("k", 10));
  SearchHooks hooks;
  hooks.set_effort = [&](double e) { h.setEf(size_t(e)); };
  hooks.search_one = [&](const float* q, int64_t* out) {
    auto r = h.searchKnn(q, size_t(k));
    for (int i = k - 1; i >= 0; --i) {
      if (r.empty()) {
        out[i] = -1;
        continue;
      }
      out[i] = int64_t(r.top().second);
      r.pop();
    }
  };
  run_sweep("hnsw", a, hooks);
  auto j = memory_json();
  j.update({{"kind", "search_done"}, {"load_seconds", load_s}});
  emit(j);
  return 0;
}

}  // namespace mnemo::ann_bench
