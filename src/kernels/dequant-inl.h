// kernels/dequant-inl.h: per-target dequantization of row ranges to f32 (re-included once per
// Highway target through hwy/foreach_target.h by the .cc files that use it).
//
// Every block format is computed with the same roundings, in the same order, as the scalar
// reference (kernels/dequant_ref.cc): integer parts exactly in int32 lanes, then one float
// multiply (and one add or subtract), never a fused multiply-add. The results are therefore
// bit-identical to dequantize_row_ref on every target. F16 is converted with integer operations
// (not F16C) so that NaN payloads and subnormals match base/fp16.h exactly.
//
// DequantizeRange() is the one place that switches on DType for the SIMD code; matmul and get_row
// go through it. New formats (and later, fused dequantize-dot kernels) are added here.

#if defined(MNEMO_KERNELS_DEQUANT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MNEMO_KERNELS_DEQUANT_INL_H_
#undef MNEMO_KERNELS_DEQUANT_INL_H_
#else
#define MNEMO_KERNELS_DEQUANT_INL_H_
#endif

#include <cstdint>
#include <cstring>

#include "base/check.h"
#include "base/fp16.h"
#include "hwy/highway.h"
#include "tensor/blocks.h"
#include "tensor/dtype.h"

HWY_BEFORE_NAMESPACE();
namespace mnemo::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

namespace dq {

// At most 16 lanes, so that a vector never spans two 16-element sub-blocks.
using DF = hn::CappedTag<float, 16>;
using DI = hn::RebindToSigned<DF>;
using DU = hn::RebindToUnsigned<DF>;
using DU8 = hn::Rebind<uint8_t, DF>;
using DI8 = hn::Rebind<int8_t, DF>;
using DU16 = hn::Rebind<uint16_t, DF>;
using VF = hn::Vec<DF>;
using VI = hn::Vec<DI>;
using VU = hn::Vec<DU>;

// Lanes(DF) bytes at p, zero-extended to int32 lanes.
HWY_INLINE VI LoadBytes(const uint8_t* HWY_RESTRICT p) {
  const DU8 du8;
  const DU du;
  const DI di;
  return hn::BitCast(di, hn::PromoteTo(du, hn::LoadU(du8, p)));
}

HWY_INLINE void StoreScaled(VI q, VF d, float* HWY_RESTRICT y) {
  const DF df;
  hn::StoreU(hn::Mul(hn::ConvertTo(df, q), d), df, y);
}
// d * q + m with two roundings (no FMA), as ggml's scalar code.
HWY_INLINE void StoreScaledAdd(VI q, VF d, VF m, float* HWY_RESTRICT y) {
  const DF df;
  hn::StoreU(hn::Add(hn::Mul(hn::ConvertTo(df, q), d), m), df, y);
}
HWY_INLINE void StoreScaledSub(VI q, VF d, VF m, float* HWY_RESTRICT y) {
  const DF df;
  hn::StoreU(hn::Sub(hn::Mul(hn::ConvertTo(df, q), d), m), df, y);
}

// 1 << j for j in [0, 32): the qh bit of element j of Q5_0 / Q5_1.
alignas(64) static constexpr uint32_t kBit[32] = {
    1u << 0,  1u << 1,  1u << 2,  1u << 3,  1u << 4,  1u << 5,  1u << 6,  1u << 7,
    1u << 8,  1u << 9,  1u << 10, 1u << 11, 1u << 12, 1u << 13, 1u << 14, 1u << 15,
    1u << 16, 1u << 17, 1u << 18, 1u << 19, 1u << 20, 1u << 21, 1u << 22, 1u << 23,
    1u << 24, 1u << 25, 1u << 26, 1u << 27, 1u << 28, 1u << 29, 1u << 30, 1u << 31};

// 16 in the lanes whose qh bit (bits j..j+N of qh) is set, else 0.
HWY_INLINE VI HighBit16(uint32_t qh, int j) {
  const DU du;
  const DI di;
  const VU bits = hn::And(hn::Set(du, qh), hn::LoadU(du, kBit + j));
  return hn::BitCast(di, hn::IfThenZeroElse(hn::Eq(bits, hn::Zero(du)), hn::Set(du, 16u)));
}

HWY_INLINE void Q4_0(const BlockQ4_0* HWY_RESTRICT b, float* HWY_RESTRICT y, int64_t nb) {
  const DF df;
  const DI di;
  const size_t N = hn::Lanes(df);
  const VI k8 = hn::Set(di, 8), kF = hn::Set(di, 0xF);
  for (int64_t i = 0; i < nb; ++i, y += kQK4_0) {
    const VF d = hn::Set(df, fp16_to_f32(b[i].d));
    for (size_t j = 0; j < kQK4_0 / 2; j += N) {
      const VI q = LoadBytes(b[i].qs + j);
      StoreScaled(hn::Sub(hn::And(q, kF), k8), d, y + j);
      StoreScaled(hn::Sub(hn::ShiftRight<4>(q), k8), d, y + j + kQK4_0 / 2);
    }
  }
}

HWY_INLINE void Q4_1(const BlockQ4_1* HWY_RESTRICT b, float* HWY_RESTRICT y, int64_t nb) {
  const DF df;
  const DI di;
  const size_t N = hn::Lanes(df);
  const VI kF = hn::Set(di, 0xF);
  for (int64_t i = 0; i < nb; ++i, y += kQK4_1) {
    const VF d = hn::Set(df, fp16_to_f32(b[i].d));
    const VF m = hn::Set(df, fp16_to_f32(b[i].m));
    for (size_t j = 0; j < kQK4_1 / 2; j += N) {
      const VI q = LoadBytes(b[i].qs + j);
      StoreScaledAdd(hn::And(q, kF), d, m, y + j);
      StoreScaledAdd(hn::ShiftRight<4>(q), d, m, y + j + kQK4_1 / 2);
    }
  }
}

HWY_INLINE void Q5_0(const BlockQ5_0* HWY_RESTRICT b, float* HWY_RESTRICT y, int64_t nb) {
  const DF df;
  const DI di;
  const size_t N = hn::Lanes(df);
  const VI k16 = hn::Set(di, 16), kF = hn::Set(di, 0xF);
  for (int64_t i = 0; i < nb; ++i, y += kQK5_0) {
    const VF d = hn::Set(df, fp16_to_f32(b[i].d));
    uint32_t qh;
    std::memcpy(&qh, b[i].qh, 4);
    for (size_t j = 0; j < kQK5_0 / 2; j += N) {
      const VI q = LoadBytes(b[i].qs + j);
      const VI lo = hn::Or(hn::And(q, kF), HighBit16(qh, static_cast<int>(j)));
      const VI hi = hn::Or(hn::ShiftRight<4>(q), HighBit16(qh, static_cast<int>(j) + 16));
      StoreScaled(hn::Sub(lo, k16), d, y + j);
      StoreScaled(hn::Sub(hi, k16), d, y + j + kQK5_0 / 2);
    }
  }
}

HWY_INLINE void Q5_1(const BlockQ5_1* HWY_RESTRICT b, float* HWY_RESTRICT y, int64_t nb) {
  const DF df;
  const DI di;
  const size_t N = hn::Lanes(df);
  const VI kF = hn::Set(di, 0xF);
  for (int64_t i = 0; i < nb; ++i, y += kQK5_1) {
    const VF d = hn::Set(df, fp16_to_f32(b[i].d));
    const VF m = hn::Set(df, fp16_to_f32(b[i].m));
    uint32_t qh;
    std::memcpy(&qh, b[i].qh, 4);
    for (size_t j = 0; j < kQK5_1 / 2; j += N) {
      const VI q = LoadBytes(b[i].qs + j);
      const VI lo = hn::Or(hn::And(q, kF), HighBit16(qh, static_cast<int>(j)));
      const VI hi = hn::Or(hn::ShiftRight<4>(q), HighBit16(qh, static_cast<int>(j) + 16));
      StoreScaledAdd(lo, d, m, y + j);
      StoreScaledAdd(hi, d, m, y + j + kQK5_1 / 2);
    }
  }
}

HWY_INLINE void Q8_0(const BlockQ8_0* HWY_RESTRICT b, float* HWY_RESTRICT y, int64_t nb) {
  const DF df;
  const DI di;
  const DI8 di8;
  const size_t N = hn::Lanes(df);
  for (int64_t i = 0; i < nb; ++i, y += kQK8_0) {
    const VF d = hn::Set(df, fp16_to_f32(b[i].d));
    for (size_t j = 0; j < kQK8_0; j += N) {
      StoreScaled(hn::PromoteTo(di, hn::LoadU(di8, b[i].qs + j)), d, y + j);
    }
  }
}

// Layouts: see dequant_ref.cc.
HWY_INLINE void Q2_K(const BlockQ2_K* HWY_RESTRICT b, float* HWY_RESTRICT y, int64_t nb) {
  const DF df;
  const DI di;
  const size_t N = hn::Lanes(df);
  const VI k3 = hn::Set(di, 3);
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(b[i].d);
    const float dmin = fp16_to_f32(b[i].dmin);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* q = b[i].qs + 32 * h;
      for (int j = 0; j < 4; ++j) {
        for (int k = 0; k < 2; ++k) {
          const uint8_t sc = b[i].scales[8 * h + 2 * j + k];
          const VF dl = hn::Set(df, d * static_cast<float>(sc & 0xF));
          const VF ml = hn::Set(df, dmin * static_cast<float>(sc >> 4));
          for (size_t l = 0; l < 16; l += N) {
            const VI v = hn::And(hn::ShiftRightSame(LoadBytes(q + 16 * k + l), 2 * j), k3);
            StoreScaledSub(v, dl, ml, y + l);
          }
          y += 16;
        }
      }
    }
  }
}

HWY_INLINE void Q3_K(const BlockQ3_K* HWY_RESTRICT b, float* HWY_RESTRICT y, int64_t nb) {
  const DF df;
  const DI di;
  const size_t N = hn::Lanes(df);
  const VI k1 = hn::Set(di, 1), k3 = hn::Set(di, 3), k4 = hn::Set(di, 4);
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
        const int mbit = 4 * h + j;
        for (int k = 0; k < 2; ++k) {
          const VF dl = hn::Set(df, d * static_cast<float>(scale[8 * h + 2 * j + k]));
          for (size_t l = 0; l < 16; l += N) {
            const size_t idx = 16 * k + l;
            const VI lo = hn::And(hn::ShiftRightSame(LoadBytes(q + idx), 2 * j), k3);
            const VI hb = hn::And(hn::ShiftRightSame(LoadBytes(b[i].hmask + idx), mbit), k1);
            StoreScaled(hn::Sub(hn::Or(lo, hn::ShiftLeft<2>(hb)), k4), dl, y + l);
          }
          y += 16;
        }
      }
    }
  }
}

HWY_INLINE void ScaleMinK4(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

HWY_INLINE void Q4_K(const BlockQ4_K* HWY_RESTRICT b, float* HWY_RESTRICT y, int64_t nb) {
  const DF df;
  const DI di;
  const size_t N = hn::Lanes(df);
  const VI kF = hn::Set(di, 0xF);
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(b[i].d);
    const float dmin = fp16_to_f32(b[i].dmin);
    for (int g = 0; g < 4; ++g) {
      const uint8_t* q = b[i].qs + 32 * g;
      for (int k = 0; k < 2; ++k) {
        int sc, m;
        ScaleMinK4(2 * g + k, b[i].scales, &sc, &m);
        const VF dl = hn::Set(df, d * static_cast<float>(sc));
        const VF ml = hn::Set(df, dmin * static_cast<float>(m));
        for (size_t l = 0; l < 32; l += N) {
          StoreScaledSub(hn::And(hn::ShiftRightSame(LoadBytes(q + l), 4 * k), kF), dl, ml, y + l);
        }
        y += 32;
      }
    }
  }
}

HWY_INLINE void Q5_K(const BlockQ5_K* HWY_RESTRICT b, float* HWY_RESTRICT y, int64_t nb) {
  const DF df;
  const DI di;
  const size_t N = hn::Lanes(df);
  const VI kF = hn::Set(di, 0xF), k1 = hn::Set(di, 1);
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(b[i].d);
    const float dmin = fp16_to_f32(b[i].dmin);
    for (int g = 0; g < 4; ++g) {
      const uint8_t* q = b[i].qs + 32 * g;
      for (int k = 0; k < 2; ++k) {
        int sc, m;
        ScaleMinK4(2 * g + k, b[i].scales, &sc, &m);
        const VF dl = hn::Set(df, d * static_cast<float>(sc));
        const VF ml = hn::Set(df, dmin * static_cast<float>(m));
        const int bit = 2 * g + k;
        for (size_t l = 0; l < 32; l += N) {
          const VI lo = hn::And(hn::ShiftRightSame(LoadBytes(q + l), 4 * k), kF);
          const VI hb = hn::And(hn::ShiftRightSame(LoadBytes(b[i].qh + l), bit), k1);
          StoreScaledSub(hn::Or(lo, hn::ShiftLeft<4>(hb)), dl, ml, y + l);
        }
        y += 32;
      }
    }
  }
}

HWY_INLINE void Q6_K(const BlockQ6_K* HWY_RESTRICT b, float* HWY_RESTRICT y, int64_t nb) {
  const DF df;
  const DI di;
  const size_t N = hn::Lanes(df);
  const VI kF = hn::Set(di, 0xF), k3 = hn::Set(di, 3), k32 = hn::Set(di, 32);
  for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
    const float d = fp16_to_f32(b[i].d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b[i].ql + 64 * h;
      const uint8_t* qh = b[i].qh + 32 * h;
      const int8_t* sc = b[i].scales + 8 * h;
      for (int c = 0; c < 4; ++c) {
        for (size_t l = 0; l < 32; l += N) {
          const VI lo = hn::And(hn::ShiftRightSame(LoadBytes(ql + l + 32 * (c & 1)), 4 * (c >> 1)), kF);
          const VI hi = hn::And(hn::ShiftRightSame(LoadBytes(qh + l), 2 * c), k3);
          const VI q = hn::Sub(hn::Or(lo, hn::ShiftLeft<4>(hi)), k32);
          // (d * scale) * q, as the reference.
          const VF ds = hn::Set(df, d * static_cast<float>(sc[2 * c + l / 16]));
          StoreScaled(q, ds, y + 128 * h + 32 * c + l);
        }
      }
    }
  }
}

// IEEE half -> float with integer operations: exact, subnormals normalised through an exact
// int -> float conversion, infinities and NaN payloads kept (as base/fp16.h).
HWY_INLINE void F16(const uint16_t* HWY_RESTRICT h, float* HWY_RESTRICT y, int64_t n) {
  const DF df;
  const DU du;
  const DI di;
  const DU16 du16;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const VU k7FFF = hn::Set(du, 0x7FFFu), k8000 = hn::Set(du, 0x8000u);
  const VU kBias = hn::Set(du, 112u << 23), k31 = hn::Set(du, 31u);
  const VF kSub = hn::Set(df, 1.0f / 16777216.0f);  // 2^-24
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const VU v = hn::PromoteTo(du, hn::LoadU(du16, h + i));
    const VU em = hn::And(v, k7FFF);
    const VU e = hn::ShiftRight<10>(em);
    VU normal = hn::Add(hn::ShiftLeft<13>(em), kBias);
    normal = hn::IfThenElse(hn::Eq(e, k31), hn::Add(normal, kBias), normal);  // inf / NaN
    const VF sub = hn::Mul(hn::ConvertTo(df, hn::BitCast(di, em)), kSub);
    const VF mag = hn::IfThenElse(hn::RebindMask(df, hn::Eq(e, hn::Zero(du))), sub,
                                  hn::BitCast(df, normal));
    const VU sign = hn::ShiftLeft<16>(hn::And(v, k8000));
    hn::StoreU(hn::Or(mag, hn::BitCast(df, sign)), df, y + i);
  }
  for (; i < n; ++i) y[i] = fp16_to_f32(h[i]);
}

HWY_INLINE void BF16(const uint16_t* HWY_RESTRICT h, float* HWY_RESTRICT y, int64_t n) {
  const DF df;
  const DU du;
  const DU16 du16;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const VU v = hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(du16, h + i)));
    hn::StoreU(hn::BitCast(df, v), df, y + i);
  }
  for (; i < n; ++i) y[i] = bf16_to_f32(h[i]);
}

}  // namespace dq

// dst[0..len) = elements [k0, k0 + len) of a row of `type` starting at `row`. k0 and len must be
// multiples of the type's block size (checked by the callers).
HWY_INLINE void DequantizeRange(DType type, const uint8_t* HWY_RESTRICT row, int64_t k0, int64_t len,
                                float* HWY_RESTRICT dst) {
  switch (type) {
    case DType::F32:
      std::memcpy(dst, row + k0 * 4, static_cast<size_t>(len) * sizeof(float));
      return;
    case DType::F16:
      return dq::F16(reinterpret_cast<const uint16_t*>(row) + k0, dst, len);
    case DType::BF16:
      return dq::BF16(reinterpret_cast<const uint16_t*>(row) + k0, dst, len);
#define MNEMO_DQ_CASE(T, QK)                                                              \
  case DType::T:                                                                          \
    return dq::T(reinterpret_cast<const Block##T*>(row) + k0 / (QK), dst, len / (QK));
      MNEMO_DQ_CASE(Q4_0, kQK4_0)
      MNEMO_DQ_CASE(Q4_1, kQK4_1)
      MNEMO_DQ_CASE(Q5_0, kQK5_0)
      MNEMO_DQ_CASE(Q5_1, kQK5_1)
      MNEMO_DQ_CASE(Q8_0, kQK8_0)
      MNEMO_DQ_CASE(Q2_K, kQK_K)
      MNEMO_DQ_CASE(Q3_K, kQK_K)
      MNEMO_DQ_CASE(Q4_K, kQK_K)
      MNEMO_DQ_CASE(Q5_K, kQK_K)
      MNEMO_DQ_CASE(Q6_K, kQK_K)
#undef MNEMO_DQ_CASE
    default:
      MNEMO_CHECK_MSG(false, "dequantize: unsupported type");
  }
}

}  // namespace mnemo::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // MNEMO_KERNELS_DEQUANT_INL_H_
