// ltm/fusion.h: reciprocal rank fusion (Cormack, Clarke and Buettcher, SIGIR 2009).
//
// fused(d) = sum over lists L containing d of weight(L) / (k + rank_L(d)), ranks from 1.
#pragma once

#include <cstdint>
#include <vector>

namespace mnemo::ltm {

struct FusedItem {
  uint32_t key = 0;
  double score = 0;
  int best_rank = 0;  // the smallest rank of the item over the lists (tie-break)
};

// `lists` are rankings of keys, best first. Returns the union, best fused score first; ties go to
// the better best rank, then the smaller key.
std::vector<FusedItem> rrf_fuse(const std::vector<const std::vector<uint32_t>*>& lists,
                                const std::vector<double>& weights, double k);

}  // namespace mnemo::ltm
