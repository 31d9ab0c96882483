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
};

// Reads /proc/self/status; zeros when unavailable.
ProcessMemory process_memory();

// Monotonic clock in seconds.
double now_seconds();

// The whole content of a text file (a prompt, an evaluation text), read to its end (regular files,
// pipes, /dev/stdin). Errors name the path: "<path>: cannot open text file: no such file"
// (kNotFound), "<path>: is a directory, expected a text file", or the OS's reason for refusing
// to open or read it (kIoError).
Expected<std::string> read_text_file(const std::string& path);

}  // namespace mnemo
