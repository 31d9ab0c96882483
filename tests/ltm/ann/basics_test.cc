// Distances, checksums, the id map, the extent allocator and the fvecs reader.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <unordered_map>

#include "base/file.h"
#include "ltm/ann/crc32c.h"
#include "ltm/ann/distance.h"
#include "ltm/ann/fvecs.h"
#include "ltm/ann/id_map.h"
#include "ltm/ann/posting_file.h"
#include "test_util.h"

namespace mnemo::ltm::ann {
namespace {

TEST(Distance, MatchesScalarReferenceAtEveryLength) {
  const uint64_t seed = mnemo::test::test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed) + ", target " + distance_target_name());
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 3.0f);
  for (size_t dim = 0; dim <= 300; ++dim) {
    std::vector<float> a(dim + 1), b(dim + 1);
    for (auto& v : a) v = g(rng);
    for (auto& v : b) v = g(rng);
    // Unaligned start (offset 1 float) to cover unaligned loads.
    const float ref = l2_sq_reference(a.data() + 1, b.data() + 1, dim);
    const float got = l2_sq(a.data() + 1, b.data() + 1, dim);
    EXPECT_NEAR(got, ref, 1e-5f * (1.0f + ref)) << "dim " << dim;
  }
}

TEST(Distance, BatchWithStrideMatchesSingle) {
  std::mt19937_64 rng(mnemo::test::test_seed());
  std::normal_distribution<float> g;
  const size_t dim = 37, stride = 40, n = 13;
  std::vector<float> q(dim), base(n * stride), out(n);
  for (auto& v : q) v = g(rng);
  for (auto& v : base) v = g(rng);
  l2_sq_batch(q.data(), base.data() + 3, stride, n, dim, out.data());
  for (size_t j = 0; j < n; ++j) EXPECT_FLOAT_EQ(out[j], l2_sq(q.data(), base.data() + 3 + j * stride, dim));
}

TEST(Crc32c, KnownValueAndExtension) {
  const char* s = "123456789";
  EXPECT_EQ(crc32c(s, 9), 0xE3069283u);  // the standard CRC-32C check value
  EXPECT_EQ(crc32c_extend(crc32c(s, 4), s + 4, 5), 0xE3069283u);
  std::vector<uint8_t> big(10007);
  for (size_t i = 0; i < big.size(); ++i) big[i] = uint8_t(i * 31 + 7);
  uint32_t whole = crc32c(big.data(), big.size());
  uint32_t parts = crc32c_extend(crc32c(big.data(), 1234), big.data() + 1234, big.size() - 1234);
  EXPECT_EQ(whole, parts);
  big[5000] ^= 1;
  EXPECT_NE(crc32c(big.data(), big.size()), whole);
}

// Random inserts/overwrites/erases against std::unordered_map, in dense and in hash mode.
void check_id_map(bool sparse) {
  const uint64_t seed = mnemo::test::test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  IdMap m;
  std::unordered_map<uint64_t, IdEntry> ref;
  for (int step = 0; step < 200000; ++step) {
    uint64_t id = sparse ? (rng() % 5000) * 0x9E3779B97F4A7C15ull % (UINT64_MAX - 1) : rng() % 5000;
    int op = int(rng() % 3);
    if (op < 2) {
      IdEntry e{uint32_t(rng() % 1000 + 1), uint32_t(rng() % 77)};
      m.put(id, e);
      ref[id] = e;
    } else {
      EXPECT_EQ(m.erase(id), ref.erase(id) == 1);
    }
  }
  ASSERT_EQ(m.size(), ref.size());
  for (const auto& [id, e] : ref) {
    const IdEntry* f = m.find(id);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->version, e.version);
    EXPECT_EQ(f->home, e.home);
  }
  size_t walked = 0;
  m.for_each([&](uint64_t id, const IdEntry& e) {
    ++walked;
    EXPECT_EQ(ref.at(id).version, e.version);
  });
  EXPECT_EQ(walked, ref.size());
}

TEST(IdMap, DenseIdsMatchReference) { check_id_map(false); }
TEST(IdMap, SparseIdsMatchReference) { check_id_map(true); }

TEST(IdMap, SwitchesFromDenseToHashKeepingEntries) {
  IdMap m;
  for (uint64_t i = 1; i <= 1000; ++i) m.put(i, IdEntry{uint32_t(i), 0});
  m.put(uint64_t(1) << 50, IdEntry{7, 1});  // far beyond the dense range
  EXPECT_EQ(m.size(), 1001u);
  for (uint64_t i = 1; i <= 1000; ++i) ASSERT_EQ(m.find(i)->version, uint32_t(i));
  EXPECT_EQ(m.find(uint64_t(1) << 50)->home, 1u);
  EXPECT_EQ(m.find(0), nullptr);
}

TEST(ExtentAllocator, ReusesAndCoalescesFreedRuns) {
  ExtentAllocator a;
  a.reset(1);
  Extent x = a.alloc(3), y = a.alloc(2), z = a.alloc(4);
  EXPECT_EQ(x.page, 1u);
  EXPECT_EQ(y.page, 4u);
  EXPECT_EQ(z.page, 6u);
  a.free(x);
  a.free(y);  // coalesces with x: pages 1..5 free
  Extent w = a.alloc(5);
  EXPECT_EQ(w.page, 1u);
  a.free(z);  // at the end: the end moves back
  EXPECT_EQ(a.end(), 6u);
  a.rebuild(1, {Extent{10, 2}, Extent{3, 1}});
  EXPECT_EQ(a.end(), 12u);
  EXPECT_EQ(a.free_pages(), 2u + 6u);  // [1,3) and [4,10)
  EXPECT_EQ(a.alloc(6).page, 4u);
}

TEST(Fvecs, RoundTripAndRejectsDamage) {
  const std::string dir = mnemo::test::temp_dir();
  std::vector<float> v = {1, 2, 3, 4, 5, 6};
  ASSERT_TRUE(write_fvecs(dir + "/a.fvecs", v.data(), 2, 3).is_ok());
  auto r = read_fvecs(dir + "/a.fvecs");
  ASSERT_TRUE(r.has_value()) << r.status().message();
  EXPECT_EQ(r->dim, 3);
  EXPECT_EQ(r->n, 2u);
  EXPECT_EQ(r->data, v);
  // A truncated file is reported, not read past.
  std::string bytes = *mnemo::read_file(dir + "/a.fvecs");
  ASSERT_TRUE(write_file_atomic(dir + "/b.fvecs", bytes.substr(0, bytes.size() - 2)).is_ok());
  auto bad = read_fvecs(dir + "/b.fvecs");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.status().code(), StatusCode::kCorrupt);
}

}  // namespace
}  // namespace mnemo::ltm::ann
