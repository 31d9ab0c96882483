// ltm/linking.h: A-MEM links, keywords and near-duplicate detection for a new memory, LLM-free.
//
// Candidates: the max(4k, 32) memories of the user most similar to the note by cosine (A-MEM
// finds a note's neighbours by embedding similarity), from the ANN index for a large user, else
// from one exact scan. Links: the candidates' top-k (k = 5 as in A-MEM's released code) by
//   score = cosine(e_new, e_m) + kKeywordWeight * Jaccard(keywords_new, keywords_m),
// kept when score >= kMinLinkScore. Duplicates: a memory of the same user, agent and kind whose
// normal form is identical (exact), or whose stem-set Jaccard >= dedup_jaccard with cosine >=
// dedup_similarity and no number, date, name or place differing (ltm/facts.h: same_facts) (near;
// the most similar such one among the candidates). Keywords: the note's rarest stems (highest IDF in the user's BM25 index),
// shown as the first word that produced each.
//
// The caller holds the user's lock shared.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ltm/retrieval.h"
#include "ltm/user_state.h"
#include "mnemo/memory.h"

namespace mnemo::ltm {

inline constexpr double kKeywordWeight = 0.3;
inline constexpr double kMinLinkScore = 0.1;
inline constexpr int kDefaultKeywords = 5;

struct LinkPlan {
  uint64_t duplicate_of = 0;  // 0: none
  bool exact = false;
  float duplicate_similarity = 0;
  std::vector<uint64_t> links;  // strongest first
};

LinkPlan plan_links(const UserState& u, const SlotMeta& note, const float* vec, const MemoryConfig& cfg,
                    const AnnSearch& ann);

// The n rarest distinct stems of `text` by the user's IDF, as (term id, first surface word).
std::vector<std::pair<uint32_t, std::string>> rare_keywords(const UserState& u, const std::vector<std::string>& words,
                                                            const std::vector<uint32_t>& term_ids, int n);

double jaccard(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b);  // sorted, distinct

}  // namespace mnemo::ltm
