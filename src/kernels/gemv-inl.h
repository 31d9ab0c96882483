// kernels/gemv-inl.h: per-target matrix-vector products (decode, T <= kGemvMaxTokens).
//
// Rows are processed in groups of up to kGemvRows that share each load of the activations; W is
// streamed once per call. Per (row, token) pair the order of the f32 operations is fixed (see
// kernels.h), so results do not depend on the grouping or on the thread that computes them.
// - F32/F16/BF16: one f32 vector accumulator per pair, FMA over the row in steps of N lanes,
//   SumOfLanes, then the tail in index order (FloatDotFinish). The GEMM (gemm-inl.h) uses the same
//   order, so the two agree bit for bit.
// - Q8_0, Q4_0, Q4_K, Q6_K: per 32-element block an exact int32 dot product with the Q8 row
//   (q8-inl.h), converted to f32 and accumulated with one FMA by d_w * d_x (Q4_K: (d * sc) * d_x;
//   its minimums are summed separately, dmin * m * s_x, and subtracted at the end). For Q4_0 on
//   x86 (256-bit), 2..kGemvTileTokens tokens share each block's unpacking (Q4_0TileAvx2Multi:
//   batched decode), with each token's operations unchanged.
// - Other quantized types: chunks of the row dequantized exactly to f32, then the f32 order above.

#if defined(MNEMO_KERNELS_GEMV_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MNEMO_KERNELS_GEMV_INL_H_
#undef MNEMO_KERNELS_GEMV_INL_H_
#else
#define MNEMO_KERNELS_GEMV_INL_H_
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "base/fp16.h"
#include "hwy/highway.h"
#include "kernels/dequant-inl.h"
#include "kernels/kernels.h"
#include "kernels/q8-inl.h"
#include "tensor/blocks.h"
#include "tensor/tensor.h"

HWY_BEFORE_NAMESPACE();
namespace mnemo::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

namespace gemv {

constexpr int kGemvRows = 4;
// Elements dequantized at a time for the fallback types (a multiple of every block size).
constexpr int64_t kChunk = 2048;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// The canonical end of an f32 dot: lanes summed, then the tail i in [i0, n) in index order.
template <class TailW>
HWY_INLINE float FloatDotFinish(VF acc, const TailW& w, const float* HWY_RESTRICT x, int64_t i0, int64_t n) {
  float s = hn::GetLane(hn::SumOfLanes(DF(), acc));
  for (int64_t i = i0; i < n; ++i) s += w(i) * x[i];
  return s;
}

// Software prefetch of the next row group while the current one is computed. The rows of a group
// are short streams (a row of 2048 Q4_0 weights is 18 cache lines), too short for the hardware
// prefetchers to ramp up on; the next group is contiguous, so touching `step` bytes of it per
// iteration of the current group keeps a group's worth of loads in flight. step 0: off.
struct Prefetcher {
  const uint8_t* p = nullptr;
  int64_t step = 0;
  HWY_INLINE void At(int64_t i) const {
    const uint8_t* q = p + i * step;
    for (int64_t o = 0; o < step; o += 64) __builtin_prefetch(q + o, 0, 2);
  }
};

// N consecutive weights as f32.
HWY_INLINE VF LoadW(DF d, const float* p) { return hn::LoadU(d, p); }
HWY_INLINE VF LoadW(DF d, const hwy::float16_t* p) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  return hn::PromoteTo(d, hn::LoadU(hn::Rebind<hwy::float16_t, DF>(), p));
#else
  // Integer conversion (Highway's emulation flushes infinities), as dq::F16.
  const hn::RebindToUnsigned<DF> du;
  const hn::RebindToSigned<DF> di;
  const hn::Rebind<uint16_t, DF> du16;
  const auto v = hn::PromoteTo(du, hn::LoadU(du16, reinterpret_cast<const uint16_t*>(p)));
  const auto em = hn::And(v, hn::Set(du, 0x7FFFu));
  const auto e = hn::ShiftRight<10>(em);
  const auto bias = hn::Set(du, 112u << 23);
  auto normal = hn::Add(hn::ShiftLeft<13>(em), bias);
  normal = hn::IfThenElse(hn::Eq(e, hn::Set(du, 31u)), hn::Add(normal, bias), normal);
  const VF sub = hn::Mul(hn::ConvertTo(d, hn::BitCast(di, em)), hn::Set(d, 1.0f / 16777216.0f));
  const VF mag = hn::IfThenElse(hn::RebindMask(d, hn::Eq(e, hn::Zero(du))), sub, hn::BitCast(d, normal));
  return hn::Or(mag, hn::BitCast(d, hn::ShiftLeft<16>(hn::And(v, hn::Set(du, 0x8000u)))));
#endif
}
HWY_INLINE VF LoadW(DF d, const hwy::bfloat16_t* p) {
  const hn::RebindToUnsigned<DF> du;
  const hn::Rebind<uint16_t, DF> du16;
  return hn::BitCast(d, hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(du16, reinterpret_cast<const uint16_t*>(p)))));
}
HWY_INLINE float ScalarW(const float* p, int64_t i) { return p[i]; }
HWY_INLINE float ScalarW(const hwy::float16_t* p, int64_t i) {
  return fp16_to_f32(reinterpret_cast<const uint16_t*>(p)[i]);
}
HWY_INLINE float ScalarW(const hwy::bfloat16_t* p, int64_t i) {
  return bf16_to_f32(reinterpret_cast<const uint16_t*>(p)[i]);
}

// out[r] = dot(row r, x) for R rows of element type TW.
template <int R, typename TW>
HWY_INLINE void FloatTile(const TW* const* rows, const float* HWY_RESTRICT x, int64_t n, float* out,
                          const Prefetcher& pf) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  VF acc[R];
  for (int r = 0; r < R; ++r) acc[r] = hn::Zero(d);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    pf.At(i / N);
    const VF xv = hn::LoadU(d, x + i);
    for (int r = 0; r < R; ++r) acc[r] = hn::MulAdd(LoadW(d, rows[r] + i), xv, acc[r]);
  }
  for (int r = 0; r < R; ++r) {
    const TW* w = rows[r];
    out[r] = FloatDotFinish(acc[r], [w](int64_t j) { return ScalarW(w, j); }, x, i, n);
  }
}

// ---------------------------------------------------------------------------------------------
// Quantized tiles: out[r] = dot(row r, Q8 row x) for R rows, nb = n / 32 blocks.

template <int R>
HWY_INLINE void Q8_0Tile(const BlockQ8_0* const* rows, const q8::Row& x, int64_t nb, float* out,
                         const Prefetcher& pf) {
  const q8::DF df;
  hn::Vec<q8::DF> acc[R];
  for (int r = 0; r < R; ++r) acc[r] = hn::Zero(df);
  for (int64_t b = 0; b < nb; ++b) {
    pf.At(b);
    const q8::Bytes xv = q8::LoadBytes(x.qs + b * 32);
    const float dx = x.d[b];
    for (int r = 0; r < R; ++r) {
      const BlockQ8_0& w = rows[r][b];
      const q8::I32 s = q8::SumPairs(q8::MulPairsSS(q8::LoadBytes(w.qs), xv));
      acc[r] = hn::MulAdd(q8::ToFloat(s), hn::Set(df, q8::HalfToFloat(w.d) * dx), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = hn::GetLane(hn::SumOfLanes(df, acc[r]));
}

template <int R>
HWY_INLINE void Q4_0Tile(const BlockQ4_0* const* rows, const q8::Row& x, int64_t nb, float* out,
                         const Prefetcher& pf) {
  const q8::DF df;
  hn::Vec<q8::DF> acc[R];
  for (int r = 0; r < R; ++r) acc[r] = hn::Zero(df);
  for (int64_t b = 0; b < nb; ++b) {
    pf.At(b);
    const q8::Bytes xv = q8::LoadBytes(x.qs + b * 32);
    const q8::I16 off = q8::LoadI16(x.p8 + b * 16);
    const float dx = x.d[b];
    for (int r = 0; r < R; ++r) {
      const BlockQ4_0& w = rows[r][b];
      // sum (q - 8) x = sum q x - 8 sum x, the second term precomputed per pair (p8).
      const q8::I32 s = q8::SumPairs(q8::Sub16(q8::MulPairsUS(q8::Nibbles(w.qs), xv), off));
      acc[r] = hn::MulAdd(q8::ToFloat(s), hn::Set(df, q8::HalfToFloat(w.d) * dx), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = hn::GetLane(hn::SumOfLanes(df, acc[r]));
}

// The 6-bit scale and min of sub-block j of a Q4_K block (as ggml's get_scale_min_k4).
HWY_INLINE void Q4KScales(const uint8_t* q, int* sc, int* m) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = q[j] & 63;
    m[j] = q[j + 4] & 63;
  }
  for (int j = 4; j < 8; ++j) {
    sc[j] = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    m[j] = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

template <int R>
HWY_INLINE void Q4_KTile(const BlockQ4_K* const* rows, const q8::Row& x, int64_t nb, float* out,
                         const Prefetcher& pf) {
  const q8::DF df;
  hn::Vec<q8::DF> acc[R];
  float mins[R];
  for (int r = 0; r < R; ++r) acc[r] = hn::Zero(df), mins[r] = 0.0f;
  for (int64_t sb = 0; sb < nb / 8; ++sb) {
    pf.At(sb);
    const int64_t b0 = sb * 8;
    for (int r = 0; r < R; ++r) {
      const BlockQ4_K& w = rows[r][sb];
      const float d = q8::HalfToFloat(w.d);
      const float dmin = q8::HalfToFloat(w.dmin);
      int sc[8], m[8];
      Q4KScales(w.scales, sc, m);
      float msum = 0.0f;
      for (int g = 0; g < 4; ++g) {
        const q8::Bytes v = q8::LoadUBytes(w.qs + 32 * g);
        const int64_t bl = b0 + 2 * g, bh = bl + 1;
        const q8::I32 sl = q8::SumPairs(q8::MulPairsUS(q8::ShrMask<0>(v, 0xF), q8::LoadBytes(x.qs + bl * 32)));
        const q8::I32 sh = q8::SumPairs(q8::MulPairsUS(q8::ShrMask<4>(v, 0xF), q8::LoadBytes(x.qs + bh * 32)));
        acc[r] = hn::MulAdd(q8::ToFloat(sl), hn::Set(df, d * static_cast<float>(sc[2 * g]) * x.d[bl]), acc[r]);
        acc[r] = hn::MulAdd(q8::ToFloat(sh), hn::Set(df, d * static_cast<float>(sc[2 * g + 1]) * x.d[bh]), acc[r]);
        msum += static_cast<float>(m[2 * g]) * x.s[bl];
        msum += static_cast<float>(m[2 * g + 1]) * x.s[bh];
      }
      mins[r] += dmin * msum;
    }
  }
  for (int r = 0; r < R; ++r) out[r] = hn::GetLane(hn::SumOfLanes(df, acc[r])) - mins[r];
}

// One 32-element chunk c of half h of a Q6_K block against Q8 block b of x.
template <int c>
HWY_INLINE q8::I32 Q6KChunk(const q8::Bytes& ql0, const q8::Bytes& ql1, const q8::Bytes& qh, const int8_t* sc,
                            const q8::Row& x, int64_t b) {
  const q8::Bytes& ql = (c & 1) ? ql1 : ql0;
  const q8::Bytes lo = q8::ShrMask<4 * (c >> 1)>(ql, 0xF);
  const q8::Bytes hi = q8::Shl<4>(q8::ShrMask<2 * c>(qh, 3));
  // sum (q - 32) x = sum q x - 32 sum x, with 32 * pair sums = p8 << 2.
  const q8::I16 p = q8::Sub16(q8::MulPairsUS(q8::Or(lo, hi), q8::LoadBytes(x.qs + b * 32)),
                              q8::Shl16<2>(q8::LoadI16(x.p8 + b * 16)));
  return q8::SumPairsScaled(p, sc[2 * c], sc[2 * c + 1]);
}

template <int R>
HWY_INLINE void Q6_KTile(const BlockQ6_K* const* rows, const q8::Row& x, int64_t nb, float* out,
                         const Prefetcher& pf) {
  const q8::DF df;
  hn::Vec<q8::DF> acc[R];
  for (int r = 0; r < R; ++r) acc[r] = hn::Zero(df);
  for (int64_t sb = 0; sb < nb / 8; ++sb) {
    pf.At(sb);
    for (int r = 0; r < R; ++r) {
      const BlockQ6_K& w = rows[r][sb];
      const float d = q8::HalfToFloat(w.d);
      for (int h = 0; h < 2; ++h) {
        const q8::Bytes ql0 = q8::LoadUBytes(w.ql + 64 * h);
        const q8::Bytes ql1 = q8::LoadUBytes(w.ql + 64 * h + 32);
        const q8::Bytes qh = q8::LoadUBytes(w.qh + 32 * h);
        const int8_t* sc = w.scales + 8 * h;
        const int64_t b = sb * 8 + 4 * h;
        acc[r] = hn::MulAdd(q8::ToFloat(Q6KChunk<0>(ql0, ql1, qh, sc, x, b)), hn::Set(df, d * x.d[b]), acc[r]);
        acc[r] = hn::MulAdd(q8::ToFloat(Q6KChunk<1>(ql0, ql1, qh, sc, x, b + 1)), hn::Set(df, d * x.d[b + 1]), acc[r]);
        acc[r] = hn::MulAdd(q8::ToFloat(Q6KChunk<2>(ql0, ql1, qh, sc, x, b + 2)), hn::Set(df, d * x.d[b + 2]), acc[r]);
        acc[r] = hn::MulAdd(q8::ToFloat(Q6KChunk<3>(ql0, ql1, qh, sc, x, b + 3)), hn::Set(df, d * x.d[b + 3]), acc[r]);
      }
    }
  }
  for (int r = 0; r < R; ++r) out[r] = hn::GetLane(hn::SumOfLanes(df, acc[r]));
}

#if MNEMO_Q8_X86_256
// ---------------------------------------------------------------------------------------------
// 256-bit specializations. Their lane split is fixed per row (it never depends on which rows are
// grouped together), so results stay independent of the thread split.

// Horizontal sums of the two 128-bit halves of v: (l0 + l1) + (l2 + l3) and (l4 + l5) + (l6 + l7).
HWY_INLINE void SumHalves(__m256 v, float* a, float* b) {
  __m128 s = _mm_hadd_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));  // l0+l1 l2+l3 l4+l5 l6+l7
  s = _mm_hadd_ps(s, s);
  *a = _mm_cvtss_f32(s);
  *b = _mm_cvtss_f32(_mm_shuffle_ps(s, s, 1));
}

// Q4_0, two rows per 256-bit register: the 16 quant bytes of row a in the low half and of row b
// in the high half; low nibbles (elements 0..15) and high nibbles (16..31) are multiplied with the
// matching activation halves broadcast to both halves, so each row's block sum lands in 4 int32
// lanes. A row is always computed this way (paired with itself when alone), so its result does
// not depend on its neighbours.
template <int R>
HWY_INLINE void Q4_0TileAvx2(const BlockQ4_0* const* rows, const q8::Row& x, int64_t nb, float* out,
                             const Prefetcher& pf) {
  constexpr int P = (R + 1) / 2;
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[P];
  for (int p = 0; p < P; ++p) acc[p] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    pf.At(b);
    const int8_t* xq = x.qs + b * 32;
    const __m256i xlo = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xq)));
    const __m256i xhi = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xq + 16)));
    const __m128i* p8 = reinterpret_cast<const __m128i*>(x.p8 + b * 16);
    const __m256i off = _mm256_broadcastsi128_si256(_mm_add_epi16(_mm_loadu_si128(p8), _mm_loadu_si128(p8 + 1)));
    const __m256 dx = _mm256_set1_ps(x.d[b]);
    for (int p = 0; p < P; ++p) {
      const BlockQ4_0& wa = rows[2 * p][b];
      const BlockQ4_0& wb = rows[2 * p + 1 < R ? 2 * p + 1 : 2 * p][b];
      const __m256i v = _mm256_inserti128_si256(
          _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wa.qs))),
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(wb.qs)), 1);
      const __m256i lo = _mm256_and_si256(v, m4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
      const __m256i pr = _mm256_sub_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(lo, xlo), _mm256_maddubs_epi16(hi, xhi)), off);
      const __m256i sum = _mm256_madd_epi16(pr, ones);
      const __m128i d16 = _mm_unpacklo_epi64(_mm_set1_epi16(static_cast<int16_t>(wa.d)), _mm_set1_epi16(static_cast<int16_t>(wb.d)));
      acc[p] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(_mm256_cvtph_ps(d16), dx), acc[p]);
    }
  }
  for (int p = 0; p < P; ++p) {
    float a, c;
    SumHalves(acc[p], &a, &c);
    out[2 * p] = a;
    if (2 * p + 1 < R) out[2 * p + 1] = c;
  }
}

// Q4_0TileAvx2 for T tokens at once (batched decode): each block's nibbles are unpacked once and
// multiplied with every token's activations. Per (row, token) the operations and their order are
// exactly those of Q4_0TileAvx2, so the results are bit-identical to T single-token calls.
template <int R, int T>
HWY_INLINE void Q4_0TileAvx2Multi(const BlockQ4_0* const* rows, const q8::Row* x, int64_t nb,
                                  float (*out)[kGemvRows], const Prefetcher& pf) {
  constexpr int P = (R + 1) / 2;
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[T][P];
  for (int t = 0; t < T; ++t) {
    for (int p = 0; p < P; ++p) acc[t][p] = _mm256_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    pf.At(b);
    __m256i lo[P], hi[P];
    __m256 dw[P];
    for (int p = 0; p < P; ++p) {
      const BlockQ4_0& wa = rows[2 * p][b];
      const BlockQ4_0& wb = rows[2 * p + 1 < R ? 2 * p + 1 : 2 * p][b];
      const __m256i v = _mm256_inserti128_si256(
          _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wa.qs))),
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(wb.qs)), 1);
      lo[p] = _mm256_and_si256(v, m4);
      hi[p] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
      dw[p] = _mm256_cvtph_ps(
          _mm_unpacklo_epi64(_mm_set1_epi16(static_cast<int16_t>(wa.d)), _mm_set1_epi16(static_cast<int16_t>(wb.d))));
    }
    for (int t = 0; t < T; ++t) {
      const int8_t* xq = x[t].qs + b * 32;
      const __m256i xlo = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xq)));
      const __m256i xhi = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xq + 16)));
      const __m128i* p8 = reinterpret_cast<const __m128i*>(x[t].p8 + b * 16);
      const __m256i off = _mm256_broadcastsi128_si256(_mm_add_epi16(_mm_loadu_si128(p8), _mm_loadu_si128(p8 + 1)));
      const __m256 dx = _mm256_set1_ps(x[t].d[b]);
      for (int p = 0; p < P; ++p) {
        const __m256i pr =
            _mm256_sub_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(lo[p], xlo), _mm256_maddubs_epi16(hi[p], xhi)), off);
        const __m256i sum = _mm256_madd_epi16(pr, ones);
        acc[t][p] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(dw[p], dx), acc[t][p]);
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    for (int p = 0; p < P; ++p) {
      float a, c;
      SumHalves(acc[t][p], &a, &c);
      out[t][2 * p] = a;
      if (2 * p + 1 < R) out[t][2 * p + 1] = c;
    }
  }
}

// The 8 scales (bytes 0..7) and 8 minimums (bytes 8..15) of a Q4_K block's 12 packed bytes.
HWY_INLINE __m128i Q4KScaleMinBytes(const uint8_t* q) {
  uint32_t u[4];
  std::memcpy(u, q, 12);
  constexpr uint32_t k6 = 0x3f3f3f3f, k4 = 0x0f0f0f0f, k2 = 0x03030303;
  const uint32_t sc_hi = (u[2] & k4) | (((u[0] >> 6) & k2) << 4);
  const uint32_t m_lo = u[1] & k6;
  const uint32_t m_hi = ((u[2] >> 4) & k4) | (((u[1] >> 6) & k2) << 4);
  return _mm_setr_epi32(static_cast<int>(u[0] & k6), static_cast<int>(sc_hi), static_cast<int>(m_lo), static_cast<int>(m_hi));
}

template <int R>
HWY_INLINE void Q4_KTileAvx2(const BlockQ4_K* const* rows, const q8::Row& x, int64_t nb, float* out,
                             const Prefetcher& pf) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[R], macc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps(), macc[r] = _mm256_setzero_ps();
  for (int64_t sb = 0; sb < nb / 8; ++sb) {
    pf.At(sb);
    const int64_t b0 = sb * 8;
    const __m256 dx = _mm256_loadu_ps(x.d + b0);  // activation scale of each 32-element sub-block
    const __m256 sx = _mm256_loadu_ps(x.s + b0);  // d * sum(q) of each sub-block
    for (int r = 0; r < R; ++r) {
      const BlockQ4_K& w = rows[r][sb];
      const __m128i sm = Q4KScaleMinBytes(w.scales);
      const __m256 sc = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(sm));
      const __m256 mn = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(sm, 8)));
      // (d * sc_j) * dx_j for every sub-block j, and the minimums' dmin * m_j * s_j.
      const __m256 scale = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(w.d)), sc), dx);
      macc[r] = _mm256_fmadd_ps(_mm256_mul_ps(mn, sx), _mm256_set1_ps(_cvtsh_ss(w.dmin)), macc[r]);
      for (int g = 0; g < 4; ++g) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qs + 32 * g));
        const __m256i xl = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + (b0 + 2 * g) * 32));
        const __m256i xh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + (b0 + 2 * g + 1) * 32));
        const __m256i sl = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_and_si256(v, m4), xl), ones);
        const __m256i sh = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), xh), ones);
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sl), _mm256_permutevar8x32_ps(scale, _mm256_set1_epi32(2 * g)), acc[r]);
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sh), _mm256_permutevar8x32_ps(scale, _mm256_set1_epi32(2 * g + 1)), acc[r]);
      }
    }
  }
  const hn::Full256<float> df;
  for (int r = 0; r < R; ++r) {
    out[r] = hn::GetLane(hn::SumOfLanes(df, hn::Vec256<float>{acc[r]})) -
             hn::GetLane(hn::SumOfLanes(df, hn::Vec256<float>{macc[r]}));
  }
}

// Q6_K: the int8 sub-block scales enter through the int16 multiply-add (exact), the f32 scale is
// d * dx per 32-element chunk.
template <int R>
HWY_INLINE void Q6_KTileAvx2(const BlockQ6_K* const* rows, const q8::Row& x, int64_t nb, float* out,
                             const Prefetcher& pf) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m2 = _mm256_set1_epi8(0x03);
  // Per chunk c: word 2c of a 128-bit half into every word of the low half, word 2c+1 into the high.
  alignas(32) static constexpr int8_t kScaleShuffle[4][32] = {
      {0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3},
      {4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7},
      {8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11},
      {12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15}};
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t sb = 0; sb < nb / 8; ++sb) {
    pf.At(sb);
    const int64_t b0 = sb * 8;
    const __m256 dx = _mm256_loadu_ps(x.d + b0);
    for (int r = 0; r < R; ++r) {
      const BlockQ6_K& w = rows[r][sb];
      const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(w.d)), dx);
      const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales)));
      for (int h = 0; h < 2; ++h) {
        // Scales 8h..8h+7 in both 128-bit halves.
        const __m256i sh = h == 0 ? _mm256_permute4x64_epi64(sc16, 0x44) : _mm256_permute4x64_epi64(sc16, 0xEE);
        const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.ql + 64 * h));
        const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.ql + 64 * h + 32));
        const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qh + 32 * h));
        const __m256i q[4] = {
            _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4)),
            _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4))};
        for (int c = 0; c < 4; ++c) {
          const int64_t b = b0 + 4 * h + c;
          const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + b * 32));
          const __m256i off = _mm256_slli_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.p8 + b * 16)), 2);
          const __m256i pr = _mm256_sub_epi16(_mm256_maddubs_epi16(q[c], xv), off);
          const __m256i scv = _mm256_shuffle_epi8(sh, _mm256_load_si256(reinterpret_cast<const __m256i*>(kScaleShuffle[c])));
          const __m256i sum = _mm256_madd_epi16(pr, scv);
          acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_permutevar8x32_ps(scale, _mm256_set1_epi32(static_cast<int>(4 * h + c))), acc[r]);
        }
      }
    }
  }
  const hn::Full256<float> df;
  for (int r = 0; r < R; ++r) out[r] = hn::GetLane(hn::SumOfLanes(df, hn::Vec256<float>{acc[r]}));
}
#endif  // MNEMO_Q8_X86_256

// ---------------------------------------------------------------------------------------------
// Drivers: rows [r0, r1) of Y for a.T tokens.

HWY_INLINE void Store(const MatmulArgs& a, int64_t t, int64_t r, float v) {
  float* y = a.y + t * a.ldy + r;
  if (a.accumulate) {
    *y += v;
  } else {
    *y = v;
  }
}

// Calls tile<R>(row pointers, token t, out, prefetcher) over groups of kGemvRows rows (the last
// group smaller), for every token. `iters` is the number of loop iterations of a tile over a row
// (the prefetcher's unit); the first token's pass prefetches the next group.
template <typename TB, class Tile>
HWY_INLINE void ForRowGroups(const TensorView& W, const MatmulArgs& a, int64_t r0, int64_t r1, int64_t iters,
                             const Tile& tile) {
  const uint64_t rb = W.row_bytes();
  const auto* base = static_cast<const uint8_t*>(W.data);
  const TB* rows[kGemvRows];
  float out[kGemvRows];
  const Prefetcher off;
  for (int64_t g = r0; g < r1; g += kGemvRows) {
    const int nr = static_cast<int>(std::min<int64_t>(kGemvRows, r1 - g));
    for (int i = 0; i < nr; ++i) rows[i] = reinterpret_cast<const TB*>(base + static_cast<uint64_t>(g + i) * rb);
    Prefetcher pf;
    if (g + nr < r1 && iters > 0) {
      const int64_t next = std::min<int64_t>(kGemvRows, r1 - g - nr);
      pf.p = base + static_cast<uint64_t>(g + nr) * rb;
      pf.step = (static_cast<int64_t>(rb) * next + iters - 1) / iters;
    }
    for (int64_t t = 0; t < a.T; ++t) {
      const Prefetcher& p = t == 0 ? pf : off;
      switch (nr) {
        case 4: tile(std::integral_constant<int, 4>(), rows, t, out, p); break;
        case 3: tile(std::integral_constant<int, 3>(), rows, t, out, p); break;
        case 2: tile(std::integral_constant<int, 2>(), rows, t, out, p); break;
        default: tile(std::integral_constant<int, 1>(), rows, t, out, p); break;
      }
      for (int i = 0; i < nr; ++i) Store(a, t, g + i, out[i]);
    }
  }
}

#if MNEMO_Q8_X86_256
// Rows [r0, r1) of Q4_0 weights for 2..kGemvMaxTokens tokens with Q4_0TileAvx2Multi, groups of
// kGemvRows rows as ForRowGroups (the next group prefetched).
template <int T>
HWY_INLINE void Q4_0RowsMulti(const TensorView& W, const MatmulArgs& a, int64_t r0, int64_t r1) {
  const int64_t n = W.ne[0], nb = n / kQ8Block;
  const uint64_t rb = W.row_bytes();
  const auto* base = static_cast<const uint8_t*>(W.data);
  q8::Row x[T];
  for (int t = 0; t < T; ++t) x[t] = q8::RowAt(static_cast<const uint8_t*>(a.xq) + t * a.ldq, n);
  const BlockQ4_0* rows[kGemvRows];
  float out[T][kGemvRows];
  for (int64_t g = r0; g < r1; g += kGemvRows) {
    const int nr = static_cast<int>(std::min<int64_t>(kGemvRows, r1 - g));
    for (int i = 0; i < nr; ++i) rows[i] = reinterpret_cast<const BlockQ4_0*>(base + static_cast<uint64_t>(g + i) * rb);
    Prefetcher pf;
    if (g + nr < r1 && nb > 0) {
      pf.p = base + static_cast<uint64_t>(g + nr) * rb;
      pf.step = (static_cast<int64_t>(rb) * std::min<int64_t>(kGemvRows, r1 - g - nr) + nb - 1) / nb;
    }
    switch (nr) {
      case 4: Q4_0TileAvx2Multi<4, T>(rows, x, nb, out, pf); break;
      case 3: Q4_0TileAvx2Multi<3, T>(rows, x, nb, out, pf); break;
      case 2: Q4_0TileAvx2Multi<2, T>(rows, x, nb, out, pf); break;
      default: Q4_0TileAvx2Multi<1, T>(rows, x, nb, out, pf); break;
    }
    for (int t = 0; t < T; ++t) {
      for (int i = 0; i < nr; ++i) Store(a, t, g + i, out[t][i]);
    }
  }
}
#endif  // MNEMO_Q8_X86_256

template <typename TW>
HWY_INLINE void FloatRows(const TensorView& W, const MatmulArgs& a, int64_t r0, int64_t r1) {
  const int64_t n = W.ne[0];
  const int64_t N = static_cast<int64_t>(hn::Lanes(DF()));
  ForRowGroups<TW>(W, a, r0, r1, n / N, [&](auto R, const TW* const* rows, int64_t t, float* out, const Prefetcher& pf) {
    FloatTile<decltype(R)::value>(rows, a.x + t * a.ldx, n, out, pf);
  });
}

template <typename TB, class QTile>
HWY_INLINE void QuantRows(const TensorView& W, const MatmulArgs& a, int64_t r0, int64_t r1, const QTile& qtile) {
  const int64_t n = W.ne[0];
  // Loop iterations per row: blocks of 32, or super-blocks of 256 for the K-quants.
  const int64_t iters = traits(W.type).block_elems == 256 ? n / 256 : n / kQ8Block;
  ForRowGroups<TB>(W, a, r0, r1, iters, [&](auto R, const TB* const* rows, int64_t t, float* out, const Prefetcher& pf) {
    const q8::Row x = q8::RowAt(static_cast<const uint8_t*>(a.xq) + t * a.ldq, n);
    qtile(R, rows, x, n / kQ8Block, out, pf);
  });
}

// Fallback: chunks of one row dequantized into buf (kChunk floats), dotted with every token; the
// accumulators persist across chunks, so the order is the f32 order of FloatTile.
HWY_INLINE void DequantRows(const TensorView& W, const MatmulArgs& a, int64_t r0, int64_t r1, float* buf) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const int64_t n = W.ne[0];
  VF acc[kGemvMaxTokens];
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = W.row(r);
    for (int64_t t = 0; t < a.T; ++t) acc[t] = hn::Zero(d);
    for (int64_t k0 = 0; k0 < n; k0 += kChunk) {
      const int64_t len = std::min(kChunk, n - k0);  // a multiple of the block size, hence of N
      DequantizeRange(W.type, row, k0, len, buf);
      for (int64_t t = 0; t < a.T; ++t) {
        const float* x = a.x + t * a.ldx + k0;
        VF s = acc[t];
        for (int64_t i = 0; i + N <= len; i += N) s = hn::MulAdd(hn::LoadU(d, buf + i), hn::LoadU(d, x + i), s);
        acc[t] = s;
      }
    }
    for (int64_t t = 0; t < a.T; ++t) Store(a, t, r, hn::GetLane(hn::SumOfLanes(d, acc[t])));
  }
}

// Rows [r0, r1) for T <= kGemvMaxTokens (Q4_0: kGemvTileTokens with MatmulArgs::gemv; matmul_rows
// splits other types' larger calls). buf: kChunk floats for the fallback types.
HWY_INLINE void GemvRows(const TensorView& W, const MatmulArgs& a, int64_t r0, int64_t r1, float* buf) {
  switch (W.type) {
    case DType::F32: return FloatRows<float>(W, a, r0, r1);
    case DType::F16: return FloatRows<hwy::float16_t>(W, a, r0, r1);
    case DType::BF16: return FloatRows<hwy::bfloat16_t>(W, a, r0, r1);
    case DType::Q8_0:
      return QuantRows<BlockQ8_0>(W, a, r0, r1, [](auto R, const BlockQ8_0* const* rows, const q8::Row& x,
                                                   int64_t nb, float* out, const Prefetcher& pf) { Q8_0Tile<decltype(R)::value>(rows, x, nb, out, pf); });
    case DType::Q4_0:
#if MNEMO_Q8_X86_256
      switch (a.T) {  // several tokens share each block's unpacking (batched decode)
        case 2: return Q4_0RowsMulti<2>(W, a, r0, r1);
        case 3: return Q4_0RowsMulti<3>(W, a, r0, r1);
        case 4: return Q4_0RowsMulti<4>(W, a, r0, r1);
        case 5: return Q4_0RowsMulti<5>(W, a, r0, r1);
        case 6: return Q4_0RowsMulti<6>(W, a, r0, r1);
        case 7: return Q4_0RowsMulti<7>(W, a, r0, r1);
        case 8: return Q4_0RowsMulti<8>(W, a, r0, r1);
        default: break;
      }
#endif
      return QuantRows<BlockQ4_0>(W, a, r0, r1, [](auto R, const BlockQ4_0* const* rows, const q8::Row& x,
                                                   int64_t nb, float* out, const Prefetcher& pf) {
#if MNEMO_Q8_X86_256
        Q4_0TileAvx2<decltype(R)::value>(rows, x, nb, out, pf);
#else
        Q4_0Tile<decltype(R)::value>(rows, x, nb, out, pf);
#endif
      });
    case DType::Q4_K:
      return QuantRows<BlockQ4_K>(W, a, r0, r1, [](auto R, const BlockQ4_K* const* rows, const q8::Row& x,
                                                   int64_t nb, float* out, const Prefetcher& pf) {
#if MNEMO_Q8_X86_256
        Q4_KTileAvx2<decltype(R)::value>(rows, x, nb, out, pf);
#else
        Q4_KTile<decltype(R)::value>(rows, x, nb, out, pf);
#endif
      });
    case DType::Q6_K:
      return QuantRows<BlockQ6_K>(W, a, r0, r1, [](auto R, const BlockQ6_K* const* rows, const q8::Row& x,
                                                   int64_t nb, float* out, const Prefetcher& pf) {
#if MNEMO_Q8_X86_256
        Q6_KTileAvx2<decltype(R)::value>(rows, x, nb, out, pf);
#else
        Q6_KTile<decltype(R)::value>(rows, x, nb, out, pf);
#endif
      });
    default: return DequantRows(W, a, r0, r1, buf);
  }
}

}  // namespace gemv
}  // namespace mnemo::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // MNEMO_KERNELS_GEMV_INL_H_
