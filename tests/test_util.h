// tests/test_util.h: where tests find data, and how they skip when it is absent.
//
// Real data (models, text, vectors) lives outside the repository in $MNEMO_DATA, by default
// ../shared/data beside the checkout. Tests that need it carry the ctest label `model` (or
// `data`) and call MNEMO_REQUIRE_DATA, which skips with a message naming the missing file.
// Expected outputs produced by reference implementations are committed under tests/data/.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <sys/stat.h>
#include <vector>

namespace mnemo::test {

inline std::string data_dir() {
  const char* env = std::getenv("MNEMO_DATA");
  if (env != nullptr && env[0] != '\0') return env;
  return std::string(MNEMO_SOURCE_DIR) + "/../shared/data";
}

// A file under $MNEMO_DATA.
inline std::string data_path(const std::string& rel) { return data_dir() + "/" + rel; }

// A file committed under tests/data/.
inline std::string golden_path(const std::string& rel) {
  return std::string(MNEMO_SOURCE_DIR) + "/tests/data/" + rel;
}

inline bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// The mnemo binary built beside the tests (for CLI tests).
inline std::string mnemo_bin() {
  const char* env = std::getenv("MNEMO_BIN");
  if (env != nullptr && env[0] != '\0') return env;
  return std::string(MNEMO_BINARY_DIR) + "/tools/mnemo/mnemo";
}

// Seed for randomized tests: MNEMO_TEST_SEED replays a failure; the seed is printed on failure.
inline uint64_t test_seed() {
  const char* env = std::getenv("MNEMO_TEST_SEED");
  if (env != nullptr && env[0] != '\0') return std::strtoull(env, nullptr, 10);
  return 20261129;
}

// A scratch directory unique to this test, removed by the caller if wanted.
std::string temp_dir();

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal (signal in term_signal)
  int term_signal = 0;
  std::string out;     // stdout
  std::string err;     // stderr
  long max_rss_kb = 0; // peak resident set of the child (wait4's ru_maxrss)
};

// Runs argv[0] with the given arguments (no shell), feeding `input` on stdin, and collects its
// output.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input = "");

}  // namespace mnemo::test

#define MNEMO_REQUIRE_DATA(rel)                                                              \
  do {                                                                                       \
    if (!::mnemo::test::exists(::mnemo::test::data_path(rel))) {                             \
      GTEST_SKIP() << "test data not found: " << ::mnemo::test::data_path(rel)               \
                   << " (set MNEMO_DATA to the shared data directory)";                       \
    }                                                                                        \
  } while (0)
