// kernels/attention-inl.h: per-target causal attention for a tile of (token, head) pairs, with online
// softmax (Milakov & Gimelshein 2018, "Online normalizer calculation for softmax"; the blocked
// form of FlashAttention, Dao et al. 2022).
//
// Positions are visited in blocks of kAttnBlock: the block's scores s_p = scale * q.k_p are
// computed (DotF32), the running maximum m updated, the accumulator and normaliser rescaled by
// exp(m_old - m_new), then acc += exp(s_p - m) v_p in position order. The order depends only on
// the number of positions and the target, so the result is the same at any thread count.
//
// Cache rows of other types than F32 (kernels.h, KvRows) are dequantized a block of positions at a
// time into a stack buffer shared by the tile's queries (first K's rows for the scores, then V's
// for the sums), so every type runs the same f32 arithmetic; F32 rows are read in place.

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
#include "kernels/dequant-inl.h"
#include "kernels/dot-inl.h"
#include "kernels/kernels.h"
#include "kernels/q8-inl.h"
#include "tensor/blocks.h"

HWY_BEFORE_NAMESPACE();
namespace mnemo::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr int64_t kAttnBlock = 32;
constexpr int64_t kAttnMaxHeadDim = kAttentionMaxHeadDim;
// Queries attended together (they share every K/V row they read).
constexpr int kAttnMaxQueries = 8;

// One KV head's rows: head h_kv's bytes of position p's row start at base + p * stride.
struct KvHead {
  const uint8_t* base = nullptr;
  size_t stride = 0;  // bytes
  KvType type = KvType::kF32;
};

// n halves at h as f32: exact (F16C where the target has it, else dq::F16's integer conversion).
HWY_INLINE void HalvesToF32(const uint16_t* HWY_RESTRICT h, float* HWY_RESTRICT y, int64_t n) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  const hn::ScalableTag<float> d;
  const hn::Rebind<hwy::float16_t, decltype(d)> dh;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::PromoteTo(d, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(h) + i)), d,
               y + i);
  }
  for (; i < n; ++i) y[i] = fp16_to_f32(h[i]);
#else
  dq::F16(h, y, n);
#endif
}

// Rows [p0, p0 + n) of a head of hd values as f32; returns the first row, *fstride the floats from
// one row to the next. F32 rows are returned in place; other types are dequantized into buf
// (n * hd floats).
HWY_INLINE const float* HeadRowsF32(const KvHead& kv, int64_t p0, int64_t n, int64_t hd,
                                    float* HWY_RESTRICT buf, int64_t* fstride) {
  const uint8_t* row = kv.base + static_cast<size_t>(p0) * kv.stride;
  if (kv.type == KvType::kF32) {
    *fstride = static_cast<int64_t>(kv.stride / sizeof(float));
    return reinterpret_cast<const float*>(row);
  }
  *fstride = hd;
  for (int64_t j = 0; j < n; ++j, row += kv.stride) {
    float* y = buf + j * hd;
    switch (kv.type) {
      case KvType::kF16:
        HalvesToF32(reinterpret_cast<const uint16_t*>(row), y, hd);
        break;
      case KvType::kQ8_0:
        dq::Q8_0(reinterpret_cast<const BlockQ8_0*>(row), y, hd / kQK8_0);
        break;
      case KvType::kQ4_0:
        dq::Q4_0(reinterpret_cast<const BlockQ4_0*>(row), y, hd / kQK4_0);
        break;
      case KvType::kF32:
        break;
    }
  }
  return buf;
}

// The query as K's type wants it (kernels.h): q itself for F32 rows, else rounded into buf.
HWY_INLINE const float* QueryForKeys(KvType tk, const float* q, int64_t hd,
                                     float* HWY_RESTRICT buf) {
  switch (tk) {
    case KvType::kF32:
      return q;
    case KvType::kF16:
      q8::RoundRow(ActRounding::kF16, q, hd, buf);
      return buf;
    case KvType::kQ8_0:
    case KvType::kQ4_0:
      q8::RoundRow(ActRounding::kQ8x32, q, hd, buf);
      return buf;
  }
  return q;
}

// For each query i < nq: o_i[0..hd) = softmax_p(scale * q_i.k_p) . v_p over p in [0, n_pos_i),
// k_p and v_p the rows of K and V. hd <= kAttnMaxHeadDim. The queries are interleaved per block of
// kAttnBlock positions (so a block of K and V is read, and converted, once for all of them), but
// each query's own sequence of operations is the same as if it were attended alone.
HWY_INLINE void AttendTile(const float* const* q, const int64_t* n_pos, int nq, const KvHead& K,
                           const KvHead& V, int64_t hd, float scale, float* const* o) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const int64_t hd_vec = hd / N * N;
  HWY_ALIGN float acc[kAttnMaxQueries][kAttnMaxHeadDim];
  HWY_ALIGN float qbuf[kAttnMaxQueries][kAttnMaxHeadDim];
  HWY_ALIGN float rows[kAttnBlock * kAttnMaxHeadDim];  // a block of converted K, then V, rows
  const float* qk[kAttnMaxQueries];
  float m[kAttnMaxQueries], l[kAttnMaxQueries];
  float s[kAttnMaxQueries][kAttnBlock];
  int64_t max_pos = 0;
  for (int qi = 0; qi < nq; ++qi) {
    for (int64_t i = 0; i < hd; ++i) acc[qi][i] = 0.0f;
    m[qi] = -INFINITY;
    l[qi] = 0.0f;
    max_pos = std::max(max_pos, n_pos[qi]);
    qk[qi] = QueryForKeys(K.type, q[qi], hd, qbuf[qi]);
  }
  for (int64_t p0 = 0; p0 < max_pos; p0 += kAttnBlock) {
    const int64_t block = std::min(kAttnBlock, max_pos - p0);
    int64_t ks = 0, vs = 0;
    const float* kb = HeadRowsF32(K, p0, block, hd, rows, &ks);
    for (int qi = 0; qi < nq; ++qi) {
      const int64_t bn = std::min(kAttnBlock, n_pos[qi] - p0);
      for (int64_t j = 0; j < bn; ++j) s[qi][j] = DotF32(qk[qi], kb + j * ks, hd) * scale;
    }
    const float* vb = HeadRowsF32(V, p0, block, hd, rows, &vs);
    for (int qi = 0; qi < nq; ++qi) {
      if (p0 >= n_pos[qi]) continue;
      const int64_t bn = std::min(kAttnBlock, n_pos[qi] - p0);
      float* HWY_RESTRICT a = acc[qi];
      float bmax = -INFINITY;
      for (int64_t j = 0; j < bn; ++j) bmax = std::max(bmax, s[qi][j]);
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
        const float w = std::exp(s[qi][j] - m[qi]);
        l[qi] += w;
        const float* HWY_RESTRICT v = vb + j * vs;
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
