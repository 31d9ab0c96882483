// tensor/kv_type.h: the types a KV cache row can be stored in (llama.cpp's --cache-type-k/-v).
//
// A row is the n_head_kv * head_dim values of one position's K (or V) in one layer, stored in the
// block layout of the matching GGUF type (tensor/blocks.h): F32, F16, Q8_0 or Q4_0 (blocks of 32
// values with an f16 scale). A block never spans two heads: the block types need head_dim % 32 == 0
// (kv_type_fits). kernels::kv_store_row writes a row, kernels::attention reads rows of any type.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "tensor/dtype.h"

namespace mnemo {

enum class KvType : uint8_t { kF32, kF16, kQ8_0, kQ4_0 };

inline constexpr KvType kAllKvTypes[] = {KvType::kF32, KvType::kF16, KvType::kQ8_0, KvType::kQ4_0};

// The GGUF type whose block layout a row of t has.
DType kv_dtype(KvType t);
// llama.cpp's name: "f32", "f16", "q8_0", "q4_0".
std::string_view kv_type_name(KvType t);
// The type named `name` (one of the names above, exactly); nullopt otherwise.
std::optional<KvType> kv_type_from_name(std::string_view name);
// "f32, f16, q8_0, q4_0": for messages and help.
std::string_view kv_type_names();
// Values per block: 1 (F32, F16) or 32.
int64_t kv_type_block(KvType t);
// Whether heads of head_dim values can be stored as t (whole blocks per head).
inline bool kv_type_fits(KvType t, int64_t head_dim) {
  return head_dim > 0 && head_dim % kv_type_block(t) == 0;
}
// Bytes of a row of n values; n must be a multiple of kv_type_block(t) (checked).
uint64_t kv_row_bytes(KvType t, int64_t n);

}  // namespace mnemo
