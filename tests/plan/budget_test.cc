// Leases are counted, returned, resized and refused with a message naming the part.
#include "plan/budget.h"

#include "test_util.h"

namespace mnemo {
namespace {

TEST(Budget, LeasesAreCountedAndReturned) {
  auto b = Budget::create(1000);
  {
    auto a = b->acquire("weights", 600);
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(b->used(), 600u);
    auto c = b->acquire("KV cache", 300);
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(b->available(), 100u);
    EXPECT_EQ(b->leases().size(), 2u);
  }
  EXPECT_EQ(b->used(), 0u);
  EXPECT_EQ(b->peak(), 900u);
}

TEST(Budget, RefusalNamesThePartAndTheShortfall) {
  auto b = Budget::create(1 << 20);
  auto w = b->acquire("weights", 900 << 10);
  auto kv = b->acquire("KV cache", 200 << 10);
  ASSERT_FALSE(kv.has_value());
  EXPECT_EQ(kv.status().code(), StatusCode::kResourceExhausted);
  const std::string m = kv.status().message();
  EXPECT_NE(m.find("KV cache needs 200.00 KiB but 124.00 KiB is left (76.00 KiB missing"), std::string::npos) << m;
  EXPECT_NE(m.find("weights 900.00 KiB"), std::string::npos) << m;
}

TEST(Budget, ResizeGrowsWithinTheBudgetOnly) {
  auto b = Budget::create(100);
  auto l = b->acquire("weights", 50);
  ASSERT_TRUE(l.has_value());
  EXPECT_TRUE(l->resize(80).is_ok());
  EXPECT_FALSE(l->resize(101).is_ok());
  EXPECT_EQ(l->bytes(), 80u);
  EXPECT_TRUE(l->resize(10).is_ok());
  EXPECT_EQ(b->used(), 10u);
}

TEST(Budget, NoLimitCountsEverything) {
  auto b = Budget::create(0);
  auto l = b->acquire("weights", uint64_t{1} << 50);
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(b->used(), uint64_t{1} << 50);
}

TEST(ParseMemorySize, Forms) {
  const uint64_t phys = uint64_t{16} << 30;
  EXPECT_EQ(*parse_memory_size("600M", phys), uint64_t{600} << 20);
  EXPECT_EQ(*parse_memory_size("2G", phys), uint64_t{2} << 30);
  EXPECT_EQ(*parse_memory_size("2g", phys), uint64_t{2} << 30);
  EXPECT_EQ(*parse_memory_size("1.5GiB", phys), uint64_t{3} << 29);
  EXPECT_EQ(*parse_memory_size("512k", phys), uint64_t{512} << 10);
  EXPECT_EQ(*parse_memory_size("123456", phys), 123456u);
  EXPECT_EQ(*parse_memory_size("50%", phys), uint64_t{8} << 30);
  for (const char* bad : {"", "M", "-1G", "12X", "1.2.3G", "0", "0%", "101%", "nan", "inf", "1e30"}) {
    auto r = parse_memory_size(bad, phys);
    ASSERT_FALSE(r.has_value()) << bad;
    const std::string message = r.status().message();
    EXPECT_NE(message.find("memory size"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace mnemo
