// SpannIndex persistence: round trip, unflushed changes, kill -9 during inserts, damaged files.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "ann_test_util.h"
#include "base/file.h"
#include "ltm/ann/spann_index.h"
#include "test_util.h"

namespace mnemo::ltm::ann {
namespace {

constexpr int kDim = 16;

SpannParams params() {
  SpannParams p;
  p.leaf_size = 8;
  p.posting_limit = 32;
  p.max_probes = 16;
  return p;
}

std::vector<float> row(const std::vector<float>& d, size_t i) {
  return std::vector<float>(d.begin() + int64_t(i * kDim), d.begin() + int64_t((i + 1) * kDim));
}

// Top-10 ids for each of nq queries.
std::vector<std::vector<uint64_t>> answers(SpannIndex& ix, const std::vector<float>& q, size_t nq) {
  std::vector<std::vector<uint64_t>> out;
  SearchOptions o;
  o.k = 10;
  for (size_t i = 0; i < nq; ++i) {
    auto r = ix.search({q.data() + i * kDim, kDim}, o);
    EXPECT_TRUE(r.has_value()) << r.status().message();
    std::vector<uint64_t> ids;
    if (r.has_value()) {
      for (const Neighbor& n : *r) ids.push_back(n.id);
    }
    out.push_back(ids);
  }
  return out;
}

void copy_dir(const std::string& from, const std::string& to) {
  for (const char* f : {"spann.meta", "postings.dat", "centroids.f32"}) {
    auto b = read_file(from + "/" + f);
    ASSERT_TRUE(b.has_value());
    ASSERT_TRUE(write_file_atomic(to + "/" + f, *b).is_ok());
  }
  // The graph file name carries its generation.
  for (int g = 1; g < 100; ++g) {
    const std::string n = "/graph-" + std::to_string(g) + ".bin";
    if (file_exists(from + n)) {
      ASSERT_TRUE(write_file_atomic(to + n, *read_file(from + n)).is_ok());
    }
  }
}

void patch(const std::string& path, size_t offset, uint8_t xor_mask) {
  std::string b = *read_file(path);
  ASSERT_LT(offset, b.size());
  b[offset] = char(uint8_t(b[offset]) ^ xor_mask);
  ASSERT_TRUE(write_file_atomic(path, b).is_ok());
}

void truncate_to(const std::string& path, size_t size) { ASSERT_EQ(::truncate(path.c_str(), off_t(size)), 0); }

TEST(SpannDurability, RoundTripKeepsAnswersAndState) {
  const std::string dir = mnemo::test::temp_dir();
  auto data = test::gaussian_mixture(4000, kDim, 20, 0.5f, mnemo::test::test_seed());
  auto ids = test::iota_ids(1000, 10);
  std::vector<std::vector<uint64_t>> before;
  {
    auto ix = SpannIndex::build(dir, kDim, params(), data.data(), ids.data(), 1000, 7, nullptr);
    ASSERT_TRUE(ix.has_value()) << ix.status().message();
    // Inserts (with splits), deletes and an update on top of the build.
    for (size_t i = 1000; i < 4000; ++i) ASSERT_TRUE((*ix)->add(10 + i, row(data, i), 8 + i).is_ok());
    for (uint64_t id = 10; id < 500; id += 4) ASSERT_TRUE((*ix)->remove(id, 5000 + id).is_ok());
    ASSERT_TRUE((*ix)->add(11, row(data, 3999), 6000).is_ok());
    ASSERT_TRUE((*ix)->flush().is_ok());
    EXPECT_EQ((*ix)->applied_seq(), 6000u);
    before = answers(**ix, data, 60);
    EXPECT_GT((*ix)->spann_stats().splits, 0u);
  }
  auto ix = SpannIndex::open(dir);
  ASSERT_TRUE(ix.has_value()) << ix.status().message();
  EXPECT_EQ((*ix)->applied_seq(), 6000u);
  EXPECT_EQ((*ix)->stats().n_vectors, 4000u - 123u);
  EXPECT_FALSE((*ix)->contains(14));
  EXPECT_TRUE((*ix)->contains(11));
  EXPECT_EQ(answers(**ix, data, 60), before);
  EXPECT_TRUE((*ix)->verify().is_ok());
  // A second process (here: a second open) is refused while this one holds the index.
  EXPECT_FALSE(SpannIndex::open(dir).has_value());
}

TEST(SpannDurability, UnflushedChangesAreLostNotHalfApplied) {
  const std::string dir = mnemo::test::temp_dir();
  auto data = test::gaussian_mixture(3000, kDim, 20, 0.5f, mnemo::test::test_seed() + 1);
  auto ids = test::iota_ids(2000);
  {
    auto ix = SpannIndex::build(dir, kDim, params(), data.data(), ids.data(), 2000, 100, nullptr);
    ASSERT_TRUE(ix.has_value());
    for (size_t i = 2000; i < 3000; ++i) ASSERT_TRUE((*ix)->add(i, row(data, i), 100 + i).is_ok());
    ASSERT_TRUE((*ix)->remove(5, 5000).is_ok());
    // Closed without flush: like a crash after these calls.
  }
  auto ix = SpannIndex::open(dir);
  ASSERT_TRUE(ix.has_value()) << ix.status().message();
  EXPECT_EQ((*ix)->applied_seq(), 100u);
  EXPECT_EQ((*ix)->stats().n_vectors, 2000u);
  EXPECT_TRUE((*ix)->contains(5));
  EXPECT_FALSE((*ix)->contains(2500));
  EXPECT_TRUE((*ix)->verify().is_ok());
  // The service replays from applied_seq: applying the same changes again works.
  for (size_t i = 2000; i < 3000; ++i) ASSERT_TRUE((*ix)->add(i, row(data, i), 100 + i).is_ok());
  ASSERT_TRUE((*ix)->flush().is_ok());
  EXPECT_EQ((*ix)->stats().n_vectors, 3000u);
}

// A child process inserts (and deletes) with a flush every kFlushEvery changes and reports each
// flushed sequence through a pipe; the parent kills it with SIGKILL at a random moment, reopens
// and checks that the index is exactly the state at some flushed sequence >= the last reported.
TEST(SpannDurability, KillDuringInsertsReopensConsistent) {
  constexpr uint64_t kFlushEvery = 97;
  constexpr size_t kMax = 20000;
  const uint64_t seed = mnemo::test::test_seed();
  auto data = test::gaussian_mixture(kMax, kDim, 30, 0.5f, seed);
  // Change s (1-based): add id s, except every 10th change removes id s-5.
  auto is_removed_by = [](uint64_t s) { return s % 10 == 0; };
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " round " + std::to_string(round));
    const std::string dir = mnemo::test::temp_dir();
    { ASSERT_TRUE(SpannIndex::create(dir, kDim, params()).has_value()); }
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      auto ix = SpannIndex::open(dir);
      if (!ix.has_value()) ::_exit(2);
      for (uint64_t s = 1; s <= kMax; ++s) {
        Status st = is_removed_by(s) ? (*ix)->remove(s - 5, s) : (*ix)->add(s, row(data, s - 1), s);
        if (!st.is_ok()) ::_exit(3);
        if (s % kFlushEvery == 0) {
          if (!(*ix)->flush().is_ok()) ::_exit(4);
          if (::write(fds[1], &s, sizeof(s)) != sizeof(s)) ::_exit(5);
        }
      }
      ::_exit(0);
    }
    ::close(fds[1]);
    uint64_t last = 0, got;
    int reports = 0;
    const int wait_reports = 3 + round * 7;
    while (reports < wait_reports && ::read(fds[0], &got, sizeof(got)) == sizeof(got)) {
      last = got;
      ++reports;
    }
    std::this_thread::sleep_for(std::chrono::microseconds((seed * (round + 1) * 7919) % 20000));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    while (::read(fds[0], &got, sizeof(got)) == sizeof(got)) last = got;  // reports that made it
    ::close(fds[0]);
    ASSERT_GT(last, 0u) << "child exited before its first flush, status " << status;

    auto ix = SpannIndex::open(dir);
    ASSERT_TRUE(ix.has_value()) << ix.status().message();
    const uint64_t a = (*ix)->applied_seq();
    EXPECT_GE(a, last);
    EXPECT_EQ(a % kFlushEvery, 0u) << "applied_seq is not a flush point";
    ASSERT_TRUE((*ix)->verify().is_ok());
    // Exactly the changes <= a.
    size_t expect_n = 0, found_top1 = 0, checked = 0;
    for (uint64_t s = 1; s <= std::min<uint64_t>(a + 200, kMax); ++s) {
      if (is_removed_by(s)) continue;
      const bool removed = s + 5 <= a && is_removed_by(s + 5);
      const bool present = s <= a && !removed;
      ASSERT_EQ((*ix)->contains(s), present) << "id " << s << ", applied_seq " << a;
      if (!present) continue;
      ++expect_n;
      if (s % 13 == 0) {
        SearchOptions o;
        o.k = 1;
        auto r = (*ix)->search(row(data, s - 1), o);
        ASSERT_TRUE(r.has_value());
        ++checked;
        found_top1 += !r->empty() && (*r)[0].id == s;
      }
    }
    EXPECT_EQ((*ix)->stats().n_vectors, expect_n);
    EXPECT_GE(double(found_top1), 0.95 * double(checked));
    // And it keeps working: the service replays the rest.
    for (uint64_t s = a + 1; s <= a + 50 && s <= kMax; ++s) {
      ASSERT_TRUE((is_removed_by(s) ? (*ix)->remove(s - 5, s) : (*ix)->add(s, row(data, s - 1), s)).is_ok());
    }
    ASSERT_TRUE((*ix)->flush().is_ok());
  }
}

class SpannDamage : public ::testing::Test {
 protected:
  void SetUp() override {
    good_ = mnemo::test::temp_dir();
    auto data = test::gaussian_mixture(2000, kDim, 20, 0.5f, mnemo::test::test_seed() + 2);
    auto ids = test::iota_ids(2000);
    auto ix = SpannIndex::build(good_, kDim, params(), data.data(), ids.data(), 2000, 1, nullptr);
    ASSERT_TRUE(ix.has_value());
    query_ = row(data, 0);
  }
  std::string fresh_copy() {
    std::string d = mnemo::test::temp_dir();
    copy_dir(good_, d);
    return d;
  }
  std::string good_;
  std::vector<float> query_;
};

TEST_F(SpannDamage, MetadataDamageIsReported) {
  std::string d = fresh_copy();
  ASSERT_TRUE(SpannIndex::open(d).has_value());
  d = fresh_copy();
  patch(d + "/spann.meta", 100, 0x01);
  EXPECT_EQ(SpannIndex::open(d).status().code(), StatusCode::kCorrupt);
  d = fresh_copy();
  truncate_to(d + "/spann.meta", 50);
  EXPECT_EQ(SpannIndex::open(d).status().code(), StatusCode::kCorrupt);
  d = fresh_copy();
  truncate_to(d + "/spann.meta", 0);
  EXPECT_EQ(SpannIndex::open(d).status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(SpannIndex::open(mnemo::test::temp_dir()).status().code(), StatusCode::kNotFound);
}

TEST_F(SpannDamage, CentroidDamageIsReported) {
  std::string d = fresh_copy();
  patch(d + "/centroids.f32", 64 + 4 * kDim * 3 + 2, 0x40);
  EXPECT_EQ(SpannIndex::open(d).status().code(), StatusCode::kCorrupt);
  d = fresh_copy();
  truncate_to(d + "/centroids.f32", 64 + 100);
  EXPECT_EQ(SpannIndex::open(d).status().code(), StatusCode::kCorrupt);
}

TEST_F(SpannDamage, PostingDamageIsReportedByVerifyAndSearch) {
  std::string d = fresh_copy();
  patch(d + "/postings.dat", 4096 + 20, 0x08);  // inside the first list's extent
  auto ix = SpannIndex::open(d);
  ASSERT_TRUE(ix.has_value()) << ix.status().message();  // lists are checked when read
  EXPECT_EQ((*ix)->verify().code(), StatusCode::kCorrupt);
  SearchOptions o;
  o.k = 2000;  // reads every list
  EXPECT_EQ((*ix)->search(query_, o).status().code(), StatusCode::kCorrupt);

  d = fresh_copy();
  patch(d + "/postings.dat", 3, 0x01);  // header
  EXPECT_EQ(SpannIndex::open(d).status().code(), StatusCode::kCorrupt);

  d = fresh_copy();
  struct stat st;
  ASSERT_EQ(::stat((d + "/postings.dat").c_str(), &st), 0);
  truncate_to(d + "/postings.dat", size_t(st.st_size) - 8192);
  EXPECT_EQ(SpannIndex::open(d).status().code(), StatusCode::kCorrupt);
}

TEST_F(SpannDamage, MissingOrDamagedGraphIsRebuilt) {
  SearchOptions o;
  o.k = 10;
  std::vector<Neighbor> want;
  {
    auto ix = SpannIndex::open(fresh_copy());
    ASSERT_TRUE(ix.has_value());
    want = *(*ix)->search(query_, o);
  }
  std::string d = fresh_copy();
  for (int g = 1; g < 100; ++g) ::unlink((d + "/graph-" + std::to_string(g) + ".bin").c_str());
  auto ix = SpannIndex::open(d);
  ASSERT_TRUE(ix.has_value()) << ix.status().message();
  auto got = (*ix)->search(query_, o);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ((*got)[0].id, want[0].id);
  ASSERT_TRUE((*ix)->flush().is_ok());  // writes a graph again
}

}  // namespace
}  // namespace mnemo::ltm::ann
