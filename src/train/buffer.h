// train/buffer.h: an owning, 64-byte-aligned, zero-filled float buffer. Zero-filling touches
// every page at allocation, so resident memory equals the allocated bytes from the start (which
// is what the memory estimator counts).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "base/check.h"

namespace mnemo::train {

class FloatBuffer {
 public:
  FloatBuffer() = default;
  explicit FloatBuffer(int64_t n) { resize(n); }
  void resize(int64_t n) {
    MNEMO_CHECK(n >= 0);
    data_.reset();
    size_ = n;
    if (n == 0) return;
    const size_t bytes = (static_cast<size_t>(n) * sizeof(float) + 63) / 64 * 64;
    float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
    MNEMO_CHECK_MSG(p != nullptr, "out of memory");
    std::memset(p, 0, bytes);
    data_.reset(p);
  }
  void zero() {
    if (size_ > 0) std::memset(data_.get(), 0, static_cast<size_t>(size_) * sizeof(float));
  }
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  int64_t size() const { return size_; }
  uint64_t bytes() const { return static_cast<uint64_t>(size_) * sizeof(float); }
  float& operator[](int64_t i) { return data_.get()[i]; }
  float operator[](int64_t i) const { return data_.get()[i]; }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> data_;
  int64_t size_ = 0;
};

}  // namespace mnemo::train
