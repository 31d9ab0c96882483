// train/schedule.h: the learning rate of each step: linear warmup, then cosine decay to min
// (Loshchilov & Hutter's SGDR without restarts), or constant after the warmup.
//   step < warmup:  max (step + 1) / warmup
//   else:           min + (max - min) (1 + cos(pi min(1, (step - warmup) / max(1, total - warmup)))) / 2
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

namespace mnemo::train {

struct LrSchedule {
  double max_lr = 1e-3;
  double min_lr = 1e-4;
  int64_t warmup = 0;
  int64_t total = 1;           // steps of the run
  std::string kind = "cosine";  // or "constant"

  double at(int64_t step) const {
    if (step < warmup) return max_lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
    if (kind == "constant") return max_lr;
    const double ratio =
        std::min(1.0, static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup)));
    return min_lr + 0.5 * (1.0 + std::cos(3.14159265358979323846 * ratio)) * (max_lr - min_lr);
  }
};

}  // namespace mnemo::train
