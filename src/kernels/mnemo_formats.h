// kernels/mnemo_formats.h: the byte layouts of mnemo's own weight types (DType ids >= 100, issue 4),
// shared by the quantizers (compress/) and the kernels that read them. GGUF files holding these
// types are mnemo-only.
//
// Group types: one block per group of G = 32, 64 or 128 weights (G is part of the DType):
//   block = header | codes
//   header: f16 d; the asymmetric types add a u8 zero point z; bitmod: a tagged u16 (below)
//   codes:  G/32 chunks of 32 codes, 16 bytes (4-bit) or 12 bytes (3-bit) each
//   value of code c: d * level[c] + m, m = -d * z for the asymmetric types and 0 otherwise
//
// Levels (the grids; int8 so that the kernels can look them up with byte shuffles). The integer and
// FP baselines are those of the BitMoD paper and its code (quant_weight.py: quant_int,
// quant_int_asym, quant_datatype), so that bitmod is compared with what the paper compares it with:
//   int4_sym:  c - 7, c in 0..14            (d = amax / 7: symmetric, 15 levels; ggml's Q4_0 is the
//                                            16-level variant -8..7 with d = max / -8)
//   int4_asym: c - z, c in 0..15            (d = (max - min) / 15, z = round(-min / d) in 0..15)
//   fp4:       sign-magnitude E2M1 x 2: {0,1,2,3,4,6,8,12} and their negatives (d = amax / 12)
//   bitmod4:   fp4 with the "-0" code (8) reused for one extra value (BitMoD, Chen et al.,
//              HPCA 2025, sec. IV-A, and auto_dtype.py of their code): +10 ("extra resolution",
//              ER) or +16 ("extra asymmetry", EA); d = amax / 12 (ER) or amax / 16 (EA)
//   int3_sym:  c - 3, c in 0..6 (d = amax / 3);  int3_asym: c - z, c in 0..7 (d = (max - min) / 7)
//   fp3:       {0,1,2,4} and negatives (d = amax / 4)
//   bitmod3:   fp3 with code 4 = +3 (ER, d = amax / 4) or +6 (EA, d = amax / 6)
// BitMoD's four variants are ER+, ER-, EA+, EA-. A negative variant is the mirror image of the
// positive one (ER- = -ER+), so it is stored as the positive variant's codes of -w with a negative
// scale: the header's sign bit says "negative", and the kernel needs only two tables. The 2-bit
// variant id lives in the header: bit 15 (sign) = negative, bit 0 = EA; the scale is the f16 with
// bit 0 cleared, i.e. |d| rounded to a 9-bit mantissa (relative error <= 2^-10). So bitmod costs
// exactly 16 bits per group, like fp4.
//
// Code layout of one 32-code chunk:
//   4-bit: byte i (0..15) = c[i] | c[i + 16] << 4                  (as Q4_0)
//   3-bit: byte i (0..7)  = low 2 bits of c[i], c[i+8], c[i+16], c[i+24] at bits 0, 2, 4, 6;
//          bytes 8..11    = a little-endian u32 whose bit j is bit 2 of c[j]
//
// Bipolar-INT types (Ma et al., arXiv 2409.17870): W = 1..8 bits, blocks of 64 weights:
//   block = u64 plane[W] | f16 d        (8W + 2 bytes; planes little-endian, bit i = weight i)
//   value = d * v, v = sum_t 2^t (2 b_t - 1) = 2u - (2^W - 1), u = sum_t 2^t b_t (offset binary)
// so v ranges over the odd integers in [-(2^W - 1), 2^W - 1]: symmetric, no zero.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>

#include "base/fp16.h"
#include "tensor/dtype.h"

namespace mnemo::mformat {

enum class Method : uint8_t { kInt4Sym, kInt4Asym, kFp4, kBitmod4, kInt3Sym, kInt3Asym, kFp3, kBitmod3 };
constexpr int kNumMethods = 8;
constexpr int kChunk = 32;  // codes per packed chunk

struct GroupType {
  Method method;
  int bits;          // 3 or 4
  int group;         // G: 32, 64 or 128
  bool has_zero;     // asymmetric: header holds d and a u8 zero point
  int header_bytes;  // 2 or 3
  int chunk_bytes;   // bytes per 32 codes: 16 or 12
  int block_bytes;
};

constexpr int method_bits(Method m) { return static_cast<int>(m) < 4 ? 4 : 3; }
constexpr bool method_has_zero(Method m) { return m == Method::kInt4Asym || m == Method::kInt3Asym; }
constexpr bool method_is_bitmod(Method m) { return m == Method::kBitmod4 || m == Method::kBitmod3; }

inline std::optional<GroupType> group_type(DType t) {
  const uint32_t id = static_cast<uint32_t>(t);
  if (id < 100 || id >= 100 + 3 * kNumMethods) return std::nullopt;
  const Method m = static_cast<Method>((id - 100) / 3);
  GroupType g{};
  g.method = m;
  g.bits = method_bits(m);
  g.group = 32 << ((id - 100) % 3);
  g.has_zero = method_has_zero(m);
  g.header_bytes = g.has_zero ? 3 : 2;
  g.chunk_bytes = g.bits == 4 ? 16 : 12;
  g.block_bytes = g.header_bytes + g.group / kChunk * g.chunk_bytes;
  return g;
}
inline bool is_group_type(DType t) { return group_type(t).has_value(); }
// The DType of a method at group size 32, 64 or 128.
inline DType group_dtype(Method m, int group) {
  const int gi = group == 32 ? 0 : group == 64 ? 1 : 2;
  return static_cast<DType>(100 + 3 * static_cast<int>(m) + gi);
}

constexpr int kBipolarBlock = 64;
// W for a bipolar type, 0 for any other type.
inline int bipolar_bits(DType t) {
  const uint32_t id = static_cast<uint32_t>(t);
  return id >= 130 && id <= 137 ? static_cast<int>(id - 129) : 0;
}
inline DType bipolar_dtype(int w) { return static_cast<DType>(129 + w); }
inline int bipolar_block_bytes(int w) { return 8 * w + 2; }

// ---------------------------------------------------------------------------------------------
// Level tables, indexed by code.

// Codes a type never writes are padded with a level the table already has (so the quantizer's
// grid, which keeps the first code of each value, never picks them).
inline constexpr int8_t kInt4SymLevels[16] = {-7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 0};
inline constexpr int8_t kUint4Levels[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
inline constexpr int8_t kFp4Levels[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
inline constexpr int8_t kBitmod4ErLevels[16] = {0, 1, 2, 3, 4, 6, 8, 12, 10, -1, -2, -3, -4, -6, -8, -12};
inline constexpr int8_t kBitmod4EaLevels[16] = {0, 1, 2, 3, 4, 6, 8, 12, 16, -1, -2, -3, -4, -6, -8, -12};
// 3-bit tables are padded to 16 entries (codes 8..15 never occur) so every table is one shuffle.
inline constexpr int8_t kInt3SymLevels[16] = {-3, -2, -1, 0, 1, 2, 3, 0};
inline constexpr int8_t kUint3Levels[16] = {0, 1, 2, 3, 4, 5, 6, 7};
inline constexpr int8_t kFp3Levels[16] = {0, 1, 2, 4, 0, -1, -2, -4};
inline constexpr int8_t kBitmod3ErLevels[16] = {0, 1, 2, 4, 3, -1, -2, -4};
inline constexpr int8_t kBitmod3EaLevels[16] = {0, 1, 2, 4, 6, -1, -2, -4};

// The level table of a method (for bitmod: of its ER or EA variant).
inline const int8_t* levels(Method m, bool ea = false) {
  switch (m) {
    case Method::kInt4Sym: return kInt4SymLevels;
    case Method::kInt4Asym: return kUint4Levels;
    case Method::kFp4: return kFp4Levels;
    case Method::kBitmod4: return ea ? kBitmod4EaLevels : kBitmod4ErLevels;
    case Method::kInt3Sym: return kInt3SymLevels;
    case Method::kInt3Asym: return kUint3Levels;
    case Method::kFp3: return kFp3Levels;
    case Method::kBitmod3: return ea ? kBitmod3EaLevels : kBitmod3ErLevels;
  }
  return kInt4SymLevels;
}

// ---------------------------------------------------------------------------------------------
// Group headers.

constexpr uint16_t kBitmodNegBit = 0x8000;
constexpr uint16_t kBitmodEaBit = 0x0001;

struct Header {
  float d = 0.0f;  // signed scale
  float m = 0.0f;  // -d * zero point (asymmetric types), else 0
  const int8_t* levels = nullptr;
};

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

inline Header read_header(const GroupType& g, const uint8_t* block) {
  Header h;
  const uint16_t h0 = load_u16(block);
  if (method_is_bitmod(g.method)) {
    h.d = fp16_to_f32(static_cast<uint16_t>(h0 & ~kBitmodEaBit));
    h.levels = levels(g.method, (h0 & kBitmodEaBit) != 0);
  } else {
    h.d = fp16_to_f32(h0);
    h.levels = levels(g.method);
    if (g.has_zero) h.m = -(h.d * static_cast<float>(block[2]));
  }
  return h;
}

// ---------------------------------------------------------------------------------------------
// Code packing of one 32-code chunk.

inline void unpack_chunk(int bits, const uint8_t* p, uint8_t* c) {
  if (bits == 4) {
    for (int i = 0; i < 16; ++i) {
      c[i] = p[i] & 0x0F;
      c[i + 16] = p[i] >> 4;
    }
    return;
  }
  uint32_t hi;
  std::memcpy(&hi, p + 8, 4);
  for (int j = 0; j < 32; ++j) {
    c[j] = static_cast<uint8_t>(((p[j & 7] >> (2 * (j >> 3))) & 3) | (((hi >> j) & 1) << 2));
  }
}

inline void pack_chunk(int bits, const uint8_t* c, uint8_t* p) {
  if (bits == 4) {
    for (int i = 0; i < 16; ++i) p[i] = static_cast<uint8_t>((c[i] & 0x0F) | (c[i + 16] << 4));
    return;
  }
  uint32_t hi = 0;
  for (int i = 0; i < 8; ++i) {
    p[i] = static_cast<uint8_t>((c[i] & 3) | (c[i + 8] & 3) << 2 | (c[i + 16] & 3) << 4 | (c[i + 24] & 3) << 6);
  }
  for (int j = 0; j < 32; ++j) hi |= static_cast<uint32_t>((c[j] >> 2) & 1) << j;
  std::memcpy(p + 8, &hi, 4);
}

// Value of every element of one group block (scalar reference decode).
inline void decode_group(const GroupType& g, const uint8_t* block, float* y) {
  const Header h = read_header(g, block);
  uint8_t c[kChunk];
  for (int k = 0; k < g.group / kChunk; ++k) {
    unpack_chunk(g.bits, block + g.header_bytes + k * g.chunk_bytes, c);
    for (int j = 0; j < kChunk; ++j) y[k * kChunk + j] = h.d * static_cast<float>(h.levels[c[j]]) + h.m;
  }
}

// The odd integer v of element i (0..63) of a bipolar block of W planes.
inline int bipolar_value(const uint8_t* block, int w, int i) {
  int u = 0;
  for (int t = 0; t < w; ++t) {
    uint64_t plane;
    std::memcpy(&plane, block + 8 * t, 8);
    u |= static_cast<int>((plane >> i) & 1) << t;
  }
  return 2 * u - ((1 << w) - 1);
}
inline float bipolar_scale(const uint8_t* block, int w) { return fp16_to_f32(load_u16(block + 8 * w)); }

}  // namespace mnemo::mformat
