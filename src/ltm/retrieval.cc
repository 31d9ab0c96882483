#include "ltm/retrieval.h"

#include <algorithm>

#include "ltm/embedder.h"
#include "ltm/fusion.h"

namespace mnemo::ltm {
namespace {

bool contains_any(const std::vector<uint32_t>& have, const std::vector<uint32_t>& want) {
  for (uint32_t w : want)
    if (std::find(have.begin(), have.end(), w) != have.end()) return true;
  return false;
}

// The best `n` of (slot, score) pairs, best first (ties: smaller slot id first for determinism).
std::vector<uint32_t> top_slots(std::vector<std::pair<float, uint32_t>>& cand, size_t n, const UserState& u) {
  auto better = [&u](const std::pair<float, uint32_t>& a, const std::pair<float, uint32_t>& b) {
    if (a.first != b.first) return a.first > b.first;
    return u.meta(a.second).id > u.meta(b.second).id;  // newer first on ties
  };
  if (cand.size() > n) {
    std::nth_element(cand.begin(), cand.begin() + static_cast<std::ptrdiff_t>(n), cand.end(), better);
    cand.resize(n);
  }
  std::sort(cand.begin(), cand.end(), better);
  std::vector<uint32_t> out;
  out.reserve(cand.size());
  for (const auto& c : cand) out.push_back(c.second);
  return out;
}

}  // namespace

bool SlotFilter::matches(const SlotMeta& m) const {
  if (impossible || !m.live) return false;
  if (agent != 0 && m.agent != agent) return false;
  if (session != 0 && m.session != session) return false;
  if (m.event_time_ms < from_ms || m.event_time_ms > to_ms) return false;
  if (!kinds.empty() && std::find(kinds.begin(), kinds.end(), m.kind) == kinds.end()) return false;
  if (!tags.empty() && !contains_any(m.tags, tags)) return false;
  return true;
}

std::vector<Ranked> rank_memories(const UserState& u, const std::vector<uint32_t>& query_terms,
                                  const float* query_vec, const SlotFilter& filter, int k, SearchMode mode,
                                  const RetrievalConfig& cfg, const AnnSearch& ann, RankStats* stats) {
  std::vector<Ranked> out;
  if (k <= 0 || filter.impossible || u.size() == 0) return out;
  const size_t n = u.capacity();
  const size_t depth = static_cast<size_t>(std::max(cfg.channel_depth, k));
  const int dim = u.dim();
  std::vector<uint8_t> pass(n, 0);
  size_t n_pass = 0;
  for (size_t s = 0; s < n; ++s) {
    if (filter.matches(u.meta(static_cast<uint32_t>(s)))) {
      pass[s] = 1;
      ++n_pass;
    }
  }
  if (stats) stats->passed_filter = n_pass;
  if (n_pass == 0) return out;

  // BM25 channel.
  std::vector<float> bm(n, 0.0f);
  std::vector<uint32_t> bm_list;
  if (mode != SearchMode::kVector && !query_terms.empty()) {
    std::vector<uint8_t> touched(n, 0);
    Bm25Params p{cfg.bm25_k1, cfg.bm25_b};
    size_t visited = u.bm25().score(query_terms, p, bm, &touched);
    if (stats) stats->postings = visited;
    std::vector<std::pair<float, uint32_t>> cand;
    for (size_t s = 0; s < n; ++s)
      if (touched[s] && pass[s] && bm[s] > 0) cand.emplace_back(bm[s], static_cast<uint32_t>(s));
    bm_list = top_slots(cand, depth, u);
  }

  // Vector channel.
  std::vector<float> sim(n, 0.0f);
  std::vector<uint32_t> vec_list;
  if (mode != SearchMode::kBm25 && query_vec != nullptr) {
    std::vector<std::pair<float, uint32_t>> cand;
    const auto& w = u.context_weights();
    std::optional<std::vector<uint64_t>> ann_ids;
    if (ann) {
      auto keep = [&](uint64_t id) {
        uint32_t s = u.slot_of(id);
        return s != UINT32_MAX && pass[s];
      };
      ann_ids = ann(query_vec, static_cast<int>(depth), keep, n_pass);
    }
    if (ann_ids) {
      const std::vector<uint64_t>& ids = *ann_ids;
      std::vector<std::pair<uint32_t, float>> nb;
      std::vector<uint8_t> done(n, 0);
      auto sim_of = [&](uint32_t s) {
        if (!done[s]) {
          sim[s] = dot(query_vec, u.vec(s), static_cast<size_t>(dim));
          done[s] = 1;
          if (stats) ++stats->vectors_scanned;
        }
        return sim[s];
      };
      for (uint64_t id : ids) {
        uint32_t s = u.slot_of(id);
        if (s == UINT32_MAX || !pass[s]) continue;
        float v = sim_of(s);
        u.neighbours(s, nb);
        for (const auto& [ns, wt] : nb) v += wt * sim_of(ns);
        cand.emplace_back(v, s);
      }
    } else {
      u.similarities(query_vec, sim.data());
      if (stats) stats->vectors_scanned = u.size();
      std::vector<float> smooth = sim;
      if (!w.empty()) {
        u.for_each_session([&](const std::vector<uint32_t>& order) {
          const size_t m = order.size();
          for (size_t p = 0; p < m; ++p) {
            float v = sim[order[p]];
            for (size_t d = 1; d <= w.size(); ++d) {
              float wt = static_cast<float>(w[d - 1]);
              if (p >= d) v += wt * sim[order[p - d]];
              if (p + d < m) v += wt * sim[order[p + d]];
            }
            smooth[order[p]] = v;
          }
        });
      }
      for (size_t s = 0; s < n; ++s)
        if (pass[s]) cand.emplace_back(smooth[s], static_cast<uint32_t>(s));
    }
    vec_list = top_slots(cand, depth, u);
  }

  std::vector<FusedItem> fused;
  if (!bm_list.empty() && !vec_list.empty()) {
    fused = rrf_fuse({&bm_list, &vec_list}, {cfg.bm25_weight, cfg.vector_weight}, cfg.rrf_k);
  } else if (!bm_list.empty() || !vec_list.empty()) {
    fused = rrf_fuse({bm_list.empty() ? &vec_list : &bm_list}, {1.0}, cfg.rrf_k);
  }
  std::vector<uint8_t> used(n, 0);
  for (const FusedItem& f : fused) {
    if (out.size() >= static_cast<size_t>(k)) break;
    out.push_back({f.key, f.score, bm[f.key], sim[f.key]});
    used[f.key] = 1;
  }
  if (out.size() < static_cast<size_t>(k) && out.size() < n_pass) {
    // Fill with the newest memories that pass the filter.
    std::vector<std::pair<uint64_t, uint32_t>> rest;
    for (size_t s = 0; s < n; ++s)
      if (pass[s] && !used[s]) rest.emplace_back(u.meta(static_cast<uint32_t>(s)).id, static_cast<uint32_t>(s));
    std::sort(rest.begin(), rest.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (const auto& [id, s] : rest) {
      if (out.size() >= static_cast<size_t>(k)) break;
      out.push_back({s, 0.0, bm[s], sim[s]});
    }
  }
  return out;
}

}  // namespace mnemo::ltm
