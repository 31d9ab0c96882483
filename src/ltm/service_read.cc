// MemoryService: search (hybrid retrieval, link expansion, recalls), get, list, history.
#include <algorithm>
#include <cmath>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "ltm/embedder.h"
#include "ltm/forgetting.h"
#include "ltm/service_impl.h"
#include "ltm/text.h"

namespace mnemo::ltm {

Expected<std::vector<SearchHit>> MemoryService::Impl::search(const SearchRequest& req) {
  MNEMO_RETURN_IF_ERROR(validate_scope(req.filter.scope, "search"));
  if (req.k < 1 || req.k > cfg.max_k)
    return invalid_argument(str_printf("search: top_k: expected 1..%d, got %d", cfg.max_k, req.k));
  if (req.query.size() > cfg.max_text_bytes)
    return out_of_range(str_printf("search: query: expected at most %zu bytes, got %zu", cfg.max_text_bytes,
                                   req.query.size()));
  if (!valid_utf8(req.query)) return invalid_argument("search: query: expected UTF-8");
  if (req.filter.time_from_ms > req.filter.time_to_ms)
    return invalid_argument("search: filters: expected time_from <= time_to");
  if (!(req.threshold >= 0.0 && req.threshold <= 1.0))
    return invalid_argument(str_printf("search: threshold: expected a similarity in [0, 1], got %g", req.threshold));
  const int64_t now = req.now_ms != 0 ? req.now_ms : now_ms();
  if (req.filter.tier != Tier::kHot) return search_cold(req, now);

  std::vector<SearchHit> hits;
  UserState* u = find_user(req.filter.scope.user_id);
  if (!u) return hits;

  std::vector<uint32_t> qterms;
  for (const std::string& s : stemmed_tokens(req.query)) {
    uint32_t t = terms.find(s);
    if (t != Vocabulary::kMissing) qterms.push_back(t);
  }
  std::vector<uint32_t> qterms_distinct = qterms;
  std::sort(qterms_distinct.begin(), qterms_distinct.end());
  qterms_distinct.erase(std::unique(qterms_distinct.begin(), qterms_distinct.end()), qterms_distinct.end());
  // The query vector also gives every hit its similarity (threshold, recalls), in BM25 mode too.
  Vector qvec;
  if (!req.query.empty() && (req.mode != SearchMode::kBm25 || req.touch || req.threshold > 0)) {
    MNEMO_ASSIGN_OR_RETURN(auto vs, embedder->embed({req.query}));
    qvec = std::move(vs[0]);
  }
  struct Picked {
    uint64_t id;
    double score;
    float bm25, sim;
    bool via_link;
    bool matched;  // ranked by a channel and similar enough or sharing enough words: a recall
  };
  std::vector<Picked> picked;
  {
    std::shared_lock lock(u->mu);
    SlotFilter f = make_filter(req.filter);
    RankStats rs;
    std::vector<Ranked> ranked = rank_memories(*u, qterms, qvec.empty() ? nullptr : qvec.data(), f, req.k, req.mode,
                                               cfg.retrieval, ann_for(*u), &rs);
    std::unordered_set<uint64_t> seen;
    // The cosine of each hit to the query (a channel may not have computed it: BM25 mode, ANN).
    auto sim_of = [&](uint32_t slot) {
      return qvec.empty() ? 0.0f : dot(qvec.data(), u->vec(slot), static_cast<size_t>(u->dim()));
    };
    // The share of the query's information (IDF in this user's index; a stem the user never used
    // has df 0) carried by stems the memory's own text contains.
    double query_idf = 0;
    {
      const double n = static_cast<double>(u->bm25().size());
      const double unseen = std::log(1.0 + (n + 0.5) / 0.5);
      std::vector<std::string> qs = stemmed_tokens(req.query);
      std::sort(qs.begin(), qs.end());
      qs.erase(std::unique(qs.begin(), qs.end()), qs.end());
      for (const std::string& st : qs) {
        uint32_t t = terms.find(st);
        query_idf += t == Vocabulary::kMissing ? unseen : u->bm25().idf(t);
      }
    }
    auto matched_share = [&](uint32_t slot) {
      if (query_idf <= 0) return 0.0;
      double sum = 0;
      const std::vector<uint32_t>& stems = u->meta(slot).stems;
      for (uint32_t t : qterms_distinct)
        if (std::binary_search(stems.begin(), stems.end(), t)) sum += u->bm25().idf(t);
      return sum / query_idf;
    };
    for (const Ranked& r : ranked) {
      const float sim = sim_of(r.slot);
      const bool matched =
          r.score > 0 && (sim >= cfg.recall_min_similarity || matched_share(r.slot) >= cfg.recall_min_share);
      picked.push_back({u->meta(r.slot).id, r.score, r.bm25, sim, false, matched});
      seen.insert(u->meta(r.slot).id);
    }
    if (req.expand_links && !ranked.empty()) {
      // A-MEM: strong hits bring their linked notes (both directions) along, after the k hits.
      const double best = ranked.front().score;
      std::vector<Picked> extra;
      for (const Ranked& r : ranked) {
        if (r.score < cfg.retrieval.link_expand_min * best) break;
        const SlotMeta& m = u->meta(r.slot);
        std::vector<uint64_t> nb = m.links;
        if (const auto* bl = u->backlinks(m.id)) nb.insert(nb.end(), bl->begin(), bl->end());
        for (uint64_t l : nb) {
          if (static_cast<int>(extra.size()) >= req.k) break;
          uint32_t s = u->slot_of(l);
          if (s == UINT32_MAX || !f.matches(u->meta(s)) || !seen.insert(l).second) continue;
          extra.push_back({l, r.score * 0.5, 0.0f, sim_of(s), true, false});
        }
      }
      picked.insert(picked.end(), extra.begin(), extra.end());
    }
  }
  // mem0's threshold: hits less similar to the query are not returned.
  if (req.threshold > 0)
    picked.erase(std::remove_if(picked.begin(), picked.end(), [&](const Picked& p) { return p.sim < req.threshold; }),
                 picked.end());
  // Only hits that matched the query are recalls (issue 16: every hit, zero-score fillers
  // included, used to count, so an unrelated query reset the forgetting curve of what it touched).
  std::unordered_set<uint64_t> recalled;
  for (const Picked& p : picked)
    if (p.matched && !p.via_link) recalled.insert(p.id);
  MNEMO_ASSIGN_OR_RETURN(Lease r, reader());
  for (const Picked& p : picked) {
    auto row = r->get(p.id);
    if (!row || row->rec.scope.user_id != req.filter.scope.user_id) continue;  // deleted meanwhile
    SearchHit h;
    h.memory = std::move(row->rec);
    h.score = p.score;
    h.bm25 = p.bm25;
    h.similarity = p.sim;
    h.via_link = p.via_link;
    h.matched = p.matched && !p.via_link;
    overlay(h.memory, now);
    hits.push_back(std::move(h));
  }
  if (req.touch && !recalled.empty()) {
    // Recalls (MemoryBank): S += 1 and t restarts, in RAM at once, on disk with the next commit.
    struct Touch {
      uint64_t id;
      RecallUpdate ru;
    };
    auto touched = std::make_shared<std::vector<Touch>>();
    {
      std::unique_lock lock(u->mu);
      for (SearchHit& h : hits) {
        if (!recalled.count(h.memory.id)) continue;
        uint32_t s = u->slot_of(h.memory.id);
        if (s == UINT32_MAX) continue;
        SlotMeta& m = u->meta(s);
        RecallUpdate ru = on_recall(m.strength, m.access_count, now);
        m.strength = ru.strength;
        m.last_access_ms = ru.last_access_ms;
        m.access_count = ru.access_count;
        touched->push_back({h.memory.id, ru});
      }
    }
    writer->post({[touched](Store& store, uint64_t&) -> Status {
                    for (const auto& t : *touched) {
                      MNEMO_RETURN_IF_ERROR(
                          store.update_access(t.id, t.ru.strength, t.ru.last_access_ms, t.ru.access_count));
                    }
                    return Status::ok();
                  },
                  {}});
  }
  return hits;
}

// The cold tier lives only in the database: it is ranked by building a transient index over the
// user's cold (or all) memories. Slow by design; forgotten memories are rarely searched.
Expected<std::vector<SearchHit>> MemoryService::Impl::search_cold(const SearchRequest& req, int64_t now) {
  std::vector<SearchHit> hits;
  MNEMO_ASSIGN_OR_RETURN(Lease r, reader());
  UserState tmp(embedder->dim(), cfg.retrieval.context_weights);
  std::unordered_map<uint64_t, MemoryRecord> recs;
  uint64_t after = 0;
  for (;;) {
    MNEMO_ASSIGN_OR_RETURN(auto rows, r->list_user(req.filter.scope.user_id, req.filter.tier, after, 1000));
    if (rows.empty()) break;
    after = rows.back().rec.id;
    std::vector<std::string> texts;
    for (const auto& row : rows) texts.push_back(index_text(row.rec));
    MNEMO_ASSIGN_OR_RETURN(auto vecs, embedder->embed(texts));
    for (size_t i = 0; i < rows.size(); ++i) {
      MNEMO_ASSIGN_OR_RETURN(Prepared p, prepare(rows[i].rec, rows[i].norm_hash, rows[i].seq, &vecs[i]));
      tmp.insert(std::move(p.meta), p.vec);
      recs.emplace(rows[i].rec.id, std::move(rows[i].rec));
    }
  }
  std::vector<uint32_t> qterms;
  for (const std::string& s : stemmed_tokens(req.query)) {
    uint32_t t = terms.find(s);
    if (t != Vocabulary::kMissing) qterms.push_back(t);
  }
  Vector qvec;
  if (!req.query.empty()) {
    MNEMO_ASSIGN_OR_RETURN(auto vs, embedder->embed({req.query}));
    qvec = std::move(vs[0]);
  }
  SlotFilter f = make_filter(req.filter);
  auto ranked = rank_memories(tmp, qterms, qvec.empty() ? nullptr : qvec.data(), f, req.k, req.mode, cfg.retrieval,
                              {}, nullptr);
  for (const Ranked& rk : ranked) {
    if (req.threshold > 0 && rk.similarity < req.threshold) continue;
    SearchHit h;
    h.memory = recs[tmp.meta(rk.slot).id];
    h.score = rk.score;
    h.bm25 = rk.bm25;
    h.similarity = rk.similarity;
    overlay(h.memory, now);
    hits.push_back(std::move(h));
  }
  return hits;
}

Expected<MemoryRecord> MemoryService::Impl::get(const Scope& scope, uint64_t id) {
  MNEMO_RETURN_IF_ERROR(validate_scope(scope, "get"));
  MNEMO_ASSIGN_OR_RETURN(Lease r, reader());
  auto row = r->get(id);
  if (!row || !scope_matches(scope, row->rec.scope))
    return not_found(str_printf("memory %llu: not found for this user", static_cast<unsigned long long>(id)));
  MemoryRecord rec = std::move(row->rec);
  overlay(rec, now_ms());
  return rec;
}

Expected<std::vector<MemoryRecord>> MemoryService::Impl::list(const ListRequest& req) {
  MNEMO_RETURN_IF_ERROR(validate_scope(req.filter.scope, "list"));
  if (req.limit < 1 || req.limit > 10000)
    return invalid_argument(str_printf("list: limit: expected 1..10000, got %d", req.limit));
  const Filter& f = req.filter;
  std::vector<MemoryRecord> out;
  MNEMO_ASSIGN_OR_RETURN(Lease r, reader());
  const int64_t now = now_ms();
  uint64_t after = req.after_id;
  auto any_of = [](const std::vector<std::string>& have, const std::vector<std::string>& want) {
    if (want.empty()) return true;
    for (const auto& w : want)
      if (std::find(have.begin(), have.end(), w) != have.end()) return true;
    return false;
  };
  while (static_cast<int>(out.size()) < req.limit) {
    MNEMO_ASSIGN_OR_RETURN(auto rows, r->list_user(f.scope.user_id, f.tier, after, 1000));
    if (rows.empty()) break;
    after = rows.back().rec.id;
    for (auto& row : rows) {
      const MemoryRecord& m = row.rec;
      if (!scope_matches(f.scope, m.scope)) continue;
      if (m.event_time_ms < f.time_from_ms || m.event_time_ms > f.time_to_ms) continue;
      if (!f.kinds.empty() && std::find(f.kinds.begin(), f.kinds.end(), m.kind) == f.kinds.end()) continue;
      if (!any_of(m.tags, f.tags)) continue;
      out.push_back(std::move(row.rec));
      overlay(out.back(), now);
      if (static_cast<int>(out.size()) >= req.limit) break;
    }
  }
  return out;
}

Expected<std::vector<HistoryEntry>> MemoryService::Impl::history(const Scope& scope, uint64_t id) {
  MNEMO_RETURN_IF_ERROR(validate_scope(scope, "history"));
  MNEMO_ASSIGN_OR_RETURN(Lease r, reader());
  // The memory may be deleted; its history still names the owner.
  auto row = r->get(id);
  if (row && !scope_matches(scope, row->rec.scope))
    return not_found(str_printf("memory %llu: not found for this user", static_cast<unsigned long long>(id)));
  MNEMO_ASSIGN_OR_RETURN(auto entries, r->history(id));
  MNEMO_ASSIGN_OR_RETURN(Stmt * s, r->db().prepare("SELECT count(*) FROM history WHERE memory_id=? AND user_id<>?"));
  s->bind(1, static_cast<int64_t>(id)).bind(2, scope.user_id);
  MNEMO_ASSIGN_OR_RETURN(bool got, s->step());
  int64_t foreign = got ? s->col_int(0) : 0;
  s->reset();
  if (entries.empty() || foreign > 0)
    return not_found(str_printf("memory %llu: not found for this user", static_cast<unsigned long long>(id)));
  return entries;
}

}  // namespace mnemo::ltm
