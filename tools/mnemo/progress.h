// tools/mnemo/progress.h: a one-line progress bar on stderr (only when stderr is a terminal,
// otherwise a line every 10%).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace mnemo::cli {

class ProgressBar {
 public:
  explicit ProgressBar(std::string label) : label_(std::move(label)), tty_(isatty(2)) {}
  void update(uint64_t done, uint64_t total) {
    if (total == 0) return;
    const int pct = static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total));
    if (pct == last_pct_) return;
    if (!tty_ && pct / 10 == last_pct_ / 10 && pct != 100) return;
    last_pct_ = pct;
    const int width = 30, filled = pct * width / 100;
    std::fprintf(stderr, "%s%s [%s%s] %3d%%%s", tty_ ? "\r" : "", label_.c_str(), std::string(filled, '#').c_str(),
                 std::string(width - filled, ' ').c_str(), pct, tty_ ? "" : "\n");
    if (tty_ && pct == 100) std::fputc('\n', stderr);
    std::fflush(stderr);
  }

 private:
  std::string label_;
  bool tty_;
  int last_pct_ = -1;
};

}  // namespace mnemo::cli
