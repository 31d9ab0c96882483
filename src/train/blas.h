// train/blas.h: the BLAS and LAPACK calls of training (Debian's OpenBLAS and LAPACKE).
//
// Training parallelizes on mnemo's own ThreadPool and calls BLAS from each worker on its static
// share of the rows, so OpenBLAS itself runs single-threaded (use_single_threaded_blas() is called
// once before any product). Results then depend only on mnemo's thread count, never on OpenBLAS's
// scheduling: the same thread count gives bit-identical results.
#pragma once

#include <cstdint>

#include "base/thread_pool.h"
#include "mnemo/status.h"

namespace mnemo::train {

// Makes OpenBLAS run every call on the calling thread. Idempotent, thread-safe.
void use_single_threaded_blas();

// Row-major C (M x N, ldc) = alpha * op(A) * op(B) + beta * C, on the calling thread.
// op(A) is M x K (A is K x M, row stride lda, when ta); op(B) is K x N (N x K when tb).
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// Linear layers over the pool, W stored (out, in) row-major (ggml ne = {in, out}):
// Y (M x out, ldy) = X (M x in, ldx) W^T + beta * Y: rows of X split over the threads.
void linear_forward(ThreadPool& pool, const float* X, int64_t ldx, int64_t M, const float* W, int64_t n_in,
                    int64_t n_out, float* Y, int64_t ldy, float beta);
// dX (M x in, lddx) = dY (M x out, lddy) W + beta * dX: rows split over the threads.
void linear_backward_input(ThreadPool& pool, const float* dY, int64_t lddy, int64_t M, const float* W, int64_t n_in,
                           int64_t n_out, float* dX, int64_t lddx, float beta);
// dW (out x in) += dY^T X: rows of dW split over the threads, each summed over all M in order.
void linear_backward_weight(ThreadPool& pool, const float* dY, int64_t lddy, const float* X, int64_t ldx, int64_t M,
                            int64_t n_in, int64_t n_out, float* dW);

// Thin SVD of A (m x n, row-major, overwritten): A = U diag(S) Vt with k = min(m, n), U (m x k),
// S (k, descending), Vt (k x n) (LAPACK sgesdd). kInternal when LAPACK does not converge.
Status svd(int64_t m, int64_t n, float* A, float* U, float* S, float* Vt);

}  // namespace mnemo::train
