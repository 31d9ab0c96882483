// The sampling chain: greedy is the first argmax; filters keep what llama.cpp's keep; draws
// follow the seed and the distribution.
#include "model/sampler.h"

#include <cmath>
#include <map>

#include "test_util.h"

namespace mnemo {
namespace {

SamplingParams greedy() {
  SamplingParams p;
  p.temperature = 0.0f;
  return p;
}

TEST(Sampler, GreedyPicksFirstLargest) {
  TokenSampler s(5, greedy());
  std::vector<float> logits = {0.1f, 3.0f, -1.0f, 3.0f, 2.9f};
  EXPECT_EQ(s.sample(logits), 1);
  logits[4] = 3.5f;
  EXPECT_EQ(s.sample(logits), 4);
}

TEST(Sampler, TopKOneIsGreedy) {
  SamplingParams p;
  p.top_k = 1;
  p.temperature = 1.0f;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    p.seed = seed;
    TokenSampler s(4, p);
    EXPECT_EQ(s.sample(std::vector<float>{0.0f, 0.5f, 0.4f, -2.0f}), 1);
  }
}

// With top-p 0.5 over probabilities {0.6, 0.3, 0.1}, only the first token survives.
TEST(Sampler, TopPKeepsSmallestPrefixWithMass) {
  SamplingParams p;
  p.top_k = 0;
  p.min_p = 0.0f;
  p.top_p = 0.5f;
  p.temperature = 1.0f;
  std::vector<float> logits = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
  for (uint64_t seed = 0; seed < 50; ++seed) {
    p.seed = seed;
    TokenSampler s(3, p);
    EXPECT_EQ(s.sample(logits), 0);
  }
  p.top_p = 0.85f;  // {0.6, 0.3} survive
  std::map<int, int> counts;
  for (uint64_t seed = 0; seed < 400; ++seed) {
    p.seed = seed;
    TokenSampler s(3, p);
    ++counts[s.sample(logits)];
  }
  EXPECT_EQ(counts[2], 0);
  EXPECT_GT(counts[1], 80);   // expected 400 * 1/3 = 133
  EXPECT_LT(counts[1], 190);
}

TEST(Sampler, MinPDropsUnlikelyTokens) {
  SamplingParams p;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.2f;  // keep p >= 0.2 * p_max
  p.temperature = 1.0f;
  std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.09f), std::log(0.11f)};
  std::map<int, int> counts;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    p.seed = seed;
    TokenSampler s(4, p);
    ++counts[s.sample(logits)];
  }
  EXPECT_EQ(counts[2], 0);  // 0.09 < 0.1
  EXPECT_GT(counts[3], 0);  // 0.11 >= 0.1
}

TEST(Sampler, DrawsFollowTheDistribution) {
  SamplingParams p;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.temperature = 1.0f;
  p.seed = test::test_seed();
  TokenSampler s(3, p);
  std::vector<float> logits = {std::log(0.7f), std::log(0.2f), std::log(0.1f)};
  int n[3] = {0, 0, 0};
  const int draws = 20000;
  for (int i = 0; i < draws; ++i) ++n[s.sample(logits)];
  EXPECT_NEAR(n[0] / double(draws), 0.7, 0.02) << "seed " << p.seed;
  EXPECT_NEAR(n[1] / double(draws), 0.2, 0.02) << "seed " << p.seed;
  EXPECT_NEAR(n[2] / double(draws), 0.1, 0.02) << "seed " << p.seed;
}

TEST(Sampler, SameSeedSameStreamDifferentSeedDifferentStream) {
  SamplingParams p;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.temperature = 1.0f;
  std::vector<float> logits(50, 0.0f);
  auto stream = [&](uint64_t seed) {
    p.seed = seed;
    TokenSampler s(50, p);
    std::vector<int> out;
    for (int i = 0; i < 32; ++i) out.push_back(s.sample(logits));
    return out;
  };
  EXPECT_EQ(stream(3), stream(3));
  EXPECT_NE(stream(3), stream(4));
  // reset() restarts the stream.
  p.seed = 9;
  TokenSampler s(50, p);
  int first = s.sample(logits);
  s.reset();
  EXPECT_EQ(s.sample(logits), first);
}

// Penalised tokens lose probability: positive logits are divided, negative ones multiplied.
TEST(Sampler, RepetitionPenaltyDemotesRecentTokens) {
  SamplingParams p = greedy();
  p.repeat_penalty = 2.0f;
  p.repeat_last_n = 2;
  TokenSampler s(3, p);
  std::vector<float> logits = {2.0f, 1.5f, -1.0f};
  EXPECT_EQ(s.sample(logits), 0);
  s.accept(0);  // 2.0 -> 1.0 < 1.5
  EXPECT_EQ(s.sample(logits), 1);
  s.accept(1);
  s.accept(2);  // history holds {1, 2}: token 0 is no longer penalised
  EXPECT_EQ(s.sample(logits), 0);
}

}  // namespace
}  // namespace mnemo
