#include "ltm/ann/kmeans.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <unordered_map>

#include "base/check.h"
#include "ltm/ann/distance.h"

namespace mnemo::ltm::ann {
namespace {

uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t x = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull + (a << 6) + (a >> 2));
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 29;
  return x;
}

// Runs fn(begin, end) over [0, n) on the pool, or inline.
template <typename Fn>
void parallel(ThreadPool* pool, size_t n, Fn&& fn) {
  if (pool == nullptr || pool->size() == 1 || n < 2048) {
    fn(size_t{0}, n);
    return;
  }
  pool->parallel_for(static_cast<int64_t>(n), 256, [&](int64_t b, int64_t e) { fn(size_t(b), size_t(e)); });
}

// k-means++ seeding on the sample rows.
void seed_plus_plus(const float* data, size_t dim, const std::vector<uint32_t>& sample, int k, std::mt19937_64& rng,
                    float* centroids) {
  const size_t n = sample.size();
  std::vector<float> best(n, std::numeric_limits<float>::infinity());
  size_t first = std::uniform_int_distribution<size_t>(0, n - 1)(rng);
  std::memcpy(centroids, data + size_t(sample[first]) * dim, dim * sizeof(float));
  for (int c = 1; c < k; ++c) {
    const float* prev = centroids + size_t(c - 1) * dim;
    double total = 0.0;
    for (size_t i = 0; i < n; ++i) {
      float d = l2_sq(data + size_t(sample[i]) * dim, prev, dim);
      if (d < best[i]) best[i] = d;
      total += best[i];
    }
    size_t pick = 0;
    if (total > 0.0) {
      double r = std::uniform_real_distribution<double>(0.0, total)(rng);
      double acc = 0.0;
      for (pick = 0; pick + 1 < n; ++pick) {
        acc += best[pick];
        if (acc >= r) break;
      }
    } else {
      pick = std::uniform_int_distribution<size_t>(0, n - 1)(rng);
    }
    std::memcpy(centroids + size_t(c) * dim, data + size_t(sample[pick]) * dim, dim * sizeof(float));
  }
}

// Assigns rows to their nearest centroid. Returns the mean assigned distance (summed in row order,
// so it does not depend on the thread count).
double assign_rows(const float* data, size_t dim, const std::vector<uint32_t>& rows, int k, const float* centroids,
                   ThreadPool* pool, uint32_t* assign) {
  std::vector<float> assigned_d(rows.size());
  parallel(pool, rows.size(), [&](size_t b, size_t e) {
    std::vector<float> d(static_cast<size_t>(k));
    for (size_t i = b; i < e; ++i) {
      l2_sq_batch(data + size_t(rows[i]) * dim, centroids, dim, size_t(k), dim, d.data());
      assign[i] = static_cast<uint32_t>(std::min_element(d.begin(), d.end()) - d.begin());
      assigned_d[i] = d[assign[i]];
    }
  });
  double total = 0.0;
  for (float v : assigned_d) total += v;
  return rows.empty() ? 0.0 : total / double(rows.size());
}

// Balanced assignment (SPTAG-style penalty): row i goes to the cluster minimising
// d(x, c_j) + lambda * mean_d * (n_j / ((i + 1) / k) - 1), n_j counted so far in this pass, so a
// cluster that is ahead of its share repels the next rows. One thread, rows in order
// (deterministic).
void assign_rows_balanced(const float* data, size_t dim, const std::vector<uint32_t>& rows, int k,
                          const float* centroids, float lambda, double mean_d, uint32_t* assign) {
  std::vector<float> d(static_cast<size_t>(k));
  std::vector<uint32_t> counts(static_cast<size_t>(k), 0);
  for (size_t i = 0; i < rows.size(); ++i) {
    l2_sq_batch(data + size_t(rows[i]) * dim, centroids, dim, size_t(k), dim, d.data());
    const double share = double(i + 1) / k;
    int best = 0;
    double best_c = 0;
    for (int j = 0; j < k; ++j) {
      const double c = d[j] + lambda * mean_d * (counts[j] / share - 1.0);
      if (j == 0 || c < best_c) {
        best_c = c;
        best = j;
      }
    }
    assign[i] = uint32_t(best);
    ++counts[best];
  }
}

}  // namespace

void balanced_kmeans(const float* data, size_t dim, const std::vector<uint32_t>& rows, int k,
                     const KMeansOptions& opts, ThreadPool* pool, std::vector<float>* centroids,
                     std::vector<uint32_t>* assign) {
  MNEMO_CHECK(k >= 1 && size_t(k) <= rows.size());
  std::mt19937_64 rng(mix_seed(opts.seed, rows.size() * 31 + rows.front()));
  // Training sample.
  std::vector<uint32_t> sample = rows;
  const size_t max_train = size_t(k) * opts.max_train_per_centroid;
  if (sample.size() > max_train) {
    for (size_t i = 0; i < max_train; ++i) {
      size_t j = std::uniform_int_distribution<size_t>(i, sample.size() - 1)(rng);
      std::swap(sample[i], sample[j]);
    }
    sample.resize(max_train);
  }
  centroids->assign(size_t(k) * dim, 0.0f);
  seed_plus_plus(data, dim, sample, k, rng, centroids->data());

  std::vector<uint32_t> sample_assign(sample.size());
  std::vector<uint32_t> counts(static_cast<size_t>(k));
  std::vector<double> sums(size_t(k) * dim);
  double mean_d = 0.0;
  for (int it = 0; it < opts.iterations; ++it) {
    if (opts.balance_lambda > 0 && it > 0) {
      assign_rows_balanced(data, dim, sample, k, centroids->data(), opts.balance_lambda, mean_d, sample_assign.data());
    } else {
      mean_d = assign_rows(data, dim, sample, k, centroids->data(), pool, sample_assign.data());
    }
    std::fill(counts.begin(), counts.end(), 0u);
    std::fill(sums.begin(), sums.end(), 0.0);
    for (size_t i = 0; i < sample.size(); ++i) {
      const uint32_t c = sample_assign[i];
      ++counts[c];
      const float* x = data + size_t(sample[i]) * dim;
      double* s = sums.data() + size_t(c) * dim;
      for (size_t t = 0; t < dim; ++t) s[t] += x[t];
    }
    for (int j = 0; j < k; ++j) {
      float* c = centroids->data() + size_t(j) * dim;
      if (counts[j] == 0) {
        // Empty cluster: restart it at a random row of the largest cluster, nudged off it.
        const uint32_t big = uint32_t(std::max_element(counts.begin(), counts.end()) - counts.begin());
        std::vector<size_t> members;
        for (size_t i = 0; i < sample.size(); ++i) {
          if (sample_assign[i] == big) members.push_back(i);
        }
        if (members.empty()) continue;
        const size_t pick = members[std::uniform_int_distribution<size_t>(0, members.size() - 1)(rng)];
        std::memcpy(c, data + size_t(sample[pick]) * dim, dim * sizeof(float));
        for (size_t t = 0; t < dim; ++t) c[t] += 1e-4f * (float(t % 7) - 3.0f);
        continue;
      }
      const double* s = sums.data() + size_t(j) * dim;
      for (size_t t = 0; t < dim; ++t) c[t] = static_cast<float>(s[t] / counts[j]);
    }
  }
  assign->resize(rows.size());
  if (opts.balance_lambda > 0) {
    if (mean_d == 0.0) mean_d = assign_rows(data, dim, rows, k, centroids->data(), pool, assign->data());
    assign_rows_balanced(data, dim, rows, k, centroids->data(), opts.balance_lambda, mean_d, assign->data());
  } else {
    assign_rows(data, dim, rows, k, centroids->data(), pool, assign->data());
  }
}

Partition hierarchical_kmeans(const float* data, size_t n, size_t dim, const HierarchicalOptions& opts,
                              ThreadPool* pool) {
  MNEMO_CHECK(opts.leaf_size >= 1 && opts.branching >= 2);
  Partition part;
  part.leaf_of_row.assign(n, 0);
  if (n == 0) return part;

  struct Node {
    std::vector<uint32_t> rows;
    uint64_t key;         // deterministic seed material, unique per node
    uint64_t parent = 0;  // the key of the node it was split from
  };
  std::vector<Node> level;
  {
    Node root;
    root.rows.resize(n);
    for (size_t i = 0; i < n; ++i) root.rows[i] = uint32_t(i);
    root.key = 1;
    level.push_back(std::move(root));
  }
  std::vector<std::vector<uint32_t>> leaves;
  std::vector<uint64_t> leaf_parent;
  const size_t leaf_max = opts.leaf_size + opts.leaf_size / 2;  // nodes up to this size are leaves

  // Splits one node into children (rows of each child), with k-means on `node_pool` (may be null).
  auto split = [&](const Node& node, ThreadPool* node_pool) {
    const size_t m = node.rows.size();
    // Children of about leaf_size rows in one step when that needs at most 4 * branching clusters
    // (so leaves average leaf_size instead of being halved from just above it); else `branching`.
    const size_t want = (m + opts.leaf_size / 2) / opts.leaf_size;
    const size_t final_k = size_t(opts.branching) * 4;
    int k = static_cast<int>(want <= final_k ? std::max<size_t>(want, 2) : size_t(opts.branching));
    KMeansOptions ko = opts.kmeans;
    ko.seed = mix_seed(opts.kmeans.seed, node.key);
    std::vector<float> cent;
    std::vector<uint32_t> asg;
    balanced_kmeans(data, dim, node.rows, k, ko, node_pool, &cent, &asg);
    std::vector<Node> children(static_cast<size_t>(k));
    for (int j = 0; j < k; ++j) {
      children[j].key = mix_seed(node.key, uint64_t(j) + 1);
      children[j].parent = node.key;
    }
    for (size_t i = 0; i < m; ++i) children[asg[i]].rows.push_back(node.rows[i]);
    // k-means leaves some clusters with a handful of rows (outliers it seeded on): fold each into
    // the nearest sibling that is not tiny, so that leaves (posting lists) are not mostly empty.
    const size_t min_leaf = std::max<size_t>(2, opts.leaf_size / 4);
    for (int j = 0; j < k; ++j) {
      if (children[j].rows.empty() || children[j].rows.size() >= min_leaf) continue;
      int best = -1;
      float best_d = 0;
      for (int t = 0; t < k; ++t) {
        if (t == j || children[t].rows.size() < min_leaf) continue;
        const float d = l2_sq(cent.data() + size_t(j) * dim, cent.data() + size_t(t) * dim, dim);
        if (best < 0 || d < best_d) {
          best = t;
          best_d = d;
        }
      }
      if (best < 0) continue;
      auto& dst = children[best].rows;
      dst.insert(dst.end(), children[j].rows.begin(), children[j].rows.end());
      children[j].rows.clear();
    }
    // Degenerate data (duplicates) can leave everything in one child: cut it in halves instead.
    size_t biggest = 0;
    for (auto& c : children) biggest = std::max(biggest, c.rows.size());
    if (biggest == m) {
      children.clear();
      children.resize(2);
      children[0].key = mix_seed(node.key, 101);
      children[1].key = mix_seed(node.key, 102);
      children[0].parent = children[1].parent = node.key;
      for (size_t i = 0; i < m; ++i) children[i < m / 2 ? 0 : 1].rows.push_back(node.rows[i]);
    }
    std::vector<Node> out;
    for (auto& c : children) {
      if (!c.rows.empty()) out.push_back(std::move(c));
    }
    return out;
  };

  while (!level.empty()) {
    std::vector<Node> next;
    std::vector<Node> small;
    // Large nodes: k-means parallel inside. Small nodes: one thread each.
    for (Node& node : level) {
      if (node.rows.size() <= leaf_max) {
        leaves.push_back(std::move(node.rows));
        leaf_parent.push_back(node.parent);
      } else if (node.rows.size() >= 20000 || pool == nullptr) {
        for (Node& c : split(node, pool)) next.push_back(std::move(c));
      } else {
        small.push_back(std::move(node));
      }
    }
    if (!small.empty()) {
      std::vector<std::vector<Node>> results(small.size());
      std::atomic<size_t> cursor{0};
      pool->run([&](int, int) {
        while (true) {
          size_t i = cursor.fetch_add(1);
          if (i >= small.size()) break;
          results[i] = split(small[i], nullptr);
        }
      });
      for (auto& r : results) {
        for (Node& c : r) next.push_back(std::move(c));
      }
    }
    level.swap(next);
  }

  // Leaves in a deterministic order: by their smallest row.
  std::vector<size_t> order(leaves.size());
  std::vector<uint32_t> first_row(leaves.size());
  for (size_t l = 0; l < leaves.size(); ++l) {
    order[l] = l;
    first_row[l] = *std::min_element(leaves[l].begin(), leaves[l].end());
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return first_row[a] < first_row[b]; });
  {
    std::vector<std::vector<uint32_t>> sorted(leaves.size());
    std::vector<uint64_t> parents(leaves.size());
    for (size_t i = 0; i < order.size(); ++i) {
      sorted[i] = std::move(leaves[order[i]]);
      parents[i] = leaf_parent[order[i]];
    }
    leaves.swap(sorted);
    leaf_parent.swap(parents);
  }
  // Siblings share a group (numbered in order of first appearance).
  std::unordered_map<uint64_t, uint32_t> group_of;
  part.leaf_group.resize(leaves.size());
  for (size_t l = 0; l < leaves.size(); ++l) {
    auto it = group_of.emplace(leaf_parent[l], uint32_t(group_of.size())).first;
    part.leaf_group[l] = it->second;
  }
  part.n_groups = group_of.size();
  part.n_leaves = leaves.size();
  part.centroids.assign(leaves.size() * dim, 0.0f);
  std::vector<double> acc(dim);
  for (size_t l = 0; l < leaves.size(); ++l) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (uint32_t r : leaves[l]) {
      part.leaf_of_row[r] = uint32_t(l);
      const float* x = data + size_t(r) * dim;
      for (size_t t = 0; t < dim; ++t) acc[t] += x[t];
    }
    float* c = part.centroids.data() + l * dim;
    for (size_t t = 0; t < dim; ++t) c[t] = static_cast<float>(acc[t] / double(leaves[l].size()));
  }
  return part;
}

}  // namespace mnemo::ltm::ann
