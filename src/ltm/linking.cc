#include "ltm/linking.h"

#include <algorithm>

#include "ltm/embedder.h"

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
  } else {
    for (uint32_t s = 0; s < u.capacity(); ++s)
      if (u.meta(s).live) cand.push_back(s);
  }
  std::vector<std::pair<double, uint64_t>> scored;
  scored.reserve(cand.size());
  double best_dup = 0;
  std::vector<float> all;
  if (!ann_ids) {
    all.resize(u.capacity());
    u.similarities(vec, all.data());
  }
  for (uint32_t s : cand) {
    const SlotMeta& m = u.meta(s);
    float cos = ann_ids ? dot(vec, u.vec(s), static_cast<size_t>(dim)) : all[s];
    if (cfg.dedup && m.agent == note.agent && m.kind == note.kind && cos >= cfg.dedup_similarity && cos > best_dup &&
        jaccard(note.stems, m.stems) >= cfg.dedup_jaccard) {
      best_dup = cos;
      plan.duplicate_of = m.id;
      plan.duplicate_similarity = cos;
    }
    if (cfg.link) {
      double score = cos + kKeywordWeight * jaccard(note.keywords, m.keywords);
      if (score >= kMinLinkScore) scored.emplace_back(score, m.id);
    }
  }
  if (cfg.link) {
    auto better = [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second > b.second; };
    size_t k = static_cast<size_t>(cfg.link_k) + 1;  // one more: the duplicate may be among them
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
