// FlatIndex: exact search, filters, updates, persistence and damage detection.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "ann_test_util.h"
#include "base/file.h"
#include "ltm/ann/distance.h"
#include "ltm/ann/flat_index.h"
#include "test_util.h"

namespace mnemo::ltm::ann {
namespace {

std::vector<Neighbor> brute(const std::vector<float>& data, const std::vector<uint64_t>& ids, int dim,
                            const float* q, size_t k, const std::function<bool(uint64_t)>& f = nullptr) {
  std::vector<Neighbor> all;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (f && !f(ids[i])) continue;
    all.push_back({ids[i], l2_sq_reference(q, data.data() + i * dim, size_t(dim))});
  }
  std::sort(all.begin(), all.end(), [](const Neighbor& a, const Neighbor& b) {
    return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
  });
  if (all.size() > k) all.resize(k);
  return all;
}

TEST(FlatIndex, ExactWithAndWithoutFilter) {
  const int dim = 16;
  const size_t n = 2000;
  auto data = test::gaussian_mixture(n, dim, 10, 0.3f, mnemo::test::test_seed());
  auto ids = test::iota_ids(n, 100);
  FlatIndex ix(dim);
  for (size_t i = 0; i < n; ++i) ASSERT_TRUE(ix.add(ids[i], {data.data() + i * dim, size_t(dim)}, i + 1).is_ok());
  EXPECT_EQ(ix.applied_seq(), n);
  auto queries = test::gaussian_mixture(20, dim, 10, 0.3f, 99);
  for (int qi = 0; qi < 20; ++qi) {
    const float* q = queries.data() + qi * dim;
    SearchOptions o;
    o.k = 10;
    auto got = ix.search({q, size_t(dim)}, o);
    ASSERT_TRUE(got.has_value());
    auto want = brute(data, ids, dim, q, 10);
    ASSERT_EQ(got->size(), want.size());
    for (size_t j = 0; j < want.size(); ++j) EXPECT_EQ((*got)[j].id, want[j].id);
    o.filter = [](uint64_t id) { return id % 7 == 3; };
    got = ix.search({q, size_t(dim)}, o);
    want = brute(data, ids, dim, q, 10, o.filter);
    ASSERT_EQ(got->size(), want.size());
    for (size_t j = 0; j < want.size(); ++j) EXPECT_EQ((*got)[j].id, want[j].id);
  }
}

TEST(FlatIndex, RemoveAndReplace) {
  FlatIndex ix(2);
  ASSERT_TRUE(ix.add(1, std::vector<float>{0, 0}, 1).is_ok());
  ASSERT_TRUE(ix.add(2, std::vector<float>{1, 0}, 2).is_ok());
  ASSERT_TRUE(ix.add(3, std::vector<float>{5, 5}, 3).is_ok());
  ASSERT_TRUE(ix.remove(1, 4).is_ok());
  ASSERT_TRUE(ix.remove(42, 5).is_ok());  // absent: fine
  ASSERT_TRUE(ix.add(3, std::vector<float>{0.1f, 0}, 6).is_ok());  // replace
  SearchOptions o;
  o.k = 5;
  auto r = ix.search(std::vector<float>{0, 0}, o);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].id, 3u);
  EXPECT_EQ((*r)[1].id, 2u);
  EXPECT_EQ(ix.applied_seq(), 6u);
  EXPECT_EQ(ix.search(std::vector<float>{0, 0, 0}, o).status().code(), StatusCode::kInvalidArgument);
}

TEST(FlatIndex, PersistsAndDetectsDamage) {
  const std::string dir = mnemo::test::temp_dir();
  const std::string path = dir + "/flat.bin";
  {
    auto ix = FlatIndex::open(path, 3);
    ASSERT_TRUE(ix.has_value());
    for (uint64_t i = 0; i < 50; ++i) {
      ASSERT_TRUE((*ix)->add(i, std::vector<float>{float(i), 1, 2}, i + 10).is_ok());
    }
    ASSERT_TRUE((*ix)->remove(7, 100).is_ok());
    ASSERT_TRUE((*ix)->flush().is_ok());
  }
  auto re = FlatIndex::open(path, 3);
  ASSERT_TRUE(re.has_value()) << re.status().message();
  EXPECT_EQ((*re)->applied_seq(), 100u);
  EXPECT_EQ((*re)->size(), 49u);
  EXPECT_FALSE((*re)->contains(7));
  EXPECT_EQ((*re)->get(9), (std::vector<float>{9, 1, 2}));
  EXPECT_EQ(FlatIndex::open(path, 4).status().code(), StatusCode::kCorrupt);  // other dimension

  std::string bytes = *mnemo::read_file(path);
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x10;
  ASSERT_TRUE(write_file_atomic(path, flipped).is_ok());
  EXPECT_EQ(FlatIndex::open(path, 3).status().code(), StatusCode::kCorrupt);
  ASSERT_TRUE(write_file_atomic(path, bytes.substr(0, bytes.size() - 9)).is_ok());
  EXPECT_EQ(FlatIndex::open(path, 3).status().code(), StatusCode::kCorrupt);
  ASSERT_TRUE(write_file_atomic(path, bytes.substr(0, 5)).is_ok());
  EXPECT_EQ(FlatIndex::open(path, 3).status().code(), StatusCode::kCorrupt);
}

}  // namespace
}  // namespace mnemo::ltm::ann
