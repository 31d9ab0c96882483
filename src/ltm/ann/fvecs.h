// ltm/ann/fvecs.h: the TEXMEX vector formats (fvecs, ivecs) used by ANN benchmarks.
// Each record is an int32 dimension followed by that many float32 (fvecs) or int32 (ivecs).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mnemo/status.h"

namespace mnemo::ltm::ann {

template <typename T>
struct VecFile {
  int dim = 0;
  size_t n = 0;
  std::vector<T> data;  // (n, dim), row-major
  const T* row(size_t i) const { return data.data() + i * static_cast<size_t>(dim); }
};

// Reads at most `max_rows` rows (0 = all). Every record must have the same dimension.
Expected<VecFile<float>> read_fvecs(const std::string& path, size_t max_rows = 0);
Expected<VecFile<int32_t>> read_ivecs(const std::string& path, size_t max_rows = 0);

// Writes (n, dim) rows atomically.
Status write_fvecs(const std::string& path, const float* data, size_t n, int dim);
Status write_ivecs(const std::string& path, const int32_t* data, size_t n, int dim);

}  // namespace mnemo::ltm::ann
