// kernels/bipolar-inl.h: per-target bipolar-INT products (Ma et al., "Efficient Arbitrary Precision
// Acceleration for Large Language Models on GPU Tensor Cores", arXiv 2409.17870).
//
// A W-bit bipolar vector is sum_s 2^s B_s with B_s in {-1, +1}^n stored as a bit-plane (bit 1 =
// +1). For two such vectors, sum_i B_s[i] C_t[i] = K - 2 popcount(b_s xor c_t) over K valid
// positions (bits beyond them are zero in both planes, so their xor is zero), and
//   dot = sum_{s<W, t<A} 2^(s+t) (K - 2 popcount(b_s xor c_t))
//       = K (2^W - 1)(2^A - 1) - 2 sum_{s,t} 2^(s+t) popcount(b_s xor c_t):
// W x A binary products, each one xor and one popcount per 64 elements, recombined by shifts. The
// loops are unrolled per (W, A) (a table of 64 instantiations per target), so the time grows with
// W x A. POPCNT is part of every x86 target from SSE4 up; other targets use the compiler's builtin.

#if defined(MNEMO_KERNELS_BIPOLAR_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MNEMO_KERNELS_BIPOLAR_INL_H_
#undef MNEMO_KERNELS_BIPOLAR_INL_H_
#else
#define MNEMO_KERNELS_BIPOLAR_INL_H_
#endif

#include <cstdint>
#include <cstring>
#include <array>
#include <utility>

#include "base/fp16.h"
#include "hwy/highway.h"
#include "kernels/mnemo_formats.h"
#include "tensor/tensor.h"

HWY_BEFORE_NAMESPACE();
namespace mnemo::kernels::HWY_NAMESPACE {

namespace bipolar {

HWY_INLINE float Half(const uint8_t* p) {
  const uint16_t h = mformat::load_u16(p);
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  return _cvtsh_ss(h);
#else
  return fp16_to_f32(h);
#endif
}

HWY_INLINE uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// sum_{s,t} 2^(s+t) popcount(w_s xor x_t) for one 64-element group: w_s at w + 8 s, x_t = x[t].
template <int W, int A>
HWY_INLINE int32_t XorSum(const uint8_t* HWY_RESTRICT w, const uint64_t* HWY_RESTRICT x) {
  int32_t s = 0;
  for (int i = 0; i < W; ++i) {
    const uint64_t ws = Load64(w + 8 * i);
    int32_t t_sum = 0;
    for (int t = 0; t < A; ++t) t_sum += static_cast<int32_t>(__builtin_popcountll(ws ^ x[t])) << t;
    s += t_sum << i;
  }
  return s;
}

// Integer dot of n elements; w: groups of W words (stride W), x: groups of A words.
template <int W, int A>
int64_t DotPlanes(const uint64_t* w, const uint64_t* x, int64_t n) {
  constexpr int64_t kLevels = static_cast<int64_t>((1 << W) - 1) * ((1 << A) - 1);
  int64_t xs = 0;
  const int64_t groups = (n + 63) / 64;
  for (int64_t g = 0; g < groups; ++g) {
    xs += XorSum<W, A>(reinterpret_cast<const uint8_t*>(w + g * W), x + g * A);
  }
  return n * kLevels - 2 * xs;
}

// Rows [r0, r1) of a bipolar W (ne[0] % 64 == 0) against activations quantized with A bits.
template <int W, int A>
void GemvRows(const TensorView& Wt, const void* act, float* y, int64_t r0, int64_t r1) {
  constexpr int32_t kFull = 64 * ((1 << W) - 1) * ((1 << A) - 1);
  constexpr int kBlockBytes = 8 * W + 2;
  const int64_t n = Wt.ne[0];
  const int64_t groups = n / 64;
  const auto* planes = static_cast<const uint64_t*>(act);
  const float* sx = reinterpret_cast<const float*>(planes + groups * A);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* blk = Wt.row(r);
    float acc0 = 0.0f, acc1 = 0.0f;
    int64_t g = 0;
    for (; g + 2 <= groups; g += 2, blk += 2 * kBlockBytes) {
      const int32_t i0 = kFull - 2 * XorSum<W, A>(blk, planes + g * A);
      const int32_t i1 = kFull - 2 * XorSum<W, A>(blk + kBlockBytes, planes + (g + 1) * A);
      acc0 += static_cast<float>(i0) * (Half(blk + 8 * W) * sx[g]);
      acc1 += static_cast<float>(i1) * (Half(blk + kBlockBytes + 8 * W) * sx[g + 1]);
    }
    if (g < groups) {
      const int32_t i0 = kFull - 2 * XorSum<W, A>(blk, planes + g * A);
      acc0 += static_cast<float>(i0) * (Half(blk + 8 * W) * sx[g]);
    }
    y[r - r0] = acc0 + acc1;
  }
}

using DotFn = int64_t (*)(const uint64_t*, const uint64_t*, int64_t);
using GemvFn = void (*)(const TensorView&, const void*, float*, int64_t, int64_t);

template <size_t... I>
constexpr auto MakeDotTable(std::index_sequence<I...>) {
  return std::array<DotFn, sizeof...(I)>{&DotPlanes<static_cast<int>(I / 8) + 1, static_cast<int>(I % 8) + 1>...};
}
template <size_t... I>
constexpr auto MakeGemvTable(std::index_sequence<I...>) {
  return std::array<GemvFn, sizeof...(I)>{&GemvRows<static_cast<int>(I / 8) + 1, static_cast<int>(I % 8) + 1>...};
}

// Index (W - 1) * 8 + (A - 1).
inline DotFn DotFor(int w, int a) {
  static constexpr auto kTable = MakeDotTable(std::make_index_sequence<64>());
  return kTable[static_cast<size_t>((w - 1) * 8 + (a - 1))];
}
inline GemvFn GemvFor(int w, int a) {
  static constexpr auto kTable = MakeGemvTable(std::make_index_sequence<64>());
  return kTable[static_cast<size_t>((w - 1) * 8 + (a - 1))];
}

}  // namespace bipolar
}  // namespace mnemo::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // MNEMO_KERNELS_BIPOLAR_INL_H_
