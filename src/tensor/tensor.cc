#include "tensor/tensor.h"

#include <cstdlib>
#include <cstring>

namespace mnemo {

void TensorStorage::FreeDeleter::operator()(uint8_t* p) const { std::free(p); }

TensorStorage::TensorStorage(DType type, std::vector<int64_t> shape) {
  MNEMO_CHECK(!shape.empty() && shape.size() <= kMaxDims);
  view_.type = type;
  view_.n_dims = static_cast<int>(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) view_.ne[i] = shape[i];
  MNEMO_CHECK(view_.ne[0] % traits(type).block_elems == 0);
  uint64_t n = view_.n_bytes();
  uint64_t alloc = (n + 63) / 64 * 64;
  if (alloc == 0) alloc = 64;
  void* p = std::aligned_alloc(64, alloc);
  MNEMO_CHECK_MSG(p != nullptr, "out of memory allocating a tensor");
  std::memset(p, 0, alloc);
  bytes_.reset(static_cast<uint8_t*>(p));
  view_.data = p;
}

}  // namespace mnemo
