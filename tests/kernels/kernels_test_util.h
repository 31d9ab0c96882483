// tests/kernels/kernels_test_util.h: shared helpers of the kernel suites.
//
// Every kernel test is a TEST_P of a suite derived from hwy::TestWithParamTarget, so it runs once
// per SIMD target compiled into mnemo_kernels and supported by this CPU (SCALAR, SSSE3, SSE4,
// AVX2, AVX3 where present): the dispatch tables follow hwy::SetSupportedTargetsForTest.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "base/fp16.h"
#include "hwy/tests/hwy_gtest.h"
#include "tensor/blocks.h"
#include "tensor/dtype.h"
#include "test_util.h"

namespace mnemo::kernels::test {

// A generator seeded from MNEMO_TEST_SEED (mnemo::test::test_seed()) and the test's name, so each
// test has its own stream and a failure replays with the printed seed.
inline std::mt19937_64 seeded_rng(uint64_t* seed_out = nullptr) {
  const uint64_t seed = ::mnemo::test::test_seed();
  if (seed_out) *seed_out = seed;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string name = std::string(info->test_suite_name()) + "." + info->name();
  uint64_t h = 1469598103934665603ull;  // FNV-1a of the name, mixed into the seed
  for (char c : name) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return std::mt19937_64(seed ^ h);
}

// Declares `rng`, prints the seed, and attaches it to every failure message of the test.
#define MNEMO_SEEDED_RNG(rng)                                                                   \
  uint64_t rng##_seed = 0;                                                                      \
  std::mt19937_64 rng = ::mnemo::kernels::test::seeded_rng(&rng##_seed);                        \
  std::printf("[ seed     ] MNEMO_TEST_SEED=%llu\n", static_cast<unsigned long long>(rng##_seed)); \
  SCOPED_TRACE(::testing::Message() << "MNEMO_TEST_SEED=" << rng##_seed)

// Distance in units in the last place between two floats; NaN matches NaN (payloads may differ),
// NaN against a number is the maximum distance.
inline uint64_t ulp_distance(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) {
    return std::isnan(a) && std::isnan(b) ? 0 : std::numeric_limits<uint64_t>::max();
  }
  auto ordered = [](float f) {
    const int64_t i = static_cast<int32_t>(f32_to_bits(f));
    return i < 0 ? static_cast<int64_t>(INT32_MIN) - i : i;  // monotone in f, -0 == +0
  };
  const int64_t d = ordered(a) - ordered(b);
  return static_cast<uint64_t>(d < 0 ? -d : d);
}

inline std::vector<float> random_floats(std::mt19937_64& rng, int64_t n, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = u(rng);
  return v;
}

// The quantized types and the f16 scale fields of their blocks.
struct QuantLayout {
  DType type;
  int scale_offsets[2];  // byte offsets of f16 fields (d, and m or dmin), -1 if none
};
inline const std::vector<QuantLayout>& quant_layouts() {
  static const std::vector<QuantLayout> k = {
      {DType::Q4_0, {offsetof(BlockQ4_0, d), -1}},
      {DType::Q4_1, {offsetof(BlockQ4_1, d), offsetof(BlockQ4_1, m)}},
      {DType::Q5_0, {offsetof(BlockQ5_0, d), -1}},
      {DType::Q5_1, {offsetof(BlockQ5_1, d), offsetof(BlockQ5_1, m)}},
      {DType::Q8_0, {offsetof(BlockQ8_0, d), -1}},
      {DType::Q2_K, {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)}},
      {DType::Q3_K, {offsetof(BlockQ3_K, d), -1}},
      {DType::Q4_K, {offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin)}},
      {DType::Q5_K, {offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin)}},
      {DType::Q6_K, {offsetof(BlockQ6_K, d), -1}},
  };
  return k;
}

// Every supported type: the plain ones, then the quantized ones.
inline std::vector<DType> supported_types() {
  std::vector<DType> v = {DType::F32, DType::F16, DType::BF16};
  for (const auto& q : quant_layouts()) v.push_back(q.type);
  return v;
}

enum class ScaleKind { kNormal, kSmall, kZero, kInf, kSubnormal, kMixed };

// A half for a block scale: kNormal in about [2^-8, 2^-2] (either sign), kSmall about [2^-14,
// 2^-10], kMixed draws from all kinds (including inf and NaN-free extremes).
inline uint16_t scale_half(std::mt19937_64& rng, ScaleKind kind) {
  const uint16_t sign = static_cast<uint16_t>((rng() & 1) << 15);
  const uint16_t mant = static_cast<uint16_t>(rng() & 0x3ff);
  switch (kind) {
    case ScaleKind::kNormal: return sign | static_cast<uint16_t>((7 + rng() % 7) << 10) | mant;
    case ScaleKind::kSmall: return sign | static_cast<uint16_t>((1 + rng() % 5) << 10) | mant;
    case ScaleKind::kZero: return sign;
    case ScaleKind::kInf: return sign | 0x7c00;
    case ScaleKind::kSubnormal: return sign | (mant == 0 ? 1 : mant);
    case ScaleKind::kMixed: {
      static constexpr ScaleKind kAll[] = {ScaleKind::kNormal, ScaleKind::kSmall, ScaleKind::kZero,
                                           ScaleKind::kInf, ScaleKind::kSubnormal};
      return scale_half(rng, kAll[rng() % 5]);
    }
  }
  return 0;
}

// n elements of `type` as raw bytes: random quant fields; f16 scales of the given kind. Plain
// types get random finite values (and for kMixed also zeros, subnormals and infinities).
inline std::vector<uint8_t> random_row_bytes(std::mt19937_64& rng, DType type, int64_t n,
                                             ScaleKind kind = ScaleKind::kNormal) {
  const DTypeTraits& t = traits(type);
  std::vector<uint8_t> bytes(static_cast<size_t>(n / t.block_elems * t.block_bytes));
  if (type == DType::F32) {
    auto* f = reinterpret_cast<float*>(bytes.data());
    std::normal_distribution<float> g(0.0f, 1.0f);
    for (int64_t i = 0; i < n; ++i) f[i] = g(rng);
    if (kind == ScaleKind::kMixed) {
      for (int64_t i = 0; i < n; i += 7) f[i] = bits_to_f32(static_cast<uint32_t>(rng() & 0x807fffffu));
      for (int64_t i = 3; i < n; i += 11) f[i] = (rng() & 1) ? INFINITY : -INFINITY;
    }
    return bytes;
  }
  if (type == DType::F16 || type == DType::BF16) {
    auto* h = reinterpret_cast<uint16_t*>(bytes.data());
    std::normal_distribution<float> g(0.0f, 1.0f);
    for (int64_t i = 0; i < n; ++i) h[i] = type == DType::F16 ? f32_to_fp16(g(rng)) : f32_to_bf16(g(rng));
    if (kind == ScaleKind::kMixed) {
      const uint16_t exp_mask = type == DType::F16 ? 0x7c00 : 0x7f80;
      const uint16_t mant_mask = type == DType::F16 ? 0x03ff : 0x007f;
      for (int64_t i = 0; i < n; i += 5) h[i] = static_cast<uint16_t>(rng() & (0x8000 | mant_mask));
      for (int64_t i = 2; i < n; i += 13) h[i] = static_cast<uint16_t>((rng() & 0x8000) | exp_mask);
      for (int64_t i = 4; i < n; i += 17) h[i] = static_cast<uint16_t>(rng() & 0x8000);
    }
    return bytes;
  }
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  const QuantLayout* layout = nullptr;
  for (const auto& q : quant_layouts()) {
    if (q.type == type) layout = &q;
  }
  for (size_t b = 0; b < bytes.size(); b += t.block_bytes) {
    for (int s : layout->scale_offsets) {
      if (s < 0) continue;
      const uint16_t h = scale_half(rng, kind);
      std::memcpy(bytes.data() + b + s, &h, 2);
    }
  }
  return bytes;
}

// The suite for every per-target kernel test.
class KernelTest : public hwy::TestWithParamTarget {};

}  // namespace mnemo::kernels::test
