// tensor/dtype.h: element types of stored tensors, numbered as GGUF numbers them (ggml_type), so a
// type id read from a file is a DType after range validation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace mnemo {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,

  // mnemo's own weight types (issue 4; layouts in kernels/mnemo_formats.h). Ids start at 100, far
  // outside ggml's range, so a GGUF file holding them is mnemo-only: llama.cpp rejects it. A group
  // type's group size G is part of the type (one id per G), so row_bytes() stays block arithmetic.
  // Group types: 100 + 3 * method + log2(G / 32), methods in the order below.
  INT4_SYM_G32 = 100, INT4_SYM_G64 = 101, INT4_SYM_G128 = 102,
  INT4_ASYM_G32 = 103, INT4_ASYM_G64 = 104, INT4_ASYM_G128 = 105,
  FP4_G32 = 106, FP4_G64 = 107, FP4_G128 = 108,
  BITMOD4_G32 = 109, BITMOD4_G64 = 110, BITMOD4_G128 = 111,
  INT3_SYM_G32 = 112, INT3_SYM_G64 = 113, INT3_SYM_G128 = 114,
  INT3_ASYM_G32 = 115, INT3_ASYM_G64 = 116, INT3_ASYM_G128 = 117,
  FP3_G32 = 118, FP3_G64 = 119, FP3_G128 = 120,
  BITMOD3_G32 = 121, BITMOD3_G64 = 122, BITMOD3_G128 = 123,
  // Bipolar-INT weights of W = 1..8 bits: 130 + W - 1 (blocks of 64 as W bit-planes + f16 scale).
  BIPOLAR1 = 130, BIPOLAR2 = 131, BIPOLAR3 = 132, BIPOLAR4 = 133,
  BIPOLAR5 = 134, BIPOLAR6 = 135, BIPOLAR7 = 136, BIPOLAR8 = 137,
};

// First id of mnemo's own types; every id >= this is mnemo-only (not readable by ggml).
constexpr uint32_t kFirstMnemoTypeId = 100;
inline bool is_mnemo_type(DType t) { return static_cast<uint32_t>(t) >= kFirstMnemoTypeId; }

struct DTypeTraits {
  std::string_view name;   // as ggml prints it: "f32", "q4_0", "q4_K"
  uint32_t block_elems;    // elements per block (1 for plain types)
  uint32_t block_bytes;    // bytes per block
  bool quantized;
  bool supported;          // mnemo can dequantize and compute with it
};

// Traits of a known type id; nullopt for ids GGUF does not define (or that ggml removed).
std::optional<DTypeTraits> dtype_traits(uint32_t id);
const DTypeTraits& traits(DType t);  // t must be a known type
inline std::string_view dtype_name(DType t) { return traits(t).name; }
std::optional<DType> dtype_from_name(std::string_view name);  // case-insensitive: "Q4_0", "f16"

// Bytes of a row of n elements; nullopt when n is not a multiple of the block size.
std::optional<uint64_t> row_bytes(DType t, uint64_t n);

}  // namespace mnemo
