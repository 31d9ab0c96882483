// tensor/tensor.h: a non-owning view of a stored tensor, and an owning buffer for the ones mnemo
// makes itself.
//
// Shapes follow GGUF/ggml: ne[0] is the contiguous (row) length, ne[1] the number of rows, ne[2],
// ne[3] outer dimensions. A 2-D weight W of a linear map y = W x with x of length n and y of
// length m has ne = {n, m}: one row per output.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/check.h"
#include "tensor/dtype.h"

namespace mnemo {

constexpr int kMaxDims = 4;

struct TensorView {
  DType type = DType::F32;
  int n_dims = 0;
  int64_t ne[kMaxDims] = {1, 1, 1, 1};
  const void* data = nullptr;  // not owned: points into a mapping or a TensorStorage

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
  uint64_t row_bytes() const {
    const DTypeTraits& t = traits(type);
    return static_cast<uint64_t>(ne[0]) / t.block_elems * t.block_bytes;
  }
  uint64_t n_bytes() const { return row_bytes() * static_cast<uint64_t>(n_rows()); }
  const uint8_t* row(int64_t r) const {
    MNEMO_DCHECK(r >= 0 && r < n_rows());
    return static_cast<const uint8_t*>(data) + static_cast<uint64_t>(r) * row_bytes();
  }
  bool is_matrix(int64_t cols, int64_t rows) const {
    return n_dims == 2 && ne[0] == cols && ne[1] == rows;
  }
  bool is_vector(int64_t n) const { return n_dims == 1 && ne[0] == n; }
};

// Owns 64-byte-aligned bytes for a tensor and hands out views of them.
class TensorStorage {
 public:
  TensorStorage() = default;
  TensorStorage(DType type, std::vector<int64_t> shape);

  TensorView view() const { return view_; }
  uint8_t* mutable_data() { return bytes_.get(); }
  template <typename T>
  T* data_as() { return reinterpret_cast<T*>(bytes_.get()); }
  uint64_t n_bytes() const { return view_.n_bytes(); }

 private:
  struct FreeDeleter {
    void operator()(uint8_t* p) const;
  };
  std::unique_ptr<uint8_t, FreeDeleter> bytes_;
  TensorView view_;
};

}  // namespace mnemo
