// BM25 against a hand computation, bag arithmetic, RRF, MemoryBank retention, the hash embedder,
// the vector file's crash handling.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "base/file.h"
#include "ltm/bm25.h"
#include "ltm/embedder.h"
#include "ltm/forgetting.h"
#include "ltm/fusion.h"
#include "ltm/vector_file.h"
#include "mnemo/memory.h"
#include "test_util.h"

namespace mnemo::ltm {
namespace {

TEST(Bm25, MatchesHandComputation) {
  // Docs: d0 = {1,1,2}, d1 = {2,3}, d2 = {3}. Query {1, 3}.
  Bm25Index idx;
  idx.set(0, make_bag({1, 1, 2}), 3);
  idx.set(1, make_bag({2, 3}), 2);
  idx.set(2, make_bag({3}), 1);
  Bm25Params p{1.2, 0.75};
  std::vector<float> s(3, 0.0f);
  idx.score({1, 3}, p, s);
  const double n = 3, avg = 2.0;
  auto idf = [&](double df) { return std::log(1 + (n - df + 0.5) / (df + 0.5)); };
  auto tfw = [&](double tf, double len) { return tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len / avg)); };
  EXPECT_NEAR(s[0], idf(1) * tfw(2, 3), 1e-5);
  EXPECT_NEAR(s[1], idf(2) * tfw(1, 2), 1e-5);
  EXPECT_NEAR(s[2], idf(2) * tfw(1, 1), 1e-5);
}

TEST(Bm25, SetReplaceAndEraseKeepPostingsConsistent) {
  Bm25Index idx;
  idx.set(0, make_bag({1, 2}), 2);
  idx.set(1, make_bag({2}), 1);
  idx.set(0, make_bag({3}), 1);  // replace: term 1 gone, 3 new
  std::vector<float> s(2, 0.0f);
  EXPECT_EQ(idx.score({1}, {}, s), 0u);
  EXPECT_EQ(idx.score({2}, {}, s), 1u);
  idx.erase(1);
  EXPECT_EQ(idx.score({2}, {}, s), 0u);
  EXPECT_EQ(idx.size(), 1u);
}

TEST(Bm25, BagAddWeights) {
  TermBag a = make_bag({1, 2, 2});
  bag_add(a, make_bag({2, 3}), 0.5f);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_FLOAT_EQ(a[0].second, 1.0f);
  EXPECT_FLOAT_EQ(a[1].second, 2.5f);
  EXPECT_FLOAT_EQ(a[2].second, 0.5f);
}

TEST(Fusion, ReciprocalRank) {
  std::vector<uint32_t> a = {7, 8, 9}, b = {9, 7};
  auto f = rrf_fuse({&a, &b}, {1.0, 0.5}, 60);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0].key, 7u);  // 1/61 + 0.5/62
  EXPECT_NEAR(f[0].score, 1.0 / 61 + 0.5 / 62, 1e-12);
  EXPECT_EQ(f[1].key, 9u);  // 1/63 + 0.5/61
  EXPECT_EQ(f[2].key, 8u);
}

TEST(Forgetting, PaperFormulaNotTheReleasedCode) {
  const int64_t day = 86400000;
  EXPECT_NEAR(retention(1, 0, day, 1.0), std::exp(-1.0), 1e-12);
  EXPECT_NEAR(retention(2, 0, 3 * day, 1.0), std::exp(-1.5), 1e-12);
  EXPECT_NEAR(retention(1, 0, 5 * day, 5.0), std::exp(-1.0), 1e-12);
  // A stronger memory decays more slowly (MemoryBank's code, exp(-t / 5 * S), inverts this).
  EXPECT_GT(retention(3, 0, 2 * day, 1.0), retention(1, 0, 2 * day, 1.0));
  EXPECT_DOUBLE_EQ(retention(1, 10 * day, 5 * day, 1.0), 1.0);  // clock before last access: t = 0
  RecallUpdate r = on_recall(2.0, 4, 123);
  EXPECT_EQ(r.strength, 3.0);
  EXPECT_EQ(r.last_access_ms, 123);
  EXPECT_EQ(r.access_count, 5);
}

TEST(HashEmbedder, UnitDeterministicAndSimilar) {
  HashEmbedder e(256);
  for (const char* t : {"my dog loves the park", "we adopted a puppy", "tax forms are due in april"})
    e.observe(t, +1);
  Vector a = e.embed_one("my dog loves the park");
  Vector a2 = e.embed_one("my dog loves the park");
  Vector b = e.embed_one("dogs love parks");
  Vector c = e.embed_one("tax forms due");
  EXPECT_EQ(a, a2);
  EXPECT_NEAR(dot(a.data(), a.data(), a.size()), 1.0, 1e-5);
  EXPECT_GT(dot(a.data(), b.data(), a.size()), dot(a.data(), c.data(), a.size()));
  EXPECT_EQ(e.corpus_size(), 3u);
  e.observe("we adopted a puppy", -1);
  EXPECT_EQ(e.corpus_size(), 2u);
}

TEST(HashEmbedder, IdfDownweightsCommonFeatures) {
  HashEmbedder e(512);
  for (int i = 0; i < 50; ++i) e.observe("the meeting was fine " + std::to_string(i), +1);
  e.observe("the violin recital", +1);
  // "the ..." shares a frequent word with both; the rare word decides.
  Vector q = e.embed_one("the violin");
  Vector rare = e.embed_one("violin recital");
  Vector common = e.embed_one("the meeting");
  EXPECT_GT(dot(q.data(), rare.data(), q.size()), dot(q.data(), common.data(), q.size()));
}

TEST(VectorFile, RoundTripTornTailAndDamagedHeader) {
  std::string dir = test::temp_dir();
  std::string path = dir + "/v.bin";
  std::unordered_map<uint64_t, VectorFile::Entry> none;
  {
    auto f = VectorFile::rewrite(path, 4, "space-a", none);
    ASSERT_TRUE(f) << f.status().message();
    std::vector<float> v1 = {1, 0, 0, 0}, v2 = {0, 1, 0, 0};
    ASSERT_TRUE((*f)->put(1, 10, 5, v1).is_ok());
    ASSERT_TRUE((*f)->put(2, 11, 5, v2).is_ok());
    ASSERT_TRUE((*f)->remove(1, 12).is_ok());
    ASSERT_TRUE((*f)->sync().is_ok());
  }
  {
    std::unordered_map<uint64_t, VectorFile::Entry> got;
    VectorFile::LoadStats st;
    auto f = VectorFile::open(path, 4, "space-a", &got, &st);
    ASSERT_TRUE(f);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[2].seq, 11u);
    EXPECT_EQ(got[2].vec[1], 1.0f);
  }
  // A torn append: half a record at the end is cut, the rest survives.
  {
    std::ofstream out(path, std::ios::app | std::ios::binary);
    out.write("\x56\x45\x43\x52\x01\x00\x00", 7);
  }
  {
    std::unordered_map<uint64_t, VectorFile::Entry> got;
    VectorFile::LoadStats st;
    auto f = VectorFile::open(path, 4, "space-a", &got, &st);
    ASSERT_TRUE(f);
    EXPECT_EQ(st.truncated_bytes, 7u);
    EXPECT_EQ(got.size(), 1u);
  }
  // Another embedder or a damaged header: kCorrupt (the service rebuilds).
  std::unordered_map<uint64_t, VectorFile::Entry> got;
  VectorFile::LoadStats st;
  EXPECT_EQ(VectorFile::open(path, 4, "space-b", &got, &st).status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(VectorFile::open(path, 8, "space-a", &got, &st).status().code(), StatusCode::kCorrupt);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);
    f.write("X", 1);
  }
  EXPECT_EQ(VectorFile::open(path, 4, "space-a", &got, &st).status().code(), StatusCode::kCorrupt);
}

}  // namespace
}  // namespace mnemo::ltm
