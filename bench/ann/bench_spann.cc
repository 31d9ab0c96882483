// SPANN (mnemo's own index) for the ANN benchmark.
#include <numeric>

#include "base/log.h"
#include "base/thread_pool.h"
#include "bench_common.h"
#include "ltm/ann/distance.h"
#include "ltm/ann/spann_index.h"

namespace mnemo::ann_bench {

using ltm::ann::SpannIndex;

int build_spann(const Args& a) {
  set_log_level(LogLevel::kInfo);
  auto base = load_fvecs(a.str("base"), size_t(a.num("n", 0)));
  ltm::ann::SpannParams p;
  p.leaf_size = size_t(a.num("spann-leaf", long(p.leaf_size)));
  p.closure_epsilon = float(a.real("spann-closure-eps", p.closure_epsilon));
  p.rng_factor = float(a.real("spann-rng", p.rng_factor));
  p.replica_limit = int(a.num("spann-replicas", p.replica_limit));
  p.posting_limit = int(a.num("spann-posting-limit", p.posting_limit));
  p.kmeans_branching = int(a.num("spann-branching", p.kmeans_branching));
  p.head.degree = int(a.num("spann-degree", p.head.degree));
  p.max_probes = int(a.num("spann-probes", p.max_probes));
  p.prune_epsilon = float(a.real("spann-eps", p.prune_epsilon));
  const std::string dir = a.str("index");
  if (Status s = SpannIndex::destroy(dir); !s.is_ok()) die(s.message());
  std::vector<uint64_t> ids(base.n);
  std::iota(ids.begin(), ids.end(), uint64_t{0});
  ThreadPool pool(int(a.num("threads", 2)));
  const double t0 = now_seconds();
  auto ix = SpannIndex::build(dir, base.dim, p, base.data.data(), ids.data(), base.n, 1, &pool);
  if (!ix.has_value()) die(ix.status().message());
  const double t1 = now_seconds();
  const auto st = (*ix)->spann_stats();
  auto j = memory_json();
  j.update({{"kind", "build"},
            {"seconds", t1 - t0},
            {"disk_bytes", (*ix)->stats().disk_bytes},
            {"lists", st.n_lists},
            {"records_per_vector", double(st.n_records) / double(base.n)},
            {"params", "leaf " + std::to_string(p.leaf_size) + ", closure eps " + std::to_string(p.closure_epsilon).substr(0, 4) +
                           ", RNG factor " + std::to_string(p.rng_factor).substr(0, 4) +
                           ", replicas <= " + std::to_string(p.replica_limit) + ", list <= " +
                           std::to_string(p.posting_limit) + ", prune eps " + std::to_string(p.prune_epsilon).substr(0, 4) +
                           ", " + ltm::ann::distance_target_name()}});
  emit(j);
  return 0;
}

int search_spann(const Args& a) {
  ltm::ann::SpannOpenOptions o;
  o.prune_epsilon = float(a.real("spann-eps", 0));
  const double t0 = now_seconds();
  auto ix = SpannIndex::open(a.str("index"), o);
  if (!ix.has_value()) die(ix.status().message());
  const double load_s = now_seconds() - t0;
  const int k = int(a.num("k", 10));
  ltm::SearchOptions opts;
  opts.k = k;
  SearchHooks h;
  h.set_effort = [&](double e) { opts.max_probes = int(e); };
  h.search_one = [&](const float* q, int64_t* out) {
    auto r = (*ix)->search({q, size_t((*ix)->dim())}, opts);
    if (!r.has_value()) die(r.status().message());
    for (int i = 0; i < k; ++i) out[i] = i < int(r->size()) ? int64_t((*r)[size_t(i)].id) : -1;
  };
  h.last_query_stats = [&]() {
    const auto q = (*ix)->last_query();
    return nlohmann::json{{"scanned", q.vectors_scanned}, {"reads4k", q.reads_4k}, {"lists", q.lists_probed}};
  };
  run_sweep("spann", a, h);
  const auto st = (*ix)->spann_stats();
  auto j = memory_json();
  j.update({{"kind", "search_done"},
            {"load_seconds", load_s},
            {"index_ram_bytes", (*ix)->stats().ram_bytes},
            {"direct_io", st.direct_io},
            {"async_io", st.async_io}});
  emit(j);
  return 0;
}

}  // namespace mnemo::ann_bench
