#include "train/blas.h"

#include <cblas.h>
#include <lapacke.h>

#include "base/check.h"
#include "base/strings.h"
#include "kernels/blas.h"

namespace mnemo::train {

void use_single_threaded_blas() { kernels::use_single_threaded_blas(); }

void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    // BLAS leaves C untouched only for beta == 1; keep the contract C = beta * C.
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    }
    return;
  }
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(M),
              static_cast<int>(N), static_cast<int>(K), alpha, A, static_cast<int>(lda), B, static_cast<int>(ldb), beta,
              C, static_cast<int>(ldc));
}

namespace {
// Rows per thread are multiples of this (whole register tiles for OpenBLAS's kernels).
constexpr int64_t kRowGrain = 16;
}  // namespace

void linear_forward(ThreadPool& pool, const float* X, int64_t ldx, int64_t M, const float* W, int64_t n_in,
                    int64_t n_out, float* Y, int64_t ldy, float beta) {
  pool.parallel_for(M, kRowGrain, [&](int64_t r0, int64_t r1) {
    gemm(false, true, r1 - r0, n_out, n_in, 1.0f, X + r0 * ldx, ldx, W, n_in, beta, Y + r0 * ldy, ldy);
  });
}

void linear_backward_input(ThreadPool& pool, const float* dY, int64_t lddy, int64_t M, const float* W, int64_t n_in,
                           int64_t n_out, float* dX, int64_t lddx, float beta) {
  pool.parallel_for(M, kRowGrain, [&](int64_t r0, int64_t r1) {
    gemm(false, false, r1 - r0, n_in, n_out, 1.0f, dY + r0 * lddy, lddy, W, n_in, beta, dX + r0 * lddx, lddx);
  });
}

void linear_backward_weight(ThreadPool& pool, const float* dY, int64_t lddy, const float* X, int64_t ldx, int64_t M,
                            int64_t n_in, int64_t n_out, float* dW) {
  pool.parallel_for(n_out, kRowGrain, [&](int64_t o0, int64_t o1) {
    gemm(true, false, o1 - o0, n_in, M, 1.0f, dY + o0, lddy, X, ldx, 1.0f, dW + o0 * n_in, n_in);
  });
}

Status svd(int64_t m, int64_t n, float* A, float* U, float* S, float* Vt) {
  const int64_t k = std::min(m, n);
  const lapack_int info = LAPACKE_sgesdd(LAPACK_ROW_MAJOR, 'S', static_cast<lapack_int>(m), static_cast<lapack_int>(n),
                                         A, static_cast<lapack_int>(n), S, U, static_cast<lapack_int>(k), Vt,
                                         static_cast<lapack_int>(n));
  if (info != 0) {
    return internal_error(str_printf("svd of a %lld x %lld matrix: LAPACK sgesdd returned %d", static_cast<long long>(m),
                                     static_cast<long long>(n), static_cast<int>(info)));
  }
  return Status::ok();
}

}  // namespace mnemo::train
