#include "ltm/ann/fvecs.h"

#include <cstring>

#include "base/file.h"

namespace mnemo::ltm::ann {
namespace {

template <typename T>
Expected<VecFile<T>> read_vecs(const std::string& path, size_t max_rows) {
  MNEMO_ASSIGN_OR_RETURN(FileBytes fb, FileBytes::open(path, MapMode::kMap));
  const uint8_t* p = fb.data();
  const size_t size = fb.size();
  if (size < 4) return corrupt(path + ": expected a 4-byte dimension, found " + std::to_string(size) + " bytes");
  int32_t dim;
  std::memcpy(&dim, p, 4);
  if (dim <= 0 || dim > (1 << 20)) {
    return corrupt(path + ": expected a dimension in [1, 2^20], found " + std::to_string(dim));
  }
  const size_t rec = 4 + static_cast<size_t>(dim) * sizeof(T);
  if (size % rec != 0) {
    return corrupt(path + ": expected a multiple of " + std::to_string(rec) + " bytes (dimension " +
                   std::to_string(dim) + "), found " + std::to_string(size));
  }
  size_t n = size / rec;
  if (max_rows != 0 && max_rows < n) n = max_rows;
  VecFile<T> out;
  out.dim = dim;
  out.n = n;
  out.data.resize(n * static_cast<size_t>(dim));
  for (size_t i = 0; i < n; ++i) {
    int32_t d;
    std::memcpy(&d, p + i * rec, 4);
    if (d != dim) {
      return corrupt(path + ": record " + std::to_string(i) + ": expected dimension " + std::to_string(dim) +
                     ", found " + std::to_string(d));
    }
    std::memcpy(out.data.data() + i * static_cast<size_t>(dim), p + i * rec + 4, rec - 4);
  }
  return out;
}

template <typename T>
Status write_vecs(const std::string& path, const T* data, size_t n, int dim) {
  MNEMO_ASSIGN_OR_RETURN(auto w, AtomicFileWriter::create(path));
  const int32_t d = dim;
  for (size_t i = 0; i < n; ++i) {
    MNEMO_RETURN_IF_ERROR(w->write(&d, 4));
    MNEMO_RETURN_IF_ERROR(w->write(data + i * static_cast<size_t>(dim), sizeof(T) * static_cast<size_t>(dim)));
  }
  return w->commit();
}

}  // namespace

Expected<VecFile<float>> read_fvecs(const std::string& path, size_t max_rows) {
  return read_vecs<float>(path, max_rows);
}
Expected<VecFile<int32_t>> read_ivecs(const std::string& path, size_t max_rows) {
  return read_vecs<int32_t>(path, max_rows);
}
Status write_fvecs(const std::string& path, const float* data, size_t n, int dim) {
  return write_vecs(path, data, n, dim);
}
Status write_ivecs(const std::string& path, const int32_t* data, size_t n, int dim) {
  return write_vecs(path, data, n, dim);
}

}  // namespace mnemo::ltm::ann
