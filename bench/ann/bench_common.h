// bench/ann/bench_common.h: what the benchmark's methods share (arguments, data, output).
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/sys.h"
#include "ltm/ann/fvecs.h"

namespace mnemo::ann_bench {

// --key value pairs after the command.
struct Args {
  std::map<std::string, std::string> kv;
  bool has(const std::string& k) const { return kv.count(k) != 0; }
  std::string str(const std::string& k, const std::string& def = "") const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
  long long num(const std::string& k, long long def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : std::stoll(it->second);
  }
  double real(const std::string& k, double def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : std::stod(it->second);
  }
};

// One line of machine-readable output on stdout (the driver parses these).
inline void emit(const nlohmann::json& j) {
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
}

inline nlohmann::json memory_json() {
  const ProcessMemory m = process_memory();
  return {{"rss", m.rss_bytes}, {"peak_rss", m.peak_rss_bytes}};
}

[[noreturn]] inline void die(const std::string& msg) {
  std::fprintf(stderr, "mnemo_ann_bench: error: %s\n", msg.c_str());
  std::exit(1);
}

inline ltm::ann::VecFile<float> load_fvecs(const std::string& path, size_t max_rows = 0) {
  auto r = ltm::ann::read_fvecs(path, max_rows);
  if (!r.has_value()) die(r.status().message());
  return std::move(r).value();
}

inline ltm::ann::VecFile<int32_t> load_ivecs(const std::string& path, size_t max_rows = 0) {
  auto r = ltm::ann::read_ivecs(path, max_rows);
  if (!r.has_value()) die(r.status().message());
  return std::move(r).value();
}

// recall@k of `found` (k ids) against the first k ground-truth ids.
double recall_at_k(const int64_t* found, const int32_t* gt, int k);

std::vector<double> parse_list(const std::string& s);

// The search loop shared by every method: runs `search_one(q, out_ids)` over the queries for each
// effort value (set by `set_effort`), one query at a time on this thread; emits a point per effort.
// A point stops early after `max_seconds` (at least 20 queries). `stats()` gives per-query extras.
struct SearchHooks {
  std::function<void(double effort)> set_effort;
  std::function<void(const float* q, int64_t* ids)> search_one;  // writes k ids (-1 = none)
  std::function<nlohmann::json()> last_query_stats;                // may be empty
};
void run_sweep(const std::string& method, const Args& a, const SearchHooks& hooks);

// Methods: build and search entry points (each prints JSON lines; returns the exit code).
int build_spann(const Args& a);
int search_spann(const Args& a);
int filter_spann(const Args& a);
int build_hnsw(const Args& a);
int search_hnsw(const Args& a);
int build_faiss(const Args& a, bool on_disk);
int search_faiss(const Args& a, bool on_disk);

}  // namespace mnemo::ann_bench
