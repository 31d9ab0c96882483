// Dequantization: every dispatched target against dequantize_row_ref, on random blocks and edge
// blocks. Tolerance: at most 1 ulp per element (NaN matches NaN); the implementation is in fact
// bit-identical (it keeps the reference's roundings), and the test prints the largest distance.
#include <cstdio>

#include "kernels/kernels.h"
#include "kernels/kernels_test_util.h"
#include "kernels/reference.h"

namespace mnemo::kernels::test {
namespace {

class DequantTest : public KernelTest {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(DequantTest);

constexpr uint64_t kMaxUlp = 1;

// Compares the dispatched dequantize_row with the reference on one row; returns the max ulp.
uint64_t check_row(DType type, const std::vector<uint8_t>& bytes, int64_t n, const char* what) {
  std::vector<float> ref(static_cast<size_t>(n)), got(static_cast<size_t>(n), -12345.0f);
  dequantize_row_ref(type, bytes.data(), ref.data(), n);
  dequantize_row(type, bytes.data(), got.data(), n);
  uint64_t worst = 0;
  int reported = 0;
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t u = ulp_distance(got[i], ref[i]);
    worst = std::max(worst, u);
    if (u > kMaxUlp && reported++ < 5) {
      ADD_FAILURE() << dtype_name(type) << " " << what << " n=" << n << " element " << i
                    << ": got " << got[i] << " want " << ref[i] << " (" << u << " ulp)";
    }
  }
  return worst;
}

TEST_P(DequantTest, DispatchFollowsTarget) {
  EXPECT_STREQ(active_target(), hwy::TargetName(GetParam()));
}

TEST_P(DequantTest, RandomBlocksMatchReference) {
  MNEMO_SEEDED_RNG(rng);
  for (DType type : supported_types()) {
    const int64_t be = traits(type).block_elems;
    uint64_t worst = 0;
    for (int64_t blocks : {1, 2, 7, 32}) {
      const int64_t n = be == 1 ? blocks * 37 : blocks * be;
      for (int rep = 0; rep < 4; ++rep) {
        const ScaleKind kind = rep == 0 ? ScaleKind::kNormal : ScaleKind::kMixed;
        worst = std::max(worst, check_row(type, random_row_bytes(rng, type, n, kind), n, "random"));
      }
    }
    std::printf("[ info     ] %s %s: max %llu ulp\n", hwy::TargetName(GetParam()),
                std::string(dtype_name(type)).c_str(), static_cast<unsigned long long>(worst));
  }
}

// Blocks whose scales are all zero, all infinite, or all subnormal; all-zero and all-ones quant
// bytes.
TEST_P(DequantTest, EdgeBlocksMatchReference) {
  MNEMO_SEEDED_RNG(rng);
  for (const auto& q : quant_layouts()) {
    const int64_t n = 2 * traits(q.type).block_elems;
    for (ScaleKind kind : {ScaleKind::kZero, ScaleKind::kInf, ScaleKind::kSubnormal, ScaleKind::kSmall}) {
      check_row(q.type, random_row_bytes(rng, q.type, n, kind), n, "edge scales");
    }
    for (uint8_t fill : {uint8_t{0x00}, uint8_t{0xff}}) {
      auto bytes = random_row_bytes(rng, q.type, n, ScaleKind::kNormal);
      const DTypeTraits& t = traits(q.type);
      for (size_t b = 0; b < bytes.size(); b += t.block_bytes) {
        for (size_t i = 0; i < t.block_bytes; ++i) {
          const bool is_scale = static_cast<int>(i) == q.scale_offsets[0] ||
                                static_cast<int>(i) == q.scale_offsets[0] + 1 ||
                                static_cast<int>(i) == q.scale_offsets[1] ||
                                static_cast<int>(i) == q.scale_offsets[1] + 1;
          if (!is_scale) bytes[b + i] = fill;
        }
      }
      check_row(q.type, bytes, n, fill ? "all-ones quants" : "all-zero quants");
    }
  }
}

// Plain types at odd lengths (vector bodies plus scalar tails), with zeros, subnormals and
// infinities; F16 and BF16 over every bit pattern.
TEST_P(DequantTest, PlainTypesOddLengthsAndAllHalves) {
  MNEMO_SEEDED_RNG(rng);
  for (DType type : {DType::F32, DType::F16, DType::BF16}) {
    for (int64_t n : {1, 3, 7, 15, 17, 33, 1001}) {
      check_row(type, random_row_bytes(rng, type, n, ScaleKind::kMixed), n, "odd length");
    }
  }
  std::vector<uint8_t> all(65536 * 2);
  for (uint32_t i = 0; i < 65536; ++i) std::memcpy(all.data() + 2 * i, &i, 2);
  EXPECT_EQ(check_row(DType::F16, all, 65536, "all halves"), 0u);
  EXPECT_EQ(check_row(DType::BF16, all, 65536, "all bfloat16"), 0u);
}

// The reference itself on hand-computed values, so that it cannot drift silently.
TEST(DequantRef, HandComputedBlocks) {
  BlockQ4_0 q4{};
  q4.d = f32_to_fp16(0.5f);
  q4.qs[0] = 0x9F;  // element 0: 15 - 8 = 7, element 16: 9 - 8 = 1
  float y[32];
  dequantize_row_ref(DType::Q4_0, &q4, y, 32);
  EXPECT_EQ(y[0], 3.5f);
  EXPECT_EQ(y[16], 0.5f);
  EXPECT_EQ(y[1], -4.0f);

  BlockQ5_0 q5{};
  q5.d = f32_to_fp16(1.0f);
  q5.qh[2] = 0x01;  // bit 16: fifth bit of element 16
  dequantize_row_ref(DType::Q5_0, &q5, y, 32);
  EXPECT_EQ(y[0], -16.0f);
  EXPECT_EQ(y[16], 0.0f);

  BlockQ8_0 q8{};
  q8.d = f32_to_fp16(0.25f);
  q8.qs[31] = -128;
  dequantize_row_ref(DType::Q8_0, &q8, y, 32);
  EXPECT_EQ(y[31], -32.0f);
}

}  // namespace
}  // namespace mnemo::kernels::test
