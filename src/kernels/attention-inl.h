// kernels/attention-inl.h: per-target causal attention for a tile of (token, head) pairs, with online
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
// Queries attended together (they share every K/V row they read).
constexpr int kAttnMaxQueries = 8;

// For each query i < nq: o_i[0..hd) = softmax_p(scale * q_i.k_p) . v_p over p in [0, n_pos_i);
// k_p = K + p * kv_stride, same for v. hd <= kAttnMaxHeadDim. The queries are interleaved per
// block of kAttnBlock positions (so a block of K and V is read once for all of them), but each
// query's own sequence of operations is the same as if it were attended alone.
HWY_INLINE void AttendTile(const float* const* q, const int64_t* n_pos, int nq, const float* HWY_RESTRICT K,
                           const float* HWY_RESTRICT V, int64_t kv_stride, int64_t hd, float scale,
                           float* const* o) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const int64_t hd_vec = hd / N * N;
  HWY_ALIGN float acc[kAttnMaxQueries][kAttnMaxHeadDim];
  float m[kAttnMaxQueries], l[kAttnMaxQueries];
  float s[kAttnBlock];
  int64_t max_pos = 0;
  for (int qi = 0; qi < nq; ++qi) {
    for (int64_t i = 0; i < hd; ++i) acc[qi][i] = 0.0f;
    m[qi] = -INFINITY;
    l[qi] = 0.0f;
    max_pos = std::max(max_pos, n_pos[qi]);
  }
  for (int64_t p0 = 0; p0 < max_pos; p0 += kAttnBlock) {
    for (int qi = 0; qi < nq; ++qi) {
      if (p0 >= n_pos[qi]) continue;
      const int64_t bn = std::min(kAttnBlock, n_pos[qi] - p0);
      float* HWY_RESTRICT a = acc[qi];
      float bmax = -INFINITY;
      for (int64_t j = 0; j < bn; ++j) {
        s[j] = DotF32(q[qi], K + (p0 + j) * kv_stride, hd) * scale;
        bmax = std::max(bmax, s[j]);
      }
      if (bmax == -INFINITY) continue;  // every weight of this block is 0
      if (bmax > m[qi]) {
        const float corr = std::exp(m[qi] - bmax);  // 0 on the first block
        const auto vc = hn::Set(d, corr);
        for (int64_t i = 0; i < hd_vec; i += N) hn::Store(hn::Mul(hn::Load(d, a + i), vc), d, a + i);
        for (int64_t i = hd_vec; i < hd; ++i) a[i] *= corr;
        l[qi] *= corr;
        m[qi] = bmax;
      }
      for (int64_t j = 0; j < bn; ++j) {
        const float w = std::exp(s[j] - m[qi]);
        l[qi] += w;
        const float* HWY_RESTRICT v = V + (p0 + j) * kv_stride;
        const auto vw = hn::Set(d, w);
        for (int64_t i = 0; i < hd_vec; i += N) {
          hn::Store(hn::MulAdd(vw, hn::LoadU(d, v + i), hn::Load(d, a + i)), d, a + i);
        }
        for (int64_t i = hd_vec; i < hd; ++i) a[i] += w * v[i];
      }
    }
  }
  for (int qi = 0; qi < nq; ++qi) {
    const float inv = l[qi] > 0.0f ? 1.0f / l[qi] : 0.0f;
    for (int64_t i = 0; i < hd; ++i) o[qi][i] = acc[qi][i] * inv;
  }
}

}  // namespace mnemo::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // MNEMO_KERNELS_ATTENTION_INL_H_
