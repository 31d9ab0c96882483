// ltm/user_state.h: one user's hot memories in RAM: metadata for filters, the BM25 index, the
// vectors for exact search, the conversational order of each session, links.
//
// Slots are dense indexes reused after removal. Each session (agent_id, session_id) keeps its
// memories in id order; a memory's BM25 document is its own stems plus those of the memories at
// distance d = 1..W before and after it in its session, weighted by context_weights[d-1]
// (neighbourhood context). Inserting or removing a memory refreshes the documents of the
// memories within W of it.
//
// Thread-safety: `mu` guards everything; writers (the service's writer thread) hold it
// exclusively, searches hold it shared.
#pragma once

#include <atomic>
#include <cstdint>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "ltm/bm25.h"

namespace mnemo::ltm {

struct SlotMeta {
  uint64_t id = 0;
  bool live = false;
  uint32_t agent = 0;    // label ids; 0 = empty
  uint32_t session = 0;
  uint32_t kind = 0;
  std::vector<uint32_t> tags;
  int64_t event_time_ms = 0;
  double strength = 1.0;
  int64_t last_access_ms = 0;
  int64_t access_count = 0;
  uint64_t norm_hash = 0;
  uint64_t seq = 0;
  uint64_t corpus_n = 0;          // embedder corpus size when the vector was made
  std::string text;               // the text that was indexed (memory text + context line)
  std::vector<uint32_t> stems;    // sorted distinct term ids of `text` (Jaccard for dedup)
  TermBag own;                    // term counts of `text`
  std::vector<uint32_t> keywords; // term ids of the note's keywords (link scoring)
  std::vector<uint64_t> links;
};

class UserState {
 public:
  UserState(int dim, std::vector<double> context_weights);

  mutable std::shared_mutex mu;
  // In the ANN index (a large user): its memories are mirrored there; searchable through it once
  // ann_ready (the bulk copy is done).
  std::atomic<bool> in_ann{false};
  std::atomic<bool> ann_ready{false};

  // Adds a memory (its id must be new). `vec` has dim() floats.
  uint32_t insert(SlotMeta meta, std::span<const float> vec);
  // Removes a memory; false if absent.
  bool erase(uint64_t id);
  void set_vector(uint32_t slot, std::span<const float> vec);

  int dim() const { return dim_; }
  size_t size() const { return n_live_; }
  size_t capacity() const { return slots_.size(); }
  // Slot of an id, or UINT32_MAX.
  uint32_t slot_of(uint64_t id) const;
  const SlotMeta& meta(uint32_t slot) const { return slots_[slot]; }
  SlotMeta& meta(uint32_t slot) { return slots_[slot]; }
  const float* vec(uint32_t slot) const { return vecs_.data() + static_cast<size_t>(slot) * dim_; }
  // cos(query, every slot's vector) into out[0, capacity()) (0 for empty slots); SIMD when the
  // ANN library (Highway kernels) is linked.
  void similarities(const float* query, float* out) const;
  const Bm25Index& bm25() const { return bm25_; }
  // Slots whose normal-form hash is `h`.
  std::vector<uint32_t> with_hash(uint64_t h) const;
  // Ids that link to `id`.
  const std::vector<uint64_t>* backlinks(uint64_t id) const;

  // The neighbourhood of a slot: (slot, weight) of the memories within W in its session.
  void neighbours(uint32_t slot, std::vector<std::pair<uint32_t, float>>& out) const;
  const std::vector<double>& context_weights() const { return weights_; }
  // Calls fn(order) with the slots of every session, in id order.
  template <typename Fn>
  void for_each_session(Fn&& fn) const {
    for (const auto& [key, order] : sessions_) fn(order);
  }
  uint64_t ram_bytes() const;

 private:
  static uint64_t session_key(uint32_t agent, uint32_t session) { return (uint64_t{agent} << 32) | session; }
  size_t position(const std::vector<uint32_t>& order, uint64_t id) const;
  void refresh(uint64_t key, size_t from, size_t to);

  int dim_;
  std::vector<double> weights_;
  std::vector<SlotMeta> slots_;
  std::vector<uint32_t> free_;
  std::vector<float> vecs_;
  std::vector<float> norms2_;  // squared norm per slot (1 for embeddings, 0 for empty slots)
  size_t n_live_ = 0;
  Bm25Index bm25_;
  std::unordered_map<uint64_t, uint32_t> slot_of_;
  std::unordered_map<uint64_t, std::vector<uint32_t>> sessions_;  // key -> slots in id order
  std::unordered_map<uint64_t, std::vector<uint32_t>> by_hash_;
  std::unordered_map<uint64_t, std::vector<uint64_t>> backlinks_;
};

}  // namespace mnemo::ltm
