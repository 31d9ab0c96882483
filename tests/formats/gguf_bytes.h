// tests/formats/gguf_bytes.h: GGUF files built byte by byte, for the reader's rejection tests
// (the writer refuses to produce most of these).
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "formats/gguf.h"

namespace mnemo::test {

class GgufBytes {
 public:
  std::vector<uint8_t> bytes;

  GgufBytes& raw(const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    bytes.insert(bytes.end(), b, b + n);
    return *this;
  }
  template <typename T>
  GgufBytes& put(T v) {
    return raw(&v, sizeof(T));
  }
  GgufBytes& u8(uint8_t v) { return put(v); }
  GgufBytes& u32(uint32_t v) { return put(v); }
  GgufBytes& u64(uint64_t v) { return put(v); }
  GgufBytes& str(std::string_view s) {
    u64(s.size());
    return raw(s.data(), s.size());
  }
  // "GGUF", version, n_tensors, n_kv.
  GgufBytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    raw("GGUF", 4);
    u32(version);
    u64(n_tensors);
    return u64(n_kv);
  }
  GgufBytes& key(std::string_view k, gguf::ValueType t) {
    str(k);
    return u32(static_cast<uint32_t>(t));
  }
  GgufBytes& kv_u32(std::string_view k, uint32_t v) { return key(k, gguf::ValueType::kUint32).u32(v); }
  GgufBytes& kv_str(std::string_view k, std::string_view v) { return key(k, gguf::ValueType::kString).str(v); }
  // A tensor info: name, n_dims, ne, type, offset.
  GgufBytes& tensor(std::string_view name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    str(name);
    u32(static_cast<uint32_t>(ne.size()));
    for (uint64_t n : ne) u64(n);
    u32(type);
    return u64(offset);
  }
  GgufBytes& pad(size_t alignment = 32) {
    while (bytes.size() % alignment != 0) bytes.push_back(0);
    return *this;
  }
  GgufBytes& zeros(size_t n) {
    bytes.insert(bytes.end(), n, 0);
    return *this;
  }
  std::span<const uint8_t> span() const { return bytes; }
};

}  // namespace mnemo::test
