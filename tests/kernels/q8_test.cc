// 8-bit activation rows (quantize_q8, rmsnorm_q8) and the bandwidth read kernel, on every
// dispatched target.
//
// Tolerances: none. quantize_q8 performs the same f32 operations on every target (max |x|, one
// division, one reciprocal, one product and round-half-even per element), so its bytes must equal
// quantize_q8_ref's; rmsnorm_q8's f32 output must equal rmsnorm's, and its Q8 row quantize_q8's
// of that output.
#include <cstring>

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
    quantize_q8(x.data(), n, got.data());
    quantize_q8_ref(x.data(), n, want.data());
    ASSERT_EQ(0, std::memcmp(got.data(), want.data(), 2 * n + n / 4)) << "n=" << n;
    // The semantics: |x - d q| <= d / 2 in normal blocks; zero blocks have d = 0.
    const auto* qs = reinterpret_cast<const int8_t*>(got.data());
    const auto* p8 = reinterpret_cast<const int16_t*>(got.data() + n);
    const auto* d = reinterpret_cast<const float*>(got.data() + 2 * n);
    const auto* s = reinterpret_cast<const float*>(got.data() + 2 * n + n / 8);
    for (int64_t b = 0; b < n / 32; ++b) {
      int sum = 0;
      for (int64_t i = 0; i < 32; ++i) {
        const int64_t k = b * 32 + i;
        ASSERT_LE(std::abs(qs[k]), 127);
        if (d[b] > 0) {
          ASSERT_LE(std::fabs(x[k] - d[b] * qs[k]), d[b] * 0.5001f) << "block " << b;
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
  quantize_q8(x.data(), 64, q.data());
  const auto* d = reinterpret_cast<const float*>(q.data() + 128);
  EXPECT_FALSE(std::isfinite(d[0]));
  EXPECT_EQ(d[1], 1.0f / 127.0f);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(reinterpret_cast<const int8_t*>(q.data())[i], 0);
}

TEST_P(Q8Test, RmsNormQ8IsRmsNormThenQuantize) {
  MNEMO_SEEDED_RNG(rng);
  for (int64_t n : {64, 2048, 4096}) {
    const auto x = random_floats(rng, n, -4, 4);
    const auto w = random_floats(rng, n, 0.5f, 1.5f);
    std::vector<float> y(static_cast<size_t>(n)), want_y(static_cast<size_t>(n));
    std::vector<uint8_t> q(q8_row_bytes(n)), want_q(q8_row_bytes(n)), q_only(q8_row_bytes(n));
    rmsnorm(x.data(), w.data(), 1e-5f, n, want_y.data());
    quantize_q8(want_y.data(), n, want_q.data());
    rmsnorm_q8(x.data(), w.data(), 1e-5f, n, y.data(), q.data());
    EXPECT_EQ(0, std::memcmp(y.data(), want_y.data(), static_cast<size_t>(n) * 4)) << "n=" << n;
    EXPECT_EQ(0, std::memcmp(q.data(), want_q.data(), 2 * n + n / 4)) << "n=" << n;
    rmsnorm_q8(x.data(), w.data(), 1e-5f, n, nullptr, q_only.data());
    EXPECT_EQ(0, std::memcmp(q_only.data(), want_q.data(), 2 * n + n / 4)) << "n=" << n;
    std::vector<float> y_only(static_cast<size_t>(n));
    rmsnorm_q8(x.data(), w.data(), 1e-5f, n, y_only.data(), nullptr);
    EXPECT_EQ(0, std::memcmp(y_only.data(), want_y.data(), static_cast<size_t>(n) * 4)) << "n=" << n;
  }
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
