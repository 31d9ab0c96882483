// ltm/ann/kmeans.h: balanced k-means and the hierarchical balanced k-means that cuts a vector set
// into many small clusters (SPANN's posting lists; Chen et al., NeurIPS'21, section 3.2, after
// SPTAG's balanced k-means tree).
//
// Balance (balance_lambda > 0): rows are assigned in order at a cost d(x, c_j) + lambda * mean_d *
// (n_j / share - 1), n_j the rows cluster j holds so far and share = rows so far / k, so a cluster
// ahead of its share repels points (after SPTAG's BKT "lambda" penalty; counting within the pass
// instead of from the previous iteration keeps it from oscillating). That pass is single-threaded.
// The hierarchy also bounds leaf sizes structurally (see hierarchical_kmeans). Squared L2 throughout.
//
// Determinism: results depend on the seed only, not on the thread count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/thread_pool.h"

namespace mnemo::ltm::ann {

struct KMeansOptions {
  int iterations = 12;
  float balance_lambda = 0.0f;          // 0 = plain k-means
  size_t max_train_per_centroid = 256;  // train on a sample of at most k * this many rows
  uint64_t seed = 1;
};

// Clusters the rows `rows` of `data` (n_total, dim) into k clusters. centroids: (k, dim) out;
// assign[i] in [0, k) is the cluster of rows[i]. k must be in [1, rows.size()]. `pool` may be null.
void balanced_kmeans(const float* data, size_t dim, const std::vector<uint32_t>& rows, int k,
                     const KMeansOptions& opts, ThreadPool* pool, std::vector<float>* centroids,
                     std::vector<uint32_t>* assign);

struct HierarchicalOptions {
  size_t leaf_size = 16;  // target rows per leaf; leaves hold at most about 1.5x this
  int branching = 32;     // children per internal node (SPTAG BKTKmeansK)
  KMeansOptions kmeans;
};

struct Partition {
  std::vector<float> centroids;       // (n_leaves, dim): leaf means
  std::vector<uint32_t> leaf_of_row;  // (n_total,) leaf of each row
  size_t n_leaves = 0;
  // Leaves split from the same node share a group (the tree's last internal level, as in SPTAG's
  // BKT): one head per group makes entry points that cover every region of the data.
  std::vector<uint32_t> leaf_group;  // (n_leaves,)
  size_t n_groups = 0;
};

// Recursively splits `data` (n, dim) with k-means until leaves hold about leaf_size rows: nodes
// above 1.5 * leaf_size are split, into leaves directly when that takes at most 4 * branching
// clusters; clusters of fewer than leaf_size / 4 rows are folded into their nearest sibling.
Partition hierarchical_kmeans(const float* data, size_t n, size_t dim, const HierarchicalOptions& opts,
                              ThreadPool* pool);

}  // namespace mnemo::ltm::ann
