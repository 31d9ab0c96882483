// mnemo/util.h: small utilities the tools share with the library (formatting, clocks, process
// memory). Implemented in src/base/.
#pragma once

#include <cstdint>
#include <string>

namespace mnemo {

// printf into a std::string.
std::string str_printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// "1.50 MiB" style sizes.
std::string format_bytes(uint64_t bytes);

struct ProcessMemory {
  uint64_t rss_bytes = 0;       // VmRSS: resident now
  uint64_t peak_rss_bytes = 0;  // VmHWM: the high-water mark
};

// Reads /proc/self/status; zeros when unavailable.
ProcessMemory process_memory();

// Monotonic clock in seconds.
double now_seconds();

}  // namespace mnemo
