// kernels/q8-inl.h: per-target 8-bit activation rows (quantization, layout in kernels.h) and the
// integer primitives of the quantized dot products.
//
// Three implementations of the same primitives, chosen per Highway target at compile time:
// - x86 256-bit (HWY_AVX2 and the AVX-512 targets): AVX2 intrinsics. Highway 1.0.3 has no int8
//   widening dot product, so the ops are written with maddubs/madd directly (as ggml does).
// - x86 128-bit (HWY_SSSE3, HWY_SSE4): the same with SSSE3 intrinsics on two halves.
// - everything else (HWY_SCALAR): plain integer loops.
// A 32-element block's dot product is an exact int32 sum in every implementation; only the lane
// split of that sum differs (8, 4 or 1 lanes), and it is converted to f32 and scaled per block.

#if defined(MNEMO_KERNELS_Q8_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MNEMO_KERNELS_Q8_INL_H_
#undef MNEMO_KERNELS_Q8_INL_H_
#else
#define MNEMO_KERNELS_Q8_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdint>
#include <cstring>

#include "base/fp16.h"
#include "hwy/highway.h"
#include "kernels/kernels.h"

HWY_BEFORE_NAMESPACE();
namespace mnemo::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#undef MNEMO_Q8_X86_256
#undef MNEMO_Q8_X86_128
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
#define MNEMO_Q8_X86_256 1
#elif HWY_ARCH_X86 && HWY_TARGET <= HWY_SSSE3
#define MNEMO_Q8_X86_128 1
#endif

namespace q8 {

// Pointers into one Q8 row (layout in kernels.h).
struct Row {
  const int8_t* qs;
  const int16_t* p8;
  const float* d;
  const float* s;
};
HWY_INLINE Row RowAt(const void* base, int64_t n) {
  const auto* b = static_cast<const uint8_t*>(base);
  return {reinterpret_cast<const int8_t*>(b), reinterpret_cast<const int16_t*>(b + n),
          reinterpret_cast<const float*>(b + 2 * n), reinterpret_cast<const float*>(b + 2 * n + n / 8)};
}

// ---------------------------------------------------------------------------------------------
// Primitives. Bytes: 32 int8 or uint8 lanes; I16: 16 int16 lanes (lane j from elements 2j, 2j+1);
// I32: the int32 partial sums of a block (8, 4 or 1 lanes); DF: the f32 tag of as many lanes.

#if MNEMO_Q8_X86_256
using Bytes = __m256i;
using I16 = __m256i;
using I32 = __m256i;
using DF = hn::Full256<float>;
HWY_INLINE Bytes LoadBytes(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
// 16 bytes of nibbles: elements 0..15 are the low nibbles, 16..31 the high ones (Q4_0 layout).
HWY_INLINE Bytes Nibbles(const uint8_t* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}
template <int kShift>
HWY_INLINE Bytes ShrMask(Bytes v, int mask) {
  return _mm256_and_si256(_mm256_srli_epi16(v, kShift), _mm256_set1_epi8(static_cast<char>(mask)));
}
template <int kShift>
HWY_INLINE Bytes Shl(Bytes v) { return _mm256_slli_epi16(v, kShift); }
HWY_INLINE Bytes Or(Bytes a, Bytes b) { return _mm256_or_si256(a, b); }
// sum of pairs of u * s (u unsigned, s signed), as int16 (no saturation for |u| <= 128, |s| <= 127).
HWY_INLINE I16 MulPairsUS(Bytes u, Bytes s) { return _mm256_maddubs_epi16(u, s); }
// Signed * signed through the sign trick: |a| * (b with a's sign).
HWY_INLINE I16 MulPairsSS(Bytes a, Bytes b) {
  return _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}
HWY_INLINE I16 LoadI16(const int16_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
HWY_INLINE I16 Sub16(I16 a, I16 b) { return _mm256_sub_epi16(a, b); }
template <int kShift>
HWY_INLINE I16 Shl16(I16 a) { return _mm256_slli_epi16(a, kShift); }
HWY_INLINE I32 SumPairs(I16 a) { return _mm256_madd_epi16(a, _mm256_set1_epi16(1)); }
// Lanes 0..7 (elements 0..15) times sa, lanes 8..15 (elements 16..31) times sb, pairs summed.
HWY_INLINE I32 SumPairsScaled(I16 a, int sa, int sb) {
  return _mm256_madd_epi16(a, _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(sb)),
                                                _mm_set1_epi16(static_cast<int16_t>(sa))));
}
HWY_INLINE hn::Vec<DF> ToFloat(I32 v) { return hn::Vec<DF>{_mm256_cvtepi32_ps(v)}; }
HWY_INLINE float HalfToFloat(uint16_t h) { return _cvtsh_ss(h); }

#elif MNEMO_Q8_X86_128
struct Bytes {
  __m128i lo, hi;  // elements 0..15, 16..31
};
using I16 = Bytes;
using I32 = Bytes;
using DF = hn::Full128<float>;
HWY_INLINE Bytes LoadBytes(const void* p) {
  const auto* q = static_cast<const __m128i*>(p);
  return {_mm_loadu_si128(q), _mm_loadu_si128(q + 1)};
}
HWY_INLINE Bytes Nibbles(const uint8_t* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i m = _mm_set1_epi8(0x0F);
  return {_mm_and_si128(v, m), _mm_and_si128(_mm_srli_epi16(v, 4), m)};
}
template <int kShift>
HWY_INLINE Bytes ShrMask(Bytes v, int mask) {
  const __m128i m = _mm_set1_epi8(static_cast<char>(mask));
  return {_mm_and_si128(_mm_srli_epi16(v.lo, kShift), m), _mm_and_si128(_mm_srli_epi16(v.hi, kShift), m)};
}
template <int kShift>
HWY_INLINE Bytes Shl(Bytes v) { return {_mm_slli_epi16(v.lo, kShift), _mm_slli_epi16(v.hi, kShift)}; }
HWY_INLINE Bytes Or(Bytes a, Bytes b) { return {_mm_or_si128(a.lo, b.lo), _mm_or_si128(a.hi, b.hi)}; }
HWY_INLINE I16 MulPairsUS(Bytes u, Bytes s) {
  return {_mm_maddubs_epi16(u.lo, s.lo), _mm_maddubs_epi16(u.hi, s.hi)};
}
HWY_INLINE I16 MulPairsSS(Bytes a, Bytes b) {
  return {_mm_maddubs_epi16(_mm_sign_epi8(a.lo, a.lo), _mm_sign_epi8(b.lo, a.lo)),
          _mm_maddubs_epi16(_mm_sign_epi8(a.hi, a.hi), _mm_sign_epi8(b.hi, a.hi))};
}
HWY_INLINE I16 LoadI16(const int16_t* p) { return LoadBytes(p); }
HWY_INLINE I16 Sub16(I16 a, I16 b) { return {_mm_sub_epi16(a.lo, b.lo), _mm_sub_epi16(a.hi, b.hi)}; }
template <int kShift>
HWY_INLINE I16 Shl16(I16 a) { return {_mm_slli_epi16(a.lo, kShift), _mm_slli_epi16(a.hi, kShift)}; }
HWY_INLINE I32 SumPairs(I16 a) {
  const __m128i one = _mm_set1_epi16(1);
  return {_mm_madd_epi16(a.lo, one), _mm_madd_epi16(a.hi, one)};
}
HWY_INLINE I32 SumPairsScaled(I16 a, int sa, int sb) {
  return {_mm_madd_epi16(a.lo, _mm_set1_epi16(static_cast<int16_t>(sa))),
          _mm_madd_epi16(a.hi, _mm_set1_epi16(static_cast<int16_t>(sb)))};
}
HWY_INLINE hn::Vec<DF> ToFloat(I32 v) { return hn::Vec<DF>{_mm_cvtepi32_ps(_mm_add_epi32(v.lo, v.hi))}; }
HWY_INLINE float HalfToFloat(uint16_t h) { return fp16_to_f32(h); }

#else  // scalar
struct Bytes {
  int32_t v[32];
};
using I16 = Bytes;  // lanes 0..15 used
struct I32 {
  int32_t v;
};
using DF = hn::CappedTag<float, 1>;
HWY_INLINE Bytes LoadBytes(const void* p) {  // as int8
  Bytes b;
  const auto* q = static_cast<const int8_t*>(p);
  for (int i = 0; i < 32; ++i) b.v[i] = q[i];
  return b;
}
HWY_INLINE Bytes LoadUBytes(const void* p) {
  Bytes b;
  const auto* q = static_cast<const uint8_t*>(p);
  for (int i = 0; i < 32; ++i) b.v[i] = q[i];
  return b;
}
HWY_INLINE Bytes Nibbles(const uint8_t* p) {
  Bytes b;
  for (int i = 0; i < 16; ++i) b.v[i] = p[i] & 0xF, b.v[i + 16] = p[i] >> 4;
  return b;
}
template <int kShift>
HWY_INLINE Bytes ShrMask(Bytes v, int mask) {  // v holds unsigned bytes
  for (auto& x : v.v) x = ((x & 0xFF) >> kShift) & mask;
  return v;
}
template <int kShift>
HWY_INLINE Bytes Shl(Bytes v) {
  for (auto& x : v.v) x = (x << kShift) & 0xFF;
  return v;
}
HWY_INLINE Bytes Or(Bytes a, Bytes b) {
  for (int i = 0; i < 32; ++i) a.v[i] |= b.v[i];
  return a;
}
HWY_INLINE I16 MulPairsUS(Bytes u, Bytes s) {
  I16 r{};
  for (int j = 0; j < 16; ++j) r.v[j] = u.v[2 * j] * s.v[2 * j] + u.v[2 * j + 1] * s.v[2 * j + 1];
  return r;
}
HWY_INLINE I16 MulPairsSS(Bytes a, Bytes b) { return MulPairsUS(a, b); }
HWY_INLINE I16 LoadI16(const int16_t* p) {
  I16 r{};
  for (int j = 0; j < 16; ++j) r.v[j] = p[j];
  return r;
}
HWY_INLINE I16 Sub16(I16 a, I16 b) {
  for (int j = 0; j < 16; ++j) a.v[j] -= b.v[j];
  return a;
}
template <int kShift>
HWY_INLINE I16 Shl16(I16 a) {
  for (int j = 0; j < 16; ++j) a.v[j] *= (1 << kShift);
  return a;
}
HWY_INLINE I32 SumPairs(I16 a) {
  int32_t s = 0;
  for (int j = 0; j < 16; ++j) s += a.v[j];
  return {s};
}
HWY_INLINE I32 SumPairsScaled(I16 a, int sa, int sb) {
  int32_t s0 = 0, s1 = 0;
  for (int j = 0; j < 8; ++j) s0 += a.v[j], s1 += a.v[j + 8];
  return {s0 * sa + s1 * sb};
}
HWY_INLINE hn::Vec<DF> ToFloat(I32 v) { return hn::Set(DF(), static_cast<float>(v.v)); }
HWY_INLINE float HalfToFloat(uint16_t h) { return fp16_to_f32(h); }
#endif

#if MNEMO_Q8_X86_256 || MNEMO_Q8_X86_128
HWY_INLINE Bytes LoadUBytes(const void* p) { return LoadBytes(p); }
#endif

// ---------------------------------------------------------------------------------------------
// Activation rounding and Q8 rows (contracts in kernels.h). The f32 operations (max |x|, the
// scale, x * multiplier, d * sum) are the same scalar or per lane on every target, rounding is to
// nearest even everywhere and half conversion is exact, so all targets produce the same bits as
// reference.cc.

HWY_INLINE int32_t RoundEven(float v) { return static_cast<int32_t>(std::nearbyint(v)); }

// Whether all of vb[0..len) are finite, and their max |x|.
HWY_INLINE bool BlockAbsMax(const float* HWY_RESTRICT vb, int64_t len, float* amax_out) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  if (N > len) {
    float amax = 0.0f;
    bool finite = true;
    for (int64_t i = 0; i < len; ++i) {
      finite &= std::fabs(vb[i]) <= 3.4028235e38f;
      amax = std::max(amax, std::fabs(vb[i]));
    }
    *amax_out = amax;
    return finite;
  }
  auto m = hn::Zero(d);
  auto fin = hn::Eq(m, m);
  for (int64_t i = 0; i < len; i += N) {
    const auto v = hn::LoadU(d, vb + i);
    fin = hn::And(fin, hn::IsFinite(v));
    m = hn::Max(m, hn::Abs(v));
  }
  *amax_out = hn::GetLane(hn::MaxOfLanes(d, m));
  return hn::AllTrue(d, fin);
}

// q[0..32) = rne(vb[i] * mul). |vb[i] * mul| <= 127 (1 + 2^-22) for both roundings' multipliers,
// so q is in [-127, 127] without clamping.
HWY_INLINE void QuantizeBlock32(const float* HWY_RESTRICT vb, float mul, int8_t* HWY_RESTRICT q) {
#if MNEMO_Q8_X86_256
  const __m256 vid = _mm256_set1_ps(mul);
  const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(vb), vid));
  const __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(vb + 8), vid));
  const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(vb + 16), vid));
  const __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(vb + 24), vid));
  // packs interleave the 128-bit halves; the permute restores element order.
  const __m256i w01 = _mm256_packs_epi32(i0, i1);
  const __m256i w23 = _mm256_packs_epi32(i2, i3);
  __m256i b8 = _mm256_packs_epi16(w01, w23);
  b8 = _mm256_permutevar8x32_epi32(b8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), b8);
#elif MNEMO_Q8_X86_128
  const __m128 vid = _mm_set1_ps(mul);
  for (int i = 0; i < kQ8Block; i += 16) {
    const __m128i a = _mm_cvtps_epi32(_mm_mul_ps(_mm_loadu_ps(vb + i), vid));
    const __m128i bq = _mm_cvtps_epi32(_mm_mul_ps(_mm_loadu_ps(vb + i + 4), vid));
    const __m128i c = _mm_cvtps_epi32(_mm_mul_ps(_mm_loadu_ps(vb + i + 8), vid));
    const __m128i e = _mm_cvtps_epi32(_mm_mul_ps(_mm_loadu_ps(vb + i + 12), vid));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), _mm_packs_epi16(_mm_packs_epi32(a, bq), _mm_packs_epi32(c, e)));
  }
#else
  for (int i = 0; i < kQ8Block; ++i) q[i] = static_cast<int8_t>(RoundEven(vb[i] * mul));
#endif
}

// The scale d and the multiplier of one block of ActRounding r (kQ8x32 or kQ8x256) from its
// values (amax, and for kQ8x256 the first value of largest |x|). Returns false when q must be 0.
HWY_INLINE bool BlockScale(ActRounding r, bool finite, float amax, const float* vb, int64_t len, float* d,
                           float* mul) {
  constexpr float kMax = 3.4028235e38f;
  if (!finite) {
    *d = std::numeric_limits<float>::quiet_NaN();
    return false;
  }
  *d = 0.0f;
  if (r == ActRounding::kQ8x32) {
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    if (id == 0.0f || !(id <= kMax)) return false;
    *d = fp16_to_f32(f32_to_fp16(amax / 127.0f));
    *mul = id;
    return *d != 0.0f;  // a half scale that underflows rounds every value to 0
  }
  if (amax == 0.0f) return false;
  float m = 0.0f;
  for (int64_t i = 0; i < len; ++i) {
    if (std::fabs(vb[i]) == amax) {
      m = vb[i];
      break;
    }
  }
  const float s = -127.0f / m;
  if (!(std::fabs(s) <= kMax)) return false;
  *d = 1.0f / s;
  *mul = s;
  return true;
}

// p8 and s of block b of a Q8 row from its q (d[b] already stored).
HWY_INLINE void FinishBlock(const int8_t* HWY_RESTRICT q, float db, int16_t* HWY_RESTRICT p8b, float* HWY_RESTRICT sb) {
  int32_t sum = 0;
#if MNEMO_Q8_X86_256
  // Pair sums (maddubs with unsigned ones), times 8; their total is the block sum.
  const __m256i qv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_set1_epi8(1), qv);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p8b), _mm256_slli_epi16(pairs, 3));
  const __m256i s32 = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
  __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
  t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
  t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
  sum = _mm_cvtsi128_si32(t);
#else
  for (int j = 0; j < kQ8Block / 2; ++j) {
    const int32_t pair = q[2 * j] + q[2 * j + 1];
    sum += pair;
    p8b[j] = static_cast<int16_t>(8 * pair);
  }
#endif
  *sb = db * static_cast<float>(sum);
}

// y (if not null) = x * scale * w (RMSNorm's output, as RmsNormF32 computes it), then the Q8 row
// (rounding r: kQ8x32 or kQ8x256) of that output into dst. With w == nullptr the input is x itself
// (scale ignored).
HWY_INLINE void QuantizeRow(const float* HWY_RESTRICT x, const float* HWY_RESTRICT w, float scale,
                            int64_t n, float* HWY_RESTRICT y, void* HWY_RESTRICT dst, ActRounding r) {
  auto* base = static_cast<uint8_t*>(dst);
  auto* qs = reinterpret_cast<int8_t*>(base);
  auto* p8 = reinterpret_cast<int16_t*>(base + n);
  auto* dd = reinterpret_cast<float*>(base + 2 * n);
  auto* ss = reinterpret_cast<float*>(base + 2 * n + n / 8);
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const int64_t len = r == ActRounding::kQ8x256 ? 256 : kQ8Block;
  HWY_ALIGN float v[256];
  for (int64_t g = 0; g < n / len; ++g) {
    const float* xg = x + g * len;
    // The group's values: v when normalised here, else the input itself (not copied: a copy
    // through the stack stalls the wide loads below on store forwarding).
    if (w != nullptr) {
      const auto vs = hn::Set(d, scale);
      if (N <= len) {
        for (int64_t i = 0; i < len; i += N) {
          hn::Store(hn::Mul(hn::Mul(hn::LoadU(d, xg + i), vs), hn::LoadU(d, w + g * len + i)), d, v + i);
        }
      } else {
        for (int64_t i = 0; i < len; ++i) v[i] = xg[i] * scale * w[g * len + i];
      }
      if (y != nullptr) std::memcpy(y + g * len, v, static_cast<size_t>(len) * sizeof(float));
    }
    const float* HWY_RESTRICT vg = w != nullptr ? v : xg;
    float amax = 0.0f, dg = 0.0f, mul = 0.0f;
    const bool finite = BlockAbsMax(vg, len, &amax);
    const bool nonzero = BlockScale(r, finite, amax, vg, len, &dg, &mul);
    for (int64_t b = g * len / kQ8Block; b < (g + 1) * len / kQ8Block; ++b) {
      int8_t* q = qs + b * kQ8Block;
      if (nonzero) {
        QuantizeBlock32(vg + (b * kQ8Block - g * len), mul, q);
      } else {
        std::memset(q, 0, kQ8Block);
      }
      dd[b] = dg;
      FinishBlock(q, dg, p8 + b * (kQ8Block / 2), ss + b);
    }
  }
}

// y[0..n) = x rounded as r says (y may alias x).
HWY_INLINE void RoundRow(ActRounding r, const float* HWY_RESTRICT x, int64_t n, float* y) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  switch (r) {
    case ActRounding::kF32:
      if (y != x) std::memmove(y, x, static_cast<size_t>(n) * sizeof(float));
      return;
    case ActRounding::kF16: {
      int64_t i = 0;
#if MNEMO_Q8_X86_256
      for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
      }
#endif
      for (; i < n; ++i) y[i] = fp16_to_f32(f32_to_fp16(x[i]));
      return;
    }
    case ActRounding::kBF16: {
      const hn::RebindToUnsigned<decltype(d)> du;
      int64_t i = 0;
      if (N >= 4) {
        const auto one = hn::Set(du, 1u), bias = hn::Set(du, 0x7fffu), mask = hn::Set(du, 0xffff0000u);
        for (; i + N <= n; i += N) {
          const auto v = hn::LoadU(d, x + i);
          const auto u = hn::BitCast(du, v);
          const auto rounded = hn::And(hn::Add(u, hn::Add(bias, hn::And(hn::ShiftRight<16>(u), one))), mask);
          const auto quiet = hn::And(hn::Or(u, hn::Set(du, 0x00400000u)), mask);
          hn::StoreU(hn::IfThenElse(hn::RebindMask(d, hn::IsNaN(v)), hn::BitCast(d, quiet), hn::BitCast(d, rounded)), d,
                     y + i);
        }
      }
      for (; i < n; ++i) y[i] = bf16_to_f32(f32_to_bf16(x[i]));
      return;
    }
    case ActRounding::kQ8x32:
    case ActRounding::kQ8x256: {
      const int64_t len = r == ActRounding::kQ8x256 ? 256 : kQ8Block;
      HWY_ALIGN int8_t q[kQ8Block];
      for (int64_t g = 0; g < n / len; ++g) {
        const float* xg = x + g * len;
        float amax = 0.0f, dg = 0.0f, mul = 0.0f;
        const bool finite = BlockAbsMax(xg, len, &amax);
        const bool nonzero = BlockScale(r, finite, amax, xg, len, &dg, &mul);
        for (int64_t b = 0; b < len / kQ8Block; ++b) {
          float* yb = y + g * len + b * kQ8Block;
          if (nonzero) {
            QuantizeBlock32(xg + b * kQ8Block, mul, q);
          } else {
            std::memset(q, 0, sizeof(q));
          }
          for (int i = 0; i < kQ8Block; ++i) yb[i] = dg * static_cast<float>(q[i]);
        }
      }
      return;
    }
  }
}

}  // namespace q8
}  // namespace mnemo::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // MNEMO_KERNELS_Q8_INL_H_
