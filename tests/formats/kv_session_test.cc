// KV session files: a round trip restores every byte; a truncated, extended or damaged file, a
// wrong magic or version, and inconsistent headers are refused before any row is read; a save that
// fails leaves the previous file whole.
#include "formats/kv_session.h"

#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

#include "base/file.h"
#include "test_util.h"

namespace mnemo {
namespace {

struct Fixture {
  KvSessionHeader h;
  std::vector<std::vector<uint8_t>> regions;  // [layer * 3 + region]
};

Fixture make(int64_t n_layer, int64_t n_slots, int64_t score_floats, uint32_t seed) {
  Fixture f;
  f.h.model = "sha256:abc";
  f.h.type_k = "q8_0";
  f.h.type_v = "f16";
  f.h.policy = "h2o";
  f.h.budget = 64;
  f.h.n_layer = n_layer;
  f.h.row_bytes_k = 34 * 2;
  f.h.row_bytes_v = 2 * 64;
  f.h.n_slots = n_slots;
  f.h.n_pos = n_slots + 7;
  f.h.score_floats = score_floats;
  std::mt19937 rng(seed);
  for (int64_t i = 0; i < n_slots + 7; ++i) f.h.tokens.push_back(static_cast<int32_t>(rng() % 32000));
  for (int64_t l = 0; l < n_layer; ++l) {
    for (uint64_t bytes : {static_cast<uint64_t>(n_slots * f.h.row_bytes_k), static_cast<uint64_t>(n_slots * f.h.row_bytes_v),
                           static_cast<uint64_t>(score_floats * 4)}) {
      std::vector<uint8_t> r(bytes);
      for (uint8_t& b : r) b = static_cast<uint8_t>(rng());
      f.regions.push_back(std::move(r));
    }
  }
  return f;
}

Status save(const std::string& path, const Fixture& f) {
  return save_kv_session(path, f.h, [&](int64_t l, KvRegion r) {
    const auto& v = f.regions[static_cast<size_t>(l * 3 + static_cast<int>(r))];
    return std::span<const uint8_t>(v.data(), v.size());
  });
}

std::string tmp_path(const char* name) { return (std::filesystem::temp_directory_path() / name).string(); }

TEST(KvSession, RoundTripRestoresEveryByte) {
  const std::string path = tmp_path("mnemo_kv_session_roundtrip.kvs");
  const Fixture f = make(3, 40, 4 * 40, 1);
  ASSERT_TRUE(save(path, f).is_ok());
  auto r = KvSessionReader::open(path);
  ASSERT_TRUE(r.has_value()) << r.status().message();
  const KvSessionHeader& h = r->header();
  EXPECT_EQ(h.model, f.h.model);
  EXPECT_EQ(h.type_k, "q8_0");
  EXPECT_EQ(h.type_v, "f16");
  EXPECT_EQ(h.policy, "h2o");
  EXPECT_EQ(h.budget, 64);
  EXPECT_EQ(h.n_slots, 40);
  EXPECT_EQ(h.n_pos, 47);
  EXPECT_EQ(h.tokens, f.h.tokens);
  for (int64_t l = 0; l < 3; ++l) {
    for (KvRegion reg : {KvRegion::kKeys, KvRegion::kValues, KvRegion::kScores}) {
      const auto& want = f.regions[static_cast<size_t>(l * 3 + static_cast<int>(reg))];
      std::vector<uint8_t> got(want.size());
      ASSERT_TRUE(r->read(l, reg, got).is_ok());
      EXPECT_EQ(got, want) << "layer " << l << " region " << static_cast<int>(reg);
    }
  }
  std::filesystem::remove(path);
}

TEST(KvSession, EmptySequenceRoundTrips) {
  const std::string path = tmp_path("mnemo_kv_session_empty.kvs");
  Fixture f = make(2, 0, 0, 2);
  f.h.tokens.clear();
  f.h.n_pos = 0;
  ASSERT_TRUE(save(path, f).is_ok());
  auto r = KvSessionReader::open(path);
  ASSERT_TRUE(r.has_value()) << r.status().message();
  EXPECT_EQ(r->header().n_slots, 0);
  std::filesystem::remove(path);
}

std::vector<char> slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void spit(const std::string& p, const std::vector<char>& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(b.data(), static_cast<std::streamsize>(b.size()));
}

TEST(KvSession, DamagedFilesAreRefused) {
  const std::string path = tmp_path("mnemo_kv_session_damaged.kvs");
  const std::string bad = tmp_path("mnemo_kv_session_damaged_copy.kvs");
  ASSERT_TRUE(save(path, make(2, 16, 0, 3)).is_ok());
  const std::vector<char> good = slurp(path);
  struct Case {
    const char* what;
    std::vector<char> bytes;
    const char* message;
  };
  std::vector<Case> cases;
  cases.push_back({"truncated", std::vector<char>(good.begin(), good.end() - 100), "expected"});
  cases.push_back({"header only", std::vector<char>(good.begin(), good.begin() + 20), "expected"});
  cases.push_back({"empty", {}, "expected"});
  std::vector<char> extended = good;
  extended.push_back(0);
  cases.push_back({"extended", extended, "expected"});
  std::vector<char> flipped = good;
  flipped[good.size() / 2] ^= 1;
  cases.push_back({"a flipped bit", flipped, "checksum"});
  std::vector<char> magic = good;
  magic[0] = 'X';
  cases.push_back({"magic", magic, "magic"});
  std::vector<char> version = good;
  version[8] = 9;
  cases.push_back({"version", version, "version"});
  std::vector<char> huge = good;
  huge[8 + 4 + 4 + 10] = static_cast<char>(0xff);  // inside the model string's length or bytes
  cases.push_back({"string length", huge, ""});
  for (const Case& c : cases) {
    spit(bad, c.bytes);
    auto r = KvSessionReader::open(bad);
    ASSERT_FALSE(r.has_value()) << c.what;
    EXPECT_NE(r.status().message().find(c.message), std::string::npos) << c.what << ": " << r.status().message();
    EXPECT_NE(r.status().message().find(bad), std::string::npos) << c.what;
  }
  EXPECT_FALSE(KvSessionReader::open(tmp_path("mnemo_kv_session_missing.kvs")).has_value());
  std::filesystem::remove(path);
  std::filesystem::remove(bad);
}

TEST(KvSession, FailedSaveLeavesThePreviousFileWhole) {
  const std::string path = tmp_path("mnemo_kv_session_atomic.kvs");
  const Fixture f = make(2, 8, 0, 4);
  ASSERT_TRUE(save(path, f).is_ok());
  const std::vector<char> before = slurp(path);
  // A source that gives the wrong size fails mid-write.
  Status s = save_kv_session(path, make(2, 12, 0, 5).h, [](int64_t, KvRegion) { return std::span<const uint8_t>(); });
  EXPECT_FALSE(s.is_ok());
  EXPECT_EQ(slurp(path), before);
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::temp_directory_path())) {
    EXPECT_EQ(e.path().string().find(path + ".tmp"), std::string::npos) << e.path();
  }
  KvSessionHeader inconsistent = f.h;
  inconsistent.n_pos = 1;  // below n_slots
  EXPECT_EQ(save(path, Fixture{inconsistent, f.regions}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(slurp(path), before);
  std::filesystem::remove(path);
}

// The fuzz seed was written by an independent writer (a few lines of Python with hashlib): the
// format as documented in the header, not only as save_kv_session writes it.
TEST(KvSession, ReadsTheDocumentedFormat) {
  auto r = KvSessionReader::open(std::string(MNEMO_SOURCE_DIR) + "/fuzz/seeds/kv_session_fuzz/small.kvs");
  ASSERT_TRUE(r.has_value()) << r.status().message();
  EXPECT_EQ(r->header().model, "model");
  EXPECT_EQ(r->header().policy, "h2o");
  EXPECT_EQ(r->header().n_layer, 2);
  EXPECT_EQ(r->header().n_slots, 3);
  EXPECT_EQ(r->header().score_floats, 3);
  EXPECT_EQ(r->header().tokens, (std::vector<int32_t>{1, 2, 3, 4}));
}

}  // namespace
}  // namespace mnemo
