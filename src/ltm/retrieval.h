// ltm/retrieval.h: hybrid ranking of one user's memories.
//
// Two channels over the memories that pass the filter:
//  - BM25 over the neighbourhood documents (see user_state.h);
//  - cosine similarity of the query vector to each memory's vector, smoothed over the same
//    neighbourhood: sim'(m) = sim(m) + sum_d w_d * (sim(m-d) + sim(m+d)).
// Each channel keeps its best `channel_depth` (at least k) and the two are fused by reciprocal
// rank. When fewer than k memories were ranked but more pass the filter, the newest of the rest
// fill the list, so a filter matched by >= k memories always yields k results.
//
// Vector candidates come from an exact scan of the user's vectors, or, for large users, from the
// ANN index (`ann` below), whose hits are then smoothed from the vectors in RAM.
//
// The caller holds the user's lock shared.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "ltm/user_state.h"
#include "mnemo/memory.h"

namespace mnemo::ltm {

struct SlotFilter {
  bool impossible = false;      // names a label never seen: nothing matches
  uint32_t agent = 0;           // 0: any
  uint32_t session = 0;         // 0: any
  std::vector<uint32_t> kinds;  // any of (empty: all)
  std::vector<uint32_t> tags;   // any of (empty: all)
  int64_t from_ms = INT64_MIN;
  int64_t to_ms = INT64_MAX;
  bool matches(const SlotMeta& m) const;
};

struct Ranked {
  uint32_t slot = 0;
  double score = 0;
  float bm25 = 0;
  float similarity = 0;
};

struct RankStats {
  size_t postings = 0;
  size_t vectors_scanned = 0;
  size_t passed_filter = 0;
};

// An ANN search restricted to the user's memories passing a predicate on ids (`cardinality` of
// them): returns up to n ids, nearest first, or nothing when the index failed (the caller then
// scans exactly). Empty function: exact scan.
using AnnSearch = std::function<std::optional<std::vector<uint64_t>>(
    const float* query, int n, const std::function<bool(uint64_t)>& keep, uint64_t cardinality)>;

std::vector<Ranked> rank_memories(const UserState& user, const std::vector<uint32_t>& query_terms,
                                  const float* query_vec, const SlotFilter& filter, int k, SearchMode mode,
                                  const RetrievalConfig& cfg, const AnnSearch& ann, RankStats* stats);

}  // namespace mnemo::ltm
