#include "base/sys.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

namespace mnemo {
namespace {

// Values of "Key: N kB" lines of a /proc file, in bytes.
template <typename Fn>
void scan_kb_lines(const char* path, Fn&& on_line) {
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return;
  char line[256];
  while (std::fgets(line, sizeof line, f)) on_line(line);
  std::fclose(f);
}

bool read_u64_file(const std::string& path, uint64_t* out) {
  std::ifstream in(path);
  std::string word;
  if (!(in >> word)) return false;
  if (word == "max") {  // cgroup v2: no limit
    *out = 0;
    return true;
  }
  try {
    *out = std::stoull(word);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

// The memory cgroup of this process: its directory under /sys/fs/cgroup and whether it is v2.
bool find_memory_cgroup(std::string* dir, bool* v2) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  std::string v2_path;
  bool have_v2 = false;
  while (std::getline(in, line)) {
    // "4:memory:/path" (v1) or "0::/path" (v2)
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (controllers == "memory") {
      *dir = "/sys/fs/cgroup/memory" + path;
      *v2 = false;
      return true;
    }
    if (controllers.empty()) {
      v2_path = path;
      have_v2 = true;
    }
  }
  if (!have_v2) return false;
  *dir = "/sys/fs/cgroup" + v2_path;
  *v2 = true;
  return true;
}

}  // namespace

ProcessMemory process_memory() {
  ProcessMemory m;
  scan_kb_lines("/proc/self/status", [&](const char* line) {
    unsigned long long kb = 0;
    if (std::sscanf(line, "VmRSS: %llu kB", &kb) == 1) m.rss_bytes = kb * 1024;
    if (std::sscanf(line, "VmHWM: %llu kB", &kb) == 1) m.peak_rss_bytes = kb * 1024;
    if (std::sscanf(line, "RssAnon: %llu kB", &kb) == 1) m.rss_anon_bytes = kb * 1024;
    if (std::sscanf(line, "RssFile: %llu kB", &kb) == 1) m.rss_file_bytes = kb * 1024;
  });
  return m;
}

uint64_t SystemMemory::usable_bytes() const {
  uint64_t usable = available_bytes;
  if (cgroup_limit_bytes > 0) {
    const uint64_t left = cgroup_limit_bytes > cgroup_usage_bytes ? cgroup_limit_bytes - cgroup_usage_bytes : 0;
    usable = usable == 0 ? left : std::min(usable, left);
  }
  return usable;
}

uint64_t SystemMemory::physical_bytes() const {
  if (cgroup_limit_bytes > 0 && (total_bytes == 0 || cgroup_limit_bytes < total_bytes)) return cgroup_limit_bytes;
  return total_bytes;
}

SystemMemory system_memory() {
  SystemMemory s;
  scan_kb_lines("/proc/meminfo", [&](const char* line) {
    unsigned long long kb = 0;
    if (std::sscanf(line, "MemTotal: %llu kB", &kb) == 1) s.total_bytes = kb * 1024;
    if (std::sscanf(line, "MemAvailable: %llu kB", &kb) == 1) s.available_bytes = kb * 1024;
  });
  std::string dir;
  bool v2 = false;
  if (find_memory_cgroup(&dir, &v2)) {
    uint64_t limit = 0, usage = 0;
    if (read_u64_file(dir + (v2 ? "/memory.max" : "/memory.limit_in_bytes"), &limit)) {
      // v1 reports "no limit" as a huge page-rounded number.
      if (limit >= (uint64_t{1} << 60)) limit = 0;
      s.cgroup_limit_bytes = limit;
    }
    if (read_u64_file(dir + (v2 ? "/memory.current" : "/memory.usage_in_bytes"), &usage)) s.cgroup_usage_bytes = usage;
  }
  return s;
}

double now_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

}  // namespace mnemo
