// Scalar references of the non-dequantization kernels (see reference.h for their contracts).
#include "kernels/reference.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "base/check.h"
#include "base/fp16.h"

namespace mnemo::kernels {

void matmul_ref(const TensorView& W, const float* X, int64_t T, float* Y) {
  const int64_t n = W.ne[0];
  const int64_t m = W.n_rows();
  std::vector<float> w(static_cast<size_t>(n));
  for (int64_t r = 0; r < m; ++r) {
    dequantize_row_ref(W.type, W.row(r), w.data(), n);
    for (int64_t t = 0; t < T; ++t) {
      const float* x = X + t * n;
      double acc = 0.0;
      for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(w[i]) * static_cast<double>(x[i]);
      Y[t * m + r] = static_cast<float>(acc);
    }
  }
}

namespace {

// One Q8 block of `len` values (32 or 256) as ActRounding r defines it (kernels.h): q[0..len) and
// the scale d.
void q8_block_ref(ActRounding r, const float* x, int64_t len, int8_t* q, float* d) {
  constexpr float kMax = std::numeric_limits<float>::max();
  float amax = 0.0f, m = 0.0f;
  bool finite = true;
  for (int64_t i = 0; i < len; ++i) {
    if (!(std::fabs(x[i]) <= kMax)) finite = false;
    if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), m = x[i];
  }
  std::fill(q, q + len, int8_t{0});
  if (!finite) {
    *d = std::numeric_limits<float>::quiet_NaN();
    return;
  }
  if (r == ActRounding::kQ8x32) {
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    if (id == 0.0f || !(id <= kMax)) {
      *d = 0.0f;
      return;
    }
    *d = fp16_to_f32(f32_to_fp16(amax / 127.0f));
    if (*d == 0.0f) return;  // the half scale underflows: every value rounds to 0 anyway
    for (int64_t i = 0; i < len; ++i) q[i] = static_cast<int8_t>(std::nearbyint(x[i] * id));
  } else {
    const float s = amax != 0.0f ? -127.0f / m : 0.0f;
    if (s == 0.0f || !(std::fabs(s) <= kMax)) {
      *d = 0.0f;
      return;
    }
    *d = 1.0f / s;
    for (int64_t i = 0; i < len; ++i) q[i] = static_cast<int8_t>(std::min(127.0f, std::nearbyint(s * x[i])));
  }
}

}  // namespace

void round_activations_ref(ActRounding r, const float* x, int64_t n, float* y) {
  switch (r) {
    case ActRounding::kF32:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i];
      return;
    case ActRounding::kF16:
      for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_f32(f32_to_fp16(x[i]));
      return;
    case ActRounding::kBF16:
      for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(f32_to_bf16(x[i]));
      return;
    case ActRounding::kQ8x32:
    case ActRounding::kQ8x256: {
      const int64_t len = r == ActRounding::kQ8x32 ? 32 : 256;
      MNEMO_CHECK(n % len == 0);
      int8_t q[256];
      for (int64_t b = 0; b < n / len; ++b) {
        float d;
        q8_block_ref(r, x + b * len, len, q, &d);
        for (int64_t i = 0; i < len; ++i) y[b * len + i] = d * static_cast<float>(q[i]);
      }
      return;
    }
  }
}

void quantize_q8_ref(const float* x, int64_t n, void* dst, ActRounding r) {
  MNEMO_CHECK(r == ActRounding::kQ8x32 || r == ActRounding::kQ8x256);
  const int64_t len = r == ActRounding::kQ8x32 ? 32 : 256;
  MNEMO_CHECK(n % len == 0);
  auto* base = static_cast<uint8_t*>(dst);
  auto* qs = reinterpret_cast<int8_t*>(base);
  auto* p8 = reinterpret_cast<int16_t*>(base + n);
  auto* dd = reinterpret_cast<float*>(base + 2 * n);
  auto* ss = reinterpret_cast<float*>(base + 2 * n + n / 8);
  for (int64_t g = 0; g < n / len; ++g) {
    float d;
    q8_block_ref(r, x + g * len, len, qs + g * len, &d);
    for (int64_t b = g * len / kQ8Block; b < (g + 1) * len / kQ8Block; ++b) {
      const int8_t* q = qs + b * kQ8Block;
      int32_t sum = 0;
      for (int64_t j = 0; j < kQ8Block / 2; ++j) {
        const int32_t pair = q[2 * j] + q[2 * j + 1];
        sum += pair;
        p8[b * (kQ8Block / 2) + j] = static_cast<int16_t>(8 * pair);
      }
      dd[b] = d;
      ss[b] = d * static_cast<float>(sum);
    }
  }
}

void matmul_q8_ref(const TensorView& W, const void* Xq, int64_t T, float* Y) {
  const int64_t n = W.ne[0];
  const int64_t m = W.n_rows();
  const size_t stride = q8_row_bytes(n);
  std::vector<float> w(static_cast<size_t>(n));
  for (int64_t r = 0; r < m; ++r) {
    dequantize_row_ref(W.type, W.row(r), w.data(), n);
    for (int64_t t = 0; t < T; ++t) {
      const auto* row = static_cast<const uint8_t*>(Xq) + static_cast<size_t>(t) * stride;
      const auto* qs = reinterpret_cast<const int8_t*>(row);
      const auto* dd = reinterpret_cast<const float*>(row + 2 * n);
      double acc = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        acc += static_cast<double>(w[i]) * (static_cast<double>(dd[i / kQ8Block]) * qs[i]);
      }
      Y[t * m + r] = static_cast<float>(acc);
    }
  }
}

void get_row_ref(const TensorView& E, int64_t r, float* out) {
  MNEMO_CHECK(r >= 0 && r < E.n_rows());
  dequantize_row_ref(E.type, E.row(r), out, E.ne[0]);
}

void rmsnorm_ref(const float* x, const float* w, float eps, int64_t n, float* y) {
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  const double scale = 1.0 / std::sqrt(ss / static_cast<double>(n) + static_cast<double>(eps));
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(static_cast<double>(x[i]) * scale * w[i]);
}

void add_ref(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void swiglu_ref(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    out[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * static_cast<double>(up[i]));
  }
}

void softmax_ref(float* x, int64_t n) {
  if (n <= 0) return;
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, static_cast<double>(x[i]));
  std::vector<double> e(static_cast<size_t>(n));
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    e[i] = std::exp(static_cast<double>(x[i]) - mx);
    sum += e[i];
  }
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(e[i] / sum);
}

void rope_angles(int64_t pos, const RopeParams& p, float* cos_out, float* sin_out) {
  const int64_t half = p.n_rot / 2;
  for (int64_t i = 0; i < half; ++i) {
    const double ff = p.freq_factors != nullptr ? static_cast<double>(p.freq_factors[i]) : 1.0;
    const double theta = static_cast<double>(pos) * static_cast<double>(p.freq_scale) *
                         std::pow(static_cast<double>(p.freq_base),
                                  -2.0 * static_cast<double>(i) / static_cast<double>(p.n_rot)) / ff;
    cos_out[i] = static_cast<float>(std::cos(theta));
    sin_out[i] = static_cast<float>(std::sin(theta));
  }
}

void rope_ref(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, const RopeParams& p) {
  MNEMO_CHECK(p.n_rot >= 0 && p.n_rot % 2 == 0 && p.n_rot <= head_dim);
  const int64_t half = p.n_rot / 2;
  std::vector<float> c(static_cast<size_t>(half)), s(static_cast<size_t>(half));
  rope_angles(pos, p, c.data(), s.data());
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const int64_t i0 = p.style == RopeStyle::kNormal ? 2 * i : i;
      const int64_t i1 = p.style == RopeStyle::kNormal ? 2 * i + 1 : i + half;
      const float x0 = v[i0];
      const float x1 = v[i1];
      v[i0] = x0 * c[i] - x1 * s[i];
      v[i1] = x0 * s[i] + x1 * c[i];
    }
  }
}

void attention_ref(const float* Q, int64_t T, int64_t pos0, const float* K, const float* V,
                   int64_t kv_stride, const AttentionShape& shape, float scale, float* out) {
  const int64_t hd = shape.head_dim;
  MNEMO_CHECK(shape.n_head_kv > 0 && shape.n_head % shape.n_head_kv == 0);
  const int64_t group = shape.n_head / shape.n_head_kv;
  const int64_t q_stride = shape.n_head * hd;
  std::vector<double> s(static_cast<size_t>(pos0 + T));
  std::vector<double> o(static_cast<size_t>(hd));
  for (int64_t t = 0; t < T; ++t) {
    const int64_t n_pos = pos0 + t + 1;
    for (int64_t h = 0; h < shape.n_head; ++h) {
      const float* q = Q + t * q_stride + h * hd;
      const int64_t kv_off = (h / group) * hd;
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t p = 0; p < n_pos; ++p) {
        const float* k = K + p * kv_stride + kv_off;
        double dot = 0.0;
        for (int64_t i = 0; i < hd; ++i) dot += static_cast<double>(q[i]) * static_cast<double>(k[i]);
        s[p] = dot * static_cast<double>(scale);
        mx = std::max(mx, s[p]);
      }
      double sum = 0.0;
      for (int64_t p = 0; p < n_pos; ++p) {
        s[p] = std::exp(s[p] - mx);
        sum += s[p];
      }
      std::fill(o.begin(), o.end(), 0.0);
      for (int64_t p = 0; p < n_pos; ++p) {
        const float* v = V + p * kv_stride + kv_off;
        for (int64_t i = 0; i < hd; ++i) o[i] += s[p] * static_cast<double>(v[i]);
      }
      float* dst = out + t * q_stride + h * hd;
      for (int64_t i = 0; i < hd; ++i) dst[i] = static_cast<float>(o[i] / sum);
    }
  }
}

// Typed rows: dequantize what is read, round q as the kernel does, then the F32 reference.
void attention_ref(const float* Q, int64_t T, int64_t pos0, const KvRows& kv,
                   const AttentionShape& shape, float scale, float* out) {
  const int64_t n_pos = pos0 + T, hd = shape.head_dim, width = shape.n_head_kv * hd;
  MNEMO_CHECK(kv_type_fits(kv.type_k, hd) && kv_type_fits(kv.type_v, hd));
  std::vector<float> K(static_cast<size_t>(n_pos * width)), V(K.size());
  for (int64_t p = 0; p < n_pos; ++p) {
    dequantize_row_ref(kv_dtype(kv.type_k), static_cast<const uint8_t*>(kv.k) + p * kv.k_stride,
                       K.data() + p * width, width);
    dequantize_row_ref(kv_dtype(kv.type_v), static_cast<const uint8_t*>(kv.v) + p * kv.v_stride,
                       V.data() + p * width, width);
  }
  const int64_t q_width = shape.n_head * hd;
  std::vector<float> q(static_cast<size_t>(T * q_width));
  const ActRounding r =
      kv.type_k == KvType::kF32 ? ActRounding::kF32 : activation_rounding(kv_dtype(kv.type_k));
  for (int64_t i = 0; i < T * shape.n_head; ++i)
    round_activations_ref(r, Q + i * hd, hd, q.data() + i * hd);
  attention_ref(q.data(), T, pos0, K.data(), V.data(), width, shape, scale, out);
}

void quantize_block_q4_0_ref(const float* x, BlockQ4_0* y) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kQK4_0; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  const float d = max / -8;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  y->d = f32_to_fp16(d);
  for (int j = 0; j < kQK4_0 / 2; ++j) {
    const uint8_t q0 =
        static_cast<uint8_t>(std::min<int>(15, static_cast<int8_t>(x[j] * id + 8.5f)));
    const uint8_t q1 =
        static_cast<uint8_t>(std::min<int>(15, static_cast<int8_t>(x[kQK4_0 / 2 + j] * id + 8.5f)));
    y->qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
  }
}

void kv_store_row_ref(KvType t, const float* src, int64_t n, void* dst) {
  MNEMO_CHECK(n >= 0 && n % kv_type_block(t) == 0);
  switch (t) {
    case KvType::kF32:
      for (int64_t i = 0; i < n; ++i) static_cast<float*>(dst)[i] = src[i];
      return;
    case KvType::kF16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = f32_to_fp16(src[i]);
      return;
    case KvType::kQ8_0:
      for (int64_t b = 0; b < n / kQK8_0; ++b) {
        BlockQ8_0* y = static_cast<BlockQ8_0*>(dst) + b;
        float d = 0.0f;
        q8_block_ref(ActRounding::kQ8x32, src + b * kQK8_0, kQK8_0, y->qs, &d);
        y->d = f32_to_fp16(d);
      }
      return;
    case KvType::kQ4_0:
      for (int64_t b = 0; b < n / kQK4_0; ++b)
        quantize_block_q4_0_ref(src + b * kQK4_0, static_cast<BlockQ4_0*>(dst) + b);
      return;
  }
}

}  // namespace mnemo::kernels
