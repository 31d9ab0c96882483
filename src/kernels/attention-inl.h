// kernels/attention-inl.h: per-target causal attention for one (token, head) pair, with online
// softmax (Milakov & Gimelshein 2018, "Online normalizer calculation for softmax"; the blocked
// form of FlashAttention, Dao et al. 2022).
//
// Positions are visited in blocks of kAttnBlock: the block's scores s_p = scale * q.k_p are
// computed (DotF32), the running maximum m updated, the accumulator and normaliser rescaled by
// exp(m_old - m_new), then acc += exp(s_p - m) v_p in position order. The order depends only on
// the number of positions and the target, so the result is the same at any thread count.

#if defined(MNEMO_KERNELS_ATTENTION_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MNEMO_KERNELS_ATTENTION_INL_H_
#undef MNEMO_KERNELS_ATTENTION_INL_H_
#else
#define MNEMO_KERNELS_ATTENTION_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "hwy/highway.h"
#include "kernels/dot-inl.h"
#include "kernels/kernels.h"

HWY_BEFORE_NAMESPACE();
namespace mnemo::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr int64_t kAttnBlock = 32;
constexpr int64_t kAttnMaxHeadDim = kAttentionMaxHeadDim;

// o[0..hd) = softmax_p(scale * q.k_p) . v_p over p in [0, n_pos); k_p = K + p * kv_stride, same
// for v. hd <= kAttnMaxHeadDim.
HWY_INLINE void AttendOne(const float* HWY_RESTRICT q, const float* HWY_RESTRICT K,
                          const float* HWY_RESTRICT V, int64_t kv_stride, int64_t n_pos, int64_t hd,
                          float scale, float* HWY_RESTRICT o) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const int64_t hd_vec = hd / N * N;
  HWY_ALIGN float acc[kAttnMaxHeadDim];
  float s[kAttnBlock];
  for (int64_t i = 0; i < hd; ++i) acc[i] = 0.0f;
  float m = -INFINITY;
  float l = 0.0f;
  for (int64_t p0 = 0; p0 < n_pos; p0 += kAttnBlock) {
    const int64_t bn = std::min(kAttnBlock, n_pos - p0);
    float bmax = -INFINITY;
    for (int64_t j = 0; j < bn; ++j) {
      s[j] = DotF32(q, K + (p0 + j) * kv_stride, hd) * scale;
      bmax = std::max(bmax, s[j]);
    }
    if (bmax == -INFINITY) continue;  // every weight of this block is 0
    if (bmax > m) {
      const float corr = std::exp(m - bmax);  // 0 on the first block
      const auto vc = hn::Set(d, corr);
      for (int64_t i = 0; i < hd_vec; i += N) hn::Store(hn::Mul(hn::Load(d, acc + i), vc), d, acc + i);
      for (int64_t i = hd_vec; i < hd; ++i) acc[i] *= corr;
      l *= corr;
      m = bmax;
    }
    for (int64_t j = 0; j < bn; ++j) {
      const float w = std::exp(s[j] - m);
      l += w;
      const float* HWY_RESTRICT v = V + (p0 + j) * kv_stride;
      const auto vw = hn::Set(d, w);
      for (int64_t i = 0; i < hd_vec; i += N) {
        hn::Store(hn::MulAdd(vw, hn::LoadU(d, v + i), hn::Load(d, acc + i)), d, acc + i);
      }
      for (int64_t i = hd_vec; i < hd; ++i) acc[i] += w * v[i];
    }
  }
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
  for (int64_t i = 0; i < hd; ++i) o[i] = acc[i] * inv;
}

}  // namespace mnemo::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // MNEMO_KERNELS_ATTENTION_INL_H_
