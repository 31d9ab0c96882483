// Element-wise kernels, rmsnorm, softmax and rope: every dispatched target against the scalar
// references (which compute in double). Tolerances, per element:
//   add      exact (one f32 addition either way)
//   rmsnorm  |y - ref| <= 1e-5 |ref|        (f32 sum of squares, two roundings)
//   swiglu   |y - ref| <= 1e-5 |ref| + 1e-30 (Highway Exp, 1 ulp; division)
//   softmax  |y - ref| <= 1e-5 ref + 1e-12   (Exp, f32 sum)
//   rope     |y - ref| <= 2^-22 (|x0| + |x1|) (same angles; f32 rotation, no FMA)
#include "kernels/kernels.h"
#include "kernels/kernels_test_util.h"
#include "kernels/reference.h"

namespace mnemo::kernels::test {
namespace {

class OpsTest : public KernelTest {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(OpsTest);

const int64_t kLengths[] = {1, 3, 8, 17, 64, 100, 4097};

TEST_P(OpsTest, Add) {
  MNEMO_SEEDED_RNG(rng);
  for (int64_t n : kLengths) {
    auto x = random_floats(rng, n, -10, 10);
    const auto y = random_floats(rng, n, -10, 10);
    auto want = x;
    add_ref(want.data(), y.data(), n);
    add(x.data(), y.data(), n);
    EXPECT_EQ(0, std::memcmp(x.data(), want.data(), static_cast<size_t>(n) * 4)) << "n=" << n;
  }
}

TEST_P(OpsTest, RmsNorm) {
  MNEMO_SEEDED_RNG(rng);
  for (int64_t n : kLengths) {
    for (float scale : {1.0f, 1e-3f, 100.0f}) {
      const auto x = random_floats(rng, n, -scale, scale);
      const auto w = random_floats(rng, n, 0.5f, 1.5f);
      std::vector<float> got(static_cast<size_t>(n)), want(static_cast<size_t>(n));
      rmsnorm_ref(x.data(), w.data(), 1e-5f, n, want.data());
      rmsnorm(x.data(), w.data(), 1e-5f, n, got.data());
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_NEAR(got[i], want[i], 1e-5 * std::fabs(want[i])) << "n=" << n << " i=" << i;
      }
      // In place.
      auto inplace = x;
      rmsnorm(inplace.data(), w.data(), 1e-5f, n, inplace.data());
      EXPECT_EQ(0, std::memcmp(inplace.data(), got.data(), static_cast<size_t>(n) * 4));
    }
  }
}

TEST_P(OpsTest, Swiglu) {
  MNEMO_SEEDED_RNG(rng);
  for (int64_t n : kLengths) {
    auto g = random_floats(rng, n, -20, 20);
    if (n > 4) g[0] = -95.0f, g[1] = 95.0f, g[2] = 0.0f, g[3] = -1e-30f;
    const auto u = random_floats(rng, n, -3, 3);
    std::vector<float> got(static_cast<size_t>(n)), want(static_cast<size_t>(n));
    swiglu_ref(g.data(), u.data(), n, want.data());
    swiglu(g.data(), u.data(), n, got.data());
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_NEAR(got[i], want[i], 1e-5 * std::fabs(want[i]) + 1e-30) << "n=" << n << " g=" << g[i];
    }
    auto inplace = g;  // out may alias gate
    swiglu(inplace.data(), u.data(), n, inplace.data());
    EXPECT_EQ(0, std::memcmp(inplace.data(), got.data(), static_cast<size_t>(n) * 4));
  }
}

TEST_P(OpsTest, Softmax) {
  MNEMO_SEEDED_RNG(rng);
  for (int64_t n : kLengths) {
    for (float spread : {1.0f, 30.0f}) {
      auto x = random_floats(rng, n, -spread, spread);
      if (n > 3) x[1] = -INFINITY;  // a masked entry
      auto want = x;
      softmax_ref(want.data(), n);
      softmax(x.data(), n);
      double sum = 0;
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_NEAR(x[i], want[i], 1e-5 * want[i] + 1e-12) << "n=" << n << " i=" << i;
        sum += x[i];
      }
      EXPECT_NEAR(sum, 1.0, 1e-5);
    }
  }
}

TEST_P(OpsTest, Rope) {
  MNEMO_SEEDED_RNG(rng);
  struct Case {
    int64_t n_heads, head_dim, n_rot, pos;
    float base, scale;
    RopeStyle style;
  };
  const Case cases[] = {
      {4, 64, 64, 0, 10000.0f, 1.0f, RopeStyle::kNormal},
      {4, 64, 64, 17, 10000.0f, 1.0f, RopeStyle::kNormal},
      {3, 128, 128, 4095, 500000.0f, 0.25f, RopeStyle::kNormal},
      {2, 128, 128, 1234, 10000.0f, 1.0f, RopeStyle::kNeox},
      {5, 80, 32, 77, 10000.0f, 0.5f, RopeStyle::kNeox},   // partial rotation
      {5, 80, 38, 77, 10000.0f, 1.0f, RopeStyle::kNormal},  // odd number of pairs
      {1, 256, 256, 100000, 1000000.0f, 1.0f, RopeStyle::kNeox},
  };
  for (const Case& c : cases) {
    RopeParams p;
    p.n_rot = c.n_rot;
    p.freq_base = c.base;
    p.freq_scale = c.scale;
    p.style = c.style;
    auto x = random_floats(rng, c.n_heads * c.head_dim, -2, 2);
    auto want = x;
    const auto orig = x;
    rope_ref(want.data(), c.n_heads, c.head_dim, c.pos, p);
    rope(x.data(), c.n_heads, c.head_dim, c.pos, p);
    for (int64_t h = 0; h < c.n_heads; ++h) {
      for (int64_t i = 0; i < c.head_dim; ++i) {
        const int64_t k = h * c.head_dim + i;
        if (i >= c.n_rot) {
          ASSERT_EQ(x[k], orig[k]) << "dims past n_rot are untouched";
          continue;
        }
        // partner of dim i in its pair
        int64_t j;
        if (c.style == RopeStyle::kNormal) j = i ^ 1;
        else j = i < c.n_rot / 2 ? i + c.n_rot / 2 : i - c.n_rot / 2;
        const double tol = 0x1p-22 * (std::fabs(orig[k]) + std::fabs(orig[h * c.head_dim + j]));
        ASSERT_NEAR(x[k], want[k], tol) << "head " << h << " dim " << i << " pos " << c.pos;
      }
    }
  }
}

// The table of rotations gives exactly rope()'s result, position by position.
TEST_P(OpsTest, RopeTableEqualsRope) {
  MNEMO_SEEDED_RNG(rng);
  for (RopeStyle style : {RopeStyle::kNormal, RopeStyle::kNeox}) {
    RopeParams p;
    p.n_rot = 48;
    p.freq_base = 10000.0f;
    p.freq_scale = 0.5f;
    p.style = style;
    const int64_t n_pos = 300, n_heads = 3, head_dim = 64;
    std::vector<float> table(static_cast<size_t>(n_pos * p.n_rot));
    rope_table(p, n_pos, table.data());
    for (int64_t pos : {0, 1, 77, 299}) {
      auto a = random_floats(rng, n_heads * head_dim, -2, 2);
      auto b = a;
      rope(a.data(), n_heads, head_dim, pos, p);
      rope_with_table(b.data(), n_heads, head_dim, table.data() + pos * p.n_rot, p);
      ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4)) << "pos " << pos;
    }
  }
}

// Per-pair frequency factors (llama.cpp's rope_freqs.weight) divide each angle in both styles:
// theta_i = pos * freq_scale * base^(-2i/n_rot) / factor_i, evaluated here from that formula in
// double (not through rope_angles), against rope(), rope_with_table() and rope_ref().
TEST_P(OpsTest, RopeFreqFactors) {
  MNEMO_SEEDED_RNG(rng);
  const int64_t n_heads = 3, head_dim = 64;
  for (RopeStyle style : {RopeStyle::kNormal, RopeStyle::kNeox}) {
    for (int64_t n_rot : {int64_t{64}, int64_t{40}}) {
      // Llama 3.1's factors: 1 for short wavelengths, 8 for long ones, a smooth ramp between.
      std::vector<float> factors(static_cast<size_t>(n_rot / 2));
      for (size_t i = 0; i < factors.size(); ++i) {
        factors[i] = i < factors.size() / 3 ? 1.0f : i < 2 * factors.size() / 3 ? 1.0f + 0.5f * static_cast<float>(i) : 8.0f;
      }
      RopeParams p;
      p.n_rot = n_rot;
      p.freq_base = 500000.0f;
      p.freq_scale = 0.5f;
      p.style = style;
      p.freq_factors = factors.data();
      const int64_t n_pos = 1100;
      std::vector<float> table(static_cast<size_t>(n_pos * n_rot));
      rope_table(p, n_pos, table.data());
      for (int64_t pos : {int64_t{0}, int64_t{1}, int64_t{31}, int64_t{1099}}) {
        const auto orig = random_floats(rng, n_heads * head_dim, -2, 2);
        std::vector<double> want(orig.begin(), orig.end());
        for (int64_t h = 0; h < n_heads; ++h) {
          for (int64_t i = 0; i < n_rot / 2; ++i) {
            const double theta = static_cast<double>(pos) * 0.5 *
                                 std::pow(500000.0, -2.0 * static_cast<double>(i) / static_cast<double>(n_rot)) /
                                 static_cast<double>(factors[static_cast<size_t>(i)]);
            const int64_t i0 = h * head_dim + (style == RopeStyle::kNormal ? 2 * i : i);
            const int64_t i1 = h * head_dim + (style == RopeStyle::kNormal ? 2 * i + 1 : i + n_rot / 2);
            want[i0] = orig[i0] * std::cos(theta) - orig[i1] * std::sin(theta);
            want[i1] = orig[i0] * std::sin(theta) + orig[i1] * std::cos(theta);
          }
        }
        auto a = orig, b = orig, r = orig;
        rope(a.data(), n_heads, head_dim, pos, p);
        rope_with_table(b.data(), n_heads, head_dim, table.data() + pos * n_rot, p);
        rope_ref(r.data(), n_heads, head_dim, pos, p);
        for (size_t k = 0; k < orig.size(); ++k) {
          const double tol = 0x1p-21 * 4.0;  // |x0| + |x1| <= 4
          ASSERT_NEAR(a[k], want[k], tol) << "rope, pos " << pos << " n_rot " << n_rot << " element " << k;
          ASSERT_NEAR(b[k], want[k], tol) << "rope_with_table, pos " << pos << " n_rot " << n_rot << " element " << k;
          ASSERT_NEAR(r[k], want[k], tol) << "rope_ref, pos " << pos << " n_rot " << n_rot << " element " << k;
        }
      }
    }
  }
  // By hand: pos 1, n_rot 2, factor 4: theta = 1/4 rad.
  float x[2] = {1.0f, 0.0f};
  const float four = 4.0f;
  RopeParams p;
  p.n_rot = 2;
  p.freq_factors = &four;
  rope(x, 1, 2, 1, p);
  EXPECT_FLOAT_EQ(x[0], std::cos(0.25f));
  EXPECT_FLOAT_EQ(x[1], std::sin(0.25f));
}

// rope_ref on a hand-computed case: pos 1, n_rot 2, theta = 1 rad.
TEST(RopeRef, HandComputed) {
  float x[2] = {1.0f, 0.0f};
  RopeParams p;
  p.n_rot = 2;
  rope_ref(x, 1, 2, 1, p);
  EXPECT_FLOAT_EQ(x[0], std::cos(1.0f));
  EXPECT_FLOAT_EQ(x[1], std::sin(1.0f));
  float y[4] = {1.0f, 0.0f, 0.0f, 0.0f};  // NeoX pairs (0, 2) and (1, 3); theta_1 = 2/100
  p.n_rot = 4;
  p.freq_base = 100.0f;
  p.style = RopeStyle::kNeox;
  rope_ref(y, 1, 4, 2, p);
  EXPECT_FLOAT_EQ(y[0], std::cos(2.0f));
  EXPECT_FLOAT_EQ(y[2], std::sin(2.0f));
}

}  // namespace
}  // namespace mnemo::kernels::test
