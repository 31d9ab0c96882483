// base/sys.h: what the process costs the machine, read from /proc.
#pragma once

#include <cstdint>

namespace mnemo {

struct ProcessMemory {
  uint64_t rss_bytes = 0;       // VmRSS: resident now
  uint64_t peak_rss_bytes = 0;  // VmHWM: the high-water mark
};

// Reads /proc/self/status; zeros when unavailable.
ProcessMemory process_memory();

// Monotonic clock in seconds.
double now_seconds();

}  // namespace mnemo
