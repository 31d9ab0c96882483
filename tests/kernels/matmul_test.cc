// matmul and get_row: every dispatched target against the scalar references, for the decode
// (GEMV, T <= kGemvMaxTokens) and prefill (GEMM) kernels, and bit-identical results at 1, 2 and 3
// threads.
//
// Tolerances, per output element y (sums over i in [0, n)):
// - f32 activations (F32, F16, BF16, and every type in the GEMM): w is dequantized exactly, so only
//   the f32 summation differs from the double reference. One accumulator of N lanes per element
//   (N = 8 on AVX2, 4 on SSE4/SSSE3, 1 on SCALAR, 16 on AVX3) sums n/N terms per lane, then the
//   lanes are reduced:   |y - ref| <= (n/N + 64) * 2^-24 * sum_i |w_i x_i|.
// - Q8 activations (Q8_0, Q4_0, Q4_K, Q6_K at T <= kGemvMaxTokens), against matmul_q8_ref (the same
//   quantized activations, exact block sums, double accumulation): per block one scale product and
//   one FMA in f32, n/32/N blocks per lane:   |y - ref| <= (n/32 + 64) * 2^-23 * M, where M is
//   sum_i |w_i xq_i| (Q4_K: the scale and minimum parts |d sc q| + |dmin m| of w_i, which the kernel
//   sums separately).
// - Q8 activations against the f32 reference (what quantizing the activations costs): each x_i is
//   off by at most d_b / 2, so |y - ref_f32| <= sum_i |w_i| d_b / 2 (+ the bound above).
// - Edge blocks (zero, infinite, subnormal scales): y is non-finite exactly where the reference is.
#include <cstdio>
#include <cstring>

#include "base/thread_pool.h"
#include "kernels/blas.h"
#include "kernels/kernels.h"
#include "kernels/kernels_test_util.h"
#include "kernels/reference.h"

namespace mnemo::kernels::test {
namespace {

class MatmulTest : public KernelTest {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(MatmulTest);

// f32 lanes of the target's vectors.
double f32_lanes(int64_t target) {
  if (target == HWY_SCALAR || target == HWY_EMU128) return 1;
  if (target == HWY_SSSE3 || target == HWY_SSE4) return 4;
  if (target == HWY_AVX2) return 8;
  return 16;
}

TensorView make_view(DType type, int64_t n, int64_t m, const std::vector<uint8_t>& bytes) {
  TensorView v;
  v.type = type;
  v.n_dims = 2;
  v.ne[0] = n;
  v.ne[1] = m;
  v.data = bytes.data();
  return v;
}

std::vector<uint8_t> random_matrix(std::mt19937_64& rng, DType type, int64_t n, int64_t m,
                                   ScaleKind kind = ScaleKind::kNormal) {
  std::vector<uint8_t> all;
  for (int64_t r = 0; r < m; ++r) {
    const auto row = random_row_bytes(rng, type, n, kind);
    all.insert(all.end(), row.begin(), row.end());
  }
  return all;
}

std::vector<float> run_matmul(const TensorView& W, const std::vector<float>& X, int64_t T, ThreadPool& pool) {
  const int64_t m = W.ne[1];
  std::vector<float> Y(static_cast<size_t>(T * m), NAN);
  std::vector<uint8_t> work(matmul_work_size(W.type, W.ne[0], T, pool.size()));
  matmul(W, X.data(), T, Y.data(), work.data(), work.size(), pool);
  return Y;
}

// Per element i of row r: (|w_i| or, for Q4_K, |d sc q_i| + |dmin m|).
std::vector<double> weight_magnitudes(const TensorView& W, int64_t r) {
  const int64_t n = W.ne[0];
  std::vector<float> w(static_cast<size_t>(n));
  dequantize_row_ref(W.type, W.row(r), w.data(), n);
  std::vector<double> mag(w.begin(), w.end());
  for (auto& v : mag) v = std::fabs(v);
  if (W.type == DType::Q4_K) {
    const auto* b = reinterpret_cast<const BlockQ4_K*>(W.row(r));
    for (int64_t sb = 0; sb < n / 256; ++sb) {
      const uint8_t* q = b[sb].scales;
      for (int j = 0; j < 8; ++j) {
        const int sc = j < 4 ? q[j] & 63 : (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        const int mn = j < 4 ? q[j + 4] & 63 : (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        const double d = std::fabs(fp16_to_f32(b[sb].d)) * sc;
        const double dm = std::fabs(fp16_to_f32(b[sb].dmin)) * mn;
        for (int l = 0; l < 32; ++l) {
          const int g = j / 2, k = j % 2;
          const int qv = (b[sb].qs[32 * g + l] >> (4 * k)) & 0xF;
          mag[static_cast<size_t>(sb * 256 + 32 * j + l)] = d * qv + dm;
        }
      }
    }
  }
  return mag;
}

// Checks Y = W X (T tokens) against the reference that matches the path matmul takes.
void check_against_ref(const TensorView& W, const std::vector<float>& X, int64_t T, const std::vector<float>& Y,
                       int64_t target) {
  const int64_t n = W.ne[0], m = W.ne[1];
  const bool q8 = matmul_uses_q8(W.type, T);
  const char* what = hwy::TargetName(target);
  std::vector<float> ref(static_cast<size_t>(T * m)), ref_f32(static_cast<size_t>(T * m));
  // matmul rounds the activations as llama.cpp does for W's type (kernels.h), then multiplies.
  const ActRounding rounding = activation_rounding(W.type);
  std::vector<float> Xr(X.size());
  for (int64_t t = 0; t < T; ++t) round_activations_ref(rounding, X.data() + t * n, n, Xr.data() + t * n);
  matmul_ref(W, Xr.data(), T, ref_f32.data());
  std::vector<uint8_t> xq;
  if (q8) {
    const size_t rb = q8_row_bytes(n);
    xq.resize(static_cast<size_t>(T) * rb);
    for (int64_t t = 0; t < T; ++t) quantize_q8_ref(X.data() + t * n, n, xq.data() + t * rb, rounding);
    matmul_q8_ref(W, xq.data(), T, ref.data());
  } else {
    ref = ref_f32;
  }
  int reported = 0;
  double worst_rel = 0.0;
  for (int64_t r = 0; r < m; ++r) {
    const std::vector<double> wmag = weight_magnitudes(W, r);
    for (int64_t t = 0; t < T; ++t) {
      const float got = Y[t * m + r], want = ref[t * m + r];
      if (!std::isfinite(want) || !std::isfinite(got)) {
        // Non-finite exactly where the reference is (an infinity may become NaN through a 0 product).
        const bool ok = !std::isfinite(want) && !std::isfinite(got) && (std::isnan(want) || std::isnan(got) || got == want);
        if (!ok && reported++ < 5) {
          ADD_FAILURE() << what << " " << dtype_name(W.type) << " y[" << t << "," << r << "] = " << got
                        << ", reference " << want;
        }
        continue;
      }
      double mag = 0.0, qerr = 0.0;
      const float* x = X.data() + t * n;
      const float* dq = q8 ? reinterpret_cast<const float*>(xq.data() + t * q8_row_bytes(n) + 2 * n) : nullptr;
      const int8_t* qs = q8 ? reinterpret_cast<const int8_t*>(xq.data() + t * q8_row_bytes(n)) : nullptr;
      for (int64_t i = 0; i < n; ++i) {
        const double xv = q8 ? static_cast<double>(dq[i / 32]) * qs[i] : x[i];
        mag += wmag[static_cast<size_t>(i)] * std::fabs(xv);
        // Rounding error of x_i; a block too small to scale is zeroed, an error of |x_i|.
        if (q8) qerr += wmag[static_cast<size_t>(i)] * (dq[i / 32] > 0 ? dq[i / 32] / 2 : std::fabs(x[i]));
      }
      const double tol = q8 ? (static_cast<double>(n) / 32 + 64) * 0x1p-23 * mag
                            : (static_cast<double>(n) / f32_lanes(target) + 64) * 0x1p-24 * mag;
      const double err = std::fabs(static_cast<double>(got) - want);
      if (mag > 0) worst_rel = std::max(worst_rel, err / mag);
      if (!(err <= tol) && reported++ < 5) {
        ADD_FAILURE() << what << " " << dtype_name(W.type) << " n=" << n << " T=" << T << " y[" << t << "," << r
                      << "] = " << got << ", reference " << want << ", tolerance " << tol;
      }
      if (q8) {
        const double err32 = std::fabs(static_cast<double>(got) - ref_f32[t * m + r]);
        if (!(err32 <= qerr + tol + 1e-30) && reported++ < 5) {
          ADD_FAILURE() << what << " " << dtype_name(W.type) << " y[" << t << "," << r << "] = " << got
                        << " is further than the activation rounding " << qerr << " from the f32 reference "
                        << ref_f32[t * m + r];
        }
      }
    }
  }
  std::printf("[ info     ] %s %s n=%lld T=%lld%s: max |err| / magnitude = %.3g\n", what,
              std::string(dtype_name(W.type)).c_str(), static_cast<long long>(n), static_cast<long long>(T),
              q8 ? " (q8 activations)" : "", worst_rel);
}

TEST_P(MatmulTest, AllTypesMatchReference) {
  MNEMO_SEEDED_RNG(rng);
  ThreadPool pool(2);
  for (DType type : supported_types()) {
    const int64_t be = traits(type).block_elems;
    // n: one short row, and one longer than a dequantization chunk (2048) with a partial chunk.
    for (int64_t n : {be == 1 ? int64_t{75} : 2 * be, int64_t{2304}}) {
      // T: decode (GEMV) sizes and prefill (GEMM) sizes, including partial register tiles.
      for (int64_t T : {int64_t{1}, int64_t{3}, kGemvMaxTokens, kGemvMaxTokens + 1, int64_t{8}}) {
        const int64_t m = 37;
        const auto bytes = random_matrix(rng, type, n, m);
        const TensorView W = make_view(type, n, m, bytes);
        const auto X = random_floats(rng, T * n);
        check_against_ref(W, X, T, run_matmul(W, X, T, pool), GetParam());
      }
    }
  }
}

// T tokens through matmul_rows in the GEMV regime (MatmulArgs::gemv), inputs prepared as matmul()
// prepares one token's.
std::vector<float> run_gemv_tile(const TensorView& W, const std::vector<float>& X, int64_t T) {
  const int64_t n = W.ne[0], m = W.ne[1];
  auto align = [](std::vector<uint8_t>& v) { return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(v.data()) + 63) / 64 * 64); };
  MatmulArgs a;
  a.T = T;
  a.x = X.data();
  a.ldx = n;
  a.gemv = true;
  std::vector<uint8_t> xq;
  std::vector<float> xr;
  const ActRounding r = activation_rounding(W.type);
  if (matmul_uses_q8(W.type, 1)) {
    a.ldq = static_cast<int64_t>(q8_row_bytes(n));
    xq.resize(static_cast<size_t>(T * a.ldq) + 64);
    const bool int8 = r == ActRounding::kQ8x32 || r == ActRounding::kQ8x256;
    for (int64_t t = 0; t < T; ++t) quantize_q8(X.data() + t * n, n, align(xq) + t * a.ldq, int8 ? r : ActRounding::kQ8x32);
    a.xq = align(xq);
  } else if (r != ActRounding::kF32) {
    xr.resize(X.size());
    round_activations(r, X.data(), T * n, xr.data());
    a.x = xr.data();
  }
  std::vector<float> Y(static_cast<size_t>(T * m), NAN);
  a.y = Y.data();
  a.ldy = m;
  std::vector<uint8_t> work(matmul_thread_work_size(W.type, n, T) + 64);
  matmul_rows(W, a, 0, m, align(work));
  return Y;
}

// A GEMV token's result does not depend on the other tokens of the call (the batched forward relies
// on it, model/batch.h): T tokens at once equal, bit for bit, T calls of one token, for every type,
// up to kGemvMaxTokens through matmul() and up to kGemvTileTokens through matmul_rows with
// MatmulArgs::gemv (Q4_0 takes the multi-token tile that shares each block's unpacking).
TEST_P(MatmulTest, GemvTokensIndependentOfEachOther) {
  MNEMO_SEEDED_RNG(rng);
  ThreadPool pool(2);
  for (DType type : supported_types()) {
    const int64_t n = std::max<int64_t>(2 * traits(type).block_elems, 512);
    const int64_t m = 37;
    const auto bytes = random_matrix(rng, type, n, m);
    const TensorView W = make_view(type, n, m, bytes);
    for (int64_t T = 2; T <= kGemvTileTokens; ++T) {
      const auto X = random_floats(rng, T * n);
      const std::vector<float> all = T <= kGemvMaxTokens ? run_matmul(W, X, T, pool) : run_gemv_tile(W, X, T);
      for (int64_t t = 0; t < T; ++t) {
        const std::vector<float> x1(X.begin() + t * n, X.begin() + (t + 1) * n);
        const std::vector<float> one = run_matmul(W, x1, 1, pool);
        EXPECT_EQ(std::memcmp(one.data(), all.data() + t * m, static_cast<size_t>(m) * sizeof(float)), 0)
            << dtype_name(type) << " T " << T << " token " << t;
      }
    }
  }
}

// Plain types at odd lengths: vector tails in the GEMV and in every GEMM tile shape.
TEST_P(MatmulTest, OddLengths) {
  MNEMO_SEEDED_RNG(rng);
  ThreadPool pool(2);
  for (DType type : {DType::F32, DType::F16, DType::BF16}) {
    for (int64_t n : {1, 3, 9, 31, 1001}) {
      for (int64_t T : {1, 2, 7}) {
        const int64_t m = 13;
        const auto bytes = random_matrix(rng, type, n, m);
        const TensorView W = make_view(type, n, m, bytes);
        const auto X = random_floats(rng, T * n);
        check_against_ref(W, X, T, run_matmul(W, X, T, pool), GetParam());
      }
    }
  }
}

// Blocks with zero, infinite, subnormal and mixed scales (and plain types with zeros, subnormals
// and infinities), through both paths.
TEST_P(MatmulTest, EdgeBlocks) {
  MNEMO_SEEDED_RNG(rng);
  ThreadPool pool(2);
  for (DType type : supported_types()) {
    const int64_t n = traits(type).block_elems == 1 ? 96 : 2 * std::max<int64_t>(traits(type).block_elems, 128);
    for (ScaleKind kind : {ScaleKind::kZero, ScaleKind::kInf, ScaleKind::kSubnormal, ScaleKind::kSmall, ScaleKind::kMixed}) {
      for (int64_t T : {1, 6}) {
        const int64_t m = 9;
        const auto bytes = random_matrix(rng, type, n, m, kind);
        const TensorView W = make_view(type, n, m, bytes);
        auto X = random_floats(rng, T * n);
        // Activation blocks that are all zero, subnormal, or hold one large value.
        for (int64_t i = 0; i < 32 && i < n; ++i) X[i] = 0.0f;
        if (n >= 96) {
          for (int64_t i = 32; i < 64; ++i) X[i] = 1e-40f * static_cast<float>(i - 40);
          X[70] = 3e30f;
        }
        check_against_ref(W, X, T, run_matmul(W, X, T, pool), GetParam());
      }
    }
  }
}

// More tokens than any tile, odd row count, a panel boundary (n large enough for several panels).
TEST_P(MatmulTest, ManyTokens) {
  MNEMO_SEEDED_RNG(rng);
  ThreadPool pool(3, ThreadPool::kExact);
  for (DType type : {DType::F32, DType::Q4_K, DType::Q8_0}) {
    const int64_t n = 256, m = 19, T = 70;
    const auto bytes = random_matrix(rng, type, n, m);
    const TensorView W = make_view(type, n, m, bytes);
    const auto X = random_floats(rng, T * n);
    check_against_ref(W, X, T, run_matmul(W, X, T, pool), GetParam());
  }
  {
    const int64_t n = 8192, m = 70, T = 10;  // 8192 floats per row: a few rows per panel
    const auto bytes = random_matrix(rng, DType::F16, n, m);
    const TensorView W = make_view(DType::F16, n, m, bytes);
    const auto X = random_floats(rng, T * n);
    check_against_ref(W, X, T, run_matmul(W, X, T, pool), GetParam());
  }
}

// Shapes that go to OpenBLAS (kernels/blas.h): several f32 panels per thread (8192-element rows:
// 128-row panels), odd token counts, every weight type dequantized to the panel.
TEST_P(MatmulTest, BlasPanels) {
  MNEMO_SEEDED_RNG(rng);
  ThreadPool pool(2);
  for (DType type : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
    const int64_t n = type == DType::F16 ? 8192 : 512, m = type == DType::F16 ? 300 : 40;
    const int64_t T = kBlasMinTokens + 1;
    ASSERT_TRUE(blas_applies(type, n, T));
    ASSERT_FALSE(blas_applies(type, n, kBlasMinTokens - 1));
    const auto bytes = random_matrix(rng, type, n, m);
    const TensorView W = make_view(type, n, m, bytes);
    const auto X = random_floats(rng, T * n);
    check_against_ref(W, X, T, run_matmul(W, X, T, pool), GetParam());
  }
}

// For f32 activations the GEMV (decode) and mnemo's GEMM (prefill below kBlasMinTokens) compute
// each element in the same order: a token's outputs are bit-identical alone or in a batch.
TEST_P(MatmulTest, DecodeEqualsPrefillForFloatActivations) {
  MNEMO_SEEDED_RNG(rng);
  ThreadPool pool(2);
  for (DType type : {DType::F32, DType::F16, DType::BF16, DType::Q5_K, DType::Q4_1}) {
    const int64_t n = traits(type).block_elems == 1 ? 1000 : 1024, m = 23, T = 11;
    const auto bytes = random_matrix(rng, type, n, m);
    const TensorView W = make_view(type, n, m, bytes);
    const auto X = random_floats(rng, T * n);
    const auto batch = run_matmul(W, X, T, pool);
    for (int64_t t = 0; t < T; ++t) {
      const std::vector<float> one_x(X.begin() + t * n, X.begin() + (t + 1) * n);
      const auto one = run_matmul(W, one_x, 1, pool);
      ASSERT_EQ(0, std::memcmp(one.data(), batch.data() + t * m, static_cast<size_t>(m) * 4))
          << dtype_name(type) << " token " << t;
    }
  }
}

TEST_P(MatmulTest, BitIdenticalAcrossThreadCounts) {
  MNEMO_SEEDED_RNG(rng);
  ThreadPool p1(1, ThreadPool::kExact), p2(2, ThreadPool::kExact), p3(3, ThreadPool::kExact);
  for (DType type : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
    const int64_t n = 2304, m = 2 * kBlasRowChunk + 45;  // several OpenBLAS chunks, a partial one
    const auto bytes = random_matrix(rng, type, n, m);
    const TensorView W = make_view(type, n, m, bytes);
    for (int64_t T : {int64_t{1}, int64_t{5}, kBlasMinTokens + 3}) {
      const auto X = random_floats(rng, T * n);
      const auto y1 = run_matmul(W, X, T, p1);
      const auto y2 = run_matmul(W, X, T, p2);
      const auto y3 = run_matmul(W, X, T, p3);
      EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * 4)) << dtype_name(type) << " T=" << T;
      EXPECT_EQ(0, std::memcmp(y1.data(), y3.data(), y1.size() * 4)) << dtype_name(type) << " T=" << T;
    }
  }
}

// matmul_rows on row ranges with row strides, writing or adding into Y: the same values as matmul.
TEST_P(MatmulTest, RowsWithStridesAndAccumulate) {
  MNEMO_SEEDED_RNG(rng);
  ThreadPool pool(1);
  for (DType type : {DType::F16, DType::Q4_0, DType::Q6_K}) {
    for (int64_t T : {int64_t{1}, int64_t{6}, kBlasMinTokens}) {
      const int64_t n = 512, m = kBlasRowChunk + 26, ldx = n + 16, ldy = m + 5;
      // Any split gives the same values, except on OpenBLAS shapes: splits at its row chunks.
      const int64_t split = matmul_row_grain(type, n, T) == kBlasRowChunk ? kBlasRowChunk : 17;
      const auto bytes = random_matrix(rng, type, n, m);
      const TensorView W = make_view(type, n, m, bytes);
      const auto X = random_floats(rng, T * n);
      const auto want = run_matmul(W, X, T, pool);
      // matmul_rows takes its input already rounded (f32 rows) or quantized (Q8 rows).
      const ActRounding rounding = activation_rounding(type);
      std::vector<float> Xs(static_cast<size_t>(T * ldx), NAN);
      for (int64_t t = 0; t < T; ++t) round_activations(rounding, X.data() + t * n, n, Xs.data() + t * ldx);
      const size_t qb = q8_row_bytes(n) + 64;
      std::vector<uint8_t> xq(static_cast<size_t>(T) * qb);
      if (rounding == ActRounding::kQ8x32 || rounding == ActRounding::kQ8x256) {
        for (int64_t t = 0; t < T; ++t) quantize_q8(X.data() + t * n, n, xq.data() + t * qb, rounding);
      }
      std::vector<uint8_t> scratch(matmul_thread_work_size(type, n, T) + 64);
      auto* aligned = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(scratch.data()) + 63) / 64 * 64);
      const auto base = random_floats(rng, T * ldy);
      for (bool acc : {false, true}) {
        std::vector<float> Y = base;
        MatmulArgs a;
        a.T = T;
        a.x = Xs.data();
        a.ldx = ldx;
        a.xq = xq.data();
        a.ldq = static_cast<int64_t>(qb);
        a.y = Y.data();
        a.ldy = ldy;
        a.accumulate = acc;
        matmul_rows(W, a, 0, split, aligned);
        matmul_rows(W, a, split, m, aligned);
        for (int64_t t = 0; t < T; ++t) {
          for (int64_t r = 0; r < ldy; ++r) {
            const float b = base[t * ldy + r];
            const float expect = r >= m ? b : acc ? b + want[t * m + r] : want[t * m + r];
            ASSERT_EQ(Y[t * ldy + r], expect) << dtype_name(type) << " T=" << T << " acc=" << acc << " r=" << r;
          }
        }
      }
    }
  }
}

TEST_P(MatmulTest, GetRowMatchesReference) {
  MNEMO_SEEDED_RNG(rng);
  for (DType type : supported_types()) {
    const int64_t n = traits(type).block_elems == 1 ? 33 : 2 * traits(type).block_elems;
    const int64_t rows = 5;
    const auto bytes = random_matrix(rng, type, n, rows);
    const TensorView E = make_view(type, n, rows, bytes);
    std::vector<float> got(static_cast<size_t>(n)), want(static_cast<size_t>(n));
    for (int64_t r = 0; r < rows; ++r) {
      get_row(E, r, got.data());
      get_row_ref(E, r, want.data());
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_LE(ulp_distance(got[i], want[i]), 1u) << dtype_name(type) << " row " << r << " element " << i;
      }
    }
  }
}

}  // namespace
}  // namespace mnemo::kernels::test
