// base/byte_reader.h: a bounds-checked little-endian cursor over untrusted bytes.
//
// Every read checks the remaining length first; a failed read leaves the cursor where it was and
// returns false, so parsers can turn it into a Status that names the field.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace mnemo {

class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  uint64_t offset() const { return pos_; }
  uint64_t size() const { return bytes_.size(); }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  template <typename T>
  bool read(T* out) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (remaining() < sizeof(T)) return false;
    std::memcpy(out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }

  // A view of the next n bytes (no copy).
  bool read_bytes(uint64_t n, std::string_view* out) {
    if (remaining() < n) return false;
    *out = std::string_view(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(n));
    pos_ += n;
    return true;
  }

  bool skip(uint64_t n) {
    if (remaining() < n) return false;
    pos_ += n;
    return true;
  }

  bool seek(uint64_t pos) {
    if (pos > bytes_.size()) return false;
    pos_ = pos;
    return true;
  }

 private:
  std::span<const uint8_t> bytes_;
  uint64_t pos_ = 0;
};

// Overflow-checked arithmetic for sizes computed from untrusted fields.
inline bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }
inline bool checked_add(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_add_overflow(a, b, out); }

}  // namespace mnemo
