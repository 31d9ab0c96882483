// Balanced and hierarchical k-means.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "ann_test_util.h"
#include "ltm/ann/kmeans.h"
#include "test_util.h"

namespace mnemo::ltm::ann {
namespace {

TEST(KMeans, SeparatesWellSeparatedClusters) {
  // 4 clusters far apart: every cluster must map to exactly one centroid.
  const int dim = 8;
  std::vector<float> data;
  std::vector<int> truth;
  std::mt19937_64 rng(mnemo::test::test_seed());
  std::normal_distribution<float> g(0.0f, 0.1f);
  for (int c = 0; c < 4; ++c) {
    for (int i = 0; i < 100; ++i) {
      for (int t = 0; t < dim; ++t) data.push_back((t == c ? 10.0f : 0.0f) + g(rng));
      truth.push_back(c);
    }
  }
  std::vector<uint32_t> rows(truth.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = uint32_t(i);
  std::vector<float> cent;
  std::vector<uint32_t> assign;
  KMeansOptions o;
  balanced_kmeans(data.data(), dim, rows, 4, o, nullptr, &cent, &assign);
  for (int c = 0; c < 4; ++c) {
    std::set<uint32_t> got;
    for (size_t i = 0; i < truth.size(); ++i) {
      if (truth[i] == c) got.insert(assign[i]);
    }
    EXPECT_EQ(got.size(), 1u) << "cluster " << c << " was split";
  }
}

TEST(KMeans, BalancePenaltyEvensOutSizes) {
  // One dense blob: plain k-means sizes vary; the penalty narrows the spread of sizes.
  const int dim = 4, k = 8;
  auto data = test::gaussian_mixture(4000, dim, 1, 1.0f, mnemo::test::test_seed());
  std::vector<uint32_t> rows(4000);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = uint32_t(i);
  auto spread = [&](float lambda) {
    std::vector<float> cent;
    std::vector<uint32_t> assign;
    KMeansOptions o;
    o.balance_lambda = lambda;
    balanced_kmeans(data.data(), dim, rows, k, o, nullptr, &cent, &assign);
    std::vector<double> sizes(k);
    for (uint32_t a : assign) ++sizes[a];
    double var = 0;
    for (double s : sizes) var += (s - 500.0) * (s - 500.0);
    return std::sqrt(var / k);
  };
  const double plain = spread(0.0f), balanced = spread(1.0f);
  EXPECT_LT(balanced, plain) << "size std dev: plain " << plain << ", balanced " << balanced;
}

TEST(KMeans, HierarchicalLeavesAreSmallAndCoverEveryRow) {
  const int dim = 16;
  const size_t n = 5000;
  auto data = test::gaussian_mixture(n, dim, 20, 0.5f, mnemo::test::test_seed());
  HierarchicalOptions o;
  o.leaf_size = 10;
  o.branching = 8;
  ThreadPool pool(2);
  Partition p = hierarchical_kmeans(data.data(), n, dim, o, &pool);
  ASSERT_GT(p.n_leaves, n / 30);
  ASSERT_EQ(p.centroids.size(), p.n_leaves * dim);
  std::vector<size_t> sizes(p.n_leaves);
  for (uint32_t l : p.leaf_of_row) {
    ASSERT_LT(l, p.n_leaves);
    ++sizes[l];
  }
  for (size_t s : sizes) {
    EXPECT_GE(s, 1u);
    EXPECT_LE(s, o.leaf_size + o.leaf_size / 2);
  }
  // Same seed, other thread count: same partition.
  Partition q = hierarchical_kmeans(data.data(), n, dim, o, nullptr);
  EXPECT_EQ(p.leaf_of_row, q.leaf_of_row);
}

}  // namespace
}  // namespace mnemo::ltm::ann
