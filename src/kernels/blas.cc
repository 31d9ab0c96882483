// kernels/blas.cc: see blas.h.
#include "kernels/blas.h"

#include <cblas.h>

#include <algorithm>
#include <mutex>

#include "base/check.h"
#include "kernels/kernels.h"
#include "kernels/mnemo_formats.h"
#include "kernels/mnemo_types.h"

namespace mnemo::kernels {

void use_single_threaded_blas() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

bool blas_applies(DType type, int64_t n, int64_t T) {
  // mnemo's own types multiply quantized activations (Q8 rows for the group types, bit planes for
  // bipolar) in prefill as in decode: never an f32 product.
  if (is_mnemo_type(type)) return false;
  return T >= kBlasMinTokens && n >= kBlasMinDepth && traits(type).supported;
}

size_t blas_thread_work_size(DType type, int64_t n, int64_t T) {
  const size_t panel = type == DType::F32 ? 0 : static_cast<size_t>(kBlasRowChunk * n) * sizeof(float);
  return panel + static_cast<size_t>(kBlasRowChunk * T) * sizeof(float);
}

void blas_matmul_rows(const TensorView& W, const MatmulArgs& a, int64_t r0, int64_t r1, void* thread_work) {
  use_single_threaded_blas();
  const int64_t n = W.ne[0], T = a.T;
  MNEMO_CHECK(n <= INT32_MAX && T <= INT32_MAX && a.ldx <= INT32_MAX && a.ldy <= INT32_MAX);
  // thread_work: the chunk's f32 panel (kBlasRowChunk x n, not for F32 weights), then the chunk's
  // products (T x kBlasRowChunk) when accumulating: OpenBLAS with beta = 1 would add Y into its
  // first K block's partial sum, where the contract is one add of the finished product.
  auto* const panel = static_cast<float*>(thread_work);
  float* const prod = panel + (W.type == DType::F32 ? 0 : kBlasRowChunk * n);
  for (int64_t c0 = r0; c0 < r1;) {
    const int64_t c1 = std::min(r1, (c0 / kBlasRowChunk + 1) * kBlasRowChunk);  // to the next chunk edge
    const int64_t rows = c1 - c0;
    const float* w = panel;
    if (W.type == DType::F32) {
      MNEMO_DCHECK(W.row_bytes() == static_cast<size_t>(n) * sizeof(float));
      w = reinterpret_cast<const float*>(W.row(c0));
    } else {
      for (int64_t r = c0; r < c1; ++r) dequantize_row(W.type, W.row(r), panel + (r - c0) * n, n);
    }
    // Row-major (T x rows) = X (T x n) times w^T (n x rows).
    float* const out = a.accumulate ? prod : a.y + c0;
    const int64_t ldo = a.accumulate ? rows : a.ldy;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(T), static_cast<int>(rows),
                static_cast<int>(n), 1.0f, a.x, static_cast<int>(a.ldx), w, static_cast<int>(n), 0.0f, out,
                static_cast<int>(ldo));
    if (a.accumulate) {
      for (int64_t t = 0; t < T; ++t) add(a.y + t * a.ldy + c0, prod + t * rows, rows);
    }
    c0 = c1;
  }
}

}  // namespace mnemo::kernels
