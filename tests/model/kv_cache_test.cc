// KvCache (vAttention): reservations cost no resident memory, committed pages are what the
// accounting says (read back from /proc/self/smaps), releases return them, the pool limit is a
// clear error, the strict-overcommit path (PROT_NONE + mprotect) behaves the same, and an
// address-space limit is a clear error.
#include "model/kv_cache.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "test_util.h"

namespace mnemo {
namespace {

// Resident bytes (Rss) of the mappings inside [p, p + n), from /proc/self/smaps.
uint64_t resident_in(const void* p, uint64_t n) {
  const uintptr_t lo = reinterpret_cast<uintptr_t>(p), hi = lo + n;
  std::ifstream f("/proc/self/smaps");
  std::string line;
  bool inside = false;
  uint64_t kb = 0;
  while (std::getline(f, line)) {
    uintptr_t a = 0, b = 0;
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR " ", &a, &b) == 2 && line.find(':') > line.find('-')) {
      inside = a >= lo && b <= hi;
      continue;
    }
    unsigned long long v = 0;
    if (inside && std::sscanf(line.c_str(), "Rss: %llu kB", &v) == 1) kb += v;
  }
  return kb * 1024;
}

// The process's resident bytes, from /proc/self/smaps_rollup.
uint64_t process_rss() {
  std::ifstream f("/proc/self/smaps_rollup");
  std::string line;
  while (std::getline(f, line)) {
    unsigned long long v = 0;
    if (std::sscanf(line.c_str(), "Rss: %llu kB", &v) == 1) return v * 1024;
  }
  return 0;
}

KvCacheParams params(int64_t n_layer, int64_t n_ctx, int64_t n_seq, uint64_t row, int64_t ahead = 0) {
  KvCacheParams p;
  p.n_layer = n_layer;
  p.n_ctx = n_ctx;
  p.n_seq_max = n_seq;
  p.k_row_bytes = row;
  p.v_row_bytes = row;
  p.prefault_pages = ahead;
  return p;
}

TEST(KvCache, BytesFor) {
  EXPECT_EQ(KvCache::bytes_for(5, 8, 128, 128), 2ull * 5 * 8 * 128);
  EXPECT_EQ(KvCache::bytes_for(2, 3, 100, 50, 4096), 2ull * (4096 + 4096));
  EXPECT_EQ(KvCache::bytes_for(2, 100, 100, 50, 4096), 2ull * (12288 + 8192));
  EXPECT_EQ(KvCache::bytes_for(2, 0, 100, 50, 4096), 0u);
  EXPECT_EQ(KvCache::bytes_for(1, int64_t{1} << 62, 1024, 1024), 0u);  // overflow
  EXPECT_EQ(kv_row_bytes(KvType::kF32, 256), 1024u);
}

TEST(KvCache, BadParamsAreErrors) {
  EXPECT_FALSE(KvCache::create(params(0, 16, 1, 64)).has_value());
  EXPECT_FALSE(KvCache::create(params(2, 0, 1, 64)).has_value());
  EXPECT_FALSE(KvCache::create(params(2, 16, 0, 64)).has_value());
  auto huge = KvCache::create(params(22, int64_t{1} << 40, 32, 1024));
  ASSERT_FALSE(huge.has_value());
  EXPECT_NE(huge.status().message().find("address space"), std::string::npos) << huge.status().message();
}

// Typed rows: sizes from kv_row_bytes; store_k/store_v write kv_store_row's bytes into the row of
// the slot, layer and position asked (heads [v0, v0 + n) only) and rows(s, l) views that slot's
// planes; types that do not fit the row, or row sizes that are not the type's, are errors.
TEST(KvCache, TypedRowsPerSlotAndLayer) {
  constexpr int64_t kEmbd = 64;  // two heads of 32
  auto kv = KvCache::create(KvCacheParams::typed(3, 40, 2, kEmbd, KvType::kQ8_0, KvType::kF16));
  ASSERT_TRUE(kv.has_value()) << kv.status().message();
  EXPECT_EQ(kv->k_row_bytes(), 2u * 34);
  EXPECT_EQ(kv->v_row_bytes(), 64u * 2);
  EXPECT_EQ(kv->n_embd_kv(), kEmbd);
  ASSERT_TRUE(kv->commit(1, 40).is_ok());
  std::vector<float> x(kEmbd);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  for (float& f : x) f = u(rng);
  std::vector<uint8_t> want_k(kv->k_row_bytes()), want_v(kv->v_row_bytes());
  kernels::kv_store_row(KvType::kQ8_0, x.data(), kEmbd, want_k.data());
  kernels::kv_store_row(KvType::kF16, x.data(), kEmbd, want_v.data());
  kv->store_k(1, 2, 17, 0, 32, x.data());        // head 0
  kv->store_k(1, 2, 17, 32, 32, x.data() + 32);  // head 1
  kv->store_v(1, 2, 17, 0, kEmbd, x.data());
  EXPECT_EQ(std::memcmp(kv->k_row(1, 2, 17), want_k.data(), want_k.size()), 0);
  EXPECT_EQ(std::memcmp(kv->v_row(1, 2, 17), want_v.data(), want_v.size()), 0);
  const kernels::KvRows r = kv->rows(1, 2);
  EXPECT_EQ(r.k, kv->k(1, 2));
  EXPECT_EQ(r.v, kv->v(1, 2));
  EXPECT_EQ(r.k_stride, kv->k_row_bytes());
  EXPECT_EQ(r.v_stride, kv->v_row_bytes());
  EXPECT_EQ(r.type_k, KvType::kQ8_0);
  EXPECT_EQ(r.type_v, KvType::kF16);
  // A slot's reservation is the typed rows, page-rounded per plane.
  EXPECT_EQ(kv->reserved_bytes(),
            2 * KvCache::bytes_for(3, 40, kv_row_bytes(KvType::kQ8_0, kEmbd), kv_row_bytes(KvType::kF16, kEmbd),
                                   KvCache::page_bytes()));

  KvCacheParams odd = params(1, 16, 1, 48 * 4);
  odd.n_embd_kv = 48;  // not whole Q8_0 blocks
  odd.type_k = KvType::kQ8_0;
  EXPECT_EQ(KvCache::create(odd).status().code(), StatusCode::kInvalidArgument);
  KvCacheParams wrong = KvCacheParams::typed(1, 16, 1, kEmbd, KvType::kF16, KvType::kF16);
  wrong.k_row_bytes = kEmbd * 4;  // an F32 row size for an F16 row
  EXPECT_EQ(KvCache::create(wrong).status().code(), StatusCode::kInvalidArgument);
}

// 32 sequences at a tinyllama-sized context reserve 2.75 GiB of address space and no memory.
TEST(KvCache, ReservationCostsNothingUntilTokensArrive) {
  const uint64_t before = process_rss();
  auto kv = KvCache::create(params(22, 2048, 32, 1024));
  ASSERT_TRUE(kv.has_value()) << kv.status().message();
  EXPECT_EQ(kv->reserved_bytes(), 32ull * 22 * 2 * 2048 * 1024);
  EXPECT_EQ(kv->committed_bytes(), 0u);
  EXPECT_EQ(resident_in(kv->base(), kv->reserved_bytes()), 0u);
  EXPECT_LT(process_rss(), before + (1u << 20));  // nothing near the 2.75 GiB reserved
}

// Resident = tokens x bytes per token, within one page per plane (layer's K or V) and sequence,
// both from the accounting and from smaps; rows keep their data through commits and releases.
void check_resident(bool strict) {
  const uint64_t page = KvCache::page_bytes();
  KvCacheParams p = params(4, 512, 8, 96);  // 96-byte rows: pages hold a fractional number of rows
  p.force_strict = strict;
  auto kv = KvCache::create(p);
  ASSERT_TRUE(kv.has_value()) << kv.status().message();
  EXPECT_EQ(kv->strict(), strict);
  const int64_t lens[8] = {1, 7, 42, 43, 100, 300, 511, 512};
  for (int64_t s = 0; s < 8; ++s) {
    ASSERT_TRUE(kv->commit(s, lens[s]).is_ok());
    for (int64_t l = 0; l < 4; ++l) {
      for (int64_t pos = 0; pos < lens[s]; ++pos) {
        std::memset(kv->k_row(s, l, pos), static_cast<int>(s + l + pos), 96);
        std::memset(kv->v_row(s, l, pos), static_cast<int>(s * l + pos), 96);
      }
    }
  }
  uint64_t tokens_bytes = 0, expect = 0;
  for (int64_t s = 0; s < 8; ++s) {
    tokens_bytes += KvCache::bytes_for(4, lens[s], 96, 96);
    expect += KvCache::bytes_for(4, lens[s], 96, 96, page);
    EXPECT_EQ(kv->committed_bytes(s), KvCache::bytes_for(4, lens[s], 96, 96, page));
    EXPECT_GE(kv->committed_positions(s), lens[s]);
  }
  EXPECT_EQ(kv->committed_bytes(), expect);
  EXPECT_EQ(resident_in(kv->base(), kv->reserved_bytes()), expect);
  EXPECT_GE(expect, tokens_bytes);
  EXPECT_LT(expect, tokens_bytes + 8 * 4 * 2 * page);  // < one page per plane and sequence
  // Truncate sequence 6 to 10 positions, close sequence 7: their pages return, other rows stay.
  kv->release_from(6, 10);
  kv->release_from(7, 0);
  expect -= KvCache::bytes_for(4, 511, 96, 96, page) - KvCache::bytes_for(4, 10, 96, 96, page);
  expect -= KvCache::bytes_for(4, 512, 96, 96, page);
  EXPECT_EQ(kv->committed_bytes(), expect);
  EXPECT_EQ(kv->committed_bytes(7), 0u);
  EXPECT_EQ(resident_in(kv->base(), kv->reserved_bytes()), expect);
  for (int64_t s = 0; s < 7; ++s) {
    const int64_t n = s == 6 ? 10 : lens[s];
    for (int64_t pos = 0; pos < n; pos += 5) {
      EXPECT_EQ(kv->k_row(s, 3, pos)[95], static_cast<uint8_t>(s + 3 + pos)) << s << " " << pos;
      EXPECT_EQ(kv->v_row(s, 2, pos)[0], static_cast<uint8_t>(s * 2 + pos)) << s << " " << pos;
    }
  }
  // A sequence's pages come back zeroed when it grows again.
  ASSERT_TRUE(kv->commit(7, 3).is_ok());
  EXPECT_EQ(kv->k_row(7, 0, 2)[0], 0);
}

TEST(KvCache, ResidentFollowsTokens) { check_resident(false); }
TEST(KvCache, ResidentFollowsTokensStrictOvercommit) { check_resident(true); }

// Pages ahead are committed with the positions asked for, and counted.
TEST(KvCache, PrefaultsPagesAhead) {
  const uint64_t page = KvCache::page_bytes();
  auto kv = KvCache::create(params(2, 1024, 1, 256, /*ahead=*/2));
  ASSERT_TRUE(kv.has_value());
  ASSERT_TRUE(kv->commit(0, 1).is_ok());
  EXPECT_EQ(kv->committed_bytes(), 2 * 2 * 3 * page);  // 2 layers x (K, V) x (1 page + 2 ahead)
  EXPECT_EQ(kv->committed_positions(0), static_cast<int64_t>(3 * page / 256));
  EXPECT_EQ(resident_in(kv->base(), kv->reserved_bytes()), kv->committed_bytes());
  const uint64_t c = kv->committed_bytes();
  ASSERT_TRUE(kv->commit(0, kv->committed_positions(0)).is_ok());  // already resident: nothing new
  EXPECT_EQ(kv->committed_bytes(), c);
}

// A commit past the pool is an error naming the pool, and changes nothing; pages ahead are
// dropped before that.
TEST(KvCache, PoolLimitIsAClearError) {
  const uint64_t page = KvCache::page_bytes();
  KvCacheParams p = params(2, 4096, 4, 1024, /*ahead=*/4);
  p.commit_limit = 2 * 2 * 10 * page;  // 10 pages per plane of one sequence
  auto kv = KvCache::create(p);
  ASSERT_TRUE(kv.has_value());
  const int64_t per_page = static_cast<int64_t>(page / 1024);
  ASSERT_TRUE(kv->commit(0, 8 * per_page).is_ok());  // 8 pages + 2 of the 4 ahead
  EXPECT_EQ(kv->committed_bytes(), 2 * 2 * 8 * page);
  Status st = kv->commit(1, 3 * per_page);
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("KV pool"), std::string::npos) << st.message();
  EXPECT_EQ(kv->committed_bytes(), 2 * 2 * 8 * page);
  EXPECT_EQ(kv->committed_bytes(1), 0u);
  ASSERT_TRUE(kv->commit(1, 2 * per_page).is_ok());  // fits exactly, without the pages ahead
  EXPECT_EQ(kv->committed_bytes(), p.commit_limit);
  kv->release_from(0, 0);
  ASSERT_TRUE(kv->commit(1, 3 * per_page).is_ok());
  EXPECT_EQ(resident_in(kv->base(), kv->reserved_bytes()), kv->committed_bytes());
}

// Past the end of the reservation is an error.
TEST(KvCache, PositionsPastTheContextAreAnError) {
  auto kv = KvCache::create(params(1, 16, 1, 64));
  ASSERT_TRUE(kv.has_value());
  EXPECT_EQ(kv->commit(0, 17).code(), StatusCode::kOutOfRange);
  EXPECT_TRUE(kv->commit(0, 16).is_ok());
}

// In the strict path, pages outside the committed ones are not even writable.
TEST(KvCache, StrictPathProtectsUncommittedPages) {
  KvCacheParams p = params(1, 4096, 2, 1024);
  p.force_strict = true;
  auto kv = KvCache::create(p);
  ASSERT_TRUE(kv.has_value());
  ASSERT_TRUE(kv->commit(0, 4).is_ok());
  kv->k_row(0, 0, 3)[0] = 1;
  EXPECT_DEATH({ kv->k_row(0, 0, 4096 / 2)[0] = 1; }, "");
}

// Under an address-space limit the reservation is refused with an error naming it.
TEST(KvCache, AddressSpaceLimitIsAClearError) {
  std::fflush(nullptr);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    rlimit r{};
    getrlimit(RLIMIT_AS, &r);
    r.rlim_cur = uint64_t{4} << 30;  // 4 GiB of address space
    setrlimit(RLIMIT_AS, &r);
    auto kv = KvCache::create(params(22, 2048, 64, 1024));  // 5.5 GiB
    const bool ok = !kv.has_value() && kv.status().code() == StatusCode::kResourceExhausted &&
                    kv.status().message().find("cannot reserve") != std::string::npos;
    if (!ok) std::fprintf(stderr, "%s\n", kv.has_value() ? "reserved" : kv.status().message().c_str());
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// Opening and closing 10,000 sequences of random lengths (rows written) leaves nothing resident
// and the process's RSS where it started.
TEST(KvCache, TenThousandSequencesLeaveRssWhereItStarted) {
  const uint64_t seed = test::test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(static_cast<uint32_t>(seed));
  auto kv = KvCache::create(params(2, 512, 32, 256, /*ahead=*/1));
  ASSERT_TRUE(kv.has_value());
  const uint64_t before = process_rss();
  for (int i = 0; i < 10000; ++i) {
    const int64_t s = i % 32;
    const int64_t n = 1 + static_cast<int64_t>(rng() % 512);
    ASSERT_TRUE(kv->commit(s, n).is_ok());
    for (int64_t l = 0; l < 2; ++l) std::memset(kv->v_row(s, l, n - 1), 1, 256);
    if (i % 3 == 0) kv->release_from(s, n / 2);  // some shrink first
    if (i % 32 == 31 || i % 5 == 0) kv->release_from(s, 0);
    if (i % 32 == 31) {
      for (int64_t q = 0; q < 32; ++q) kv->release_from(q, 0);
    }
  }
  for (int64_t q = 0; q < 32; ++q) kv->release_from(q, 0);
  EXPECT_EQ(kv->committed_bytes(), 0u);
  EXPECT_EQ(resident_in(kv->base(), kv->reserved_bytes()), 0u);
  EXPECT_LT(process_rss(), before + (1u << 20));
}

}  // namespace
}  // namespace mnemo
