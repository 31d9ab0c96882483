// Scalar dequantizers: the definition of each block format's values. Bit-identical to ggml's
// scalar dequantize_row_* (ggml-quants.c) when compiled with -ffp-contract=off: every product
// and difference below is rounded separately, in the same order.
#include <cstring>

#include "base/check.h"
#include "base/fp16.h"
#include "kernels/reference.h"
#include "tensor/blocks.h"

namespace mnemo::kernels {
namespace {

void dq_q4_0(const BlockQ4_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK4_0) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      y[j] = static_cast<float>((b[i].qs[j] & 0x0F) - 8) * d;
      y[j + kQK4_0 / 2] = static_cast<float>((b[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dq_q4_1(const BlockQ4_1* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK4_1) {
    const float d = fp16_to_f32(b[i].d);
    const float m = fp16_to_f32(b[i].m);
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      y[j] = static_cast<float>(b[i].qs[j] & 0x0F) * d + m;
      y[j + kQK4_1 / 2] = static_cast<float>(b[i].qs[j] >> 4) * d + m;
    }
  }
}

// Bit j of qh is the fifth bit of element j (j in [0, 32)).
void dq_q5_0(const BlockQ5_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK5_0) {
    const float d = fp16_to_f32(b[i].d);
    uint32_t qh;
    std::memcpy(&qh, b[i].qh, 4);
    for (int j = 0; j < kQK5_0 / 2; ++j) {
      const int lo = (b[i].qs[j] & 0x0F) | static_cast<int>(((qh >> j) & 1) << 4);
      const int hi = (b[i].qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
      y[j] = static_cast<float>(lo - 16) * d;
      y[j + kQK5_0 / 2] = static_cast<float>(hi - 16) * d;
    }
  }
}

void dq_q5_1(const BlockQ5_1* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK5_1) {
    const float d = fp16_to_f32(b[i].d);
    const float m = fp16_to_f32(b[i].m);
    uint32_t qh;
    std::memcpy(&qh, b[i].qh, 4);
    for (int j = 0; j < kQK5_1 / 2; ++j) {
      const int lo = (b[i].qs[j] & 0x0F) | static_cast<int>(((qh >> j) & 1) << 4);
      const int hi = (b[i].qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
      y[j] = static_cast<float>(lo) * d + m;
      y[j + kQK5_1 / 2] = static_cast<float>(hi) * d + m;
    }
  }
}

void dq_q8_0(const BlockQ8_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK8_0) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < kQK8_0; ++j) y[j] = static_cast<float>(b[i].qs[j]) * d;
  }
}

// Q2_K: 16 sub-blocks of 16; scales[s] holds the 4-bit scale (low) and 4-bit min (high) of
// sub-block s. Element e = 128*h + 32*j + 16*k + l (h, k in {0,1}, j in [0,4), l in [0,16)) is
// bits 2j..2j+1 of qs[32*h + 16*k + l], in sub-block s = 8*h + 2*j + k.
void dq_q2_k(const BlockQ2_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(b[i].d);
    const float dmin = fp16_to_f32(b[i].dmin);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* q = b[i].qs + 32 * h;
      for (int j = 0; j < 4; ++j) {
        for (int k = 0; k < 2; ++k) {
          const uint8_t sc = b[i].scales[8 * h + 2 * j + k];
          const float dl = d * static_cast<float>(sc & 0xF);
          const float ml = dmin * static_cast<float>(sc >> 4);
          for (int l = 0; l < 16; ++l) {
            *y++ = dl * static_cast<float>((q[16 * k + l] >> (2 * j)) & 3) - ml;
          }
        }
      }
    }
  }
}

// Q3_K: 16 signed 6-bit scales packed in 12 bytes: the low 4 bits of scale s are the low (s < 8)
// or high (s >= 8) nibble of scales[s % 8]; its high 2 bits are bits 2*(s/4).. of scales[8 + s%4].
// Element layout as Q2_K; a clear hmask bit subtracts 4 from the 2-bit value.
void dq_q3_k(const BlockQ3_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(b[i].d);
    int scale[16];
    for (int s = 0; s < 16; ++s) {
      const int lo = s < 8 ? (b[i].scales[s] & 0xF) : (b[i].scales[s - 8] >> 4);
      const int hi = (b[i].scales[8 + s % 4] >> (2 * (s / 4))) & 3;
      scale[s] = (lo | (hi << 4)) - 32;
    }
    for (int h = 0; h < 2; ++h) {
      const uint8_t* q = b[i].qs + 32 * h;
      for (int j = 0; j < 4; ++j) {
        const int mbit = 4 * h + j;  // bit of hmask[l] for this element group
        for (int k = 0; k < 2; ++k) {
          const float dl = d * static_cast<float>(scale[8 * h + 2 * j + k]);
          for (int l = 0; l < 16; ++l) {
            const int idx = 16 * k + l;
            const int v = ((q[idx] >> (2 * j)) & 3) - (((b[i].hmask[idx] >> mbit) & 1) ? 0 : 4);
            *y++ = dl * static_cast<float>(v);
          }
        }
      }
    }
  }
}

// 6-bit scale and min of sub-block j (of 8) of Q4_K / Q5_K.
inline void scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// Q4_K: 8 sub-blocks of 32; element 64*g + l is the low nibble of qs[32*g + l] (sub-block 2g),
// element 64*g + 32 + l the high nibble (sub-block 2g+1).
void dq_q4_k(const BlockQ4_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(b[i].d);
    const float dmin = fp16_to_f32(b[i].dmin);
    for (int g = 0; g < 4; ++g) {
      const uint8_t* q = b[i].qs + 32 * g;
      for (int k = 0; k < 2; ++k) {
        uint8_t sc, m;
        scale_min_k4(2 * g + k, b[i].scales, &sc, &m);
        const float dl = d * static_cast<float>(sc);
        const float ml = dmin * static_cast<float>(m);
        for (int l = 0; l < 32; ++l) *y++ = dl * static_cast<float>((q[l] >> (4 * k)) & 0xF) - ml;
      }
    }
  }
}

// Q5_K: as Q4_K plus a fifth bit: bit (2g + k) of qh[l] for element 64*g + 32*k + l.
void dq_q5_k(const BlockQ5_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(b[i].d);
    const float dmin = fp16_to_f32(b[i].dmin);
    for (int g = 0; g < 4; ++g) {
      const uint8_t* q = b[i].qs + 32 * g;
      for (int k = 0; k < 2; ++k) {
        uint8_t sc, m;
        scale_min_k4(2 * g + k, b[i].scales, &sc, &m);
        const float dl = d * static_cast<float>(sc);
        const float ml = dmin * static_cast<float>(m);
        const int bit = 2 * g + k;
        for (int l = 0; l < 32; ++l) {
          const int v = ((q[l] >> (4 * k)) & 0xF) + (((b[i].qh[l] >> bit) & 1) ? 16 : 0);
          *y++ = dl * static_cast<float>(v) - ml;
        }
      }
    }
  }
}

// Q6_K: element 128*h + 32*c + l (c in [0,4)) takes 4 low bits from ql[64*h + l + 32*(c&1)]
// (low nibble for c < 2, high for c >= 2) and 2 high bits from bits 2c.. of qh[32*h + l]; its
// scale is scales[8*h + 2*c + l/16]. Value (d * scale) * (q - 32).
void dq_q6_k(const BlockQ6_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(b[i].d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b[i].ql + 64 * h;
      const uint8_t* qh = b[i].qh + 32 * h;
      const int8_t* sc = b[i].scales + 8 * h;
      for (int c = 0; c < 4; ++c) {
        for (int l = 0; l < 32; ++l) {
          const int lo = (ql[l + 32 * (c & 1)] >> (4 * (c >> 1))) & 0xF;
          const int hi = (qh[l] >> (2 * c)) & 3;
          const int q = (lo | (hi << 4)) - 32;
          y[128 * h + 32 * c + l] = d * static_cast<float>(sc[2 * c + l / 16]) * static_cast<float>(q);
        }
      }
    }
    y += kQK_K;
  }
}

}  // namespace

void dequantize_row_ref(DType type, const void* src, float* dst, int64_t n) {
  const DTypeTraits& t = traits(type);
  MNEMO_CHECK(t.supported && n >= 0 && n % t.block_elems == 0);
  const int64_t nb = n / t.block_elems;
  switch (type) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::F16: {
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(h[i]);
      return;
    }
    case DType::BF16: {
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(h[i]);
      return;
    }
    case DType::Q4_0: return dq_q4_0(static_cast<const BlockQ4_0*>(src), dst, nb);
    case DType::Q4_1: return dq_q4_1(static_cast<const BlockQ4_1*>(src), dst, nb);
    case DType::Q5_0: return dq_q5_0(static_cast<const BlockQ5_0*>(src), dst, nb);
    case DType::Q5_1: return dq_q5_1(static_cast<const BlockQ5_1*>(src), dst, nb);
    case DType::Q8_0: return dq_q8_0(static_cast<const BlockQ8_0*>(src), dst, nb);
    case DType::Q2_K: return dq_q2_k(static_cast<const BlockQ2_K*>(src), dst, nb);
    case DType::Q3_K: return dq_q3_k(static_cast<const BlockQ3_K*>(src), dst, nb);
    case DType::Q4_K: return dq_q4_k(static_cast<const BlockQ4_K*>(src), dst, nb);
    case DType::Q5_K: return dq_q5_k(static_cast<const BlockQ5_K*>(src), dst, nb);
    case DType::Q6_K: return dq_q6_k(static_cast<const BlockQ6_K*>(src), dst, nb);
    default:
      MNEMO_CHECK(false && "dequantize_row_ref: unsupported type");
  }
}

}  // namespace mnemo::kernels
