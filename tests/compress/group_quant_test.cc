// Quantizers of mnemo's own types (compress/group_quant.h) and ggml's block quantizers against
// ggml's own outputs (tests/data/quant/ggml_rows.bin, see tests/data/README.md).
//
// - Every group type rounds every weight to a nearest level under the header it stores.
// - bitmod picks, per group, the variant of least squared error among the paper's four grids
//   (FP4_ER_POS ... of BitMoD's quant_weight.py, written out here independently of the kernels'
//   tables), and is never worse than fp4 on the same group beyond its 9-bit scale rounding.
// - Bipolar blocks hold odd levels in range, with no more error than the plain absmax scale.
// - Q8_0, Q4_0, Q5_0, Q4_K, Q6_K rows are byte-identical to ggml_quantize_chunk's.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "base/fp16.h"
#include "compress/compress_test_util.h"
#include "compress/ggml_quantize.h"
#include "compress/group_quant.h"
#include "kernels/kernels.h"
#include "kernels/mnemo_formats.h"

namespace mnemo::compress_test {
namespace {

// Rows that exercise the quantizers: Gaussian, heavy-tailed, zeros, constant, one-signed, tiny.
std::vector<float> test_row(std::mt19937_64& rng, int64_t n, int kind) {
  std::vector<float> x = gaussian(rng, n, 0.02f);
  switch (kind % 6) {
    case 1:
      for (size_t i = 0; i < x.size(); i += 17) x[i] *= 25.0f;
      break;
    case 2:
      std::fill(x.begin(), x.begin() + std::min<int64_t>(n, 64), 0.0f);
      break;
    case 3:
      std::fill(x.begin() + n / 2, x.end(), -0.375f);
      break;
    case 4:
      for (float& v : x) v = std::fabs(v) + 0.01f;
      break;
    case 5:
      for (float& v : x) v *= 1e-4f;
      break;
    default:
      break;
  }
  return x;
}

TEST(GroupQuant, CodePackingRoundTrips) {
  MNEMO_COMPRESS_RNG(rng);
  for (int bits : {3, 4}) {
    for (int rep = 0; rep < 100; ++rep) {
      uint8_t c[32], back[32], packed[16];
      for (uint8_t& v : c) v = static_cast<uint8_t>(rng() % (1u << bits));
      mformat::pack_chunk(bits, c, packed);
      mformat::unpack_chunk(bits, packed, back);
      ASSERT_EQ(std::memcmp(c, back, 32), 0) << bits;
    }
  }
}

TEST(GroupQuant, EveryWeightTakesANearestLevel) {
  MNEMO_COMPRESS_RNG(rng);
  for (uint32_t id = 100; id < 124; ++id) {
    const DType type = static_cast<DType>(id);
    const mformat::GroupType g = *mformat::group_type(type);
    SCOPED_TRACE(std::string(dtype_name(type)));
    const int n_codes = 1 << g.bits;
    std::vector<uint8_t> block(static_cast<size_t>(g.block_bytes));
    std::vector<float> dec(static_cast<size_t>(g.group));
    for (int kind = 0; kind < 12; ++kind) {
      const std::vector<float> x = test_row(rng, g.group, kind);
      const double sse = quantize_group(g, x.data(), block.data());
      mformat::decode_group(g, block.data(), dec.data());
      const mformat::Header h = mformat::read_header(g, block.data());
      double sse_check = 0.0;
      for (int i = 0; i < g.group; ++i) {
        double best = INFINITY;
        for (int c = 0; c < n_codes; ++c) {
          best = std::min(best, std::fabs(static_cast<double>(x[i]) - (h.d * h.levels[c] + h.m)));
        }
        const double err = std::fabs(static_cast<double>(x[i]) - dec[i]);
        ASSERT_LE(err, best + 1e-6 * std::fabs(x[i]) + 1e-12) << "kind " << kind << " element " << i;
        sse_check += err * err;
      }
      EXPECT_NEAR(sse, sse_check, 1e-9 * sse_check + 1e-20);
    }
  }
}

// The paper's grids (BitMoD quant_weight.py), as value lists.
const std::vector<double>& paper_grid(int bits, int variant) {
  static const std::vector<double> k4[4] = {
      {-12, -8, -6, -4, -3, -2, -1, 0, 1, 2, 3, 4, 6, 8, 10, 12},   // FP4_ER_POS
      {-12, -10, -8, -6, -4, -3, -2, -1, 0, 1, 2, 3, 4, 6, 8, 12},  // FP4_ER_NEG
      {-12, -8, -6, -4, -3, -2, -1, 0, 1, 2, 3, 4, 6, 8, 12, 16},   // FP4_EA_POS
      {-16, -12, -8, -6, -4, -3, -2, -1, 0, 1, 2, 3, 4, 6, 8, 12},  // FP4_EA_NEG
  };
  static const std::vector<double> k3[4] = {
      {-4, -2, -1, 0, 1, 2, 3, 4},  // FP3_ER_POS
      {-4, -3, -2, -1, 0, 1, 2, 4},  // FP3_ER_NEG
      {-4, -2, -1, 0, 1, 2, 4, 6},  // FP3_EA_POS
      {-6, -4, -2, -1, 0, 1, 2, 4},  // FP3_EA_NEG
  };
  return bits == 4 ? k4[variant] : k3[variant];
}

double grid_sse(const std::vector<float>& x, const std::vector<double>& grid, double scale) {
  double sse = 0.0;
  for (float v : x) {
    double best = INFINITY;
    for (double l : grid) best = std::min(best, std::fabs(v - scale * l));
    sse += best * best;
  }
  return sse;
}

TEST(GroupQuant, BitmodPicksTheVariantOfLeastError) {
  MNEMO_COMPRESS_RNG(rng);
  int used[4] = {0, 0, 0, 0};
  for (int bits : {4, 3}) {
    for (int group : {32, 64, 128}) {
      const mformat::Method m = bits == 4 ? mformat::Method::kBitmod4 : mformat::Method::kBitmod3;
      const mformat::Method fp = bits == 4 ? mformat::Method::kFp4 : mformat::Method::kFp3;
      const mformat::GroupType g = *mformat::group_type(mformat::group_dtype(m, group));
      const mformat::GroupType gf = *mformat::group_type(mformat::group_dtype(fp, group));
      std::vector<uint8_t> block(static_cast<size_t>(g.block_bytes)), fblock(static_cast<size_t>(gf.block_bytes));
      double total = 0.0, total_fp = 0.0;
      for (int rep = 0; rep < 200; ++rep) {
        std::vector<float> x = test_row(rng, group, rep % 2 == 0 ? 0 : rep % 6);
        if (rep % 3 == 1) {
          for (float& v : x) v = v > 0 ? v * 1.7f : v;  // skewed groups favour the asymmetric variants
        }
        const double sse = quantize_group(g, x.data(), block.data());
        const double sse_fp = quantize_group(gf, x.data(), fblock.data());
        double amax = 0.0;
        for (float v : x) amax = std::max(amax, static_cast<double>(std::fabs(v)));
        double best = INFINITY;
        double per_variant[4];
        for (int v = 0; v < 4; ++v) {
          const double top = bits == 4 ? (v >= 2 ? 16 : 12) : (v >= 2 ? 6 : 4);
          const double scale = fp16_to_f32(bitmod_scale_bits(static_cast<float>(amax / top)));
          per_variant[v] = grid_sse(x, paper_grid(bits, v), scale);
          best = std::min(best, per_variant[v]);
        }
        const int chosen = static_cast<int>(bitmod_variant(block.data()));
        ++used[chosen];
        ASSERT_NEAR(sse, best, 1e-6 * best + 1e-18) << "bits " << bits << " group " << group << " rep " << rep;
        ASSERT_NEAR(per_variant[chosen], best, 1e-6 * best + 1e-18);
        // Never worse than the plain fp grid beyond the scale's 9-bit rounding (for scales in f16's
        // normal range; a subnormal scale has fewer bits, and dropping one costs more).
        if (amax / 16 >= std::ldexp(1.0, -14)) {
          ASSERT_LE(sse, sse_fp * 1.01 + 1e-18);
        }
        total += sse;
        total_fp += sse_fp;
      }
      EXPECT_LT(total, total_fp) << "bits " << bits << " group " << group;
    }
  }
  for (int v = 0; v < 4; ++v) EXPECT_GT(used[v], 0) << "variant " << v << " never chosen";
}

TEST(GroupQuant, BitmodScaleKeepsNineMantissaBits) {
  for (float d : {0.001f, 0.0123f, 1.0f, 3.14159f, 6.1e-5f, 1e-7f, 60000.0f}) {
    const uint16_t h = bitmod_scale_bits(d);
    EXPECT_EQ(h & 1, 0) << d;
    EXPECT_LE(std::fabs(fp16_to_f32(h) - d), std::ldexp(std::fabs(d), -9) + 1e-7f) << d;
  }
}

TEST(GroupQuant, BipolarBlocksHoldOddLevels) {
  MNEMO_COMPRESS_RNG(rng);
  for (int w = 1; w <= 8; ++w) {
    const int L = (1 << w) - 1;
    std::vector<uint8_t> block(static_cast<size_t>(mformat::bipolar_block_bytes(w)));
    for (int kind = 0; kind < 12; ++kind) {
      const std::vector<float> x = test_row(rng, 64, kind);
      const double sse = quantize_bipolar_block(w, x.data(), block.data());
      const float d = mformat::bipolar_scale(block.data(), w);
      double amax = 0.0, check = 0.0, plain = 0.0;
      for (float v : x) amax = std::max(amax, static_cast<double>(std::fabs(v)));
      const double d0 = fp16_to_f32(f32_to_fp16(static_cast<float>(amax / L)));
      for (int i = 0; i < 64; ++i) {
        const int v = mformat::bipolar_value(block.data(), w, i);
        ASSERT_TRUE(v % 2 != 0 && v >= -L && v <= L) << v;
        const double e = x[static_cast<size_t>(i)] - static_cast<double>(d) * v;
        check += e * e;
        // The nearest odd level under the plain absmax scale.
        double best = INFINITY;
        for (int u = -L; u <= L; u += 2) best = std::min(best, std::fabs(x[static_cast<size_t>(i)] - d0 * u));
        plain += best * best;
      }
      EXPECT_NEAR(sse, check, 1e-9 * check + 1e-20);
      if (amax > 0) {
        EXPECT_LE(sse, plain * (1 + 1e-9) + 1e-20) << "W" << w << " kind " << kind;
      }
    }
  }
}

TEST(GgmlQuantize, RowsMatchGgml) {
  const std::string path = test::golden_path("quant/ggml_rows.bin");
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in.good()) << path;
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t off = 0;
  auto u32 = [&] {
    uint32_t v;
    std::memcpy(&v, bytes.data() + off, 4);
    off += 4;
    return v;
  };
  ASSERT_EQ(u32(), 0x54514e4du);
  ASSERT_EQ(u32(), 1u);
  const uint32_t n_types = u32();
  ASSERT_EQ(n_types, 5u);
  for (uint32_t t = 0; t < n_types; ++t) {
    const DType type = static_cast<DType>(u32());
    const uint32_t rows = u32(), n = u32(), rb = u32();
    SCOPED_TRACE(std::string(dtype_name(type)));
    ASSERT_EQ(*row_bytes(type, n), rb);
    const float* x = reinterpret_cast<const float*>(bytes.data() + off);
    off += static_cast<size_t>(rows) * n * 4;
    const uint8_t* expect = reinterpret_cast<const uint8_t*>(bytes.data() + off);
    off += static_cast<size_t>(rows) * rb;
    std::vector<uint8_t> got(rb);
    for (uint32_t r = 0; r < rows; ++r) {
      ASSERT_TRUE(quantize_row(type, x + static_cast<size_t>(r) * n, got.data(), n).is_ok());
      EXPECT_EQ(std::memcmp(got.data(), expect + static_cast<size_t>(r) * rb, rb), 0) << "row " << r;
    }
  }
  EXPECT_EQ(off, bytes.size());
}

}  // namespace
}  // namespace mnemo::compress_test
