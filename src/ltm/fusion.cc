#include "ltm/fusion.h"

#include <algorithm>
#include <unordered_map>

namespace mnemo::ltm {

std::vector<FusedItem> rrf_fuse(const std::vector<const std::vector<uint32_t>*>& lists,
                                const std::vector<double>& weights, double k) {
  std::unordered_map<uint32_t, size_t> index;
  std::vector<FusedItem> items;
  for (size_t l = 0; l < lists.size(); ++l) {
    const double w = l < weights.size() ? weights[l] : 1.0;
    const auto& list = *lists[l];
    for (size_t r = 0; r < list.size(); ++r) {
      auto [it, fresh] = index.emplace(list[r], items.size());
      if (fresh) items.push_back({list[r], 0.0, static_cast<int>(r + 1)});
      FusedItem& item = items[it->second];
      item.score += w / (k + static_cast<double>(r + 1));
      item.best_rank = std::min(item.best_rank, static_cast<int>(r + 1));
    }
  }
  std::sort(items.begin(), items.end(), [](const FusedItem& a, const FusedItem& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.best_rank != b.best_rank) return a.best_rank < b.best_rank;
    return a.key < b.key;
  });
  return items;
}

}  // namespace mnemo::ltm
