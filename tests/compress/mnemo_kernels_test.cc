// Kernels of mnemo's own weight types (kernels/mnemo_types.h), on every compiled SIMD target.
//
// - bipolar_dot: exactly the int64 dot product of the odd integers it encodes, for all 64 (W, A)
//   pairs and lengths that are not multiples of 64; the integers are drawn first and encoded by the
//   test itself, so the check does not rely on the kernel's own decoding.
// - bipolar_gemv and matmul on bipolar weights: against a double sum of d_w * s_x * v_w * v_x.
//   Tolerance: the kernel sums exact per-block integers scaled in f32 (two partial sums), so
//   |y - ref| <= 1e-5 * sum |terms|.
// - group types: the table-lookup GEMV against ref::group_dot_q8 (plain loops) and against a
//   double sum over the decoded weights and the decoded Q8 activations; the integer block sums are
//   exact, the f32 accumulation over n/32 blocks costs at most (n/32 + 8) * 2^-23 * sum |w xq|.
// - prefill (T > kGemvMaxTokens) through kernels::matmul: each token's results bit for bit those of
//   a one-token (decode) call, i.e. Q8 activations as in decode, and against a double sum.
// - dequantize_row (dispatched) bit-identical to ref::mnemo_dequantize_row.
#include <cmath>
#include <cstring>

#include "base/fp16.h"
#include "base/thread_pool.h"
#include "compress/compress_test_util.h"
#include "compress/group_quant.h"
#include "kernels/kernels.h"
#include "kernels/mnemo_formats.h"
#include "kernels/mnemo_types.h"

namespace mnemo::compress_test {
namespace {

class MnemoKernels : public TargetTest {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(MnemoKernels);

std::vector<DType> group_types() {
  std::vector<DType> v;
  for (uint32_t id = 100; id < 124; ++id) v.push_back(static_cast<DType>(id));
  return v;
}

// Encodes odd integers v (|v| <= 2^bits - 1) as group-major bit-planes with zero padding.
std::vector<uint64_t> encode_planes(const std::vector<int>& v, int bits) {
  const int64_t n = static_cast<int64_t>(v.size());
  const int64_t groups = (n + 63) / 64;
  std::vector<uint64_t> p(static_cast<size_t>(groups * bits), 0);
  const int L = (1 << bits) - 1;
  for (int64_t i = 0; i < n; ++i) {
    const int u = (v[static_cast<size_t>(i)] + L) / 2;
    for (int t = 0; t < bits; ++t) {
      p[static_cast<size_t>((i / 64) * bits + t)] |= static_cast<uint64_t>((u >> t) & 1) << (i % 64);
    }
  }
  return p;
}

std::vector<int> random_odd(std::mt19937_64& rng, int64_t n, int bits, int mode) {
  const int L = (1 << bits) - 1;
  std::vector<int> v(static_cast<size_t>(n));
  for (int& x : v) {
    if (mode == 1) {
      x = L;  // all at the top
    } else if (mode == 2) {
      x = -L;
    } else {
      x = 2 * static_cast<int>(rng() % static_cast<uint64_t>(L + 1)) - L;
    }
  }
  return v;
}

TEST_P(MnemoKernels, BipolarDotIsExactForAllPrecisionPairs) {
  MNEMO_COMPRESS_RNG(rng);
  const int64_t lengths[] = {1, 5, 63, 64, 65, 127, 128, 129, 200, 1000, 4109};
  int checked = 0;
  for (int W = 1; W <= 8; ++W) {
    for (int A = 1; A <= 8; ++A) {
      for (int64_t n : lengths) {
        for (int mode = 0; mode < 3; ++mode) {
          const std::vector<int> vw = random_odd(rng, n, W, mode);
          const std::vector<int> vx = random_odd(rng, n, A, mode == 0 ? 0 : 3 - mode);
          int64_t expect = 0;
          for (int64_t i = 0; i < n; ++i) expect += static_cast<int64_t>(vw[static_cast<size_t>(i)]) * vx[static_cast<size_t>(i)];
          const auto pw = encode_planes(vw, W), px = encode_planes(vx, A);
          ASSERT_EQ(kernels::bipolar_dot(pw.data(), W, px.data(), A, n), expect) << "W" << W << " A" << A << " n=" << n;
          ASSERT_EQ(kernels::ref::bipolar_dot(pw.data(), W, px.data(), A, n), expect) << "W" << W << " A" << A << " n=" << n;
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 64 * 11 * 3);
}

// Activation quantization is scalar code (one implementation, no dispatch).
TEST(BipolarActivations, AreNearestOddLevels) {
  MNEMO_COMPRESS_RNG(rng);
  const int64_t n = 256;
  std::vector<float> x = gaussian(rng, n);
  for (int64_t i = 64; i < 128; ++i) x[static_cast<size_t>(i)] = 0.0f;  // an all-zero group
  for (int A = 1; A <= 8; ++A) {
    std::vector<uint8_t> act(kernels::bipolar_act_bytes(n, A));
    kernels::bipolar_quantize_act(x.data(), n, A, act.data());
    const auto* planes = reinterpret_cast<const uint64_t*>(act.data());
    const auto* s = reinterpret_cast<const float*>(planes + (n / 64) * A);
    const int L = (1 << A) - 1;
    for (int64_t i = 0; i < n; ++i) {
      int u = 0;
      for (int t = 0; t < A; ++t) u |= static_cast<int>((planes[(i / 64) * A + t] >> (i % 64)) & 1) << t;
      const float v = static_cast<float>(2 * u - L);
      const float sg = s[i / 64];
      // The nearest odd level: at most one step (2 s) apart, and within s of x inside the range.
      EXPECT_LE(std::fabs(x[static_cast<size_t>(i)] - sg * v), sg * 1.0001f + 1e-30f) << "A" << A << " i=" << i;
    }
    EXPECT_EQ(s[1], 0.0f);
  }
}

TEST_P(MnemoKernels, BipolarGemvMatchesDoubleReference) {
  MNEMO_COMPRESS_RNG(rng);
  const int64_t n = 640, m = 37;
  ThreadPool pool(2);
  for (int W = 1; W <= 8; ++W) {
    const DType type = mformat::bipolar_dtype(W);
    const uint64_t rb = *row_bytes(type, n);
    std::vector<uint8_t> wb(rb * m);
    for (int64_t r = 0; r < m; ++r) {
      const auto row = gaussian(rng, n, 0.05f);
      ASSERT_TRUE(quantize_row_mnemo(type, row.data(), wb.data() + r * rb, n).is_ok());
    }
    TensorView Wv;
    Wv.type = type;
    Wv.n_dims = 2;
    Wv.ne[0] = n;
    Wv.ne[1] = m;
    Wv.data = wb.data();
    const std::vector<float> x = gaussian(rng, n);
    for (int A = 1; A <= 8; ++A) {
      std::vector<uint8_t> act(kernels::bipolar_act_bytes(n, A));
      kernels::bipolar_quantize_act(x.data(), n, A, act.data());
      const auto* xp = reinterpret_cast<const uint64_t*>(act.data());
      const auto* sx = reinterpret_cast<const float*>(xp + (n / 64) * A);
      std::vector<float> y(static_cast<size_t>(m));
      kernels::bipolar_gemv(Wv, act.data(), A, y.data(), 0, m);
      for (int64_t r = 0; r < m; ++r) {
        const uint8_t* row = wb.data() + r * rb;
        double ref = 0.0, mag = 0.0;
        for (int64_t g = 0; g < n / 64; ++g) {
          const uint8_t* blk = row + g * mformat::bipolar_block_bytes(W);
          const double dw = mformat::bipolar_scale(blk, W);
          for (int i = 0; i < 64; ++i) {
            int u = 0;
            for (int t = 0; t < A; ++t) u |= static_cast<int>((xp[g * A + t] >> i) & 1) << t;
            const double term = dw * sx[g] * mformat::bipolar_value(blk, W, i) * (2 * u - ((1 << A) - 1));
            ref += term;
            mag += std::fabs(term);
          }
        }
        EXPECT_NEAR(y[static_cast<size_t>(r)], ref, 1e-5 * mag + 1e-30) << "W" << W << " A" << A << " row " << r;
      }
    }
    // The forward pass's path: matmul with kBipolarModelActBits, decode and prefill.
    for (int64_t T : {int64_t{1}, int64_t{6}}) {
      std::vector<float> X = gaussian(rng, n * T), Y(static_cast<size_t>(m * T));
      std::vector<uint8_t> work(kernels::matmul_work_size(type, n, T, pool.size()));
      kernels::matmul(Wv, X.data(), T, Y.data(), work.data(), work.size(), pool);
      const int A = kernels::kBipolarModelActBits;
      for (int64_t t = 0; t < T; ++t) {
        std::vector<uint8_t> act(kernels::bipolar_act_bytes(n, A));
        kernels::bipolar_quantize_act(X.data() + t * n, n, A, act.data());
        std::vector<float> y(static_cast<size_t>(m));
        kernels::bipolar_gemv(Wv, act.data(), A, y.data(), 0, m);
        for (int64_t r = 0; r < m; ++r) EXPECT_EQ(Y[static_cast<size_t>(t * m + r)], y[static_cast<size_t>(r)]);
      }
    }
  }
}

// Random group blocks: every code (also the padding codes a quantizer never writes), random
// finite f16 scales of either sign, random zero points.
std::vector<uint8_t> random_blocks(std::mt19937_64& rng, DType type, int64_t n) {
  const mformat::GroupType g = *mformat::group_type(type);
  std::vector<uint8_t> b(static_cast<size_t>(n / g.group * g.block_bytes));
  for (auto& c : b) c = static_cast<uint8_t>(rng());
  for (int64_t k = 0; k < n / g.group; ++k) {
    uint8_t* blk = b.data() + k * g.block_bytes;
    const uint16_t h = static_cast<uint16_t>(((rng() & 1) << 15) | ((5 + rng() % 10) << 10) | (rng() & 0x3ff));
    std::memcpy(blk, &h, 2);
    if (g.has_zero) blk[2] = static_cast<uint8_t>(rng() % (1u << g.bits));
  }
  return b;
}

TEST_P(MnemoKernels, GroupGemvMatchesReferences) {
  MNEMO_COMPRESS_RNG(rng);
  const int64_t m = 13;
  for (DType type : group_types()) {
    for (int64_t n : {int64_t{256}, int64_t{1024}}) {
      for (int source = 0; source < 2; ++source) {
        SCOPED_TRACE(std::string(dtype_name(type)) + " n=" + std::to_string(n) + (source ? " random bytes" : " quantized"));
        const uint64_t rb = *row_bytes(type, n);
        std::vector<uint8_t> wb;
        if (source == 0) {
          wb.resize(rb * m);
          for (int64_t r = 0; r < m; ++r) {
            const auto row = gaussian(rng, n, 0.02f);
            ASSERT_TRUE(quantize_row_mnemo(type, row.data(), wb.data() + r * rb, n).is_ok());
          }
        } else {
          wb = random_blocks(rng, type, n * m);
        }
        TensorView Wv;
        Wv.type = type;
        Wv.n_dims = 2;
        Wv.ne[0] = n;
        Wv.ne[1] = m;
        Wv.data = wb.data();
        const auto x = gaussian(rng, n);
        std::vector<uint8_t> xq(kernels::q8_row_bytes(n));
        kernels::quantize_q8(x.data(), n, xq.data(), kernels::ActRounding::kQ8x32);
        const auto* qs = reinterpret_cast<const int8_t*>(xq.data());
        const auto* xd = reinterpret_cast<const float*>(xq.data() + 2 * n);
        std::vector<float> y(static_cast<size_t>(m)), w(static_cast<size_t>(n));
        kernels::group_gemv_q8(Wv, xq.data(), y.data(), 0, m);
        for (int64_t r = 0; r < m; ++r) {
          kernels::ref::mnemo_dequantize_row(type, wb.data() + r * rb, w.data(), n);
          double ref = 0.0, mag = 0.0;
          for (int64_t i = 0; i < n; ++i) {
            const double t = static_cast<double>(w[static_cast<size_t>(i)]) * qs[i] * xd[i / 32];
            ref += t;
            mag += std::fabs(t);
          }
          const double tol = (n / 32 + 8) * std::ldexp(1.0, -23) * mag + 1e-30;
          const float r_loop = kernels::ref::group_dot_q8(type, wb.data() + r * rb, xq.data(), n);
          EXPECT_NEAR(y[static_cast<size_t>(r)], ref, 2 * tol) << "row " << r;
          EXPECT_NEAR(r_loop, ref, 2 * tol) << "row " << r;
        }
      }
    }
  }
}

TEST_P(MnemoKernels, DequantizeAndPrefillThroughTheGenericEntryPoints) {
  MNEMO_COMPRESS_RNG(rng);
  const int64_t n = 256, m = 21;
  ThreadPool pool(3);
  std::vector<DType> types = group_types();
  for (int w = 1; w <= 8; ++w) types.push_back(mformat::bipolar_dtype(w));
  for (DType type : types) {
    SCOPED_TRACE(std::string(dtype_name(type)));
    const uint64_t rb = *row_bytes(type, n);
    std::vector<uint8_t> wb(rb * m);
    for (int64_t r = 0; r < m; ++r) {
      const auto row = gaussian(rng, n, 0.02f);
      ASSERT_TRUE(quantize_row_mnemo(type, row.data(), wb.data() + r * rb, n).is_ok());
    }
    std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
    for (int64_t r = 0; r < m; ++r) {
      kernels::dequantize_row(type, wb.data() + r * rb, a.data(), n);
      kernels::ref::mnemo_dequantize_row(type, wb.data() + r * rb, b.data(), n);
      ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << "row " << r;
    }
    if (mformat::bipolar_bits(type) > 0) continue;  // bipolar prefill quantizes activations (above)
    TensorView Wv;
    Wv.type = type;
    Wv.n_dims = 2;
    Wv.ne[0] = n;
    Wv.ne[1] = m;
    Wv.data = wb.data();
    // Prefill (T > kGemvMaxTokens; 300 is past the former OpenBLAS threshold and spans several
    // blocks of the prefill's Q8 rows) computes what decode computes: every token's results equal,
    // bit for bit, those of a one-token call, which rounds the activations to Q8 rows of 32.
    for (int64_t T : {int64_t{7}, int64_t{300}}) {
      SCOPED_TRACE("T=" + std::to_string(T));
      const auto X = gaussian(rng, n * T);
      std::vector<float> Y(static_cast<size_t>(m * T), 7.0f), Y1(static_cast<size_t>(m));
      std::vector<uint8_t> work(kernels::matmul_work_size(type, n, T, pool.size()));
      kernels::matmul(Wv, X.data(), T, Y.data(), work.data(), work.size(), pool);
      std::vector<uint8_t> work1(kernels::matmul_work_size(type, n, 1, pool.size())), xq(kernels::q8_row_bytes(n));
      const auto* qs = reinterpret_cast<const int8_t*>(xq.data());
      const auto* xd = reinterpret_cast<const float*>(xq.data() + 2 * n);
      for (int64_t t = 0; t < T; ++t) {
        kernels::matmul(Wv, X.data() + t * n, 1, Y1.data(), work1.data(), work1.size(), pool);
        kernels::quantize_q8(X.data() + t * n, n, xq.data(), kernels::ActRounding::kQ8x32);
        for (int64_t r = 0; r < m; ++r) {
          ASSERT_EQ(Y[static_cast<size_t>(t * m + r)], Y1[static_cast<size_t>(r)]) << "token " << t << " row " << r;
          // And against a double sum over the decoded weights and Q8 activations (bound as above).
          kernels::ref::mnemo_dequantize_row(type, wb.data() + r * rb, b.data(), n);
          double ref = 0.0, mag = 0.0;
          for (int64_t i = 0; i < n; ++i) {
            const double v = static_cast<double>(b[static_cast<size_t>(i)]) * qs[i] * xd[i / 32];
            ref += v;
            mag += std::fabs(v);
          }
          EXPECT_NEAR(Y1[static_cast<size_t>(r)], ref, 2 * (n / 32 + 8) * std::ldexp(1.0, -23) * mag + 1e-30);
        }
      }
    }
  }
}

}  // namespace
}  // namespace mnemo::compress_test
