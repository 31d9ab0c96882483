#include "ltm/bm25.h"

#include <algorithm>
#include <cmath>

namespace mnemo::ltm {

uint32_t Vocabulary::intern(std::string_view term) {
  {
    std::shared_lock lock(mu_);
    auto it = ids_.find(std::string(term));
    if (it != ids_.end()) return it->second;
  }
  std::unique_lock lock(mu_);
  auto [it, inserted] = ids_.emplace(std::string(term), static_cast<uint32_t>(ids_.size()));
  return it->second;
}

uint32_t Vocabulary::find(std::string_view term) const {
  std::shared_lock lock(mu_);
  auto it = ids_.find(std::string(term));
  return it == ids_.end() ? kMissing : it->second;
}

size_t Vocabulary::size() const {
  std::shared_lock lock(mu_);
  return ids_.size();
}

TermBag make_bag(const std::vector<uint32_t>& terms) {
  std::vector<uint32_t> sorted = terms;
  std::sort(sorted.begin(), sorted.end());
  TermBag bag;
  for (uint32_t t : sorted) {
    if (!bag.empty() && bag.back().first == t) bag.back().second += 1.0f;
    else bag.emplace_back(t, 1.0f);
  }
  return bag;
}

void bag_add(TermBag& a, const TermBag& b, float w) {
  if (b.empty() || w == 0.0f) return;
  TermBag out;
  out.reserve(a.size() + b.size());
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && a[i].first < b[j].first)) {
      out.push_back(a[i++]);
    } else if (i == a.size() || b[j].first < a[i].first) {
      out.emplace_back(b[j].first, w * b[j].second);
      ++j;
    } else {
      out.emplace_back(a[i].first, a[i].second + w * b[j].second);
      ++i;
      ++j;
    }
  }
  a = std::move(out);
}

void Bm25Index::remove_postings(uint32_t slot, const TermBag& bag) {
  for (const auto& [term, w] : bag) {
    auto it = postings_.find(term);
    if (it == postings_.end()) continue;
    auto& list = it->second;
    // Recent documents sit at the end of their lists, and they are the ones that change most
    // (a new memory updates its predecessors' neighbourhoods): search backwards.
    for (size_t k = list.size(); k-- > 0;) {
      if (list[k].slot == slot) {
        list.erase(list.begin() + static_cast<std::ptrdiff_t>(k));
        break;
      }
    }
    if (list.empty()) postings_.erase(it);
  }
}

void Bm25Index::set(uint32_t slot, TermBag bag, float length) {
  if (slot >= docs_.size()) docs_.resize(slot + 1);
  Doc& d = docs_[slot];
  if (d.live) {
    // Update in place where the term set is unchanged (the common neighbourhood update adds
    // terms; weights of present terms change).
    TermBag old = std::move(d.bag);
    size_t i = 0, j = 0;
    while (i < old.size() || j < bag.size()) {
      if (j == bag.size() || (i < old.size() && old[i].first < bag[j].first)) {
        remove_postings(slot, {old[i]});
        ++i;
      } else if (i == old.size() || bag[j].first < old[i].first) {
        postings_[bag[j].first].push_back({slot, bag[j].second});
        ++j;
      } else {
        if (old[i].second != bag[j].second) {
          auto& list = postings_[bag[j].first];
          for (size_t k = list.size(); k-- > 0;) {
            if (list[k].slot == slot) {
              list[k].tf = bag[j].second;
              break;
            }
          }
        }
        ++i;
        ++j;
      }
    }
    total_length_ += length - d.length;
  } else {
    for (const auto& [term, w] : bag) postings_[term].push_back({slot, w});
    ++n_docs_;
    total_length_ += length;
  }
  d.bag = std::move(bag);
  d.length = length;
  d.live = true;
}

void Bm25Index::erase(uint32_t slot) {
  if (!contains(slot)) return;
  Doc& d = docs_[slot];
  remove_postings(slot, d.bag);
  total_length_ -= d.length;
  --n_docs_;
  d = Doc{};
}

double Bm25Index::idf(uint32_t term) const {
  auto it = postings_.find(term);
  double df = it == postings_.end() ? 0.0 : static_cast<double>(it->second.size());
  double n = static_cast<double>(n_docs_);
  return std::log(1.0 + (n - df + 0.5) / (df + 0.5));
}

size_t Bm25Index::score(const std::vector<uint32_t>& query_terms, const Bm25Params& p, std::vector<float>& scores,
                        std::vector<uint8_t>* touched) const {
  if (n_docs_ == 0) return 0;
  std::vector<uint32_t> q = query_terms;
  std::sort(q.begin(), q.end());
  q.erase(std::unique(q.begin(), q.end()), q.end());
  double avg = total_length_ / static_cast<double>(n_docs_);
  if (avg <= 0) avg = 1;
  const float k1 = static_cast<float>(p.k1);
  const float one_minus_b = static_cast<float>(1.0 - p.b);
  const float b_over_avg = static_cast<float>(p.b / avg);
  size_t visited = 0;
  for (uint32_t t : q) {
    auto it = postings_.find(t);
    if (it == postings_.end()) continue;
    const float w = static_cast<float>(idf(t));
    for (const Posting& post : it->second) {
      float len = docs_[post.slot].length;
      float denom = post.tf + k1 * (one_minus_b + b_over_avg * len);
      scores[post.slot] += w * post.tf * (k1 + 1.0f) / denom;
      if (touched) (*touched)[post.slot] = 1;
    }
    visited += it->second.size();
  }
  return visited;
}

uint64_t Bm25Index::ram_bytes() const {
  uint64_t b = docs_.capacity() * sizeof(Doc);
  for (const auto& d : docs_) b += d.bag.capacity() * sizeof(TermBag::value_type);
  for (const auto& [t, l] : postings_) b += l.capacity() * sizeof(Posting) + 48;
  return b;
}

}  // namespace mnemo::ltm
