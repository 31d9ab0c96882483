// base/aligned_block.h: one owning, 64-byte-aligned block of bytes (the storage that views point
// into). Move-only; nothing is zeroed. Allocated with the aligned operator new, so an allocation
// counter sees every block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <utility>

namespace mnemo {

class AlignedBlock {
 public:
  static constexpr size_t kAlignment = 64;

  AlignedBlock() = default;
  explicit AlignedBlock(size_t bytes) : bytes_(bytes) {
    if (bytes_ > 0) data_ = static_cast<uint8_t*>(::operator new(bytes_, std::align_val_t(kAlignment)));
  }
  AlignedBlock(AlignedBlock&& o) noexcept : data_(std::exchange(o.data_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  AlignedBlock& operator=(AlignedBlock&& o) noexcept {
    AlignedBlock t(std::move(o));
    std::swap(data_, t.data_);
    std::swap(bytes_, t.bytes_);
    return *this;
  }
  AlignedBlock(const AlignedBlock&) = delete;
  AlignedBlock& operator=(const AlignedBlock&) = delete;
  ~AlignedBlock() {
    if (data_ != nullptr) ::operator delete(data_, std::align_val_t(kAlignment));
  }

  uint8_t* data() const { return data_; }
  size_t size() const { return bytes_; }
  std::span<uint8_t> span() const { return {data_, bytes_}; }

 private:
  uint8_t* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace mnemo
