// kernels/matmul-inl.h: per-target matrix products (phase 1: dequantize + f32 dot).
//
// For each output row r (a range of rows per thread, split statically by the caller), the row of
// W is dequantized in chunks of kMatmulChunk elements into a stack buffer and dotted with every
// input token. Y[t, r] = sum over chunks c, in order, of DotF32(chunk c of W row r, chunk c of X
// row t): the order depends only on n and the target, never on the thread split. F32 weights are
// dotted in place, as one chunk.
//
// Later phases slot in here: integer dot products against quantized activations (the workspace),
// and a blocked GEMM for T > 1.

#if defined(MNEMO_KERNELS_MATMUL_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MNEMO_KERNELS_MATMUL_INL_H_
#undef MNEMO_KERNELS_MATMUL_INL_H_
#else
#define MNEMO_KERNELS_MATMUL_INL_H_
#endif

#include <algorithm>
#include <cstdint>

#include "hwy/highway.h"
#include "kernels/dequant-inl.h"
#include "kernels/dot-inl.h"
#include "tensor/tensor.h"

HWY_BEFORE_NAMESPACE();
namespace mnemo::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Elements of a dequantized chunk (a multiple of every block size; 8 KiB on the stack).
constexpr int64_t kMatmulChunk = 2048;
// Tokens whose partial sums are carried across chunks of one row.
constexpr int64_t kMatmulTokenTile = 64;

// Y[t, r] for r in [r0, r1) and t in [0, T). Y is T x m row-major, m = W.n_rows().
HWY_INLINE void MatmulRowRange(const TensorView& W, const float* HWY_RESTRICT X, int64_t T,
                               float* HWY_RESTRICT Y, int64_t r0, int64_t r1) {
  const int64_t n = W.ne[0];
  const int64_t m = W.n_rows();
  const uint64_t rb = W.row_bytes();
  const auto* base = static_cast<const uint8_t*>(W.data);
  if (W.type == DType::F32) {
    for (int64_t r = r0; r < r1; ++r) {
      const auto* w = reinterpret_cast<const float*>(base + static_cast<uint64_t>(r) * rb);
      for (int64_t t = 0; t < T; ++t) Y[t * m + r] = DotF32(w, X + t * n, n);
    }
    return;
  }
  HWY_ALIGN float buf[kMatmulChunk];
  float acc[kMatmulTokenTile];
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = base + static_cast<uint64_t>(r) * rb;
    for (int64_t t0 = 0; t0 < T; t0 += kMatmulTokenTile) {
      const int64_t tn = std::min(kMatmulTokenTile, T - t0);
      std::fill(acc, acc + tn, 0.0f);
      for (int64_t k0 = 0; k0 < n; k0 += kMatmulChunk) {
        const int64_t len = std::min(kMatmulChunk, n - k0);
        DequantizeRange(W.type, row, k0, len, buf);
        for (int64_t i = 0; i < tn; ++i) acc[i] += DotF32(buf, X + (t0 + i) * n + k0, len);
      }
      for (int64_t i = 0; i < tn; ++i) Y[(t0 + i) * m + r] = acc[i];
    }
  }
}

}  // namespace mnemo::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // MNEMO_KERNELS_MATMUL_INL_H_
