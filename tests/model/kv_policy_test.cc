// KV budget policies: parsing and validation; window, sinks, H2O and KVMerger plans against brute
// force; compaction of rows (weighted sums, re-rotation by each member's position change) and scores.
#include "model/kv_policy.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "test_util.h"

namespace mnemo {
namespace {

KvPolicyParams params(KvPolicy p, int64_t budget, int64_t n_recent = 0) {
  KvPolicyParams k;
  k.policy = p;
  k.budget = budget;
  k.n_recent = n_recent;
  return k;
}

std::vector<int32_t> kept(std::span<const KvGroup> g) {
  std::vector<int32_t> v;
  for (const KvGroup& x : g) {
    EXPECT_EQ(x.count, 1);
    v.push_back(x.first);
  }
  return v;
}

TEST(KvPolicy, ParsesPoliciesAndBudgets) {
  for (const char* s : {"full", "window", "sinks", "h2o", "kvmerger"}) {
    auto p = parse_kv_policy(s);
    ASSERT_TRUE(p.has_value()) << s;
    EXPECT_STREQ(kv_policy_name(*p), s);
  }
  EXPECT_FALSE(parse_kv_policy("H2O").has_value());
  EXPECT_FALSE(parse_kv_policy("").has_value());

  auto half = parse_kv_budget("0.5");
  ASSERT_TRUE(half.has_value());
  EXPECT_EQ(half->slots(2048), 1024);
  auto toks = parse_kv_budget("700");
  ASSERT_TRUE(toks.has_value());
  EXPECT_EQ(toks->slots(2048), 700);
  EXPECT_EQ(KvBudget{}.slots(2048), 2048);
  for (const char* bad : {"", "0", "0.0", "1.5", "-3", "abc", "12x", "nan", "1e400"}) {
    auto b = parse_kv_budget(bad);
    EXPECT_FALSE(b.has_value()) << bad;
    if (!b.has_value()) {
      EXPECT_NE(b.status().message().find("--kv-budget"), std::string::npos);
    }
  }
}

TEST(KvPolicy, ValidatesBudgetAgainstPolicyMinimum) {
  EXPECT_TRUE(validate(params(KvPolicy::kSinks, 5), 64).is_ok());
  Status s = validate(params(KvPolicy::kSinks, 4), 64);
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_NE(s.message().find("at least 5"), std::string::npos) << s.message();
  EXPECT_EQ(validate(params(KvPolicy::kH2O, 8, 8), 64).code(), StatusCode::kOutOfRange);
  EXPECT_TRUE(validate(params(KvPolicy::kH2O, 9, 8), 64).is_ok());
  EXPECT_EQ(validate(params(KvPolicy::kWindow, 65), 64).code(), StatusCode::kOutOfRange);
}

TEST(KvPolicy, WindowKeepsTheLastSlotsAndSinksTheFirstToo) {
  KvCompactor c(32, 4);
  EXPECT_EQ(kept(c.plan(params(KvPolicy::kWindow, 5), 12, 5, nullptr, nullptr, 0)),
            (std::vector<int32_t>{7, 8, 9, 10, 11}));
  KvPolicyParams s = params(KvPolicy::kSinks, 7);
  s.n_sink = 4;
  EXPECT_EQ(kept(c.plan(s, 12, 7, nullptr, nullptr, 0)), (std::vector<int32_t>{0, 1, 2, 3, 9, 10, 11}));
}

TEST(KvPolicy, H2OKeepsRecentWindowAndHeaviestOthers) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0, 1);
  KvCompactor c(256, 4);
  for (int trial = 0; trial < 50; ++trial) {
    const int64_t n = 20 + trial * 4, target = n / 2 + trial % 5, recent = target / 2;
    std::vector<float> scores(static_cast<size_t>(n));
    for (float& s : scores) s = std::floor(u(rng) * 8) / 8;  // ties on purpose
    auto groups = c.plan(params(KvPolicy::kH2O, target), n, target, scores.data(), nullptr, 0);
    ASSERT_EQ(static_cast<int64_t>(groups.size()), target);
    // Brute force: the recent window, then older slots by (score desc, index asc).
    std::vector<int32_t> older(static_cast<size_t>(n - recent));
    std::iota(older.begin(), older.end(), 0);
    std::stable_sort(older.begin(), older.end(), [&](int32_t a, int32_t b) { return scores[a] > scores[b]; });
    std::vector<int32_t> want(older.begin(), older.begin() + (target - recent));
    for (int64_t i = n - recent; i < n; ++i) want.push_back(static_cast<int32_t>(i));
    std::sort(want.begin(), want.end());
    EXPECT_EQ(kept(groups), want) << "trial " << trial;
  }
}

// Keys in runs of near-copies: the most similar adjacent pairs are inside runs.
std::vector<float> runs_of_keys(int64_t n, int64_t d, std::mt19937& rng) {
  std::normal_distribution<float> g(0, 1);
  std::vector<float> k(static_cast<size_t>(n * d));
  for (int64_t i = 0; i < n; ++i) {
    const bool new_run = i == 0 || rng() % 3 == 0;
    for (int64_t j = 0; j < d; ++j) {
      k[static_cast<size_t>(i * d + j)] = new_run ? g(rng) : k[static_cast<size_t>((i - 1) * d + j)] + 0.1f * g(rng);
    }
  }
  return k;
}

float cosine_ref(const float* a, const float* b, int64_t d) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < d; ++i) ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i];
  return static_cast<float>(ab / std::sqrt(aa * bb));
}

TEST(KvPolicy, KvMergerMergesTheMostSimilarAdjacentPairsAroundTheHeaviest) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(0, 1);
  const int64_t d = 16;
  KvCompactor c(256, d);
  for (int trial = 0; trial < 30; ++trial) {
    const int64_t n = 40 + trial * 5, target = n * 6 / 10, recent = target / 2, older = n - recent;
    std::vector<float> keys = runs_of_keys(n, d, rng);
    std::vector<float> scores(static_cast<size_t>(n));
    for (float& s : scores) s = u(rng);
    auto groups = c.plan(params(KvPolicy::kKvMerger, target), n, target, scores.data(), keys.data(), d);
    ASSERT_EQ(static_cast<int64_t>(groups.size()), target);
    // Brute force: the n - target largest similarities among edges of the older slots.
    std::vector<std::pair<float, int64_t>> edges;
    for (int64_t i = 0; i + 1 < older; ++i) edges.push_back({-cosine_ref(&keys[i * d], &keys[(i + 1) * d], d), i});
    std::sort(edges.begin(), edges.end());
    std::set<int64_t> joined;
    for (int64_t r = 0; r < n - target; ++r) joined.insert(edges[static_cast<size_t>(r)].second);
    EXPECT_NEAR(c.threshold(), -edges[static_cast<size_t>(n - target - 1)].first, 1e-5);
    int64_t next = 0;
    for (size_t j = 0; j < groups.size(); ++j) {
      const KvGroup& g = groups[j];
      ASSERT_EQ(g.first, next);
      next += g.count;
      for (int32_t m = 0; m + 1 < g.count; ++m) EXPECT_TRUE(joined.count(g.first + m)) << "trial " << trial;
      if (g.first + g.count < older) {
        EXPECT_FALSE(joined.count(g.first + g.count - 1));
      }
      if (g.first >= older) {
        EXPECT_EQ(g.count, 1);  // the recent window stays
      }
      int32_t heaviest = g.first;
      for (int32_t m = 0; m < g.count; ++m) heaviest = scores[g.first + m] > scores[heaviest] ? g.first + m : heaviest;
      EXPECT_EQ(g.pivot, heaviest);
      auto w = c.weights(static_cast<int64_t>(j));
      EXPECT_NEAR(std::accumulate(w.begin(), w.end(), 0.0), 1.0, 1e-5);
      // Weights fall with the distance to the pivot, and the pivot weighs most.
      for (int32_t m = 0; m < g.count; ++m) EXPECT_GE(w[static_cast<size_t>(g.pivot - g.first)], w[static_cast<size_t>(m)]);
    }
    EXPECT_EQ(next, n);
  }
}

// Toy rotation: adds delta to the first value, so the test sees which delta each row got.
void add_delta(float* row, int64_t delta, const void*) { row[0] += static_cast<float>(delta); }

TEST(KvPolicy, CompactRowsIsTheWeightedSumOfRerotatedMembers) {
  std::mt19937 rng(3);
  const int64_t n = 60, d = 8, stride = 12, target = 30;
  KvCompactor c(n, d);
  std::vector<float> keys = runs_of_keys(n, d, rng);
  std::vector<float> scores(static_cast<size_t>(n));
  std::iota(scores.begin(), scores.end(), 0.0f);
  auto groups = c.plan(params(KvPolicy::kKvMerger, target), n, target, scores.data(), keys.data(), d);
  std::vector<float> rows(static_cast<size_t>(n * stride));
  for (int64_t i = 0; i < n; ++i) std::copy_n(&keys[i * d], d, &rows[i * stride]);
  std::vector<float> want(static_cast<size_t>(target * d), 0.0f);
  for (size_t j = 0; j < groups.size(); ++j) {
    auto w = c.weights(static_cast<int64_t>(j));
    for (int32_t m = 0; m < groups[j].count; ++m) {
      const int64_t src = groups[j].first + m;
      for (int64_t i = 0; i < d; ++i) {
        const float v = keys[src * d + i] + (i == 0 ? static_cast<float>(static_cast<int64_t>(j) - src) : 0.0f);
        want[j * d + i] += w[static_cast<size_t>(m)] * v;
      }
    }
  }
  std::vector<float> tmp(d);
  compact_rows(groups, c, rows.data(), stride, d, add_delta, nullptr, tmp.data());
  for (int64_t j = 0; j < target; ++j) {
    for (int64_t i = 0; i < d; ++i) EXPECT_NEAR(rows[j * stride + i], want[j * d + i], 1e-4) << j << "," << i;
  }
  compact_scores(groups, scores.data());
  for (size_t j = 0; j < groups.size(); ++j) {
    float s = 0;
    for (int32_t m = 0; m < groups[j].count; ++m) s += static_cast<float>(groups[j].first + m);
    EXPECT_EQ(scores[j], s);
  }
}

TEST(KvPolicy, IdenticalKeysMergeToThemselves) {
  const int64_t n = 10, d = 4;
  std::vector<float> keys(n * d, 0.5f), scores(n, 1.0f);
  for (int64_t i = 5; i < n; ++i) keys[i * d] = static_cast<float>(i);  // the recent ones differ
  KvCompactor c(n, d);
  auto groups = c.plan(params(KvPolicy::kKvMerger, 6, 5), n, 6, scores.data(), keys.data(), d);
  ASSERT_EQ(groups.size(), 6u);
  EXPECT_EQ(groups[0].count, 5);
  EXPECT_EQ(groups[0].pivot, 0);  // ties: the earliest
  std::vector<float> rows = keys, tmp(d);
  compact_rows(groups, c, rows.data(), d, d, nullptr, nullptr, tmp.data());
  for (int64_t i = 0; i < d; ++i) EXPECT_FLOAT_EQ(rows[static_cast<size_t>(i)], 0.5f);
  for (int64_t j = 1; j < 6; ++j) EXPECT_EQ(rows[static_cast<size_t>(j * d)], static_cast<float>(j + 4));
}

}  // namespace
}  // namespace mnemo
