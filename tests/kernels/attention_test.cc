// attention: every dispatched target against attention_ref (double, two-pass softmax), for MHA,
// GQA and MQA, decode (T = 1 at pos0 > 0) and prefill (T > 1), and bit-identical results at 1, 2
// and 3 threads.
//
// Tolerance: an output is a convex combination of V rows, so
//   |o - o_ref| <= (2 * n_pos + 64) * 2^-24 * max|V|
// (f32 online normaliser and accumulator over n_pos positions, exp with 1 ulp).
#include "base/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/kernels_test_util.h"
#include "kernels/reference.h"

namespace mnemo::kernels::test {
namespace {

class AttentionTest : public KernelTest {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(AttentionTest);

struct Case {
  int64_t n_head, n_head_kv, head_dim, T, pos0;
};

struct Inputs {
  std::vector<float> Q, K, V;
  int64_t kv_stride;
};

Inputs make_inputs(std::mt19937_64& rng, const Case& c, float qscale) {
  Inputs in;
  const int64_t n_pos = c.pos0 + c.T;
  in.kv_stride = c.n_head_kv * c.head_dim + 3;  // padded rows, as a cache might have
  in.Q = random_floats(rng, c.T * c.n_head * c.head_dim, -qscale, qscale);
  in.K = random_floats(rng, n_pos * in.kv_stride, -1, 1);
  in.V = random_floats(rng, n_pos * in.kv_stride, -1, 1);
  return in;
}

std::vector<float> run(const Inputs& in, const Case& c, ThreadPool& pool) {
  std::vector<float> out(static_cast<size_t>(c.T * c.n_head * c.head_dim), NAN);
  const AttentionShape shape{c.n_head, c.n_head_kv, c.head_dim};
  attention(in.Q.data(), c.T, c.pos0, in.K.data(), in.V.data(), in.kv_stride, shape,
            1.0f / std::sqrt(static_cast<float>(c.head_dim)), out.data(), pool);
  return out;
}

TEST_P(AttentionTest, MatchesReference) {
  MNEMO_SEEDED_RNG(rng);
  ThreadPool pool(2);
  const Case cases[] = {
      {4, 4, 64, 1, 0},     // MHA, first token
      {4, 4, 64, 1, 45},    // MHA decode
      {8, 2, 128, 1, 100},  // GQA decode
      {8, 2, 128, 7, 30},   // GQA prefill continuing a cache
      {6, 1, 80, 5, 0},     // MQA prefill from scratch
      {2, 1, 256, 3, 70},   // largest head_dim
      {3, 3, 7, 4, 2},      // odd head_dim (scalar tails)
  };
  for (const Case& c : cases) {
    for (float qscale : {1.0f, 8.0f}) {  // 8: peaked softmax
      const Inputs in = make_inputs(rng, c, qscale);
      const auto got = run(in, c, pool);
      std::vector<float> want(got.size());
      attention_ref(in.Q.data(), c.T, c.pos0, in.K.data(), in.V.data(), in.kv_stride,
                    AttentionShape{c.n_head, c.n_head_kv, c.head_dim},
                    1.0f / std::sqrt(static_cast<float>(c.head_dim)), want.data());
      const double tol = (2.0 * static_cast<double>(c.pos0 + c.T) + 64) * 0x1p-24;  // max|V| = 1
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_NEAR(got[i], want[i], tol) << "case H=" << c.n_head << " Hkv=" << c.n_head_kv
                                          << " hd=" << c.head_dim << " T=" << c.T << " pos0=" << c.pos0
                                          << " element " << i;
      }
    }
  }
}

TEST_P(AttentionTest, BitIdenticalAcrossThreadCounts) {
  MNEMO_SEEDED_RNG(rng);
  ThreadPool p1(1, ThreadPool::kExact), p2(2, ThreadPool::kExact), p3(3, ThreadPool::kExact);
  for (const Case& c : {Case{8, 2, 128, 9, 40}, Case{5, 5, 64, 1, 200}}) {
    const Inputs in = make_inputs(rng, c, 2.0f);
    const auto o1 = run(in, c, p1);
    const auto o2 = run(in, c, p2);
    const auto o3 = run(in, c, p3);
    EXPECT_EQ(0, std::memcmp(o1.data(), o2.data(), o1.size() * 4));
    EXPECT_EQ(0, std::memcmp(o1.data(), o3.data(), o1.size() * 4));
  }
}

// A token's output is the same alone (decode, one token after the cache) or inside a prefill batch
// of any size: the query tiles do not change any query's arithmetic.
TEST_P(AttentionTest, DecodeEqualsPrefill) {
  MNEMO_SEEDED_RNG(rng);
  ThreadPool pool(2);
  for (const Case& c : {Case{8, 2, 64, 13, 0}, Case{4, 4, 32, 9, 5}, Case{6, 1, 16, 7, 40}}) {
    const Inputs in = make_inputs(rng, c, 3.0f);
    const auto batch = run(in, c, pool);
    const int64_t width = c.n_head * c.head_dim;
    for (int64_t t = 0; t < c.T; ++t) {
      Inputs one = in;
      one.Q.assign(in.Q.begin() + t * width, in.Q.begin() + (t + 1) * width);
      const auto o = run(one, Case{c.n_head, c.n_head_kv, c.head_dim, 1, c.pos0 + t}, pool);
      ASSERT_EQ(0, std::memcmp(o.data(), batch.data() + t * width, static_cast<size_t>(width) * 4)) << "token " << t;
    }
  }
}

// attention_part over every part gives attention()'s result.
TEST_P(AttentionTest, PartsCoverEveryItem) {
  MNEMO_SEEDED_RNG(rng);
  ThreadPool pool(1);
  const Case c{8, 2, 64, 6, 3};
  const Inputs in = make_inputs(rng, c, 1.0f);
  const auto want = run(in, c, pool);
  const AttentionShape shape{c.n_head, c.n_head_kv, c.head_dim};
  EXPECT_GT(attention_items(c.T, shape), 0);
  for (int n_parts : {1, 2, 5}) {
    std::vector<float> out(want.size(), NAN);
    for (int part = 0; part < n_parts; ++part) {
      attention_part(in.Q.data(), c.T, c.pos0, in.K.data(), in.V.data(), in.kv_stride, shape,
                     1.0f / std::sqrt(static_cast<float>(c.head_dim)), out.data(), part, n_parts);
    }
    EXPECT_EQ(0, std::memcmp(out.data(), want.data(), want.size() * 4)) << n_parts << " parts";
  }
}

// The first position attends only to itself: out = V[0] exactly up to the normalisation.
TEST_P(AttentionTest, FirstTokenCopiesValue) {
  ThreadPool pool(1);
  const Case c{2, 1, 16, 1, 0};
  std::mt19937_64 rng(1);
  const Inputs in = make_inputs(rng, c, 1.0f);
  const auto out = run(in, c, pool);
  for (int64_t h = 0; h < 2; ++h) {
    for (int64_t i = 0; i < 16; ++i) EXPECT_EQ(out[h * 16 + i], in.V[i]);
  }
}

}  // namespace
}  // namespace mnemo::kernels::test

namespace mnemo::kernels::test {
namespace {

// attention_scores_part: every KV head's accumulated softmax weights (over the T queries and the
// query heads sharing it) against a double-precision two-pass softmax, added to what the scores
// held; splitting the KV heads over parts covers each head once.
TEST(AttentionScores, MatchesBruteForceSoftmaxSums) {
  MNEMO_SEEDED_RNG(rng);
  for (const Case& c : {Case{4, 4, 64, 1, 45}, Case{8, 2, 128, 7, 30}, Case{6, 1, 80, 5, 0}}) {
    const Inputs in = make_inputs(rng, c, 4.0f);
    const int64_t n_pos = c.pos0 + c.T, stride = n_pos + 5, group = c.n_head / c.n_head_kv;
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    std::vector<float> got(static_cast<size_t>(c.n_head_kv * stride), 0.5f);  // accumulates onto 0.5
    std::vector<float> work(static_cast<size_t>(n_pos + c.head_dim));
    const AttentionShape shape{c.n_head, c.n_head_kv, c.head_dim};
    for (int part = 0; part < 3; ++part) {
      attention_scores_part(in.Q.data(), c.T, c.pos0, f32_kv_rows(in.K.data(), in.V.data(), in.kv_stride), shape,
                            scale, got.data(), stride, work.data(), part, 3);
    }
    for (int64_t hk = 0; hk < c.n_head_kv; ++hk) {
      std::vector<double> want(static_cast<size_t>(n_pos), 0.5);
      for (int64_t t = 0; t < c.T; ++t) {
        for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
          const int64_t n = c.pos0 + t + 1;
          std::vector<double> s(static_cast<size_t>(n));
          double m = -1e300, sum = 0;
          for (int64_t j = 0; j < n; ++j) {
            double d = 0;
            for (int64_t i = 0; i < c.head_dim; ++i) {
              d += static_cast<double>(in.Q[static_cast<size_t>(t * c.n_head * c.head_dim + h * c.head_dim + i)]) *
                   in.K[static_cast<size_t>(j * in.kv_stride + hk * c.head_dim + i)];
            }
            s[static_cast<size_t>(j)] = d * scale;
            m = std::max(m, s[static_cast<size_t>(j)]);
          }
          for (double& v : s) sum += (v = std::exp(v - m));
          for (int64_t j = 0; j < n; ++j) want[static_cast<size_t>(j)] += s[static_cast<size_t>(j)] / sum;
        }
      }
      for (int64_t j = 0; j < n_pos; ++j) {
        ASSERT_NEAR(got[static_cast<size_t>(hk * stride + j)], want[static_cast<size_t>(j)], 1e-5 * c.T * group)
            << "kv head " << hk << " slot " << j;
      }
      for (int64_t j = n_pos; j < stride; ++j) EXPECT_EQ(got[static_cast<size_t>(hk * stride + j)], 0.5f);
    }
  }
}

}  // namespace
}  // namespace mnemo::kernels::test
