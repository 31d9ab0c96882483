// SPANN (mnemo's own index) for the ANN benchmark.
#include <algorithm>
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

// Filtered search against exact filtered search: disjoint synthetic users (random id sets of the
// sizes in --users) over an existing SPANN index; the filter is "id belongs to user u", with and
// without the cardinality hint. Ground truth: brute force over that user's vectors.
int filter_spann(const Args& a) {
  auto base = load_fvecs(a.str("base"));
  auto q = load_fvecs(a.str("query"), size_t(a.num("nq", 100)));
  ltm::ann::SpannOpenOptions o;
  auto ix = SpannIndex::open(a.str("index"), o);
  if (!ix.has_value()) die(ix.status().message());
  const int k = int(a.num("k", 10));
  std::vector<double> sizes = parse_list(a.str("users", "100,1000,10000,100000"));
  std::vector<int32_t> owner(base.n, -1);
  std::vector<uint64_t> perm(base.n);
  std::iota(perm.begin(), perm.end(), uint64_t{0});
  uint64_t st = 12345;
  for (size_t i = base.n - 1; i > 0; --i) {  // Fisher-Yates with a fixed LCG: same users every run
    st = st * 6364136223846793005ull + 1442695040888963407ull;
    std::swap(perm[i], perm[(st >> 17) % (i + 1)]);
  }
  size_t pos = 0;
  std::vector<std::vector<uint64_t>> members(sizes.size());
  for (size_t u = 0; u < sizes.size(); ++u) {
    for (size_t j = 0; j < size_t(sizes[u]) && pos < base.n; ++j, ++pos) {
      owner[perm[pos]] = int32_t(u);
      members[u].push_back(perm[pos]);
    }
  }
  for (size_t u = 0; u < sizes.size(); ++u) {
    for (bool hint : {false, true}) {
      ltm::SearchOptions opts;
      opts.k = k;
      opts.filter = [&owner, u](uint64_t id) { return id < owner.size() && owner[id] == int32_t(u); };
      if (hint) opts.filter_cardinality = members[u].size();
      double recall = 0, busy = 0, scanned = 0, reads = 0;
      size_t short_results = 0;
      for (size_t i = 0; i < q.n; ++i) {
        // Exact filtered top-k.
        std::vector<std::pair<float, uint64_t>> all;
        all.reserve(members[u].size());
        for (uint64_t id : members[u]) all.emplace_back(ltm::ann::l2_sq(q.row(i), base.row(id), size_t(base.dim)), id);
        const size_t kk = std::min<size_t>(size_t(k), all.size());
        std::partial_sort(all.begin(), all.begin() + int64_t(kk), all.end());
        const double t0 = now_seconds();
        auto r = (*ix)->search({q.row(i), size_t(base.dim)}, opts);
        busy += now_seconds() - t0;
        if (!r.has_value()) die(r.status().message());
        short_results += r->size() < kk;
        size_t hit = 0;
        for (size_t j = 0; j < kk; ++j) {
          for (const auto& nb : *r) hit += nb.id == all[j].second;
        }
        recall += kk == 0 ? 1.0 : double(hit) / double(kk);
        scanned += double((*ix)->last_query().vectors_scanned);
        reads += double((*ix)->last_query().reads_4k);
      }
      emit({{"kind", "filter"}, {"user_size", members[u].size()}, {"hint", hint}, {"recall", recall / double(q.n)},
            {"qps", double(q.n) / busy}, {"scanned", scanned / double(q.n)}, {"reads4k", reads / double(q.n)},
            {"short_results", short_results}});
      std::fprintf(stderr, "  filter of %zu%s: recall %.3f, %.0f QPS, %.0f scanned, %.0f reads, %zu short\n",
                   members[u].size(), hint ? " (hint)" : "", recall / double(q.n), double(q.n) / busy,
                   scanned / double(q.n), reads / double(q.n), short_results);
    }
  }
  return 0;
}

}  // namespace mnemo::ann_bench
