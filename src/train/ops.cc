// Dispatch of train/ops.h; the per-target code is below, re-included by hwy/foreach_target.h.
#include <cmath>
#include <cstdint>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "train/ops.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace mnemo::train::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

float MaxImpl(const float* x, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  float mx = -INFINITY;
  int64_t i = 0;
  if (n >= N) {
    auto vmax = hn::LoadU(d, x);
    for (i = N; i + N <= n; i += N) vmax = hn::Max(vmax, hn::LoadU(d, x + i));
    mx = hn::GetLane(hn::MaxOfLanes(d, vmax));
  }
  for (; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  return mx;
}

float ExpSubSumImpl(float* x, int64_t n, float shift) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto vs = hn::Set(d, shift);
  auto vsum = hn::Zero(d);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vs));
    vsum = hn::Add(vsum, e);
    hn::StoreU(e, d, x + i);
  }
  if (i < n) {
    // The tail through a padded vector, so every element uses the same exp.
    HWY_ALIGN float t[hn::MaxLanes(d)];
    for (int64_t j = 0; j < N; ++j) t[j] = i + j < n ? x[i + j] : -INFINITY;
    const auto e = hn::Exp(d, hn::Sub(hn::Load(d, t), vs));
    vsum = hn::Add(vsum, e);
    hn::Store(e, d, t);
    for (int64_t j = i; j < n; ++j) x[j] = t[j - i];
  }
  return hn::GetLane(hn::SumOfLanes(d, vsum));
}

void ScaleImpl(float* x, int64_t n, float s) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto vs = hn::Set(d, s);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), vs), d, x + i);
  for (; i < n; ++i) x[i] *= s;
}

void AxpyImpl(float* y, const float* x, float a, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto va = hn::Set(d, a);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::MulAdd(va, hn::LoadU(d, x + i), hn::LoadU(d, y + i)), d, y + i);
  for (; i < n; ++i) y[i] += a * x[i];
}

void AccMulImpl(float* acc, const float* a, const float* b, float s, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto vs = hn::Set(d, s);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto p = hn::Mul(hn::Mul(hn::LoadU(d, a + i), hn::LoadU(d, b + i)), vs);
    hn::StoreU(hn::Add(hn::LoadU(d, acc + i), p), d, acc + i);
  }
  for (; i < n; ++i) acc[i] += a[i] * b[i] * s;
}

void SoftmaxBackwardRowImpl(const float* p, float* dp, float dd, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto vd = hn::Set(d, dd);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::Mul(hn::LoadU(d, p + i), hn::Sub(hn::LoadU(d, dp + i), vd)), d, dp + i);
  }
  for (; i < n; ++i) dp[i] = p[i] * (dp[i] - dd);
}

// s = 1 / (1 + exp(-g)); exp's argument is clamped at 88 (exp(88) < FLT_MAX).
template <class D, class V>
HWY_INLINE V Sigmoid(D d, V g) {
  const V e = hn::Exp(d, hn::Min(hn::Neg(g), hn::Set(d, 88.0f)));
  return hn::Div(hn::Set(d, 1.0f), hn::Add(hn::Set(d, 1.0f), e));
}

template <class D>
HWY_INLINE void SwigluForwardVec(D d, const float* g, const float* u, float* out) {
  const auto vg = hn::LoadU(d, g);
  hn::StoreU(hn::Mul(hn::Mul(vg, Sigmoid(d, vg)), hn::LoadU(d, u)), d, out);
}

template <class D>
HWY_INLINE void SwigluBackwardVec(D d, const float* g, const float* u, const float* dout, float* dg, float* du) {
  const auto vg = hn::LoadU(d, g);
  const auto s = Sigmoid(d, vg);
  const auto one = hn::Set(d, 1.0f);
  const auto vdo = hn::LoadU(d, dout);
  const auto dsilu = hn::Mul(s, hn::Add(one, hn::Mul(vg, hn::Sub(one, s))));
  hn::StoreU(hn::Mul(hn::Mul(vdo, hn::LoadU(d, u)), dsilu), d, dg);
  hn::StoreU(hn::Mul(vdo, hn::Mul(vg, s)), d, du);
}

void SwigluForwardImpl(const float* g, const float* u, int64_t n, float* out) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) SwigluForwardVec(d, g + i, u + i, out + i);
  if (i < n) {
    HWY_ALIGN float tg[hn::MaxLanes(d)] = {}, tu[hn::MaxLanes(d)] = {}, to[hn::MaxLanes(d)];
    for (int64_t j = i; j < n; ++j) tg[j - i] = g[j], tu[j - i] = u[j];
    SwigluForwardVec(d, tg, tu, to);
    for (int64_t j = i; j < n; ++j) out[j] = to[j - i];
  }
}

void SwigluBackwardImpl(const float* g, const float* u, const float* dout, int64_t n, float* dg, float* du) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) SwigluBackwardVec(d, g + i, u + i, dout + i, dg + i, du + i);
  if (i < n) {
    HWY_ALIGN float tg[hn::MaxLanes(d)] = {}, tu[hn::MaxLanes(d)] = {}, tdo[hn::MaxLanes(d)] = {};
    HWY_ALIGN float tdg[hn::MaxLanes(d)], tdu[hn::MaxLanes(d)];
    for (int64_t j = i; j < n; ++j) tg[j - i] = g[j], tu[j - i] = u[j], tdo[j - i] = dout[j];
    SwigluBackwardVec(d, tg, tu, tdo, tdg, tdu);
    for (int64_t j = i; j < n; ++j) dg[j] = tdg[j - i], du[j] = tdu[j - i];
  }
}

}  // namespace mnemo::train::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "kernels/kernels.h"
#include "train/ops.h"

namespace mnemo::train {

HWY_EXPORT(MaxImpl);
HWY_EXPORT(ExpSubSumImpl);
HWY_EXPORT(ScaleImpl);
HWY_EXPORT(AxpyImpl);
HWY_EXPORT(AccMulImpl);
HWY_EXPORT(SoftmaxBackwardRowImpl);
HWY_EXPORT(SwigluForwardImpl);
HWY_EXPORT(SwigluBackwardImpl);

float dot(const float* a, const float* b, int64_t n) { return kernels::dot(a, b, n); }
float max_of(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(MaxImpl)(x, n); }
float exp_sub_sum(float* x, int64_t n, float shift) { return HWY_DYNAMIC_DISPATCH(ExpSubSumImpl)(x, n, shift); }
void scale(float* x, int64_t n, float s) { HWY_DYNAMIC_DISPATCH(ScaleImpl)(x, n, s); }
void axpy(float* y, const float* x, float a, int64_t n) { HWY_DYNAMIC_DISPATCH(AxpyImpl)(y, x, a, n); }
void acc_mul(float* acc, const float* a, const float* b, float s, int64_t n) {
  HWY_DYNAMIC_DISPATCH(AccMulImpl)(acc, a, b, s, n);
}
void softmax_backward_row(const float* p, float* dp, float d, int64_t n) {
  HWY_DYNAMIC_DISPATCH(SoftmaxBackwardRowImpl)(p, dp, d, n);
}
void swiglu_forward(const float* g, const float* u, int64_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(SwigluForwardImpl)(g, u, n, out);
}
void swiglu_backward(const float* g, const float* u, const float* dout, int64_t n, float* dg, float* du) {
  HWY_DYNAMIC_DISPATCH(SwigluBackwardImpl)(g, u, dout, n, dg, du);
}

}  // namespace mnemo::train
#endif  // HWY_ONCE
