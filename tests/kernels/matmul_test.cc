// matmul and get_row: every dispatched target against matmul_ref / get_row_ref, and bit-identical
// results at 1, 2 and 3 threads.
//
// Tolerance of matmul, per output element y = sum_i w_i x_i (w dequantized exactly, so only the
// f32 summation differs from the double reference):
//   |y - y_ref| <= (n/4 + 64) * 2^-24 * sum_i |w_i x_i|
// the standard bound for recursive f32 summation of n/4 terms per accumulator (the worst case,
// the SCALAR target's four accumulators) plus the final reductions.
#include <cstdio>

#include "base/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/kernels_test_util.h"
#include "kernels/reference.h"

namespace mnemo::kernels::test {
namespace {

class MatmulTest : public KernelTest {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(MatmulTest);

TensorView make_view(DType type, int64_t n, int64_t m, const std::vector<uint8_t>& bytes) {
  TensorView v;
  v.type = type;
  v.n_dims = 2;
  v.ne[0] = n;
  v.ne[1] = m;
  v.data = bytes.data();
  return v;
}

std::vector<uint8_t> random_matrix(std::mt19937_64& rng, DType type, int64_t n, int64_t m) {
  std::vector<uint8_t> all;
  for (int64_t r = 0; r < m; ++r) {
    const auto row = random_row_bytes(rng, type, n, ScaleKind::kNormal);
    all.insert(all.end(), row.begin(), row.end());
  }
  return all;
}

std::vector<float> run_matmul(const TensorView& W, const std::vector<float>& X, int64_t T, ThreadPool& pool) {
  const int64_t m = W.ne[1];
  std::vector<float> Y(static_cast<size_t>(T * m), NAN);
  std::vector<uint8_t> work(matmul_work_size(W.type, W.ne[0], T) + 1);
  matmul(W, X.data(), T, Y.data(), work.data(), work.size(), pool);
  return Y;
}

void check_against_ref(const TensorView& W, const std::vector<float>& X, int64_t T,
                       const std::vector<float>& Y, const char* what) {
  const int64_t n = W.ne[0], m = W.ne[1];
  std::vector<float> ref(static_cast<size_t>(T * m));
  matmul_ref(W, X.data(), T, ref.data());
  std::vector<float> w(static_cast<size_t>(n));
  int reported = 0;
  double worst_rel = 0.0;
  for (int64_t r = 0; r < m; ++r) {
    dequantize_row_ref(W.type, W.row(r), w.data(), n);
    for (int64_t t = 0; t < T; ++t) {
      double mag = 0.0;
      for (int64_t i = 0; i < n; ++i) mag += std::fabs(static_cast<double>(w[i]) * X[t * n + i]);
      const double tol = (static_cast<double>(n) / 4 + 64) * 0x1p-24 * mag;
      const double err = std::fabs(static_cast<double>(Y[t * m + r]) - ref[t * m + r]);
      if (mag > 0) worst_rel = std::max(worst_rel, err / mag);
      if (!(err <= tol) && reported++ < 5) {
        ADD_FAILURE() << what << " " << dtype_name(W.type) << " n=" << n << " T=" << T << " y[" << t
                      << "," << r << "] = " << Y[t * m + r] << ", reference " << ref[t * m + r]
                      << ", tolerance " << tol;
      }
    }
  }
  std::printf("[ info     ] %s %s n=%lld T=%lld: max |err| / sum|wx| = %.3g\n", what,
              std::string(dtype_name(W.type)).c_str(), static_cast<long long>(n),
              static_cast<long long>(T), worst_rel);
}

TEST_P(MatmulTest, AllTypesMatchReference) {
  MNEMO_SEEDED_RNG(rng);
  ThreadPool pool(2);
  for (DType type : supported_types()) {
    const int64_t be = traits(type).block_elems;
    // n: one short row, and one longer than a dequantization chunk (2048) with a partial chunk.
    for (int64_t n : {be == 1 ? int64_t{75} : 2 * be, int64_t{2304}}) {
      for (int64_t T : {1, 3}) {
        const int64_t m = 37;
        const auto bytes = random_matrix(rng, type, n, m);
        const TensorView W = make_view(type, n, m, bytes);
        const auto X = random_floats(rng, T * n);
        check_against_ref(W, X, T, run_matmul(W, X, T, pool), hwy::TargetName(GetParam()));
      }
    }
  }
}

// More tokens than the kernel's token tile (64), odd row count.
TEST_P(MatmulTest, ManyTokens) {
  MNEMO_SEEDED_RNG(rng);
  ThreadPool pool(3);
  for (DType type : {DType::F32, DType::Q4_K}) {
    const int64_t n = 256, m = 19, T = 70;
    const auto bytes = random_matrix(rng, type, n, m);
    const TensorView W = make_view(type, n, m, bytes);
    const auto X = random_floats(rng, T * n);
    check_against_ref(W, X, T, run_matmul(W, X, T, pool), hwy::TargetName(GetParam()));
  }
}

TEST_P(MatmulTest, BitIdenticalAcrossThreadCounts) {
  MNEMO_SEEDED_RNG(rng);
  ThreadPool p1(1), p2(2), p3(3);
  for (DType type : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0, DType::Q6_K}) {
    const int64_t n = 2304, m = 101;
    const auto bytes = random_matrix(rng, type, n, m);
    const TensorView W = make_view(type, n, m, bytes);
    for (int64_t T : {1, 5}) {
      const auto X = random_floats(rng, T * n);
      const auto y1 = run_matmul(W, X, T, p1);
      const auto y2 = run_matmul(W, X, T, p2);
      const auto y3 = run_matmul(W, X, T, p3);
      EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * 4)) << dtype_name(type) << " T=" << T;
      EXPECT_EQ(0, std::memcmp(y1.data(), y3.data(), y1.size() * 4)) << dtype_name(type) << " T=" << T;
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
