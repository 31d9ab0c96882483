// mnemo/util.h: small utilities the tools share with the library (formatting, clocks, process
// memory, reading text files). Implemented in src/base/.
#pragma once

#include <cstdint>
#include <string>

#include "mnemo/status.h"

namespace mnemo {

// printf into a std::string.
std::string str_printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// "1.50 MiB" style sizes.
std::string format_bytes(uint64_t bytes);

struct ProcessMemory {
  uint64_t rss_bytes = 0;       // VmRSS: resident now
  uint64_t peak_rss_bytes = 0;  // VmHWM: the high-water mark
  uint64_t rss_anon_bytes = 0;  // RssAnon: heap, stacks, anonymous mappings
  uint64_t rss_file_bytes = 0;  // RssFile: resident pages of mapped files (weights, the binary)
};

// Reads /proc/self/status; zeros when unavailable.
ProcessMemory process_memory();

// What the machine (and the memory cgroup this process runs in) can give.
struct SystemMemory {
  uint64_t total_bytes = 0;         // MemTotal: physical memory
  uint64_t available_bytes = 0;     // MemAvailable
  uint64_t cgroup_limit_bytes = 0;  // memory.max (v2) or memory.limit_in_bytes (v1); 0: no limit
  uint64_t cgroup_usage_bytes = 0;  // memory.current (v2) or memory.usage_in_bytes (v1)
  // The most this process can count on: MemAvailable, or what the cgroup limit leaves if smaller.
  uint64_t usable_bytes() const;
  // The ceiling a budget may not exceed: physical memory, or the cgroup limit if smaller.
  uint64_t physical_bytes() const;
};

// Reads /proc/meminfo and /proc/self/cgroup with the cgroup v1 or v2 memory files.
SystemMemory system_memory();

// Monotonic clock in seconds.
double now_seconds();

// The whole content of a text file (a prompt, an evaluation text), read to its end (regular files,
// pipes, /dev/stdin). Errors name the path: "<path>: cannot open text file: no such file"
// (kNotFound), "<path>: is a directory, expected a text file", or the OS's reason for refusing
// to open or read it (kIoError).
Expected<std::string> read_text_file(const std::string& path);

}  // namespace mnemo
