// tests/train/train_test_util.h: small models, files and the PyTorch reference for the training
// tests.
#pragma once

#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "test_util.h"
#include "train/params.h"
#include "train/rng.h"

namespace mnemo::train::test {

// ||a - b|| / ||b|| over n floats (double sums).
inline double rel_err(const float* a, const float* b, int64_t n) {
  double num = 0.0, den = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    num += d * d;
    den += static_cast<double>(b[i]) * static_cast<double>(b[i]);
  }
  return den > 0.0 ? std::sqrt(num / den) : std::sqrt(num);
}

template <typename T>
inline void write_raw(const std::string& path, const std::vector<T>& v) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
}

template <typename T>
inline std::vector<T> read_raw(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return {};
  const auto n = static_cast<size_t>(f.tellg());
  std::vector<T> v(n / sizeof(T));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
  return v;
}

// Debian's python3-torch is importable by /usr/bin/python3 (the tests' only use of torch).
inline bool torch_available() {
  static const int ok = [] {
    if (!mnemo::test::exists("/usr/bin/python3")) return 0;
    auto r = mnemo::test::run_process({"/usr/bin/python3", "-c", "import torch, numpy"});
    return r.exit_code == 0 ? 1 : 0;
  }();
  return ok == 1;
}

#define MNEMO_REQUIRE_TORCH()                                                                     \
  do {                                                                                            \
    if (!::mnemo::train::test::torch_available()) {                                               \
      GTEST_SKIP() << "PyTorch not available: /usr/bin/python3 cannot import torch (apt install " \
                      "python3-torch)";                                                           \
    }                                                                                             \
  } while (0)

inline std::string torch_script() { return std::string(MNEMO_SOURCE_DIR) + "/tests/train/torch_llama.py"; }

// A small model with every feature on: GQA, two layers, a vocabulary and width that are not
// multiples of the SIMD width.
inline TrainShape tiny_shape(bool tied = false) {
  TrainShape s;
  s.n_vocab = 67;
  s.n_embd = 32;
  s.n_layer = 2;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.n_ff = 44;
  s.n_ctx = 128;
  s.tied_output = tied;
  return s;
}

inline std::vector<int32_t> random_tokens(int64_t n, int64_t vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (auto& t : v) t = static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab)));
  return v;
}

}  // namespace mnemo::train::test
