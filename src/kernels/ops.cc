// Dispatch of the element-wise kernels, softmax, rope and attention (see kernels.h). Per-target
// code is in ops-inl.h and attention-inl.h.
#include <algorithm>
#include <cmath>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "base/fp16.h"
#include "hwy/highway.h"
#include "kernels/attention-inl.h"
#include "kernels/ops-inl.h"
#include "kernels/q8-inl.h"
#include "kernels/reference.h"

HWY_BEFORE_NAMESPACE();
namespace mnemo::kernels::HWY_NAMESPACE {

void RmsNormImpl(const float* x, const float* w, float eps, int64_t n, float* y) {
  RmsNormF32(x, w, eps, n, y);
}
void AddImpl(float* x, const float* y, int64_t n) { AddF32(x, y, n); }
float DotImpl(const float* a, const float* b, int64_t n) { return DotF32x2(a, b, n); }
// As RmsNormF32, then the Q8 row of the result (the f32 values are the same).
void RmsNormQ8Impl(const float* x, const float* w, float eps, int64_t n, float* y, void* q, ActRounding r) {
  if (q == nullptr) return RmsNormF32(x, w, eps, n, y);
  const float ss = DotF32(x, x, n);
  const float scale =
      static_cast<float>(1.0 / std::sqrt(static_cast<double>(ss) / static_cast<double>(n) +
                                         static_cast<double>(eps)));
  q8::QuantizeRow(x, w, scale, n, y, q, r);
}
void SwigluImpl(const float* gate, const float* up, int64_t n, float* out) {
  SwigluF32(gate, up, n, out);
}
void SoftmaxImpl(float* x, int64_t n) { SoftmaxF32(x, n); }
void RopeImpl(float* x, int64_t n_heads, int64_t head_dim, int64_t half, bool neox, const float* c,
              const float* s) {
  RopeF32(x, n_heads, head_dim, half, neox, c, s);
}

// Items part, part + n_parts, ... of the attention tiles: item i is token tile i / n_htiles (tt
// tokens) of head tile i % n_htiles (ht heads sharing one KV head).
void AttentionPartImpl(const float* Q, int64_t T, int64_t pos0, const KvRows& kv, int64_t n_head,
                       int64_t n_head_kv, int64_t hd, float scale, float* out, int64_t tt,
                       int64_t ht, int64_t part, int64_t n_parts) {
  const int64_t group = n_head / n_head_kv;
  const int64_t n_htiles = n_head / ht;
  const int64_t n_items = (T + tt - 1) / tt * n_htiles;
  const uint64_t k_head_bytes = kv_row_bytes(kv.type_k, hd),
                 v_head_bytes = kv_row_bytes(kv.type_v, hd);
  const float* q[kAttnMaxQueries];
  float* o[kAttnMaxQueries];
  int64_t n_pos[kAttnMaxQueries];
  for (int64_t item = part; item < n_items; item += n_parts) {
    const int64_t t0 = item / n_htiles * tt;
    const int64_t h0 = item % n_htiles * ht;
    int nq = 0;
    for (int64_t t = t0; t < std::min(T, t0 + tt); ++t) {
      for (int64_t h = h0; h < h0 + ht; ++h, ++nq) {
        const int64_t off = t * n_head * hd + h * hd;
        q[nq] = Q + off;
        o[nq] = out + off;
        n_pos[nq] = pos0 + t + 1;
      }
    }
    const uint64_t h_kv = static_cast<uint64_t>(h0 / group);
    const KvHead K{static_cast<const uint8_t*>(kv.k) + h_kv * k_head_bytes, kv.k_stride, kv.type_k};
    const KvHead V{static_cast<const uint8_t*>(kv.v) + h_kv * v_head_bytes, kv.v_stride, kv.type_v};
    AttendTile(q, n_pos, nq, K, V, hd, scale, o);
  }
}

// Contract in kernels.h (kv_store_row).
void KvStoreRowImpl(KvType t, const float* src, int64_t n, void* dst) {
  switch (t) {
    case KvType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case KvType::kF16: {
      uint16_t* y = static_cast<uint16_t*>(dst);
      int64_t i = 0;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
      for (; i + 8 <= n; i += 8) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
      }
#endif
      for (; i < n; ++i) y[i] = f32_to_fp16(src[i]);
      return;
    }
    case KvType::kQ8_0: {
      BlockQ8_0* y = static_cast<BlockQ8_0*>(dst);
      for (int64_t b = 0; b < n / kQK8_0; ++b) {
        const float* xb = src + b * kQK8_0;
        float amax = 0.0f, d = 0.0f, mul = 0.0f;
        const bool finite = q8::BlockAbsMax(xb, kQK8_0, &amax);
        if (q8::BlockScale(ActRounding::kQ8x32, finite, amax, xb, kQK8_0, &d, &mul)) {
          q8::QuantizeBlock32(xb, mul, y[b].qs);
        } else {
          std::memset(y[b].qs, 0, sizeof(y[b].qs));
        }
        y[b].d = f32_to_fp16(d);
      }
      return;
    }
    case KvType::kQ4_0:
      // One row per token and layer: the scalar arithmetic of ggml's reference is fast enough.
      for (int64_t b = 0; b < n / kQK4_0; ++b)
        quantize_block_q4_0_ref(src + b * kQK4_0, static_cast<BlockQ4_0*>(dst) + b);
      return;
  }
}

}  // namespace mnemo::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "base/check.h"
#include "kernels/kernels.h"
#include "kernels/reference.h"

namespace mnemo::kernels {

HWY_EXPORT(DotImpl);
HWY_EXPORT(RmsNormImpl);
HWY_EXPORT(AddImpl);
HWY_EXPORT(SwigluImpl);
HWY_EXPORT(SoftmaxImpl);
HWY_EXPORT(RopeImpl);
HWY_EXPORT(AttentionPartImpl);
HWY_EXPORT(RmsNormQ8Impl);
HWY_EXPORT(KvStoreRowImpl);

void rmsnorm(const float* x, const float* w, float eps, int64_t n, float* y) {
  MNEMO_CHECK(n > 0);
  HWY_DYNAMIC_DISPATCH(RmsNormImpl)(x, w, eps, n, y);
}

void rmsnorm_q8(const float* x, const float* w, float eps, int64_t n, float* y, void* q, ActRounding r) {
  MNEMO_CHECK(r == ActRounding::kQ8x32 || r == ActRounding::kQ8x256);
  MNEMO_CHECK(n > 0 && (q == nullptr || n % (r == ActRounding::kQ8x32 ? kQ8Block : 256) == 0));
  if (q == nullptr && y == nullptr) return;
  HWY_DYNAMIC_DISPATCH(RmsNormQ8Impl)(x, w, eps, n, y, q, r);
}

void add(float* x, const float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(AddImpl)(x, y, n); }

float dot(const float* a, const float* b, int64_t n) { return HWY_DYNAMIC_DISPATCH(DotImpl)(a, b, n); }

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

void rope_table(const RopeParams& p, int64_t n_pos, float* table) {
  MNEMO_CHECK(p.n_rot >= 0 && p.n_rot % 2 == 0 && p.n_rot <= kRopeMaxRot);
  for (int64_t pos = 0; pos < n_pos; ++pos) {
    float* row = table + pos * p.n_rot;
    rope_angles(pos, p, row, row + p.n_rot / 2);
  }
}

void rope_with_table(float* x, int64_t n_heads, int64_t head_dim, const float* table_row, const RopeParams& p) {
  MNEMO_DCHECK(p.n_rot >= 0 && p.n_rot % 2 == 0 && p.n_rot <= head_dim);
  HWY_DYNAMIC_DISPATCH(RopeImpl)(x, n_heads, head_dim, p.n_rot / 2, p.style == RopeStyle::kNeox, table_row,
                                 table_row + p.n_rot / 2);
}

namespace {
struct AttentionTiling {
  int64_t tt = 1;  // tokens per tile
  int64_t ht = 1;  // heads per tile (sharing a KV head)
};
// Prefill: tiles of kAttentionQueryTile consecutive tokens of one head. Decode (and T below a
// tile): one token, the query heads of a KV group together (GQA), up to kAttnMaxQueries.
AttentionTiling attention_tiling(int64_t T, const AttentionShape& shape) {
  AttentionTiling t;
  if (T >= kAttentionQueryTile) {
    t.tt = kAttentionQueryTile;
    return t;
  }
  const int64_t group = shape.n_head / shape.n_head_kv;
  for (int64_t h = std::min<int64_t>(group, 8); h >= 1; --h) {
    if (group % h == 0) {
      t.ht = h;
      break;
    }
  }
  return t;
}

void check_attention(int64_t T, int64_t pos0, const AttentionShape& shape, const KvRows& kv) {
  MNEMO_CHECK(T >= 0 && pos0 >= 0);
  MNEMO_CHECK(shape.n_head > 0 && shape.n_head_kv > 0 && shape.n_head % shape.n_head_kv == 0);
  MNEMO_CHECK(shape.head_dim > 0 && shape.head_dim <= kAttentionMaxHeadDim);
  MNEMO_CHECK(kv_type_fits(kv.type_k, shape.head_dim) && kv_type_fits(kv.type_v, shape.head_dim));
  MNEMO_CHECK(kv.k_stride >= kv_row_bytes(kv.type_k, shape.n_head_kv * shape.head_dim));
  MNEMO_CHECK(kv.v_stride >= kv_row_bytes(kv.type_v, shape.n_head_kv * shape.head_dim));
  MNEMO_CHECK((kv.type_k != KvType::kF32 || kv.k_stride % sizeof(float) == 0) &&
              (kv.type_v != KvType::kF32 || kv.v_stride % sizeof(float) == 0));
}
}  // namespace

int64_t attention_items(int64_t T, const AttentionShape& shape) {
  const AttentionTiling t = attention_tiling(T, shape);
  return (T + t.tt - 1) / t.tt * (shape.n_head / t.ht);
}

void attention_part(const float* Q, int64_t T, int64_t pos0, const KvRows& kv,
                    const AttentionShape& shape, float scale, float* out, int part, int n_parts) {
  check_attention(T, pos0, shape, kv);
  MNEMO_DCHECK(part >= 0 && part < n_parts);
  if (T == 0) return;
  const AttentionTiling t = attention_tiling(T, shape);
  HWY_DYNAMIC_DISPATCH(AttentionPartImpl)
  (Q, T, pos0, kv, shape.n_head, shape.n_head_kv, shape.head_dim, scale, out, t.tt, t.ht, part,
   n_parts);
}

void attention_scores_part(const float* Q, int64_t T, int64_t pos0, const KvRows& kv,
                           const AttentionShape& shape, float scale, float* scores, int64_t score_stride,
                           float* work, int part, int n_parts) {
  check_attention(T, pos0, shape, kv);
  MNEMO_CHECK(score_stride >= pos0 + T);
  const int64_t hd = shape.head_dim, group = shape.n_head / shape.n_head_kv;
  const uint64_t k_head_bytes = kv_row_bytes(kv.type_k, hd);
  const DType kt = kv_dtype(kv.type_k);
  float* const logit = work;             // pos0 + T
  float* const krow = work + pos0 + T;   // head_dim
  for (int64_t h_kv = part; h_kv < shape.n_head_kv; h_kv += n_parts) {
    float* const acc = scores + h_kv * score_stride;
    const uint8_t* const K = static_cast<const uint8_t*>(kv.k) + static_cast<uint64_t>(h_kv) * k_head_bytes;
    for (int64_t t = 0; t < T; ++t) {
      const int64_t n = pos0 + t + 1;
      for (int64_t g = 0; g < group; ++g) {
        const float* q = Q + t * shape.n_head * hd + (h_kv * group + g) * hd;
        float m = -INFINITY;
        for (int64_t j = 0; j < n; ++j) {
          const uint8_t* row = K + static_cast<uint64_t>(j) * kv.k_stride;
          const float* k = reinterpret_cast<const float*>(row);
          if (kv.type_k != KvType::kF32) {
            dequantize_row(kt, row, krow, hd);
            k = krow;
          }
          logit[j] = scale * dot(q, k, hd);
          m = std::max(m, logit[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < n; ++j) {
          logit[j] = std::exp(logit[j] - m);
          sum += logit[j];
        }
        const float inv = static_cast<float>(1.0 / sum);
        for (int64_t j = 0; j < n; ++j) acc[j] += logit[j] * inv;
      }
    }
  }
}

void attention(const float* Q, int64_t T, int64_t pos0, const KvRows& kv,
               const AttentionShape& shape, float scale, float* out, ThreadPool& pool) {
  check_attention(T, pos0, shape, kv);
  if (T == 0) return;
  // Items are dealt round-robin so that the longer rows of late tokens in a causal prefill spread
  // over all threads; each item is still computed by one thread alone.
  pool.run([&](int ith, int nth) { attention_part(Q, T, pos0, kv, shape, scale, out, ith, nth); });
}

void kv_store_row(KvType t, const float* src, int64_t n, void* dst) {
  MNEMO_CHECK(n >= 0 && n % kv_type_block(t) == 0);
  HWY_DYNAMIC_DISPATCH(KvStoreRowImpl)(t, src, n, dst);
}

}  // namespace mnemo::kernels
#endif  // HWY_ONCE
