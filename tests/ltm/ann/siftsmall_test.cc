// SpannIndex on ANN_SIFT10K (siftsmall, $MNEMO_DATA/ann): recall@10 against the official ground
// truth while scanning at most 10% of the base, and filtered search against exact filtered search.
#include <gtest/gtest.h>

#include <numeric>
#include <random>
#include <unordered_set>

#include "ann_test_util.h"
#include "base/thread_pool.h"
#include "ltm/ann/flat_index.h"
#include "ltm/ann/fvecs.h"
#include "ltm/ann/spann_index.h"
#include "test_util.h"

namespace mnemo::ltm::ann {
namespace {

struct Sift {
  VecFile<float> base, query;
  VecFile<int32_t> gt;
};

Sift load() {
  Sift s;
  s.base = *read_fvecs(mnemo::test::data_path("ann/siftsmall_base.fvecs"));
  s.query = *read_fvecs(mnemo::test::data_path("ann/siftsmall_query.fvecs"));
  s.gt = *read_ivecs(mnemo::test::data_path("ann/siftsmall_groundtruth.ivecs"));
  return s;
}

TEST(SpannSiftSmall, Recall10AtLeast095ScanningAtMost10Percent) {
  MNEMO_REQUIRE_DATA("ann/siftsmall_base.fvecs");
  MNEMO_REQUIRE_DATA("ann/siftsmall_groundtruth.ivecs");
  Sift s = load();
  ASSERT_EQ(s.base.n, 10000u);
  auto ids = test::iota_ids(s.base.n);
  ThreadPool pool(2);
  SpannParams p;
  p.leaf_size = 32;  // lists of about 32 vectors (the automatic size, about 125 at d=128, suits 1M sets)
  auto ix = SpannIndex::build(mnemo::test::temp_dir(), s.base.dim, p, s.base.data.data(), ids.data(), s.base.n, 1,
                              &pool);
  ASSERT_TRUE(ix.has_value()) << ix.status().message();
  double recall = 0, scanned = 0, reads = 0;
  SearchOptions o;
  o.k = 10;
  o.max_probes = 24;  // 24 lists of about 32 vectors: about 8% of the base
  for (size_t i = 0; i < s.query.n; ++i) {
    auto r = (*ix)->search({s.query.row(i), size_t(s.query.dim)}, o);
    ASSERT_TRUE(r.has_value()) << r.status().message();
    std::unordered_set<uint64_t> truth(s.gt.row(i), s.gt.row(i) + 10);
    int hit = 0;
    for (const Neighbor& n : *r) hit += int(truth.count(n.id));
    recall += hit / 10.0;
    scanned += double((*ix)->stats().vectors_scanned_last_query);
    reads += double((*ix)->stats().reads_4k_last_query);
  }
  recall /= double(s.query.n);
  scanned /= double(s.query.n);
  reads /= double(s.query.n);
  std::printf("siftsmall: recall@10 %.3f, vectors scanned per query %.0f (%.1f%% of base), 4 KiB reads %.1f, "
              "lists %llu, records %llu\n",
              recall, scanned, 100.0 * scanned / double(s.base.n), reads,
              (unsigned long long)(*ix)->spann_stats().n_lists, (unsigned long long)(*ix)->spann_stats().n_records);
  EXPECT_GE(recall, 0.95);
  EXPECT_LE(scanned, 0.10 * double(s.base.n));
}

// Synthetic users over the siftsmall base: 100, 1000 and 5000 vectors each.
TEST(SpannSiftSmall, FilteredRecallAgainstExactFiltered) {
  MNEMO_REQUIRE_DATA("ann/siftsmall_base.fvecs");
  Sift s = load();
  auto ids = test::iota_ids(s.base.n);
  auto ix = SpannIndex::build(mnemo::test::temp_dir(), s.base.dim, SpannParams{}, s.base.data.data(), ids.data(),
                              s.base.n, 1, nullptr);
  ASSERT_TRUE(ix.has_value());
  FlatIndex exact(s.base.dim);
  for (size_t i = 0; i < s.base.n; ++i) ASSERT_TRUE(exact.add(i, {s.base.row(i), size_t(s.base.dim)}, 1).is_ok());
  std::vector<int> user(s.base.n);
  std::vector<size_t> perm(s.base.n);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937_64(mnemo::test::test_seed()));
  const std::vector<size_t> sizes = {100, 1000, 5000};
  size_t pos = 0;
  for (size_t u = 0; u < sizes.size(); ++u) {
    for (size_t j = 0; j < sizes[u]; ++j) user[perm[pos + j]] = int(u);
    pos += sizes[u];
  }
  for (; pos < s.base.n; ++pos) user[perm[pos]] = 99;
  for (size_t u = 0; u < sizes.size(); ++u) {
    SearchOptions o;
    o.k = 10;
    o.filter = [&user, u](uint64_t id) { return user[id] == int(u); };
    double recall = 0, scanned = 0;
    for (size_t i = 0; i < s.query.n; ++i) {
      std::span<const float> q(s.query.row(i), size_t(s.query.dim));
      auto got = (*ix)->search(q, o);
      ASSERT_TRUE(got.has_value());
      ASSERT_EQ(got->size(), 10u);
      recall += test::recall_at(*got, *exact.search(q, o), 10);
      scanned += double((*ix)->stats().vectors_scanned_last_query);
    }
    recall /= double(s.query.n);
    std::printf("siftsmall filter of %zu: recall@10 %.3f vs exact filtered, scanned %.0f per query\n", sizes[u],
                recall, scanned / double(s.query.n));
    EXPECT_GE(recall, 0.95) << "filter of " << sizes[u];
  }
}

}  // namespace
}  // namespace mnemo::ltm::ann
