// 8-bit activation rows (quantize_q8, rmsnorm_q8) and the bandwidth read kernel, on every
// dispatched target.
//
// Tolerances: none. quantize_q8 and round_activations perform the same f32 operations on every
// target (max |x|, one division, one reciprocal, one product and round-half-even per element,
// exact half conversions), so their bytes must equal quantize_q8_ref's and round_activations_ref's;
// rmsnorm_q8's f32 output must equal rmsnorm's, and its Q8 row quantize_q8's of that output.
// The roundings themselves are llama.cpp's (kernels.h); hand-computed cases pin them here.
#include <cstring>

#include "base/fp16.h"
#include "kernels/kernels.h"
#include "kernels/kernels_test_util.h"
#include "kernels/reference.h"

namespace mnemo::kernels::test {
namespace {

class Q8Test : public KernelTest {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(Q8Test);

// Rows whose blocks have normal, tiny (subnormal), zero, huge and mixed-magnitude values, ties at
// .5 after scaling, and signs.
std::vector<float> edge_row(std::mt19937_64& rng, int64_t n) {
  std::vector<float> x = random_floats(rng, n, -3, 3);
  for (int64_t b = 0; b < n / 32; ++b) {
    float* v = x.data() + b * 32;
    switch (b % 8) {
      case 0: break;
      case 1: for (int i = 0; i < 32; ++i) v[i] = 0.0f; break;
      case 2: for (int i = 0; i < 32; ++i) v[i] *= 1e-39f; break;   // subnormal: 1/d overflows
      case 3: for (int i = 0; i < 32; ++i) v[i] *= 1e-36f; break;   // tiny but invertible
      case 4: for (int i = 0; i < 32; ++i) v[i] *= 1e37f; break;    // huge
      case 5: v[7] = 1000.0f; break;                                 // one outlier
      case 6:  // exact ties: amax 127 gives d = 1, so x.5 rounds to even
        for (int i = 0; i < 32; ++i) v[i] = static_cast<float>(i % 9) - 4.5f;
        v[0] = 127.0f;
        break;
      case 7: for (int i = 0; i < 32; ++i) v[i] = -std::fabs(v[i]); break;
    }
  }
  return x;
}

TEST_P(Q8Test, QuantizeMatchesReferenceBytes) {
  MNEMO_SEEDED_RNG(rng);
  for (int64_t n : {32, 64, 256, 2048, 5632}) {
    const auto x = edge_row(rng, n);
    const size_t bytes = q8_row_bytes(n);
    ASSERT_EQ(bytes % 64, 0u);
    std::vector<uint8_t> got(bytes, 0xAB), want(bytes, 0xAB);
    quantize_q8(x.data(), n, got.data(), ActRounding::kQ8x32);
    quantize_q8_ref(x.data(), n, want.data(), ActRounding::kQ8x32);
    ASSERT_EQ(0, std::memcmp(got.data(), want.data(), 2 * n + n / 4)) << "n=" << n;
    // The semantics: |x - d q| <= d / 2 in normal blocks; zero blocks have d = 0.
    const auto* qs = reinterpret_cast<const int8_t*>(got.data());
    const auto* p8 = reinterpret_cast<const int16_t*>(got.data() + n);
    const auto* d = reinterpret_cast<const float*>(got.data() + 2 * n);
    const auto* s = reinterpret_cast<const float*>(got.data() + 2 * n + n / 8);
    for (int64_t b = 0; b < n / 32; ++b) {
      if (!std::isfinite(d[b])) continue;  // block 4: the half scale overflows, as in ggml
      int sum = 0;
      for (int64_t i = 0; i < 32; ++i) {
        const int64_t k = b * 32 + i;
        ASSERT_LE(std::abs(qs[k]), 127);
        if (d[b] > 0) {
          // d is amax / 127 rounded to half precision (relative error <= 2^-11).
          ASSERT_LE(std::fabs(x[k] - d[b] * qs[k]), d[b] * 0.5001f + 127.0f * d[b] * 0x1p-11f) << "block " << b;
        } else {
          ASSERT_EQ(qs[k], 0);
        }
        sum += qs[k];
        if (i % 2 == 1) {
          ASSERT_EQ(p8[k / 2], 8 * (qs[k - 1] + qs[k]));
        }
      }
      ASSERT_EQ(s[b], d[b] * static_cast<float>(sum));
    }
    // Block 6: exact ties rounded to even.
    if (n >= 256) {
      const int8_t* q6 = qs + 6 * 32;
      ASSERT_EQ(d[6], 1.0f);
      EXPECT_EQ(q6[1], -4);  // -3.5 -> -4
      EXPECT_EQ(q6[2], -2);  // -2.5 -> -2
      EXPECT_EQ(q6[6], 2);   // 1.5 -> 2
      EXPECT_EQ(q6[7], 2);   // 2.5 -> 2
    }
  }
}

TEST_P(Q8Test, NonFiniteBlocksGiveNonFiniteScale) {
  std::vector<float> x(64, 1.0f);
  x[3] = INFINITY;
  std::vector<uint8_t> q(q8_row_bytes(64));
  quantize_q8(x.data(), 64, q.data(), ActRounding::kQ8x32);
  const auto* d = reinterpret_cast<const float*>(q.data() + 128);
  EXPECT_FALSE(std::isfinite(d[0]));
  EXPECT_EQ(d[1], fp16_to_f32(f32_to_fp16(1.0f / 127.0f)));
  for (int i = 0; i < 32; ++i) EXPECT_EQ(reinterpret_cast<const int8_t*>(q.data())[i], 0);
}

TEST_P(Q8Test, RmsNormQ8IsRmsNormThenQuantize) {
  MNEMO_SEEDED_RNG(rng);
  for (int64_t n : {256, 2048, 4096}) {
    const auto x = random_floats(rng, n, -4, 4);
    const auto w = random_floats(rng, n, 0.5f, 1.5f);
    std::vector<float> y(static_cast<size_t>(n)), want_y(static_cast<size_t>(n));
    std::vector<uint8_t> q(q8_row_bytes(n)), want_q(q8_row_bytes(n)), q_only(q8_row_bytes(n));
    rmsnorm(x.data(), w.data(), 1e-5f, n, want_y.data());
    for (ActRounding r : {ActRounding::kQ8x32, ActRounding::kQ8x256}) {
      quantize_q8(want_y.data(), n, want_q.data(), r);
      rmsnorm_q8(x.data(), w.data(), 1e-5f, n, y.data(), q.data(), r);
      EXPECT_EQ(0, std::memcmp(y.data(), want_y.data(), static_cast<size_t>(n) * 4)) << "n=" << n;
      EXPECT_EQ(0, std::memcmp(q.data(), want_q.data(), 2 * n + n / 4)) << "n=" << n;
      rmsnorm_q8(x.data(), w.data(), 1e-5f, n, nullptr, q_only.data(), r);
      EXPECT_EQ(0, std::memcmp(q_only.data(), want_q.data(), 2 * n + n / 4)) << "n=" << n;
      std::vector<float> y_only(static_cast<size_t>(n));
      rmsnorm_q8(x.data(), w.data(), 1e-5f, n, y_only.data(), nullptr, r);
      EXPECT_EQ(0, std::memcmp(y_only.data(), want_y.data(), static_cast<size_t>(n) * 4)) << "n=" << n;
    }
  }
}

// Q8_K-style rows: one scale per 256 values from the first value of largest |x| (negative scale
// when that value is positive), the same bytes on every target, and d * q the rounded value.
TEST_P(Q8Test, Quantize256MatchesReferenceBytes) {
  MNEMO_SEEDED_RNG(rng);
  for (int64_t n : {256, 2048, 5632 / 256 * 256}) {
    const auto x = edge_row(rng, n);
    std::vector<uint8_t> got(q8_row_bytes(n), 0xAB), want(q8_row_bytes(n), 0xAB);
    quantize_q8(x.data(), n, got.data(), ActRounding::kQ8x256);
    quantize_q8_ref(x.data(), n, want.data(), ActRounding::kQ8x256);
    ASSERT_EQ(0, std::memcmp(got.data(), want.data(), 2 * n + n / 4)) << "n=" << n;
    std::vector<float> rounded(static_cast<size_t>(n));
    round_activations(ActRounding::kQ8x256, x.data(), n, rounded.data());
    const auto* qs = reinterpret_cast<const int8_t*>(got.data());
    const auto* d = reinterpret_cast<const float*>(got.data() + 2 * n);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(f32_to_bits(rounded[static_cast<size_t>(i)]), f32_to_bits(d[i / 32] * static_cast<float>(qs[i]))) << i;
    }
  }
  // Hand case: the largest |x| is +2 (first), so s = -63.5, d = 1 / s; x = 1 -> q = rne(-63.5) = -64.
  std::vector<float> x(256, 0.0f);
  x[0] = 2.0f;
  x[1] = -2.0f;
  x[2] = 1.0f;
  std::vector<uint8_t> q(q8_row_bytes(256));
  quantize_q8(x.data(), 256, q.data(), ActRounding::kQ8x256);
  const auto* qs = reinterpret_cast<const int8_t*>(q.data());
  EXPECT_EQ(qs[0], -127);
  EXPECT_EQ(qs[1], 127);
  EXPECT_EQ(qs[2], -64);
  EXPECT_EQ(reinterpret_cast<const float*>(q.data() + 512)[7], 1.0f / (-127.0f / 2.0f));
}

// round_activations: bit-identical to the reference on every target, for every rounding, in place
// too; hand-checked values for each.
TEST_P(Q8Test, RoundActivationsMatchesReference) {
  MNEMO_SEEDED_RNG(rng);
  for (ActRounding r : {ActRounding::kF32, ActRounding::kF16, ActRounding::kBF16, ActRounding::kQ8x32,
                        ActRounding::kQ8x256}) {
    for (int64_t n : {256, 2048, 4864}) {
      auto x = edge_row(rng, n);
      x[5] = NAN;
      x[300 % n] = 70000.0f;  // half overflows to infinity
      std::vector<float> got(static_cast<size_t>(n)), want(static_cast<size_t>(n));
      round_activations(r, x.data(), n, got.data());
      round_activations_ref(r, x.data(), n, want.data());
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(f32_to_bits(got[static_cast<size_t>(i)]), f32_to_bits(want[static_cast<size_t>(i)]))
            << static_cast<int>(r) << " n=" << n << " i=" << i << " x=" << x[static_cast<size_t>(i)];
      }
      round_activations(r, x.data(), n, x.data());
      ASSERT_EQ(0, std::memcmp(x.data(), want.data(), static_cast<size_t>(n) * 4)) << "in place";
    }
  }
  const float v[1] = {1.0f + 0x1p-11f};  // a tie: half and bfloat16 round to even (1.0)
  float out[1];
  round_activations_ref(ActRounding::kF16, v, 1, out);
  EXPECT_EQ(out[0], 1.0f);
  round_activations_ref(ActRounding::kBF16, v, 1, out);
  EXPECT_EQ(out[0], 1.0f);
  const float w[1] = {1.0f + 0x1p-8f + 0x1p-9f};  // above the bfloat16 midpoint: rounds up
  round_activations_ref(ActRounding::kBF16, w, 1, out);
  EXPECT_EQ(out[0], 1.0f + 0x1p-7f);
}

TEST_P(Q8Test, ReadBytesSumsEveryWord) {
  MNEMO_SEEDED_RNG(rng);
  for (size_t n : {256u, 512u, 4096u + 256u, 1u << 20}) {
    std::vector<uint64_t> buf(n / 8 + 8);
    auto* p = reinterpret_cast<uint64_t*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) / 64 * 64);
    uint64_t want = 0;
    for (size_t i = 0; i < n / 8; ++i) {
      p[i] = rng();
      want += p[i];
    }
    EXPECT_EQ(read_bytes(p, n), want) << "n=" << n;
  }
}

}  // namespace
}  // namespace mnemo::kernels::test
