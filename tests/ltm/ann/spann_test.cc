// SpannIndex on synthetic data: recall against the exact index, growth by splits, deletes and
// updates, filtered search, input checks.
#include <gtest/gtest.h>

#include <thread>

#include "ann_test_util.h"
#include "base/thread_pool.h"
#include "ltm/ann/flat_index.h"
#include "ltm/ann/spann_index.h"
#include "test_util.h"

namespace mnemo::ltm::ann {
namespace {

constexpr int kDim = 32;

SpannParams small_params() {
  SpannParams p;
  p.leaf_size = 10;
  p.posting_limit = 48;
  p.max_probes = 24;
  return p;
}

struct Fixture {
  std::vector<float> data;
  std::vector<uint64_t> ids;
  std::vector<float> queries;
};

// Data and queries from one mixture (queries are held-out draws from the same centres).
Fixture make_data(size_t n, size_t nq, uint64_t seed) {
  Fixture f;
  auto all = test::gaussian_mixture(n + nq, kDim, 40, 0.5f, seed);
  f.data.assign(all.begin(), all.begin() + int64_t(n * kDim));
  f.queries.assign(all.begin() + int64_t(n * kDim), all.end());
  f.ids = test::iota_ids(n, 1);
  return f;
}

// Mean recall@k of `ix` against `exact` over the queries (optionally filtered).
double mean_recall(VectorIndex& ix, VectorIndex& exact, const std::vector<float>& queries, int k,
                   const SearchOptions& base = {}, double* scanned = nullptr) {
  const size_t nq = queries.size() / kDim;
  double sum = 0, sc = 0;
  for (size_t i = 0; i < nq; ++i) {
    SearchOptions o = base;
    o.k = k;
    std::span<const float> q(queries.data() + i * kDim, kDim);
    auto got = ix.search(q, o);
    EXPECT_TRUE(got.has_value()) << got.status().message();
    if (!got.has_value()) return 0;
    SearchOptions oe;
    oe.k = k;
    oe.filter = base.filter;
    auto want = exact.search(q, oe);
    sum += test::recall_at(*got, *want, size_t(k));
    sc += double(ix.stats().vectors_scanned_last_query);
  }
  if (scanned != nullptr) *scanned = sc / double(nq);
  return sum / double(nq);
}

TEST(Spann, BuildReachesRecallScanningAFraction) {
  const size_t n = 20000;
  Fixture f = make_data(n, 100, mnemo::test::test_seed());
  FlatIndex exact(kDim);
  for (size_t i = 0; i < n; ++i) ASSERT_TRUE(exact.add(f.ids[i], {f.data.data() + i * kDim, kDim}, 1).is_ok());
  ThreadPool pool(2);
  auto ix = SpannIndex::build(mnemo::test::temp_dir(), kDim, small_params(), f.data.data(), f.ids.data(), n, 5, &pool);
  ASSERT_TRUE(ix.has_value()) << ix.status().message();
  EXPECT_EQ((*ix)->applied_seq(), 5u);
  EXPECT_EQ((*ix)->stats().n_vectors, n);
  double scanned = 0;
  const double r = mean_recall(**ix, exact, f.queries, 10, {}, &scanned);
  EXPECT_GE(r, 0.9);
  EXPECT_LT(scanned, 0.1 * n);
  EXPECT_GT((*ix)->stats().reads_4k_last_query, 0u);
  EXPECT_LE((*ix)->spann_stats().max_list_records, 48u);
  // Probing more lists than one asynchronous batch holds (and than there are) is exhaustive.
  SearchOptions all;
  all.max_probes = 100000;
  all.prune_epsilon = 1e9f;
  const std::vector<float> few(f.queries.begin(), f.queries.begin() + 5 * kDim);
  EXPECT_GE(mean_recall(**ix, exact, few, 10, all), 0.999);
}

TEST(Spann, GrowsFromEmptyBySplitting) {
  const size_t n = 6000;
  Fixture f = make_data(n, 50, mnemo::test::test_seed() + 7);
  FlatIndex exact(kDim);
  auto ix = SpannIndex::create(mnemo::test::temp_dir(), kDim, small_params());
  ASSERT_TRUE(ix.has_value()) << ix.status().message();
  for (size_t i = 0; i < n; ++i) {
    std::span<const float> v(f.data.data() + i * kDim, kDim);
    ASSERT_TRUE((*ix)->add(f.ids[i], v, i + 1).is_ok());
    ASSERT_TRUE(exact.add(f.ids[i], v, i + 1).is_ok());
    if (i == n / 2) {
      ASSERT_TRUE((*ix)->flush().is_ok());  // half on disk, half pending
    }
  }
  const SpannStats st = (*ix)->spann_stats();
  EXPECT_GT(st.splits, 50u);
  EXPECT_GT(st.n_lists, n / 48);
  EXPECT_LE(st.max_list_records, 48u);
  EXPECT_EQ((*ix)->stats().n_vectors, n);
  EXPECT_GE(mean_recall(**ix, exact, f.queries, 10), 0.9);
  ASSERT_TRUE((*ix)->flush().is_ok());
  EXPECT_GE(mean_recall(**ix, exact, f.queries, 10), 0.9);
}

TEST(Spann, DeletesAndUpdatesKeepRecall) {
  const size_t n = 8000;
  Fixture f = make_data(n, 50, mnemo::test::test_seed() + 11);
  auto ix = SpannIndex::build(mnemo::test::temp_dir(), kDim, small_params(), f.data.data(), f.ids.data(), n, 1, nullptr);
  ASSERT_TRUE(ix.has_value()) << ix.status().message();
  FlatIndex exact(kDim);
  for (size_t i = 0; i < n; ++i) ASSERT_TRUE(exact.add(f.ids[i], {f.data.data() + i * kDim, kDim}, 1).is_ok());
  uint64_t seq = 1;
  for (size_t i = 0; i < n; i += 3) {
    ASSERT_TRUE((*ix)->remove(f.ids[i], ++seq).is_ok());
    ASSERT_TRUE(exact.remove(f.ids[i], seq).is_ok());
  }
  // Move 200 vectors onto other vectors' positions (updates of existing ids).
  std::mt19937_64 rng(mnemo::test::test_seed());
  for (int u = 0; u < 200; ++u) {
    const size_t i = 1 + 3 * size_t(rng() % (n / 3 - 1));  // a live id
    const size_t j = rng() % n;
    std::vector<float> v(f.data.begin() + int64_t(j * kDim), f.data.begin() + int64_t((j + 1) * kDim));
    v[0] += 0.01f;
    ASSERT_TRUE((*ix)->add(f.ids[i], v, ++seq).is_ok());
    ASSERT_TRUE(exact.add(f.ids[i], v, seq).is_ok());
  }
  EXPECT_EQ((*ix)->stats().n_vectors, exact.size());
  EXPECT_GE(mean_recall(**ix, exact, f.queries, 10), 0.9);
  // Deleted ids never come back, even when the query sits on them.
  SearchOptions o;
  o.k = 10;
  for (size_t i = 0; i < n; i += 300) {
    auto r = (*ix)->search({f.data.data() + i * kDim, kDim}, o);
    ASSERT_TRUE(r.has_value());
    for (const Neighbor& nb : *r) EXPECT_TRUE(exact.contains(nb.id)) << "deleted id " << nb.id << " returned";
  }
  const uint64_t before = (*ix)->spann_stats().n_records;
  ASSERT_TRUE((*ix)->compact().is_ok());
  EXPECT_LT((*ix)->spann_stats().n_records, before);
  EXPECT_GE(mean_recall(**ix, exact, f.queries, 10), 0.9);
  ASSERT_TRUE((*ix)->flush().is_ok());
  ASSERT_TRUE((*ix)->verify().is_ok());
}

// Users own disjoint id sets of very different sizes; the filter is "belongs to user u".
TEST(Spann, FilteredSearchFindsKAndMatchesExactFiltered) {
  const size_t n = 20000;
  Fixture f = make_data(n, 40, mnemo::test::test_seed() + 3);
  auto ix = SpannIndex::build(mnemo::test::temp_dir(), kDim, small_params(), f.data.data(), f.ids.data(), n, 1, nullptr);
  ASSERT_TRUE(ix.has_value()) << ix.status().message();
  FlatIndex exact(kDim);
  for (size_t i = 0; i < n; ++i) ASSERT_TRUE(exact.add(f.ids[i], {f.data.data() + i * kDim, kDim}, 1).is_ok());
  // user of an id: a pseudo-random permutation cut into groups of 5, 100, 1000, 10000, rest.
  std::vector<int> user(n + 1);
  std::vector<size_t> perm(n);
  for (size_t i = 0; i < n; ++i) perm[i] = i + 1;
  std::shuffle(perm.begin(), perm.end(), std::mt19937_64(mnemo::test::test_seed()));
  const std::vector<size_t> sizes = {5, 100, 1000, 10000};
  size_t pos = 0;
  for (size_t u = 0; u <= sizes.size(); ++u) {
    const size_t len = u < sizes.size() ? sizes[u] : n - pos;
    for (size_t j = 0; j < len; ++j) user[perm[pos + j]] = int(u);
    pos += len;
  }
  for (size_t u = 0; u < sizes.size(); ++u) {
    for (bool hint : {false, true}) {
      SearchOptions o;
      o.filter = [&user, u](uint64_t id) { return id < user.size() && user[id] == int(u); };
      if (hint) o.filter_cardinality = sizes[u];
      const double r = mean_recall(**ix, exact, f.queries, 10, o);
      EXPECT_GE(r, 0.95) << "filter of " << sizes[u] << (hint ? " with" : " without") << " hint";
      o.k = 10;
      auto got = (*ix)->search({f.queries.data(), kDim}, o);
      ASSERT_TRUE(got.has_value());
      EXPECT_EQ(got->size(), std::min<size_t>(10, sizes[u]));
      for (const Neighbor& nb : *got) EXPECT_EQ(user[nb.id], int(u));
    }
  }
  SearchOptions none;
  none.k = 10;
  none.filter = [](uint64_t) { return false; };
  auto empty = (*ix)->search({f.queries.data(), kDim}, none);
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
}

TEST(Spann, TinyIndexReturnsEverythingAndRejectsBadInput) {
  auto ix = SpannIndex::create(mnemo::test::temp_dir(), 3, small_params());
  ASSERT_TRUE(ix.has_value()) << ix.status().message();
  SearchOptions o;
  o.k = 10;
  auto r = (*ix)->search(std::vector<float>{0, 0, 0}, o);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->empty());
  for (uint64_t i = 0; i < 4; ++i) ASSERT_TRUE((*ix)->add(i, std::vector<float>{float(i), 0, 0}, i + 1).is_ok());
  r = (*ix)->search(std::vector<float>{0, 0, 0}, o);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0].id, 0u);
  EXPECT_EQ((*r)[3].id, 3u);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ((*ix)->add(9, std::vector<float>{nan, 0, 0}, 9).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*ix)->add(9, std::vector<float>{0, 0}, 9).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*ix)->add(UINT64_MAX, std::vector<float>{0, 0, 0}, 9).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*ix)->search(std::vector<float>{nan, 0, 0}, o).status().code(), StatusCode::kInvalidArgument);
  o.k = -1;
  EXPECT_EQ((*ix)->search(std::vector<float>{0, 0, 0}, o).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SpannIndex::create(mnemo::test::temp_dir(), 0, small_params()).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(Spann, ConcurrentSearchesAgreeWithSequential) {
  const size_t n = 5000;
  Fixture f = make_data(n, 40, mnemo::test::test_seed() + 5);
  auto ix = SpannIndex::build(mnemo::test::temp_dir(), kDim, small_params(), f.data.data(), f.ids.data(), n, 1, nullptr);
  ASSERT_TRUE(ix.has_value());
  SearchOptions o;
  o.k = 10;
  std::vector<std::vector<Neighbor>> seq(40), par(40);
  for (int i = 0; i < 40; ++i) seq[i] = *(*ix)->search({f.queries.data() + i * kDim, kDim}, o);
  std::thread t1([&] { for (int i = 0; i < 40; i += 2) par[i] = *(*ix)->search({f.queries.data() + i * kDim, kDim}, o); });
  std::thread t2([&] { for (int i = 1; i < 40; i += 2) par[i] = *(*ix)->search({f.queries.data() + i * kDim, kDim}, o); });
  t1.join();
  t2.join();
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(seq[i].size(), par[i].size());
    for (size_t j = 0; j < seq[i].size(); ++j) EXPECT_EQ(seq[i][j].id, par[i][j].id);
  }
}

}  // namespace
}  // namespace mnemo::ltm::ann
