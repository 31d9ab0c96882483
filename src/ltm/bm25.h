// ltm/bm25.h: Okapi BM25 over one user's memories, with fractional term frequencies.
//
// A document is a bag of (term id, weight): the memory's own stems (weight 1 each) plus, for the
// conversational neighbourhood, its neighbours' stems weighted down. Document length is the
// memory's own token count. score(q, d) = sum over distinct query terms t of
//   idf(t) * tf(t,d) * (k1 + 1) / (tf(t,d) + k1 * (1 - b + b * len(d) / avglen)),
//   idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))   (Robertson-Sparck Jones, always > 0).
//
// Documents are addressed by a dense slot number chosen by the caller. Not thread-safe: the owner
// (the user's state) serialises writers against readers.
#pragma once

#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mnemo::ltm {

using TermBag = std::vector<std::pair<uint32_t, float>>;  // sorted by term id, weights > 0

// Global interning of stems to term ids. Thread-safe.
class Vocabulary {
 public:
  static constexpr uint32_t kMissing = UINT32_MAX;
  // The id of `term`, assigned on first use.
  uint32_t intern(std::string_view term);
  // The id of `term`, or kMissing.
  uint32_t find(std::string_view term) const;
  size_t size() const;

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, uint32_t> ids_;
};

// Counts of the given term ids as a sorted bag.
TermBag make_bag(const std::vector<uint32_t>& terms);
// a += w * b (both sorted; result sorted).
void bag_add(TermBag& a, const TermBag& b, float w);

struct Bm25Params {
  double k1 = 0.9;
  double b = 0.2;
};

class Bm25Index {
 public:
  // Sets (or replaces) the document in `slot`. `length` is its own token count.
  void set(uint32_t slot, TermBag bag, float length);
  void erase(uint32_t slot);
  bool contains(uint32_t slot) const { return slot < docs_.size() && docs_[slot].live; }
  const TermBag* bag(uint32_t slot) const { return contains(slot) ? &docs_[slot].bag : nullptr; }
  size_t size() const { return n_docs_; }

  // Adds the BM25 score of each document containing a query term to scores[slot] (scores must
  // have a slot for every document; untouched slots keep their value). Repeated query terms
  // count once. Returns the number of postings visited.
  size_t score(const std::vector<uint32_t>& query_terms, const Bm25Params& p, std::vector<float>& scores,
               std::vector<uint8_t>* touched = nullptr) const;

  double idf(uint32_t term) const;
  uint64_t ram_bytes() const;

 private:
  struct Posting {
    uint32_t slot;
    float tf;
  };
  struct Doc {
    TermBag bag;
    float length = 0;
    bool live = false;
  };
  void remove_postings(uint32_t slot, const TermBag& bag);

  std::unordered_map<uint32_t, std::vector<Posting>> postings_;
  std::vector<Doc> docs_;
  size_t n_docs_ = 0;
  double total_length_ = 0;
};

}  // namespace mnemo::ltm
