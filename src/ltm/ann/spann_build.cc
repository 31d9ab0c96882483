// SPANN bulk build (Chen et al. 2021, section 3.2): hierarchical balanced k-means, head graph,
// closure assignment with RNG pruning, posting lists written sequentially with O_DIRECT.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <random>

#include "base/check.h"
#include "base/file.h"
#include "base/log.h"
#include "base/sys.h"
#include "ltm/ann/crc32c.h"
#include "ltm/ann/distance.h"
#include "ltm/ann/kmeans.h"
#include "ltm/ann/spann_index.h"
#include "ltm/ann/spann_internal.h"

namespace mnemo::ltm::ann {

Expected<std::unique_ptr<SpannIndex>> SpannIndex::build(const std::string& dir, int dim, const SpannParams& params_in,
                                                        const float* vectors, const uint64_t* ids, size_t n,
                                                        uint64_t seq, ThreadPool* pool) {
  for (size_t i = 0; i < n * size_t(dim); ++i) {
    if (!std::isfinite(vectors[i])) {
      return invalid_argument("vectors: expected finite values, found NaN or infinity in row " + std::to_string(i / dim));
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (ids[i] == UINT64_MAX) return invalid_argument("ids: 2^64-1 is reserved");
  }
  MNEMO_ASSIGN_OR_RETURN(auto index, create(dir, dim, params_in));
  if (n == 0) return index;
  SpannIndex& ix = *index;
  const SpannParams& params = ix.params_;  // with the automatic sizes filled in
  const double t0 = now_seconds();

  // 1. Heads: leaf means of a hierarchical balanced k-means.
  HierarchicalOptions ho;
  ho.leaf_size = params.leaf_size;
  ho.branching = params.kmeans_branching;
  ho.kmeans.balance_lambda = params.balance_lambda;
  ho.kmeans.seed = params.seed;
  Partition part = hierarchical_kmeans(vectors, n, size_t(dim), ho, pool);
  const size_t n_heads = part.n_leaves;
  const double t1 = now_seconds();

  // 2. Head graph, entered through one head per group of sibling leaves (the largest).
  std::vector<uint32_t> pivots(part.n_groups, UINT32_MAX);
  {
    std::vector<uint32_t> leaf_rows(n_heads, 0);
    for (uint32_t l : part.leaf_of_row) ++leaf_rows[l];
    for (uint32_t l = 0; l < n_heads; ++l) {
      uint32_t& p = pivots[part.leaf_group[l]];
      if (p == UINT32_MAX || leaf_rows[l] > leaf_rows[p]) p = l;
    }
  }
  ix.head_.build(part.centroids.data(), n_heads, pool, std::move(pivots));
  std::vector<float>().swap(part.centroids);
  ix.lists_.assign(n_heads, ListInfo{});
  for (ListInfo& l : ix.lists_) l.alive = true;
  ix.graph_dirty_ = true;
  const double t2 = now_seconds();

  // 3. Closure assignment: up to replica_limit lists per vector, home first.
  const size_t R = size_t(params.replica_limit);
  std::vector<uint32_t> assign(n * R, UINT32_MAX);
  std::vector<float> assign_d(n * R, 0.0f);
  {
    const int nth = pool != nullptr ? pool->size() : 1;
    std::vector<std::unique_ptr<Scratch>> scratch;
    for (int t = 0; t < nth; ++t) scratch.push_back(std::make_unique<Scratch>(ix.postings_.get()));
    auto work = [&](size_t b, size_t e, int t) {
      std::vector<uint32_t> lists;
      for (size_t i = b; i < e; ++i) {
        const float* x = vectors + i * size_t(dim);
        ix.assign_closure(x, &lists, scratch[size_t(t)].get(), part.leaf_of_row[i]);
        for (size_t j = 0; j < lists.size(); ++j) {
          assign[i * R + j] = lists[j];
          assign_d[i * R + j] = l2_sq(x, ix.head_.vec(lists[j]), size_t(dim));
        }
      }
    };
    if (pool != nullptr && nth > 1) {
      pool->run([&](int ith, int nt) {
        int64_t b, e;
        ThreadPool::split_range(int64_t(n), 1, ith, nt, &b, &e);
        if (b < e) work(size_t(b), size_t(e), ith);
      });
    } else {
      work(0, n, 0);
    }
  }
  const double t3 = now_seconds();
  std::vector<uint32_t>().swap(part.leaf_of_row);

  // 4. Versions and homes, in row order: when an id repeats, its last row is the live one and the
  // earlier rows' entries are stale.
  ix.ids_.reserve(n);
  std::vector<uint32_t> version(n);
  for (size_t i = 0; i < n; ++i) {
    version[i] = ix.next_version();
    ix.ids_.put(ids[i], IdEntry{version[i], assign[i * R]});
  }

  // 5. Members per list (CSR), homes first then replicas by distance, capped at posting_limit.
  std::vector<uint64_t> start(n_heads + 1, 0);
  for (size_t i = 0; i < n * R; ++i) {
    if (assign[i] != UINT32_MAX) ++start[assign[i] + 1];
  }
  for (size_t l = 0; l < n_heads; ++l) start[l + 1] += start[l];
  struct Member {
    uint32_t row;
    uint32_t rank;  // 0 = home
    float d;
  };
  std::vector<Member> members(start[n_heads]);
  {
    std::vector<uint64_t> fill(start.begin(), start.end() - 1);
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < R; ++j) {
        const uint32_t l = assign[i * R + j];
        if (l == UINT32_MAX) break;
        members[fill[l]++] = Member{uint32_t(i), uint32_t(j), assign_d[i * R + j]};
      }
    }
  }
  std::vector<uint32_t>().swap(assign);
  std::vector<float>().swap(assign_d);

  // 6. Write the lists back to back in large sequential O_DIRECT writes.
  constexpr size_t kChunk = 8u << 20;
  AlignedBuffer chunk(kChunk + 64 * kPageBytes);
  uint64_t chunk_first_page = 0;
  size_t chunk_pages = 0;
  auto flush_chunk = [&]() -> Status {
    if (chunk_pages == 0) return Status::ok();
    MNEMO_RETURN_IF_ERROR(ix.postings_->write(Extent{chunk_first_page, uint32_t(chunk_pages)}, chunk.data()));
    chunk_pages = 0;
    return Status::ok();
  };
  std::vector<Member> sel;
  AlignedBuffer list_buf;
  for (size_t l = 0; l < n_heads; ++l) {
    sel.assign(members.begin() + int64_t(start[l]), members.begin() + int64_t(start[l + 1]));
    std::sort(sel.begin(), sel.end(), [](const Member& a, const Member& b) {
      return (a.rank == 0) != (b.rank == 0) ? a.rank == 0 : (a.d < b.d || (a.d == b.d && a.row < b.row));
    });
    size_t keep = sel.size();
    if (keep > size_t(params.posting_limit)) {
      size_t homes = 0;
      while (homes < sel.size() && sel[homes].rank == 0) ++homes;
      keep = std::max(homes, size_t(params.posting_limit));
    }
    const uint64_t bytes = uint64_t(keep) * ix.rec_bytes_;
    const uint32_t pages = pages_for(bytes);
    list_buf.resize(size_t(pages) * kPageBytes);
    std::memset(list_buf.data() + bytes, 0, size_t(pages) * kPageBytes - bytes);
    for (size_t j = 0; j < keep; ++j) {
      const uint32_t row = sel[j].row;
      put_record(list_buf.data() + j * ix.rec_bytes_, ids[row], version[row], vectors + size_t(row) * dim, dim);
    }
    ListInfo& L = ix.lists_[l];
    L.count = uint32_t(keep);
    L.crc = crc32c(list_buf.data(), bytes);
    ix.n_records_ += keep;
    if (pages == 0) continue;
    const Extent e = ix.alloc_.alloc(pages);
    L.page = e.page;
    L.pages = e.pages;
    ix.fresh_extents_.insert(e.page);
    if (chunk_pages > 0 && (chunk_first_page + chunk_pages != e.page || (chunk_pages + pages) * kPageBytes > kChunk)) {
      MNEMO_RETURN_IF_ERROR(flush_chunk());
    }
    if (chunk_pages == 0) chunk_first_page = e.page;
    std::memcpy(chunk.data() + chunk_pages * kPageBytes, list_buf.data(), size_t(pages) * kPageBytes);
    chunk_pages += pages;
  }
  MNEMO_RETURN_IF_ERROR(flush_chunk());
  if (seq > ix.applied_seq_) ix.applied_seq_ = seq;
  ix.meta_dirty_ = true;
  MNEMO_RETURN_IF_ERROR(ix.commit());
  const double t4 = now_seconds();
  MNEMO_LOG_INFO("spann build: %zu vectors, %zu lists, %llu records (%.2f per vector); k-means %.1f s, graph %.1f s, "
                 "assignment %.1f s, write %.1f s",
                 n, n_heads, (unsigned long long)ix.n_records_, double(ix.n_records_) / double(n), t1 - t0, t2 - t1,
                 t3 - t2, t4 - t3);
  return index;
}

}  // namespace mnemo::ltm::ann
