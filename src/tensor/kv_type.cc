#include "tensor/kv_type.h"

#include "base/check.h"

namespace mnemo {

DType kv_dtype(KvType t) {
  switch (t) {
    case KvType::kF32:
      return DType::F32;
    case KvType::kF16:
      return DType::F16;
    case KvType::kQ8_0:
      return DType::Q8_0;
    case KvType::kQ4_0:
      return DType::Q4_0;
  }
  MNEMO_CHECK_MSG(false, "kv_dtype: unknown KvType");
  return DType::F32;
}

std::string_view kv_type_name(KvType t) { return dtype_name(kv_dtype(t)); }

std::optional<KvType> kv_type_from_name(std::string_view name) {
  for (KvType t : kAllKvTypes) {
    if (name == kv_type_name(t)) return t;
  }
  return std::nullopt;
}

std::string_view kv_type_names() { return "f32, f16, q8_0, q4_0"; }

int64_t kv_type_block(KvType t) { return traits(kv_dtype(t)).block_elems; }

uint64_t kv_row_bytes(KvType t, int64_t n) {
  MNEMO_CHECK(n >= 0);
  const std::optional<uint64_t> b = row_bytes(kv_dtype(t), static_cast<uint64_t>(n));
  MNEMO_CHECK_MSG(b.has_value(), "kv_row_bytes: row length is not a multiple of the block");
  return *b;
}

}  // namespace mnemo
