// ltm/forgetting.h: MemoryBank forgetting (Zhong et al., AAAI 2024, arXiv 2305.10250).
//
// Retention R = exp(-t / (k * S)): t is the time since the last recall in days, S the memory's
// strength (1 at creation, +1 per recall), k a time scale in days (configurable). This is the
// paper's formula; the released code computes exp(-t / 5 * S) = exp(-t * S / 5), which by operator
// precedence makes stronger memories decay faster. R is computed when read, never stored.
// Forgetting is a sweep that moves memories with R below a threshold to the cold tier.
#pragma once

#include <cstdint>

namespace mnemo::ltm {

inline constexpr double kMsPerDay = 86400000.0;

// A recall: S += 1, t restarts at now.
struct RecallUpdate {
  double strength;
  int64_t last_access_ms;
  int64_t access_count;
};
RecallUpdate on_recall(double strength, int64_t access_count, int64_t now_ms);

}  // namespace mnemo::ltm
