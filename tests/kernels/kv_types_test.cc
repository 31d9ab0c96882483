// KV cache row types (tensor/kv_type.h): kv_store_row against kv_store_row_ref bit for bit, the
// stored rows against the values they hold (the formats' error bounds), and attention over typed
// rows against attention_ref on every dispatched target, with the thread-count and decode/prefill
// invariances of the F32 path.
//
// Tolerance of attention over typed rows: the kernel and the reference see the same dequantized
// rows and the same rounded query (both exact), so the F32 bound of attention_test.cc applies:
//   |o - o_ref| <= (2 * n_pos + 64) * 2^-24 * max|V|.
#include "base/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/kernels_test_util.h"
#include "kernels/reference.h"
#include "tensor/kv_type.h"

namespace mnemo::kernels::test {
namespace {

class KvTypesTest : public KernelTest {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(KvTypesTest);

std::vector<uint8_t> stored(KvType t, const std::vector<float>& x) {
  std::vector<uint8_t> out(kv_row_bytes(t, static_cast<int64_t>(x.size())));
  kv_store_row_ref(t, x.data(), static_cast<int64_t>(x.size()), out.data());
  return out;
}

TEST_P(KvTypesTest, StoreRowMatchesReferenceBytes) {
  MNEMO_SEEDED_RNG(rng);
  for (KvType t : kAllKvTypes) {
    for (int64_t n : {int64_t{32}, int64_t{64}, int64_t{256}, int64_t{1024}}) {
      for (float scale : {1.0f, 1e-3f, 300.0f}) {
        std::vector<float> x = random_floats(rng, n, -scale, scale);
        x[3] = 0.0f;                                                   // exact zeros
        if (n >= 64) std::fill(x.begin() + 32, x.begin() + 64, 0.0f);  // an all-zero block
        if (n >= 128) x[70] = -x[71] * 4;  // a negative extreme (Q4_0's signed max)
        if (n >= 256) x[200] = 70000.0f;   // beyond half's range in one block
        std::vector<uint8_t> got(kv_row_bytes(t, n), 0xAB);
        kv_store_row(t, x.data(), n, got.data());
        EXPECT_EQ(got, stored(t, x)) << kv_type_name(t) << " n=" << n << " scale=" << scale;
      }
    }
  }
}

TEST_P(KvTypesTest, NonFiniteValues) {
  std::vector<float> x(64, 0.5f);
  x[5] = INFINITY;
  x[40] = NAN;
  // Not Q4_0: ggml's reference converts NaN to an integer there (undefined; unspecified in
  // kernels.h).
  for (KvType t : {KvType::kF32, KvType::kF16, KvType::kQ8_0}) {
    std::vector<uint8_t> got(kv_row_bytes(t, 64));
    kv_store_row(t, x.data(), 64, got.data());
    std::vector<float> back(64);
    dequantize_row_ref(kv_dtype(t), got.data(), back.data(), 64);
    if (t == KvType::kF32 || t == KvType::kF16) {
      EXPECT_TRUE(std::isinf(back[5]) && std::isnan(back[40])) << kv_type_name(t);
    } else if (t == KvType::kQ8_0) {
      EXPECT_EQ(got, stored(t, x));
      EXPECT_TRUE(std::isnan(back[0]) && std::isnan(back[33]))
          << "a non-finite block has a NaN scale";
    }
  }
}

// What a stored row holds: F16 the nearest half; Q8_0 within half a step d = amax/127 of x; Q4_0
// within one step |d| = amax/8 (its 16 levels are d * [-8, 7], d = -max/8, so the extreme of the
// other sign is clamped to 7|d|); both plus what the half scale's rounding moves the levels.
TEST_P(KvTypesTest, StoredValuesWithinTheFormatsError) {
  MNEMO_SEEDED_RNG(rng);
  const int64_t n = 256;
  for (KvType t : kAllKvTypes) {
    const std::vector<float> x = random_floats(rng, n, -2.0f, 2.0f);
    std::vector<uint8_t> row(kv_row_bytes(t, n));
    kv_store_row(t, x.data(), n, row.data());
    std::vector<float> back(n);
    dequantize_row(kv_dtype(t), row.data(), back.data(), n);
    for (int64_t b = 0; b < n / 32; ++b) {
      float amax = 0;
      for (int64_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
      for (int64_t i = b * 32; i < b * 32 + 32; ++i) {
        double bound = 0;
        switch (t) {
          case KvType::kF32:
            bound = 0;
            break;
          case KvType::kF16:
            bound = std::fabs(x[i]) * 0x1p-11 + 0x1p-25;
            break;
          // The scale is stored as a half (relative error 2^-11), q up to 127 (Q8_0) or 8 (Q4_0)
          // steps.
          case KvType::kQ8_0:
            bound = amax / 127.0 * (0.5 + 127 * 0x1p-11) * (1 + 1e-6);
            break;
          case KvType::kQ4_0:
            bound = amax / 8.0 * (1.0 + 8 * 0x1p-11) * (1 + 1e-6);
            break;
        }
        ASSERT_LE(std::fabs(back[i] - x[i]), bound) << kv_type_name(t) << " element " << i;
      }
    }
  }
}

struct Case {
  int64_t n_head, n_head_kv, head_dim, T, pos0;
};

// Q, and K/V rows of the given types with padded strides (as a cache might have).
struct TypedInputs {
  std::vector<float> Q;
  std::vector<uint8_t> K, V;
  KvRows rows(KvType tk, KvType tv, size_t k_stride, size_t v_stride) const {
    return {K.data(), V.data(), k_stride, v_stride, tk, tv};
  }
};

struct Typed {
  TypedInputs in;
  KvRows kv;
};

Typed make_typed(std::mt19937_64& rng, const Case& c, KvType tk, KvType tv, float qscale) {
  Typed r;
  const int64_t n_pos = c.pos0 + c.T, width = c.n_head_kv * c.head_dim;
  const size_t k_stride = kv_row_bytes(tk, width) + 64, v_stride = kv_row_bytes(tv, width) + 36;
  r.in.Q = random_floats(rng, c.T * c.n_head * c.head_dim, -qscale, qscale);
  r.in.K.assign(static_cast<size_t>(n_pos) * k_stride, 0xEE);
  r.in.V.assign(static_cast<size_t>(n_pos) * v_stride, 0xEE);
  for (int64_t p = 0; p < n_pos; ++p) {
    const std::vector<float> k = random_floats(rng, width), v = random_floats(rng, width);
    kv_store_row(tk, k.data(), width, r.in.K.data() + p * k_stride);
    kv_store_row(tv, v.data(), width, r.in.V.data() + p * v_stride);
  }
  r.kv = r.in.rows(tk, tv, k_stride, v_stride);
  return r;
}

std::vector<float> run(const Typed& t, const Case& c, ThreadPool& pool) {
  std::vector<float> out(static_cast<size_t>(c.T * c.n_head * c.head_dim), NAN);
  attention(t.in.Q.data(), c.T, c.pos0, t.kv, AttentionShape{c.n_head, c.n_head_kv, c.head_dim},
            1.0f / std::sqrt(static_cast<float>(c.head_dim)), out.data(), pool);
  return out;
}

TEST_P(KvTypesTest, AttentionMatchesReference) {
  MNEMO_SEEDED_RNG(rng);
  ThreadPool pool(2);
  const Case cases[] = {
      {4, 4, 64, 1, 45},    // MHA decode
      {8, 2, 128, 1, 100},  // GQA decode (one tile of 4 query heads per KV head)
      {32, 4, 64, 1, 70},   // tinyllama's grouping: 8 query heads per KV head
      {8, 2, 32, 7, 30},    // GQA prefill continuing a cache
      {6, 1, 96, 5, 0},     // MQA prefill from scratch
      {2, 1, 256, 3, 40},   // largest head_dim
  };
  for (KvType tk : kAllKvTypes) {
    for (KvType tv : kAllKvTypes) {
      for (const Case& c : cases) {
        const Typed t = make_typed(rng, c, tk, tv, 4.0f);
        const auto got = run(t, c, pool);
        std::vector<float> want(got.size());
        attention_ref(t.in.Q.data(), c.T, c.pos0, t.kv,
                      AttentionShape{c.n_head, c.n_head_kv, c.head_dim},
                      1.0f / std::sqrt(static_cast<float>(c.head_dim)), want.data());
        const double tol =
            (2.0 * static_cast<double>(c.pos0 + c.T) + 64) * 0x1p-24 * 1.01;  // max|V| <= 1.01
        for (size_t i = 0; i < got.size(); ++i) {
          ASSERT_NEAR(got[i], want[i], tol)
              << "K " << kv_type_name(tk) << " V " << kv_type_name(tv) << " H=" << c.n_head
              << " Hkv=" << c.n_head_kv << " hd=" << c.head_dim << " T=" << c.T
              << " pos0=" << c.pos0 << " element " << i;
        }
      }
    }
  }
}

// Odd head sizes work with F32 and F16 rows (scalar tails of the conversion and the dots).
TEST_P(KvTypesTest, F16RowsOfAnyHeadSize) {
  MNEMO_SEEDED_RNG(rng);
  ThreadPool pool(1);
  for (const Case& c : {Case{3, 3, 7, 4, 2}, Case{8, 4, 8, 1, 50}, Case{4, 2, 20, 3, 9}}) {
    const Typed t = make_typed(rng, c, KvType::kF16, KvType::kF16, 2.0f);
    const auto got = run(t, c, pool);
    std::vector<float> want(got.size());
    attention_ref(t.in.Q.data(), c.T, c.pos0, t.kv,
                  AttentionShape{c.n_head, c.n_head_kv, c.head_dim},
                  1.0f / std::sqrt(static_cast<float>(c.head_dim)), want.data());
    const double tol = (2.0 * static_cast<double>(c.pos0 + c.T) + 64) * 0x1p-24 * 1.01;
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_NEAR(got[i], want[i], tol) << "hd=" << c.head_dim << " " << i;
  }
}

// The typed path keeps the F32 path's invariances: the same bits at any thread count, and a token's
// output the same in a batch (prefill) as alone (decode).
TEST_P(KvTypesTest, BitIdenticalAcrossThreadsAndBatches) {
  MNEMO_SEEDED_RNG(rng);
  ThreadPool p1(1, ThreadPool::kExact), p3(3, ThreadPool::kExact);
  const Case c{8, 2, 64, 9, 40};
  for (KvType tk : kAllKvTypes) {
    const KvType tv = tk == KvType::kQ4_0 ? KvType::kQ8_0 : KvType::kQ4_0;
    Typed t = make_typed(rng, c, tk, tv, 3.0f);
    const auto batch = run(t, c, p1);
    EXPECT_EQ(0, std::memcmp(batch.data(), run(t, c, p3).data(), batch.size() * 4))
        << kv_type_name(tk);
    const int64_t width = c.n_head * c.head_dim;
    const std::vector<float> Q = t.in.Q;
    for (int64_t i = 0; i < c.T; ++i) {
      t.in.Q.assign(Q.begin() + i * width, Q.begin() + (i + 1) * width);
      t.kv.k = t.in.K.data();
      t.kv.v = t.in.V.data();
      const auto o = run(t, Case{c.n_head, c.n_head_kv, c.head_dim, 1, c.pos0 + i}, p3);
      ASSERT_EQ(0, std::memcmp(o.data(), batch.data() + i * width, static_cast<size_t>(width) * 4))
          << kv_type_name(tk) << " token " << i;
    }
  }
}

// The F32 rows of the typed interface are the float interface: the same bits.
TEST_P(KvTypesTest, F32RowsAreTheFloatInterface) {
  MNEMO_SEEDED_RNG(rng);
  ThreadPool pool(2);
  const Case c{8, 2, 64, 5, 20};
  const int64_t stride = 2 * 64 + 3, n_pos = c.pos0 + c.T;
  const std::vector<float> Q = random_floats(rng, c.T * 8 * 64),
                           K = random_floats(rng, n_pos * stride),
                           V = random_floats(rng, n_pos * stride);
  const AttentionShape shape{8, 2, 64};
  std::vector<float> a(Q.size()), b(Q.size());
  attention(Q.data(), c.T, c.pos0, K.data(), V.data(), stride, shape, 0.125f, a.data(), pool);
  KvRows kv{K.data(), V.data(), stride * 4, stride * 4, KvType::kF32, KvType::kF32};
  attention(Q.data(), c.T, c.pos0, kv, shape, 0.125f, b.data(), pool);
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4));
}

TEST(KvType, NamesSizesAndBlocks) {
  for (KvType t : kAllKvTypes) EXPECT_EQ(kv_type_from_name(kv_type_name(t)), t);
  EXPECT_FALSE(kv_type_from_name("q5_0").has_value());
  EXPECT_FALSE(kv_type_from_name("F16").has_value());
  EXPECT_EQ(kv_row_bytes(KvType::kF32, 256), 1024u);
  EXPECT_EQ(kv_row_bytes(KvType::kF16, 256), 512u);
  EXPECT_EQ(kv_row_bytes(KvType::kQ8_0, 256), 8u * 34);
  EXPECT_EQ(kv_row_bytes(KvType::kQ4_0, 256), 8u * 18);
  EXPECT_TRUE(kv_type_fits(KvType::kF16, 8));
  EXPECT_FALSE(kv_type_fits(KvType::kQ8_0, 8));
  EXPECT_TRUE(kv_type_fits(KvType::kQ4_0, 64));
}

}  // namespace
}  // namespace mnemo::kernels::test
