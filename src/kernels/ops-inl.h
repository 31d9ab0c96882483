// kernels/ops-inl.h: per-target element-wise kernels, normalization, softmax and rope.
// Contracts in kernels.h; tolerances against the scalar references in tests/kernels/ops_test.cc.

#if defined(MNEMO_KERNELS_OPS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MNEMO_KERNELS_OPS_INL_H_
#undef MNEMO_KERNELS_OPS_INL_H_
#else
#define MNEMO_KERNELS_OPS_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/dot-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mnemo::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// y = x * scale * w with scale = 1/sqrt(mean(x^2) + eps); the sum of squares is DotF32(x, x).
HWY_INLINE void RmsNormF32(const float* x, const float* w, float eps, int64_t n, float* y) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const float ss = DotF32(x, x, n);
  const float scale =
      static_cast<float>(1.0 / std::sqrt(static_cast<double>(ss) / static_cast<double>(n) +
                                         static_cast<double>(eps)));
  const auto vs = hn::Set(d, scale);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(d, x + i), vs), hn::LoadU(d, w + i)), d, y + i);
  }
  for (; i < n; ++i) y[i] = x[i] * scale * w[i];
}

HWY_INLINE void AddF32(float* x, const float* y, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Add(hn::LoadU(d, x + i), hn::LoadU(d, y + i)), d, x + i);
  for (; i < n; ++i) x[i] += y[i];
}

// silu(g) * u = g / (1 + exp(-g)) * u. exp's argument is clamped to 88 (exp(88) < FLT_MAX), where
// silu(g) is already below 1e-36 in magnitude.
template <class D, class V>
HWY_INLINE V SiluTimes(D d, V g, V u) {
  const V e = hn::Exp(d, hn::Min(hn::Neg(g), hn::Set(d, 88.0f)));
  return hn::Mul(hn::Div(g, hn::Add(hn::Set(d, 1.0f), e)), u);
}

HWY_INLINE void SwigluF32(const float* gate, const float* up, int64_t n, float* out) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(SiluTimes(d, hn::LoadU(d, gate + i), hn::LoadU(d, up + i)), d, out + i);
  }
  if (i < n) {
    // Tail through a padded vector so every element uses the same exp.
    HWY_ALIGN float g[hn::MaxLanes(d)] = {};
    HWY_ALIGN float u[hn::MaxLanes(d)] = {};
    HWY_ALIGN float o[hn::MaxLanes(d)];
    for (int64_t j = i; j < n; ++j) g[j - i] = gate[j], u[j - i] = up[j];
    hn::Store(SiluTimes(d, hn::Load(d, g), hn::Load(d, u)), d, o);
    for (int64_t j = i; j < n; ++j) out[j] = o[j - i];
  }
}

// x = exp(x - max) / sum. The sum is accumulated in f32 vector lanes, then reduced.
HWY_INLINE void SoftmaxF32(float* x, int64_t n) {
  if (n <= 0) return;
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  float mx = -INFINITY;
  int64_t i = 0;
  if (n >= N) {
    auto vmax = hn::LoadU(d, x);
    for (i = N; i + N <= n; i += N) vmax = hn::Max(vmax, hn::LoadU(d, x + i));
    mx = hn::GetLane(hn::MaxOfLanes(d, vmax));
  }
  for (; i < n; ++i) mx = std::max(mx, x[i]);
  const auto vmx = hn::Set(d, mx);
  auto vsum = hn::Zero(d);
  for (i = 0; i + N <= n; i += N) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vmx));
    vsum = hn::Add(vsum, e);
    hn::StoreU(e, d, x + i);
  }
  if (i < n) {
    HWY_ALIGN float t[hn::MaxLanes(d)];
    for (int64_t j = 0; j < N; ++j) t[j] = i + j < n ? x[i + j] : -INFINITY;  // exp(-inf) = 0
    const auto e = hn::Exp(d, hn::Sub(hn::Load(d, t), vmx));
    vsum = hn::Add(vsum, e);
    hn::Store(e, d, t);
    for (int64_t j = i; j < n; ++j) x[j] = t[j - i];
  }
  const float inv = 1.0f / hn::GetLane(hn::SumOfLanes(d, vsum));
  const auto vinv = hn::Set(d, inv);
  for (i = 0; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), vinv), d, x + i);
  for (; i < n; ++i) x[i] *= inv;
}

// Rotates pairs (x0, x1) of each head by the angles whose cos/sin are c[0..half), s[0..half):
// x0' = x0 c - x1 s, x1' = x0 s + x1 c, in f32 without fused multiply-adds (as rope_ref).
HWY_INLINE void RopeF32(float* x, int64_t n_heads, int64_t head_dim, int64_t half, bool neox,
                        const float* c, const float* s) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    int64_t i = 0;
    if (neox) {
      for (; i + N <= half; i += N) {
        const auto x0 = hn::LoadU(d, v + i), x1 = hn::LoadU(d, v + i + half);
        const auto vc = hn::LoadU(d, c + i), vs = hn::LoadU(d, s + i);
        hn::StoreU(hn::Sub(hn::Mul(x0, vc), hn::Mul(x1, vs)), d, v + i);
        hn::StoreU(hn::Add(hn::Mul(x0, vs), hn::Mul(x1, vc)), d, v + i + half);
      }
    } else {
      for (; i + N <= half; i += N) {
        hn::Vec<decltype(d)> x0, x1;
        hn::LoadInterleaved2(d, v + 2 * i, x0, x1);
        const auto vc = hn::LoadU(d, c + i), vs = hn::LoadU(d, s + i);
        hn::StoreInterleaved2(hn::Sub(hn::Mul(x0, vc), hn::Mul(x1, vs)),
                              hn::Add(hn::Mul(x0, vs), hn::Mul(x1, vc)), d, v + 2 * i);
      }
    }
    for (; i < half; ++i) {
      const int64_t i0 = neox ? i : 2 * i;
      const int64_t i1 = neox ? i + half : 2 * i + 1;
      const float x0 = v[i0], x1 = v[i1];
      v[i0] = x0 * c[i] - x1 * s[i];
      v[i1] = x0 * s[i] + x1 * c[i];
    }
  }
}

}  // namespace mnemo::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // MNEMO_KERNELS_OPS_INL_H_
