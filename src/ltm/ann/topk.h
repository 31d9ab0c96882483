// ltm/ann/topk.h: the k best (smallest distance) neighbours seen so far.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "ltm/vector_index.h"

namespace mnemo::ltm::ann {

// A max-heap of at most k neighbours, ordered by (distance, id) so results are deterministic.
// Not thread-safe; one per query.
class TopK {
 public:
  explicit TopK(int k = 0) { reset(k); }
  void reset(int k) {
    k_ = k < 0 ? 0 : static_cast<size_t>(k);
    heap_.clear();
    heap_.reserve(k_ < 1024 ? k_ : 1024);  // k comes from callers: grow on demand beyond this
  }
  size_t size() const { return heap_.size(); }
  bool full() const { return heap_.size() >= k_; }
  // The distance a candidate must beat to enter (infinity until k are held).
  float threshold() const {
    return full() && !heap_.empty() ? heap_.front().distance : std::numeric_limits<float>::infinity();
  }
  bool would_enter(float d) const { return !full() || d < heap_.front().distance; }
  // True when `id` is already held (replicas of one vector appear in several posting lists).
  bool contains(uint64_t id) const {
    for (const Neighbor& n : heap_) {
      if (n.id == id) return true;
    }
    return false;
  }
  void push(uint64_t id, float d) {
    if (k_ == 0) return;
    if (!full()) {
      heap_.push_back({id, d});
      std::push_heap(heap_.begin(), heap_.end(), less);
    } else if (less({id, d}, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), less);
      heap_.back() = {id, d};
      std::push_heap(heap_.begin(), heap_.end(), less);
    }
  }
  // Nearest first; empties the heap.
  std::vector<Neighbor> take_sorted() {
    std::sort_heap(heap_.begin(), heap_.end(), less);
    std::vector<Neighbor> out;
    out.swap(heap_);
    return out;
  }

 private:
  static bool less(const Neighbor& a, const Neighbor& b) {
    return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
  }
  size_t k_ = 0;
  std::vector<Neighbor> heap_;
};

}  // namespace mnemo::ltm::ann
