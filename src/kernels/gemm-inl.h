// kernels/gemm-inl.h: per-target blocked matrix product for prefill (T > kGemvMaxTokens).
//
// Y[t, r] = dot(W row r, X row t). The rows of a thread's range are taken in panels of up to
// PanelRows(n) rows, dequantized exactly to f32 into the thread's scratch (F32 weights are read in
// place), so each weight byte is decoded once per call and then reused by all T tokens from cache.
// Within a panel, register tiles of kTileRows rows x kTileTokens tokens keep 12 vector
// accumulators: per step of N elements, kTileTokens activation vectors and kTileRows weight
// vectors are loaded for 12 FMAs.
//
// Each (row, token) pair has its own accumulator, updated with one FMA per step of N elements
// over the whole row, then summed by SumOfLanes and the n % N tail added in index order: exactly
// the order of gemv::FloatTile, so prefill and decode agree bit for bit for f32-activation types.

#if defined(MNEMO_KERNELS_GEMM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MNEMO_KERNELS_GEMM_INL_H_
#undef MNEMO_KERNELS_GEMM_INL_H_
#else
#define MNEMO_KERNELS_GEMM_INL_H_
#endif

#include <algorithm>
#include <cstdint>

#include "hwy/highway.h"
#include "kernels/dequant-inl.h"
#include "kernels/gemv-inl.h"
#include "kernels/kernels.h"
#include "tensor/tensor.h"

HWY_BEFORE_NAMESPACE();
namespace mnemo::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

namespace gemm {

constexpr int kTileRows = 4;
constexpr int kTileTokens = 3;
// Bytes of a dequantized panel (per thread): about half of a 512 KiB L2, leaving room for the
// activation rows being reused.
constexpr int64_t kPanelBytes = 192 * 1024;

// Rows per panel for rows of n elements: a multiple of kTileRows, at least kTileRows.
HWY_INLINE int64_t PanelRows(int64_t n) {
  const int64_t rows = kPanelBytes / (4 * std::max<int64_t>(n, 1));
  return std::max<int64_t>(kTileRows, rows / kTileRows * kTileRows);
}

using gemv::DF;
using gemv::VF;

// out[j * R + i] = dot(w + i * ldw, x + j * ldx) for i < R, j < C.
template <int R, int C>
HWY_INLINE void Tile(const float* HWY_RESTRICT w, int64_t ldw, const float* HWY_RESTRICT x, int64_t ldx,
                     int64_t n, float* HWY_RESTRICT out) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  VF acc[R][C];
  for (int i = 0; i < R; ++i) {
    for (int j = 0; j < C; ++j) acc[i][j] = hn::Zero(d);
  }
  int64_t k = 0;
  for (; k + N <= n; k += N) {
    VF xv[C];
    for (int j = 0; j < C; ++j) xv[j] = hn::LoadU(d, x + j * ldx + k);
    for (int i = 0; i < R; ++i) {
      const VF wv = hn::LoadU(d, w + i * ldw + k);
      for (int j = 0; j < C; ++j) acc[i][j] = hn::MulAdd(wv, xv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < R; ++i) {
    const float* wi = w + i * ldw;
    for (int j = 0; j < C; ++j) {
      out[j * R + i] = gemv::FloatDotFinish(acc[i][j], [wi](int64_t e) { return wi[e]; }, x + j * ldx, k, n);
    }
  }
}

template <int R>
HWY_INLINE void TileTokens(int C, const float* w, int64_t ldw, const float* x, int64_t ldx, int64_t n, float* out) {
  switch (C) {
    case 3: return Tile<R, 3>(w, ldw, x, ldx, n, out);
    case 2: return Tile<R, 2>(w, ldw, x, ldx, n, out);
    default: return Tile<R, 1>(w, ldw, x, ldx, n, out);
  }
}

// Rows [r0, r1) of Y for all a.T tokens. panel: PanelRows(n) * n floats unless W is F32.
HWY_INLINE void GemmRows(const TensorView& W, const MatmulArgs& a, int64_t r0, int64_t r1, float* panel) {
  const int64_t n = W.ne[0];
  const int64_t prows = PanelRows(n);
  float out[kTileRows * kTileTokens];
  for (int64_t p0 = r0; p0 < r1; p0 += prows) {
    const int64_t pr = std::min(prows, r1 - p0);
    const float* w;
    int64_t ldw;
    if (W.type == DType::F32) {
      w = reinterpret_cast<const float*>(W.row(p0));
      ldw = static_cast<int64_t>(W.row_bytes() / sizeof(float));
    } else {
      for (int64_t i = 0; i < pr; ++i) DequantizeRange(W.type, W.row(p0 + i), 0, n, panel + i * n);
      w = panel;
      ldw = n;
    }
    for (int64_t t0 = 0; t0 < a.T; t0 += kTileTokens) {
      const int C = static_cast<int>(std::min<int64_t>(kTileTokens, a.T - t0));
      const float* x = a.x + t0 * a.ldx;
      for (int64_t i0 = 0; i0 < pr; i0 += kTileRows) {
        const int R = static_cast<int>(std::min<int64_t>(kTileRows, pr - i0));
        const float* wi = w + i0 * ldw;
        switch (R) {
          case 4: TileTokens<4>(C, wi, ldw, x, a.ldx, n, out); break;
          case 3: TileTokens<3>(C, wi, ldw, x, a.ldx, n, out); break;
          case 2: TileTokens<2>(C, wi, ldw, x, a.ldx, n, out); break;
          default: TileTokens<1>(C, wi, ldw, x, a.ldx, n, out); break;
        }
        for (int j = 0; j < C; ++j) {
          for (int i = 0; i < R; ++i) gemv::Store(a, t0 + j, p0 + i0 + i, out[j * R + i]);
        }
      }
    }
  }
}

}  // namespace gemm
}  // namespace mnemo::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // MNEMO_KERNELS_GEMM_INL_H_
