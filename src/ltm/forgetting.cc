#include "ltm/forgetting.h"

#include <algorithm>
#include <cmath>

#include "mnemo/memory.h"

namespace mnemo::ltm {

double retention(double strength, int64_t last_access_ms, int64_t now_ms, double k_days) {
  double t_days = std::max(0.0, static_cast<double>(now_ms - last_access_ms) / kMsPerDay);
  double s = std::max(strength, 1e-9);
  double k = std::max(k_days, 1e-9);
  return std::exp(-t_days / (k * s));
}

RecallUpdate on_recall(double strength, int64_t access_count, int64_t now_ms) {
  return {strength + 1.0, now_ms, access_count + 1};
}

}  // namespace mnemo::ltm
