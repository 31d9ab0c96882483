// Dispatch of the element-wise kernels, softmax, rope and attention (see kernels.h). Per-target
// code is in ops-inl.h and attention-inl.h.
#include <algorithm>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/attention-inl.h"
#include "kernels/ops-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mnemo::kernels::HWY_NAMESPACE {

void RmsNormImpl(const float* x, const float* w, float eps, int64_t n, float* y) {
  RmsNormF32(x, w, eps, n, y);
}
void AddImpl(float* x, const float* y, int64_t n) { AddF32(x, y, n); }
void SwigluImpl(const float* gate, const float* up, int64_t n, float* out) {
  SwigluF32(gate, up, n, out);
}
void SoftmaxImpl(float* x, int64_t n) { SoftmaxF32(x, n); }
void RopeImpl(float* x, int64_t n_heads, int64_t head_dim, int64_t half, bool neox, const float* c,
              const float* s) {
  RopeF32(x, n_heads, head_dim, half, neox, c, s);
}

// Items [i0, i1) of the (token, head) pairs, item = t * n_head + h.
void AttentionItemsImpl(const float* Q, int64_t pos0, const float* K, const float* V, int64_t kv_stride,
                        int64_t n_head, int64_t n_head_kv, int64_t hd, float scale, float* out,
                        int64_t i0, int64_t i1) {
  const int64_t group = n_head / n_head_kv;
  for (int64_t item = i0; item < i1; ++item) {
    const int64_t t = item / n_head;
    const int64_t h = item % n_head;
    const int64_t off = t * n_head * hd + h * hd;
    const int64_t kv_off = (h / group) * hd;
    AttendOne(Q + off, K + kv_off, V + kv_off, kv_stride, pos0 + t + 1, hd, scale, out + off);
  }
}

}  // namespace mnemo::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "base/check.h"
#include "kernels/kernels.h"
#include "kernels/reference.h"

namespace mnemo::kernels {

HWY_EXPORT(RmsNormImpl);
HWY_EXPORT(AddImpl);
HWY_EXPORT(SwigluImpl);
HWY_EXPORT(SoftmaxImpl);
HWY_EXPORT(RopeImpl);
HWY_EXPORT(AttentionItemsImpl);

void rmsnorm(const float* x, const float* w, float eps, int64_t n, float* y) {
  MNEMO_CHECK(n > 0);
  HWY_DYNAMIC_DISPATCH(RmsNormImpl)(x, w, eps, n, y);
}

void add(float* x, const float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(AddImpl)(x, y, n); }

void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(SwigluImpl)(gate, up, n, out);
}

void softmax(float* x, int64_t n) { HWY_DYNAMIC_DISPATCH(SoftmaxImpl)(x, n); }

void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, const RopeParams& p) {
  MNEMO_CHECK(p.n_rot >= 0 && p.n_rot % 2 == 0 && p.n_rot <= head_dim && p.n_rot <= kRopeMaxRot);
  float c[kRopeMaxRot / 2];
  float s[kRopeMaxRot / 2];
  rope_angles(pos, p, c, s);
  HWY_DYNAMIC_DISPATCH(RopeImpl)(x, n_heads, head_dim, p.n_rot / 2, p.style == RopeStyle::kNeox, c, s);
}

void attention(const float* Q, int64_t T, int64_t pos0, const float* K, const float* V, int64_t kv_stride,
               const AttentionShape& shape, float scale, float* out, ThreadPool& pool) {
  MNEMO_CHECK(T >= 0 && pos0 >= 0);
  MNEMO_CHECK(shape.n_head > 0 && shape.n_head_kv > 0 && shape.n_head % shape.n_head_kv == 0);
  MNEMO_CHECK(shape.head_dim > 0 && shape.head_dim <= kAttentionMaxHeadDim);
  MNEMO_CHECK(kv_stride >= shape.n_head_kv * shape.head_dim);
  if (T == 0) return;
  auto* const fn = &HWY_DYNAMIC_DISPATCH(AttentionItemsImpl);
  // Items are dealt round-robin (item % n_threads) so that the longer rows of late tokens in a
  // causal prefill spread over all threads; each item is still computed by one thread alone.
  const int64_t n_items = T * shape.n_head;
  pool.run([&](int ith, int nth) {
    for (int64_t item = ith; item < n_items; item += nth) {
      fn(Q, pos0, K, V, kv_stride, shape.n_head, shape.n_head_kv, shape.head_dim, scale, out, item,
         item + 1);
    }
  });
}

}  // namespace mnemo::kernels
#endif  // HWY_ONCE
