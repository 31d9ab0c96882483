// tests/compress/compress_test_util.h: helpers of the compress suites (seeded streams, per-target
// kernel tests, SHA-256 of byte ranges).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "hwy/tests/hwy_gtest.h"
#include "test_util.h"

namespace mnemo::compress_test {

// A stream seeded from MNEMO_TEST_SEED and the test's name (a failure replays with the printed seed).
inline std::mt19937_64 seeded_rng(uint64_t* seed_out) {
  const uint64_t seed = ::mnemo::test::test_seed();
  *seed_out = seed;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string name = std::string(info->test_suite_name()) + "." + info->name();
  uint64_t h = 1469598103934665603ull;
  for (char c : name) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return std::mt19937_64(seed ^ h);
}

#define MNEMO_COMPRESS_RNG(rng)                                                                  \
  uint64_t rng##_seed = 0;                                                                       \
  std::mt19937_64 rng = ::mnemo::compress_test::seeded_rng(&rng##_seed);                         \
  std::printf("[ seed     ] MNEMO_TEST_SEED=%llu\n", static_cast<unsigned long long>(rng##_seed)); \
  SCOPED_TRACE(::testing::Message() << "MNEMO_TEST_SEED=" << rng##_seed)

// Runs once per SIMD target compiled in and supported by the CPU.
class TargetTest : public hwy::TestWithParamTarget {};

inline std::vector<float> gaussian(std::mt19937_64& rng, int64_t n, float sigma = 1.0f) {
  std::normal_distribution<float> g(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = g(rng);
  return v;
}

}  // namespace mnemo::compress_test
