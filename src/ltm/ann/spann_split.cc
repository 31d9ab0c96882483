// SPFresh-style local rebalancing (Xu et al., SOSP'23, "SPFresh: Incremental In-Place Update for
// Billion-Scale Vector Search", section 4): a posting list over the limit is split in two by
// balanced 2-means; vectors whose nearest head may have changed are reassigned (LIRE).
#include <algorithm>
#include <cstring>

#include "ltm/ann/distance.h"
#include "ltm/ann/kmeans.h"
#include "ltm/ann/spann_index.h"
#include "ltm/ann/spann_internal.h"

namespace mnemo::ltm::ann {

namespace {
struct Candidate {
  uint64_t id;
  std::vector<float> vec;
};
constexpr int kMaxSplitsPerUpdate = 64;
}  // namespace

Status SpannIndex::reassign(uint64_t id, const float* vec, std::vector<uint32_t>* queue) {
  IdEntry* e = ids_.find(id);
  if (e == nullptr) return Status::ok();
  auto s = take_scratch();
  std::vector<uint32_t> lists;
  assign_closure(vec, &lists, s.get());
  give_scratch(std::move(s));
  if (lists.empty() || lists[0] == e->home) return Status::ok();
  const uint32_t version = next_version();
  for (uint32_t l : lists) append_record(l, id, version, vec);
  ids_.put(id, IdEntry{version, lists[0]});
  ++reassigned_;
  for (uint32_t l : lists) {
    if (list_size(l) > size_t(params_.posting_limit)) queue->push_back(l);
  }
  return Status::ok();
}

Status SpannIndex::split_list(uint32_t l, std::vector<uint32_t>* queue) {
  MNEMO_ASSIGN_OR_RETURN(size_t n, load_list(l, &rbuf_, params_.verify_checksums));
  std::vector<uint8_t> recs;
  recs.reserve(n * rec_bytes_);
  size_t n_live = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* r = rbuf_.data() + i * rec_bytes_;
    if (!live(record_id(r), record_version(r))) continue;
    recs.insert(recs.end(), r, r + rec_bytes_);
    ++n_live;
  }
  if (n_live <= size_t(params_.posting_limit)) return write_list(l, true);  // dropping stale entries is enough

  // Balanced 2-means over the live vectors.
  std::vector<float> data(n_live * size_t(dim_));
  std::vector<uint32_t> rows(n_live);
  for (size_t i = 0; i < n_live; ++i) {
    std::memcpy(data.data() + i * dim_, record_vec(recs.data() + i * rec_bytes_), sizeof(float) * dim_);
    rows[i] = uint32_t(i);
  }
  KMeansOptions ko;
  ko.iterations = 8;
  ko.balance_lambda = 0.5f;
  ko.seed = params_.seed ^ (uint64_t(l) << 20) ^ splits_;
  std::vector<float> cent;
  std::vector<uint32_t> side;
  balanced_kmeans(data.data(), size_t(dim_), rows, 2, ko, nullptr, &cent, &side);
  size_t n_b = 0;
  for (uint32_t x : side) n_b += x;
  if (n_b == 0 || n_b == n_live) {
    // Duplicates: cut in halves (both halves keep the same centroid).
    for (size_t i = 0; i < n_live; ++i) side[i] = i < n_live / 2 ? 0 : 1;
    std::memcpy(cent.data() + dim_, cent.data(), sizeof(float) * dim_);
  }
  const std::vector<float> old_c(head_.vec(l), head_.vec(l) + dim_);

  // Retire l.
  ListInfo& L = lists_[l];
  retire_extent(L.extent());
  n_records_ -= n;
  L = ListInfo{};
  auto pit = pending_.find(l);
  if (pit != pending_.end()) {
    pending_bytes_ -= pit->second.size();
    pending_.erase(pit);
  }
  head_.kill(l);
  const uint32_t a = new_list(cent.data());
  const uint32_t b = new_list(cent.data() + dim_);
  ++splits_;

  std::vector<Candidate> cands;
  for (size_t i = 0; i < n_live; ++i) {
    const uint8_t* r = recs.data() + i * rec_bytes_;
    const uint32_t t = side[i] == 0 ? a : b;
    const uint64_t id = record_id(r);
    const float* v = record_vec(r);
    append_record(t, id, record_version(r), v);
    IdEntry* e = ids_.find(id);
    if (e != nullptr && e->home == l) {
      e->home = t;
      // The new head is farther than the old one: another head may now be nearest.
      if (l2_sq(v, head_.vec(t), size_t(dim_)) > l2_sq(v, old_c.data(), size_t(dim_))) {
        cands.push_back({id, std::vector<float>(v, v + dim_)});
      }
    }
  }
  // Vectors of nearby lists that are now nearer to a new head than to their own.
  if (params_.reassign_neighbors > 0) {
    auto s = take_scratch();
    std::vector<std::pair<float, uint32_t>> nbrs;
    head_.search(old_c.data(), size_t(params_.reassign_neighbors + 2), std::max(params_.head_ef, params_.reassign_neighbors + 2),
                 &s->head, &nbrs);
    give_scratch(std::move(s));
    int examined = 0;
    for (const auto& [dn, nb] : nbrs) {
      if (nb == a || nb == b) continue;
      if (examined++ >= params_.reassign_neighbors) break;
      MNEMO_ASSIGN_OR_RETURN(size_t m, load_list(nb, &rbuf_, params_.verify_checksums));
      for (size_t i = 0; i < m; ++i) {
        const uint8_t* r = rbuf_.data() + i * rec_bytes_;
        const uint64_t id = record_id(r);
        const IdEntry* e = ids_.find(id);
        if (e == nullptr || e->version != record_version(r) || e->home != nb) continue;
        const float* v = record_vec(r);
        const float d_own = l2_sq(v, head_.vec(nb), size_t(dim_));
        if (std::min(l2_sq(v, head_.vec(a), size_t(dim_)), l2_sq(v, head_.vec(b), size_t(dim_))) < d_own) {
          cands.push_back({id, std::vector<float>(v, v + dim_)});
        }
      }
    }
  }
  for (const Candidate& c : cands) MNEMO_RETURN_IF_ERROR(reassign(c.id, c.vec.data(), queue));
  for (uint32_t t : {a, b}) {
    if (list_size(t) > size_t(params_.posting_limit)) queue->push_back(t);
  }
  meta_dirty_ = true;
  return Status::ok();
}

Status SpannIndex::process_splits(std::vector<uint32_t>* queue) {
  int budget = kMaxSplitsPerUpdate;
  while (!queue->empty()) {
    const uint32_t l = queue->back();
    queue->pop_back();
    if (!lists_[l].alive || list_size(l) <= size_t(params_.posting_limit)) continue;
    if (budget-- == 0) break;  // the rest waits for the next update that touches those lists
    MNEMO_RETURN_IF_ERROR(split_list(l, queue));
  }
  return Status::ok();
}

}  // namespace mnemo::ltm::ann
