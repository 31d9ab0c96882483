#include "compress/ggml_quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/fp16.h"
#include "compress/group_quant.h"
#include "kernels/reference.h"
#include "tensor/blocks.h"

namespace mnemo {
namespace {

// Round to nearest (ties to even) through the float mantissa: adding 1.5 * 2^23 leaves the
// integer in the low mantissa bits (|v| < 2^22), as ggml's nearest_int does.
inline int round_nearest(float v) {
  const float shifted = v + 12582912.0f;
  uint32_t bits;
  std::memcpy(&bits, &shifted, 4);
  return static_cast<int>(bits & 0x007fffff) - 0x00400000;
}

// The value of largest magnitude (first one on ties) and its magnitude.
inline void signed_absmax(const float* x, int n, float* amax, float* max) {
  *amax = 0.0f;
  *max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (*amax < std::fabs(x[j])) {
      *amax = std::fabs(x[j]);
      *max = x[j];
    }
  }
}

// Q6_K's sub-block scale search (ggml's make_qx_quants with rmse_type 1 and no weights):
// L[i] in [0, 2 nmax) are the levels + nmax; returns the scale. Candidate inverse scales
// -(nmax + 0.1 k) / max for k in [-9, 9] are tried after the first; the one maximizing
// (sum w x l)^2 / sum w l^2 (w = x^2), i.e. minimizing the weighted error, wins.
float qx_scale_search(int n, int nmax, const float* x, int8_t* L) {
  float amax, max;
  signed_absmax(x, n, &amax, &max);
  if (amax < 1e-15f) {
    std::fill(L, L + n, 0);
    return 0.0f;
  }
  const auto level = [nmax](float iscale, float v) { return std::max(-nmax, std::min(nmax - 1, round_nearest(iscale * v))); };
  float iscale = -static_cast<float>(nmax) / max;
  float sumlx = 0.0f, suml2 = 0.0f;
  for (int i = 0; i < n; ++i) {
    const int l = level(iscale, x[i]);
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * static_cast<float>(l);
    suml2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int k = -9; k <= 9; ++k) {
    if (k == 0) continue;
    iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(k)) / max;
    sumlx = suml2 = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int l = level(iscale, x[i]);
      const float w = x[i] * x[i];
      sumlx += w * x[i] * static_cast<float>(l);
      suml2 += w * static_cast<float>(l) * static_cast<float>(l);
    }
    if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(nmax + level(iscale, x[i]));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Q4_K's sub-block scale-and-minimum search (ggml's make_qkx2_quants: weighted least squares of
// x ~ scale * l + min over nstep + 1 candidate inverse scales (rmin + rdelta k + nmax) / range,
// min clamped to <= 0). Returns the scale; *neg_min = -min.
float qkx_scale_min_search(int n, int nmax, const float* x, const float* w, uint8_t* L, float* neg_min,
                           uint8_t* Laux, float rmin, float rdelta, int nstep) {
  float min = x[0], max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0.0f) min = 0.0f;
  if (max == min) {
    std::fill(L, L + n, 0);
    *neg_min = -min;
    return 0.0f;
  }
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1.0f / iscale;
  float best_err = 0.0f;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, round_nearest(iscale * (x[i] - min)))));
    const float diff = scale * static_cast<float>(L[i]) + min - x[i];
    best_err += w[i] * (diff * diff);
  }
  for (int k = 0; k <= nstep; ++k) {
    iscale = (rmin + rdelta * static_cast<float>(k) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int l = std::max(0, std::min(nmax, round_nearest(iscale * (x[i] - min))));
      Laux[i] = static_cast<uint8_t>(l);
      const float fl = static_cast<float>(l);
      sum_l += w[i] * fl;
      sum_l2 += w[i] * fl * fl;
      sum_xl += w[i] * fl * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0.0f) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0.0f) {
        this_min = 0.0f;
        this_scale = sum_xl / sum_l2;
      }
      float err = 0.0f;
      for (int i = 0; i < n; ++i) {
        const float diff = this_scale * static_cast<float>(Laux[i]) + this_min - x[i];
        err += w[i] * (diff * diff);
      }
      if (err < best_err) {
        std::copy(Laux, Laux + n, L);
        best_err = err;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *neg_min = -min;
  return scale;
}

}  // namespace

// Q8_0: d = amax / 127, q = round(x / d) (round half away from zero, as roundf).
void quantize_row_q8_0(const float* x, void* dst, int64_t n) {
  BlockQ8_0* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK8_0; ++i, x += kQK8_0) {
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_fp16(d);
    for (int j = 0; j < kQK8_0; ++j) y[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
  }
}

// Q4_0: d = max / -8 where max is the value of largest magnitude; q = min(15, trunc(x/d + 8.5)).
void quantize_row_q4_0(const float* x, void* dst, int64_t n) {
  BlockQ4_0* y = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < n / kQK4_0; ++i, x += kQK4_0) kernels::quantize_block_q4_0_ref(x, y + i);
}

// Q5_0: d = max / -16; q = min(31, trunc(x/d + 16.5)), bit 4 of q in qh.
void quantize_row_q5_0(const float* x, void* dst, int64_t n) {
  BlockQ5_0* y = static_cast<BlockQ5_0*>(dst);
  for (int64_t i = 0; i < n / kQK5_0; ++i, x += kQK5_0) {
    float amax, max;
    signed_absmax(x, kQK5_0, &amax, &max);
    const float d = max / -16;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_fp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK5_0 / 2; ++j) {
      const uint8_t q0 = static_cast<uint8_t>(std::min<int>(31, static_cast<int8_t>(x[j] * id + 16.5f)));
      const uint8_t q1 = static_cast<uint8_t>(std::min<int>(31, static_cast<int8_t>(x[kQK5_0 / 2 + j] * id + 16.5f)));
      y[i].qs[j] = static_cast<uint8_t>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
      qh |= static_cast<uint32_t>((q0 & 0x10u) >> 4) << j;
      qh |= static_cast<uint32_t>((q1 & 0x10u) >> 4) << (j + kQK5_0 / 2);
    }
    std::memcpy(y[i].qh, &qh, 4);
  }
}

// Q4_K: per super-block of 256, 8 sub-blocks of 32 each fitted as scale * l - neg_min (l in
// 0..15) with weights sqrt(mean x^2) + |x|; the scales and minimums are then stored as 6-bit
// multiples of d = max scale / 63 and dmin = max min / 63, and the levels recomputed with them.
void quantize_row_q4_k(const float* x, void* dst, int64_t n) {
  BlockQ4_K* y = static_cast<BlockQ4_K*>(dst);
  uint8_t L[kQK_K], Laux[32];
  float w[32], mins[kQK_K / 32], scales[kQK_K / 32];
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    float max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < kQK_K / 32; ++j) {
      float sum_x2 = 0.0f;
      for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) w[l] = av_x + std::fabs(x[32 * j + l]);
      scales[j] = qkx_scale_min_search(32, 15, x + 32 * j, w, L + 32 * j, &mins[j], Laux, -1.0f, 0.1f, 20);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    std::memset(y[i].scales, 0, sizeof(y[i].scales));
    for (int j = 0; j < kQK_K / 32; ++j) {
      const uint8_t ls = static_cast<uint8_t>(std::min(63, static_cast<int>(static_cast<uint8_t>(round_nearest(inv_scale * scales[j])))));
      const uint8_t lm = static_cast<uint8_t>(std::min(63, static_cast<int>(static_cast<uint8_t>(round_nearest(inv_min * mins[j])))));
      if (j < 4) {
        y[i].scales[j] = ls;
        y[i].scales[j + 4] = lm;
      } else {
        y[i].scales[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
        y[i].scales[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
        y[i].scales[j] |= static_cast<uint8_t>((lm >> 4) << 6);
      }
    }
    y[i].d = f32_to_fp16(max_scale / 63.0f);
    y[i].dmin = f32_to_fp16(max_min / 63.0f);
    for (int j = 0; j < kQK_K / 32; ++j) {
      int sc, m;
      if (j < 4) {
        sc = y[i].scales[j] & 63;
        m = y[i].scales[j + 4] & 63;
      } else {
        sc = (y[i].scales[j + 4] & 0xF) | ((y[i].scales[j - 4] >> 6) << 4);
        m = (y[i].scales[j + 4] >> 4) | ((y[i].scales[j] >> 6) << 4);
      }
      const float d = fp16_to_f32(y[i].d) * static_cast<float>(sc);
      if (d == 0.0f) continue;
      const float dm = fp16_to_f32(y[i].dmin) * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) {
        L[32 * j + l] = static_cast<uint8_t>(std::max(0, std::min(15, round_nearest((x[32 * j + l] + dm) / d))));
      }
    }
    uint8_t* q = y[i].qs;
    for (int j = 0; j < kQK_K; j += 64, q += 32) {
      for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
    }
  }
}

// Q6_K: per super-block of 256, 16 sub-blocks of 16 with a searched scale each (levels -32..31);
// the scales are stored as int8 multiples of d = max scale / -128.
void quantize_row_q6_k(const float* x, void* dst, int64_t n) {
  BlockQ6_K* y = static_cast<BlockQ6_K*>(dst);
  int8_t L[kQK_K];
  float scales[kQK_K / 16];
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    float max_scale = 0.0f, max_abs_scale = 0.0f;
    for (int ib = 0; ib < kQK_K / 16; ++ib) {
      const float scale = qx_scale_search(16, 32, x + 16 * ib, L + 16 * ib);
      scales[ib] = scale;
      if (std::fabs(scale) > max_abs_scale) {
        max_abs_scale = std::fabs(scale);
        max_scale = scale;
      }
    }
    if (max_abs_scale < 1e-15f) {
      std::memset(&y[i], 0, sizeof(BlockQ6_K));
      continue;
    }
    const float iscale = -128.0f / max_scale;
    y[i].d = f32_to_fp16(1 / iscale);
    for (int ib = 0; ib < kQK_K / 16; ++ib) {
      y[i].scales[ib] = static_cast<int8_t>(std::min(127, round_nearest(iscale * scales[ib])));
    }
    for (int j = 0; j < kQK_K / 16; ++j) {
      const float d = fp16_to_f32(y[i].d) * static_cast<float>(y[i].scales[j]);
      if (d == 0.0f) continue;
      for (int l = 0; l < 16; ++l) {
        L[16 * j + l] = static_cast<int8_t>(std::max(-32, std::min(31, round_nearest(x[16 * j + l] / d))) + 32);
      }
    }
    uint8_t* ql = y[i].ql;
    uint8_t* qh = y[i].qh;
    for (int j = 0; j < kQK_K; j += 128, ql += 64, qh += 32) {
      for (int l = 0; l < 32; ++l) {
        const auto q = [&](int off) { return static_cast<uint8_t>(L[j + l + off]); };
        ql[l] = static_cast<uint8_t>((q(0) & 0xF) | ((q(64) & 0xF) << 4));
        ql[l + 32] = static_cast<uint8_t>((q(32) & 0xF) | ((q(96) & 0xF) << 4));
        qh[l] = static_cast<uint8_t>((q(0) >> 4) | ((q(32) >> 4) << 2) | ((q(64) >> 4) << 4) | ((q(96) >> 4) << 6));
      }
    }
  }
}

bool can_quantize(DType type) {
  switch (type) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q5_0:
    case DType::Q4_K:
    case DType::Q6_K:
      return true;
    default:
      return is_mnemo_type(type) && traits(type).supported;
  }
}

Status quantize_row(DType type, const float* src, void* dst, int64_t n) {
  if (is_mnemo_type(type)) return quantize_row_mnemo(type, src, dst, n);
  switch (type) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return Status::ok();
    case DType::F16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_fp16(src[i]);
      return Status::ok();
    }
    case DType::BF16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
      return Status::ok();
    }
    case DType::Q8_0:
      quantize_row_q8_0(src, dst, n);
      return Status::ok();
    case DType::Q4_0:
      quantize_row_q4_0(src, dst, n);
      return Status::ok();
    case DType::Q5_0:
      quantize_row_q5_0(src, dst, n);
      return Status::ok();
    case DType::Q4_K:
      quantize_row_q4_k(src, dst, n);
      return Status::ok();
    case DType::Q6_K:
      quantize_row_q6_k(src, dst, n);
      return Status::ok();
    default:
      return unsupported("quantize: no quantizer for type " + std::string(dtype_name(type)));
  }
}

}  // namespace mnemo
