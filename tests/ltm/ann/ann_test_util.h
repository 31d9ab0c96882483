// tests/ltm/ann/ann_test_util.h: synthetic vector sets and recall for the ANN tests.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <unordered_set>
#include <vector>

#include "ltm/ann/flat_index.h"
#include "ltm/vector_index.h"

namespace mnemo::ltm::ann::test {

// A Gaussian mixture: `clusters` centres ~ N(0, 1)^dim, points = centre + N(0, spread^2)^dim.
inline std::vector<float> gaussian_mixture(size_t n, int dim, int clusters, float spread, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> centres(size_t(clusters) * dim);
  for (float& c : centres) c = g(rng);
  std::vector<float> out(n * size_t(dim));
  std::uniform_int_distribution<int> pick(0, clusters - 1);
  for (size_t i = 0; i < n; ++i) {
    const float* c = centres.data() + size_t(pick(rng)) * dim;
    for (int t = 0; t < dim; ++t) out[i * dim + t] = c[t] + spread * g(rng);
  }
  return out;
}

inline std::vector<uint64_t> iota_ids(size_t n, uint64_t first = 0) {
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = first + i;
  return ids;
}

// |found ∩ truth| / |truth| over the first k of each.
inline double recall_at(const std::vector<Neighbor>& found, const std::vector<Neighbor>& truth, size_t k) {
  std::unordered_set<uint64_t> t;
  for (size_t i = 0; i < std::min(k, truth.size()); ++i) t.insert(truth[i].id);
  if (t.empty()) return 1.0;
  size_t hit = 0;
  for (size_t i = 0; i < std::min(k, found.size()); ++i) hit += t.count(found[i].id);
  return double(hit) / double(t.size());
}

}  // namespace mnemo::ltm::ann::test
