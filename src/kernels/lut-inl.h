// kernels/lut-inl.h: per-target table-lookup dot products of mnemo's group types (layouts in
// kernels/mnemo_formats.h) with Q8 activation rows (kernels.h).
//
// Per 32-code chunk: codes -> byte indices (4-bit: nibble split; 3-bit: 2-bit fields spread by a
// variable shift plus the high bit plane expanded with a byte shuffle and a compare), indices ->
// int8 levels with one byte shuffle of the group's 16-byte table, then int8 x int8 products summed
// to int32 (maddubs on |level| and x signed like level, then madd). The block's int32 sum is exact
// on every target; only its lane split differs (8, 4 or 1 lanes) before the f32 scaling by
// d_w * d_x, so targets agree up to f32 rounding of the block sums' accumulation.
// Targets: x86 256-bit (AVX2 and up) and 128-bit (SSSE3, SSE4) with intrinsics, as kernels/q8-inl.h
// does (Highway 1.0.3 has no int8 dot product); plain loops elsewhere.

#if defined(MNEMO_KERNELS_LUT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MNEMO_KERNELS_LUT_INL_H_
#undef MNEMO_KERNELS_LUT_INL_H_
#else
#define MNEMO_KERNELS_LUT_INL_H_
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "base/fp16.h"
#include "hwy/highway.h"
#include "kernels/mnemo_formats.h"
#include "tensor/tensor.h"

HWY_BEFORE_NAMESPACE();
namespace mnemo::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

namespace lut {

#undef MNEMO_LUT_X86_256
#undef MNEMO_LUT_X86_128
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
#define MNEMO_LUT_X86_256 1
#elif HWY_ARCH_X86 && HWY_TARGET <= HWY_SSSE3
#define MNEMO_LUT_X86_128 1
#endif

// Pointers into one Q8 row (layout in kernels.h).
struct Q8Row {
  const int8_t* qs;
  const float* d;
  const float* s;
};
HWY_INLINE Q8Row Q8At(const void* base, int64_t n) {
  const auto* b = static_cast<const uint8_t*>(base);
  return {reinterpret_cast<const int8_t*>(b), reinterpret_cast<const float*>(b + 2 * n),
          reinterpret_cast<const float*>(b + 2 * n + n / 8)};
}

HWY_INLINE float Half(uint16_t h) {
#if MNEMO_LUT_X86_256
  return _cvtsh_ss(h);
#else
  return fp16_to_f32(h);
#endif
}

#if MNEMO_LUT_X86_256
using Table = __m256i;
HWY_INLINE Table LoadTable(const int8_t* t) {
  return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t)));
}
HWY_INLINE __m256i Codes4(const uint8_t* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}
HWY_INLINE __m256i Codes3(const uint8_t* p) {
  uint64_t lo;
  uint32_t hi;
  std::memcpy(&lo, p, 8);
  std::memcpy(&hi, p + 8, 4);
  // 64-bit lane k holds lo >> 2k: its bytes' low two bits are the codes 8k..8k+7.
  const __m256i l = _mm256_and_si256(_mm256_srlv_epi64(_mm256_set1_epi64x(static_cast<long long>(lo)),
                                                       _mm256_setr_epi64x(0, 2, 4, 6)),
                                     _mm256_set1_epi8(0x03));
  // Byte j <- byte j/8 of hi, then test bit j%8.
  const __m256i idx = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3,
                                       3, 3, 3, 3, 3, 3);
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  const __m256i h = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(hi)), idx);
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(h, bit), bit);
  return _mm256_or_si256(l, _mm256_and_si256(set, _mm256_set1_epi8(0x04)));
}
// Exact int32 partial sums of sum_j level[c_j] * x_j over one chunk.
HWY_INLINE __m256i ChunkDot(const Table& tbl, __m256i codes, const int8_t* x) {
  const __m256i w = _mm256_shuffle_epi8(tbl, codes);
  const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
  const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(xv, w));
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}
using Acc = __m256;
HWY_INLINE Acc AccZero() { return _mm256_setzero_ps(); }
HWY_INLINE Acc AccAdd(Acc acc, __m256i s, float scale) {
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(scale), acc);
}
HWY_INLINE float AccSum(Acc acc) {
  const hn::Full256<float> d;
  return hn::GetLane(hn::SumOfLanes(d, hn::Vec<hn::Full256<float>>{acc}));
}

#elif MNEMO_LUT_X86_128
using Table = __m128i;
struct V2 {
  __m128i lo, hi;  // codes / values 0..15 and 16..31
};
HWY_INLINE Table LoadTable(const int8_t* t) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(t)); }
HWY_INLINE V2 Codes4(const uint8_t* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i m = _mm_set1_epi8(0x0F);
  return {_mm_and_si128(v, m), _mm_and_si128(_mm_srli_epi16(v, 4), m)};
}
HWY_INLINE V2 Codes3(const uint8_t* p) {
  uint64_t lo;
  uint32_t hi;
  std::memcpy(&lo, p, 8);
  std::memcpy(&hi, p + 8, 4);
  const __m128i m3 = _mm_set1_epi8(0x03);
  const __m128i l0 = _mm_and_si128(_mm_set_epi64x(static_cast<long long>(lo >> 2), static_cast<long long>(lo)), m3);
  const __m128i l1 = _mm_and_si128(_mm_set_epi64x(static_cast<long long>(lo >> 6), static_cast<long long>(lo >> 4)), m3);
  const __m128i bit = _mm_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  const __m128i h = _mm_set1_epi32(static_cast<int>(hi));
  const __m128i h0 = _mm_shuffle_epi8(h, _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
  const __m128i h1 = _mm_shuffle_epi8(h, _mm_setr_epi8(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m128i four = _mm_set1_epi8(0x04);
  return {_mm_or_si128(l0, _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(h0, bit), bit), four)),
          _mm_or_si128(l1, _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(h1, bit), bit), four))};
}
HWY_INLINE __m128i ChunkDot(const Table& tbl, V2 codes, const int8_t* x) {
  const __m128i one = _mm_set1_epi16(1);
  const __m128i w0 = _mm_shuffle_epi8(tbl, codes.lo);
  const __m128i w1 = _mm_shuffle_epi8(tbl, codes.hi);
  const __m128i x0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x));
  const __m128i x1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 16));
  const __m128i p0 = _mm_madd_epi16(_mm_maddubs_epi16(_mm_sign_epi8(w0, w0), _mm_sign_epi8(x0, w0)), one);
  const __m128i p1 = _mm_madd_epi16(_mm_maddubs_epi16(_mm_sign_epi8(w1, w1), _mm_sign_epi8(x1, w1)), one);
  return _mm_add_epi32(p0, p1);
}
using Acc = __m128;
HWY_INLINE Acc AccZero() { return _mm_setzero_ps(); }
HWY_INLINE Acc AccAdd(Acc acc, __m128i s, float scale) {
  return _mm_add_ps(acc, _mm_mul_ps(_mm_cvtepi32_ps(s), _mm_set1_ps(scale)));
}
HWY_INLINE float AccSum(Acc acc) {
  const hn::Full128<float> d;
  return hn::GetLane(hn::SumOfLanes(d, hn::Vec<hn::Full128<float>>{acc}));
}

#else  // scalar
using Table = const int8_t*;
struct Codes {
  uint8_t c[32];
};
HWY_INLINE Table LoadTable(const int8_t* t) { return t; }
HWY_INLINE Codes Codes4(const uint8_t* p) {
  Codes c;
  mformat::unpack_chunk(4, p, c.c);
  return c;
}
HWY_INLINE Codes Codes3(const uint8_t* p) {
  Codes c;
  mformat::unpack_chunk(3, p, c.c);
  return c;
}
HWY_INLINE int32_t ChunkDot(const Table& tbl, const Codes& codes, const int8_t* x) {
  int32_t s = 0;
  for (int j = 0; j < 32; ++j) s += static_cast<int32_t>(tbl[codes.c[j]]) * x[j];
  return s;
}
using Acc = float;
HWY_INLINE Acc AccZero() { return 0.0f; }
HWY_INLINE Acc AccAdd(Acc acc, int32_t s, float scale) { return acc + static_cast<float>(s) * scale; }
HWY_INLINE float AccSum(Acc acc) { return acc; }
#endif

// out[r] = dot(row r, Q8 x) for R rows of a group type: kBits-bit codes, kChunks chunks of 32 per
// group, a zero point when kZero. The rows share each load of the activations; each row has its
// own accumulator (R independent FMA chains). The level table of a group is picked by index (no
// branch on bitmod's variant bit).
template <int kBits, int kChunks, bool kZero, int R>
HWY_INLINE void TileDot(const mformat::GroupType& g, const uint8_t* const* rows, const Q8Row& x, int64_t n,
                        float* out) {
  constexpr int kHeader = kZero ? 3 : 2;
  constexpr int kChunkBytes = kBits == 4 ? 16 : 12;
  constexpr int kBlockBytes = kHeader + kChunks * kChunkBytes;
  const Table tables[2] = {LoadTable(mformat::levels(g.method, false)), LoadTable(mformat::levels(g.method, true))};
  const uint16_t ea_mask = mformat::method_is_bitmod(g.method) ? mformat::kBitmodEaBit : 0;
  Acc acc[R];
  float macc[R];
  for (int r = 0; r < R; ++r) acc[r] = AccZero(), macc[r] = 0.0f;
  const int64_t groups = n / (32 * kChunks);
  for (int64_t k = 0; k < groups; ++k) {
    const int64_t b = k * kChunks;
    float dw[R];
    const Table* tbl[R];
    for (int r = 0; r < R; ++r) {
      const uint16_t h0 = mformat::load_u16(rows[r] + k * kBlockBytes);
      dw[r] = Half(static_cast<uint16_t>(h0 & ~ea_mask));
      tbl[r] = &tables[(h0 & ea_mask) != 0];
    }
    for (int c = 0; c < kChunks; ++c) {
      const int8_t* xq = x.qs + (b + c) * 32;  // shared by the R rows (one L1 line)
      const float dx = x.d[b + c];
      for (int r = 0; r < R; ++r) {
        const uint8_t* codes = rows[r] + k * kBlockBytes + kHeader + c * kChunkBytes;
        if constexpr (kBits == 4) {
          acc[r] = AccAdd(acc[r], ChunkDot(*tbl[r], Codes4(codes), xq), dw[r] * dx);
        } else {
          acc[r] = AccAdd(acc[r], ChunkDot(*tbl[r], Codes3(codes), xq), dw[r] * dx);
        }
      }
    }
    if constexpr (kZero) {
      for (int r = 0; r < R; ++r) {
        const float m = -(dw[r] * static_cast<float>(rows[r][k * kBlockBytes + 2]));
        for (int c = 0; c < kChunks; ++c) macc[r] += m * x.s[b + c];
      }
    }
  }
  for (int r = 0; r < R; ++r) out[r] = AccSum(acc[r]) + macc[r];
}

constexpr int kTileRows = 4;

template <int kBits, int kChunks, bool kZero>
HWY_INLINE void GemvRowsT(const mformat::GroupType& g, const TensorView& W, const Q8Row& x, float* y, int64_t r0,
                          int64_t r1) {
  const int64_t n = W.ne[0];
  const uint8_t* rows[kTileRows];
  for (int64_t r = r0; r < r1; r += kTileRows) {
    const int nr = static_cast<int>(std::min<int64_t>(kTileRows, r1 - r));
    for (int i = 0; i < nr; ++i) rows[i] = W.row(r + i);
    float* out = y + (r - r0);
    switch (nr) {
      case 4: TileDot<kBits, kChunks, kZero, 4>(g, rows, x, n, out); break;
      case 3: TileDot<kBits, kChunks, kZero, 3>(g, rows, x, n, out); break;
      case 2: TileDot<kBits, kChunks, kZero, 2>(g, rows, x, n, out); break;
      default: TileDot<kBits, kChunks, kZero, 1>(g, rows, x, n, out); break;
    }
  }
}

template <int kBits, bool kZero>
HWY_INLINE void GemvRowsG(const mformat::GroupType& g, const TensorView& W, const Q8Row& x, float* y, int64_t r0,
                          int64_t r1) {
  switch (g.group) {
    case 32: return GemvRowsT<kBits, 1, kZero>(g, W, x, y, r0, r1);
    case 64: return GemvRowsT<kBits, 2, kZero>(g, W, x, y, r0, r1);
    default: return GemvRowsT<kBits, 4, kZero>(g, W, x, y, r0, r1);
  }
}

// y[r - r0] = dot(row r, Q8 row xq).
HWY_INLINE void GroupGemvQ8(const TensorView& W, const void* xq, float* y, int64_t r0, int64_t r1) {
  const mformat::GroupType g = *mformat::group_type(W.type);
  const Q8Row x = Q8At(xq, W.ne[0]);
  if (g.bits == 4) {
    return g.has_zero ? GemvRowsG<4, true>(g, W, x, y, r0, r1) : GemvRowsG<4, false>(g, W, x, y, r0, r1);
  }
  return g.has_zero ? GemvRowsG<3, true>(g, W, x, y, r0, r1) : GemvRowsG<3, false>(g, W, x, y, r0, r1);
}

// ---------------------------------------------------------------------------------------------
// f32 decode of a row (prefill panels, get_row) and f32 dots.

HWY_INLINE void DecodeRow(const mformat::GroupType& g, const uint8_t* HWY_RESTRICT row, int64_t n,
                          float* HWY_RESTRICT y) {
  for (int64_t k0 = 0; k0 < n; k0 += g.group, row += g.block_bytes) {
    const mformat::Header h = mformat::read_header(g, row);
    float lv[16];
    for (int i = 0; i < 16; ++i) lv[i] = h.d * static_cast<float>(h.levels[i]) + h.m;
    uint8_t c[mformat::kChunk];
    for (int k = 0; k < g.group / mformat::kChunk; ++k) {
      mformat::unpack_chunk(g.bits, row + g.header_bytes + k * g.chunk_bytes, c);
      float* out = y + k0 + k * mformat::kChunk;
      for (int j = 0; j < mformat::kChunk; ++j) out[j] = lv[c[j]];
    }
  }
}

}  // namespace lut
}  // namespace mnemo::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // MNEMO_KERNELS_LUT_INL_H_
