// kernels/gemm-inl.h: per-target blocked matrix product for prefill (T > kGemvMaxTokens).
//
// Y[t, r] = dot(W row r, X row t), blocked as a GEMM (the loop nest of Goto & van de Geijn 2008,
// "Anatomy of high-performance matrix multiplication", with the reduction dimension innermost in
// vector lanes):
//   for each block of kTokenBlock tokens           (X block of kTokenBlock x kDepth floats in L2)
//    for each panel of kPanelRows rows
//     for each depth chunk of kDepth elements
//      for each group of kTileRows rows            (W chunk dequantized exactly to f32 in L1,
//                                                    once per call and token block)
//       for each tile of kTileTokens tokens        (register tile: 4 rows x 3 tokens = 12 vector
//                                                    accumulators, spilled to the thread's scratch
//                                                    between depth chunks)
// so every weight byte is decoded once per token block and reused by all its tokens from L1.
//
// Each (row, token) pair has its own accumulator, updated with one FMA per step of N elements
// over the whole row (saved and reloaded between chunks, exactly), then summed by SumOfLanes and
// the n % N tail added in index order: the order of gemv::FloatTile, so prefill and decode agree
// bit for bit for f32-activation types.

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
constexpr int64_t kDepth = 256;                    // elements per depth chunk (a multiple of 256)
constexpr int64_t kPanelRows = 32;                 // rows sharing one pass over an X block
constexpr int64_t kTokenBlock = 43 * kTileTokens;  // 129 tokens: pp128 in one block
// Row stride of the dequantized chunk: kDepth plus one cache line, so the rows of a tile do not
// fall into the same L1 sets (a stride of a multiple of 4 KiB would put them all in one set).
constexpr int64_t kChunkStride = kDepth + 16;

using gemv::DF;
using gemv::VF;

// Floats of per-thread scratch: the accumulators of a panel and a token block, and the
// dequantized chunk of a row group.
HWY_INLINE int64_t ScratchFloats() {
  const int64_t N = static_cast<int64_t>(hn::MaxLanes(DF()));
  return kPanelRows * kTokenBlock * N + kTileRows * kChunkStride;
}

// Accumulators acc[i][j] (row i at w + i * ldw, token j at x + j * ldx) over `len` elements (a
// multiple of N), loaded from and stored to P (R * C vectors) unless `init` (then started at zero).
template <int R, int C>
HWY_INLINE void Tile(const float* HWY_RESTRICT w, int64_t ldw, const float* HWY_RESTRICT x, int64_t ldx,
                     int64_t len, bool init, float* HWY_RESTRICT P) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  VF acc[R][C];
  for (int i = 0; i < R; ++i) {
    for (int j = 0; j < C; ++j) acc[i][j] = init ? hn::Zero(d) : hn::Load(d, P + (i * C + j) * N);
  }
  for (int64_t k = 0; k < len; k += N) {
    VF xv[C];
    for (int j = 0; j < C; ++j) xv[j] = hn::LoadU(d, x + j * ldx + k);
    for (int i = 0; i < R; ++i) {
      const VF wv = hn::LoadU(d, w + i * ldw + k);
      for (int j = 0; j < C; ++j) acc[i][j] = hn::MulAdd(wv, xv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < R; ++i) {
    for (int j = 0; j < C; ++j) hn::Store(acc[i][j], d, P + (i * C + j) * N);
  }
}

// The full 4 x 3 tile with named accumulators, so that the compiler keeps all twelve, the three
// activation vectors and one weight vector in 16 registers (7 loads per 12 FMAs). Same operations
// and order per accumulator as Tile<4, 3>.
HWY_INLINE void Tile43(const float* HWY_RESTRICT w, int64_t ldw, const float* HWY_RESTRICT x, int64_t ldx,
                       int64_t len, bool init, float* HWY_RESTRICT P) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  VF a00, a01, a02, a10, a11, a12, a20, a21, a22, a30, a31, a32;
  if (init) {
    a00 = a01 = a02 = a10 = a11 = a12 = a20 = a21 = a22 = a30 = a31 = a32 = hn::Zero(d);
  } else {
    a00 = hn::Load(d, P + 0 * N), a01 = hn::Load(d, P + 1 * N), a02 = hn::Load(d, P + 2 * N);
    a10 = hn::Load(d, P + 3 * N), a11 = hn::Load(d, P + 4 * N), a12 = hn::Load(d, P + 5 * N);
    a20 = hn::Load(d, P + 6 * N), a21 = hn::Load(d, P + 7 * N), a22 = hn::Load(d, P + 8 * N);
    a30 = hn::Load(d, P + 9 * N), a31 = hn::Load(d, P + 10 * N), a32 = hn::Load(d, P + 11 * N);
  }
  const float* HWY_RESTRICT x0 = x;
  const float* HWY_RESTRICT x1 = x + ldx;
  const float* HWY_RESTRICT x2 = x + 2 * ldx;
  const float* HWY_RESTRICT w0 = w;
  const float* HWY_RESTRICT w1 = w + ldw;
  const float* HWY_RESTRICT w2 = w + 2 * ldw;
  const float* HWY_RESTRICT w3 = w + 3 * ldw;
  for (int64_t k = 0; k < len; k += N) {
    const VF v0 = hn::LoadU(d, x0 + k), v1 = hn::LoadU(d, x1 + k), v2 = hn::LoadU(d, x2 + k);
    VF wv = hn::LoadU(d, w0 + k);
    a00 = hn::MulAdd(wv, v0, a00), a01 = hn::MulAdd(wv, v1, a01), a02 = hn::MulAdd(wv, v2, a02);
    wv = hn::LoadU(d, w1 + k);
    a10 = hn::MulAdd(wv, v0, a10), a11 = hn::MulAdd(wv, v1, a11), a12 = hn::MulAdd(wv, v2, a12);
    wv = hn::LoadU(d, w2 + k);
    a20 = hn::MulAdd(wv, v0, a20), a21 = hn::MulAdd(wv, v1, a21), a22 = hn::MulAdd(wv, v2, a22);
    wv = hn::LoadU(d, w3 + k);
    a30 = hn::MulAdd(wv, v0, a30), a31 = hn::MulAdd(wv, v1, a31), a32 = hn::MulAdd(wv, v2, a32);
  }
  hn::Store(a00, d, P + 0 * N), hn::Store(a01, d, P + 1 * N), hn::Store(a02, d, P + 2 * N);
  hn::Store(a10, d, P + 3 * N), hn::Store(a11, d, P + 4 * N), hn::Store(a12, d, P + 5 * N);
  hn::Store(a20, d, P + 6 * N), hn::Store(a21, d, P + 7 * N), hn::Store(a22, d, P + 8 * N);
  hn::Store(a30, d, P + 9 * N), hn::Store(a31, d, P + 10 * N), hn::Store(a32, d, P + 11 * N);
}

template <int R>
HWY_INLINE void TileTokens(int C, const float* w, int64_t ldw, const float* x, int64_t ldx, int64_t len, bool init,
                           float* P) {
  switch (C) {
    case 3: return Tile<R, 3>(w, ldw, x, ldx, len, init, P);
    case 2: return Tile<R, 2>(w, ldw, x, ldx, len, init, P);
    default: return Tile<R, 1>(w, ldw, x, ldx, len, init, P);
  }
}

// Rows [r0, r1) of Y for all a.T tokens. scratch: ScratchFloats() floats, vector-aligned.
HWY_INLINE void GemmRows(const TensorView& W, const MatmulArgs& a, int64_t r0, int64_t r1, float* scratch) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const int64_t n = W.ne[0];
  const int64_t n_vec = n / N * N;  // elements covered by the accumulators; the rest is the tail
  float* const acc_base = scratch;                             // kPanelRows x kTokenBlock x N
  float* const wbuf = scratch + kPanelRows * kTokenBlock * N;  // kTileRows x kChunkStride
  for (int64_t tb = 0; tb < a.T; tb += kTokenBlock) {
    const int64_t tn = std::min(kTokenBlock, a.T - tb);
    const int64_t n_tiles = (tn + kTileTokens - 1) / kTileTokens;
    for (int64_t p0 = r0; p0 < r1; p0 += kPanelRows) {
      const int64_t pr = std::min(kPanelRows, r1 - p0);
      for (int64_t k0 = 0; k0 < n; k0 += kDepth) {
        const int64_t klen = std::min(kDepth, n - k0);
        const int64_t kv1 = std::min(k0 + klen, n_vec);  // vector part of this chunk
        const bool init = k0 == 0;
        for (int64_t g = 0; g < pr; g += kTileRows) {
          const int R = static_cast<int>(std::min<int64_t>(kTileRows, pr - g));
          // The chunk [k0, k0 + klen) of rows p0 + g ..., dequantized (F32: copied) to wbuf.
          for (int i = 0; i < R; ++i) DequantizeRange(W.type, W.row(p0 + g + i), k0, klen, wbuf + i * kChunkStride);
          const float* w = wbuf;
          const int64_t ldw = kChunkStride;
          const int64_t len = std::max<int64_t>(0, kv1 - k0);
          for (int64_t tile = 0; tile < n_tiles; ++tile) {
            const int64_t t0 = tb + tile * kTileTokens;
            const int C = static_cast<int>(std::min<int64_t>(kTileTokens, a.T - t0));
            float* P = acc_base + (g * kTokenBlock + tile * kTileTokens * kTileRows) * N;
            const float* x = a.x + t0 * a.ldx + k0;
            switch (R) {
              case 4:
                if (C == 3) {
                  Tile43(w, ldw, x, a.ldx, len, init, P);
                } else {
                  TileTokens<4>(C, w, ldw, x, a.ldx, len, init, P);
                }
                break;
              case 3: TileTokens<3>(C, w, ldw, x, a.ldx, len, init, P); break;
              case 2: TileTokens<2>(C, w, ldw, x, a.ldx, len, init, P); break;
              default: TileTokens<1>(C, w, ldw, x, a.ldx, len, init, P); break;
            }
            if (k0 + klen < n) continue;
            // Last chunk: lanes summed, then the tail [n_vec, n) (inside this chunk) in index order.
            for (int j = 0; j < C; ++j) {
              const float* xj = a.x + (t0 + j) * a.ldx;
              for (int i = 0; i < R; ++i) {
                const float* wi = w + i * ldw;  // element e of the row is wi[e - k0]
                const VF acc = hn::Load(d, P + (i * C + j) * N);
                gemv::Store(a, t0 + j, p0 + g + i,
                            gemv::FloatDotFinish(acc, [wi, k0](int64_t e) { return wi[e - k0]; }, xj, n_vec, n));
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace gemm
}  // namespace mnemo::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // MNEMO_KERNELS_GEMM_INL_H_
