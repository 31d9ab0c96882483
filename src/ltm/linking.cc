#include "ltm/linking.h"

#include <algorithm>
#include <functional>
#include <limits>

#include "ltm/embedder.h"
#include "ltm/facts.h"

namespace mnemo::ltm {

double jaccard(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  if (a.empty() && b.empty()) return 0.0;
  size_t i = 0, j = 0, both = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] == b[j]) {
      ++both;
      ++i;
      ++j;
    } else if (a[i] < b[j]) {
      ++i;
    } else {
      ++j;
    }
  }
  return static_cast<double>(both) / static_cast<double>(a.size() + b.size() - both);
}

LinkPlan plan_links(const UserState& u, const SlotMeta& note, const float* vec, const MemoryConfig& cfg,
                    const AnnSearch& ann) {
  LinkPlan plan;
  for (uint32_t s : u.with_hash(note.norm_hash)) {
    const SlotMeta& m = u.meta(s);
    if (m.live && m.agent == note.agent && m.kind == note.kind) {
      plan.duplicate_of = m.id;
      plan.exact = true;
      plan.duplicate_similarity = 1.0f;
      return plan;
    }
  }
  if (!cfg.dedup && !cfg.link) return plan;
  const int dim = u.dim();
  std::vector<uint32_t> cand;
  std::optional<std::vector<uint64_t>> ann_ids;
  if (ann) {
    auto mine = [&u](uint64_t id) { return u.slot_of(id) != UINT32_MAX; };
    ann_ids = ann(vec, std::max(cfg.link_k * 4, 32), mine, u.size());
  }
  if (ann_ids) {
    for (uint64_t id : *ann_ids) {
      uint32_t s = u.slot_of(id);
      if (s != UINT32_MAX) cand.push_back(s);
    }
  }
  // Without an ANN index: one SIMD pass over the user's (contiguous) vectors, then the same
  // candidate set the ANN path gets, the kCandidates most similar by cosine. Only those are looked
  // at further (metadata, Jaccard), so an add reads no per-memory metadata of the rest of the user:
  // scoring every memory made the add's CPU grow by about 80% from 10 to 1,000 memories per user.
  std::vector<float> all;
  if (!ann_ids) {
    all.resize(u.capacity());
    u.similarities(vec, all.data());
    // Empty slots score exactly 0; keep them out of the way of live memories with negative cosines.
    for (uint32_t s = 0; s < all.size(); ++s)
      if (all[s] == 0.0f && !u.meta(s).live) all[s] = -std::numeric_limits<float>::infinity();
    std::vector<uint32_t> order(all.size());
    for (uint32_t s = 0; s < order.size(); ++s) order[s] = s;
    const size_t want = static_cast<size_t>(std::max(cfg.link_k * 4, 32));
    if (order.size() > want) {
      std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(want), order.end(),
                       [&all](uint32_t a, uint32_t b) { return all[a] != all[b] ? all[a] > all[b] : a < b; });
      order.resize(want);
    }
    for (uint32_t s : order)
      if (u.meta(s).live) cand.push_back(s);
  }
  std::vector<float> cosv(cand.size());
  for (size_t i = 0; i < cand.size(); ++i)
    cosv[i] = ann_ids ? dot(vec, u.vec(cand[i]), static_cast<size_t>(dim)) : all[cand[i]];
  // Link scores are cos + kKeywordWeight * J with 0 <= J <= 1, so a candidate whose cosine is more
  // than kKeywordWeight below the k-th best cosine cannot enter the top k (k others score at least
  // their cosine): its keyword Jaccard is not computed. Exact; it was the largest single cost of an
  // add at 1,000 memories per user (perf), and grew with the user.
  const size_t top = static_cast<size_t>(cfg.link_k) + 1;  // one more: the duplicate may be among them
  double link_floor = kMinLinkScore;
  if (cfg.link && cosv.size() > top) {
    std::vector<float> c = cosv;
    std::nth_element(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(top - 1), c.end(), std::greater<float>());
    link_floor = std::max(link_floor, static_cast<double>(c[top - 1]));
  }
  std::vector<std::pair<double, uint64_t>> scored;
  scored.reserve(std::min(cand.size(), 4 * top));
  double best_dup = 0;
  const size_t note_stems = note.stems.size();
  for (size_t i = 0; i < cand.size(); ++i) {
    const SlotMeta& m = u.meta(cand[i]);
    const float cos = cosv[i];
    // Jaccard <= min(|a|, |b|) / max(|a|, |b|): sets of very different sizes are not duplicates.
    if (cfg.dedup && m.agent == note.agent && m.kind == note.kind && cos >= cfg.dedup_similarity && cos > best_dup &&
        static_cast<double>(std::min(note_stems, m.stems.size())) >=
            cfg.dedup_jaccard * static_cast<double>(std::max(note_stems, m.stems.size())) &&
        jaccard(note.stems, m.stems) >= cfg.dedup_jaccard && same_facts(m.text, note.text)) {
      best_dup = cos;
      plan.duplicate_of = m.id;
      plan.duplicate_similarity = cos;
    }
    if (cfg.link && static_cast<double>(cos) + kKeywordWeight >= link_floor) {
      double score = cos + kKeywordWeight * jaccard(note.keywords, m.keywords);
      if (score >= kMinLinkScore) scored.emplace_back(score, m.id);
    }
  }
  if (cfg.link) {
    auto better = [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second > b.second; };
    const size_t k = top;
    if (scored.size() > k) {
      std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(k), scored.end(), better);
      scored.resize(k);
    } else {
      std::sort(scored.begin(), scored.end(), better);
    }
    for (const auto& [score, id] : scored) {
      if (id == plan.duplicate_of) continue;
      if (plan.links.size() >= static_cast<size_t>(cfg.link_k)) break;
      plan.links.push_back(id);
    }
  }
  return plan;
}

std::vector<std::pair<uint32_t, std::string>> rare_keywords(const UserState& u, const std::vector<std::string>& words,
                                                            const std::vector<uint32_t>& term_ids, int n) {
  struct Cand {
    uint32_t term;
    std::string word;
    double idf;
    size_t first;
  };
  std::vector<Cand> cands;
  for (size_t i = 0; i < term_ids.size() && i < words.size(); ++i) {
    bool seen = false;
    for (const auto& c : cands)
      if (c.term == term_ids[i]) seen = true;
    if (seen || words[i].size() < 3) continue;
    cands.push_back({term_ids[i], words[i], u.bm25().idf(term_ids[i]), i});
  }
  std::stable_sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& b) { return a.idf > b.idf; });
  std::vector<std::pair<uint32_t, std::string>> out;
  for (const auto& c : cands) {
    if (static_cast<int>(out.size()) >= n) break;
    out.emplace_back(c.term, c.word);
  }
  return out;
}

}  // namespace mnemo::ltm
