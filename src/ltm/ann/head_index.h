// ltm/ann/head_index.h: the posting-list centroids ("heads") in RAM and a navigable graph over
// them for fast nearest-centroid search (SPANN keeps heads in an SPTAG BKT+RNG graph; this is a
// single-layer graph with relative-neighbourhood-graph pruning, as in HNSW's layer 0 / NSG, entered
// from a random sample of pivots scanned exhaustively).
//
// Node ids are posting-list ids. A node can be killed (its list was split or emptied): it keeps
// routing queries but is never returned, so killing needs no graph repair.
//
// Thread-safety: build() uses the pool with internal per-node locks. Otherwise const methods may
// run concurrently with each other and mutating methods are exclusive (the index's lock).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/thread_pool.h"
#include "mnemo/status.h"

namespace mnemo::ltm::ann {

struct HeadIndexParams {
  int degree = 32;           // max out-edges per node (R)
  int ef_construction = 96;  // beam width when linking a new node
  // Entry points ("pivots"): a random sample of max(n_pivots, live heads / pivot_ratio) heads.
  // Up to max_scanned_pivots of them are scanned exhaustively; more get a graph of their own (an
  // upper layer, as in HNSW) that routes the query to the nearest few. Without enough entry points
  // a graph of clustered data (RNG pruning drops most edges between clusters) strands queries in
  // the wrong cluster.
  int n_pivots = 256;
  int pivot_ratio = 16;
  int max_scanned_pivots = 2048;
  int exhaustive_below = 1024;  // below this many live heads, search scans them all
  // Edge pruning keeps neighbour c of u unless a kept neighbour s has alpha * |s - c| < |u - c|
  // (alpha = 1: the RNG rule; > 1 keeps longer edges, as DiskANN's Vamana does, so that graphs of
  // clustered data stay connected between clusters).
  float alpha = 1.0f;
  uint64_t seed = 7;
};

// Per-search scratch (visited marks); one per concurrent searcher.
struct HeadScratch {
  std::vector<uint32_t> visited;
  uint32_t epoch = 0;
  std::vector<std::pair<float, uint32_t>> cand;  // heap storage
  std::vector<std::pair<float, uint32_t>> top;
};

class HeadIndex {
 public:
  HeadIndex(int dim, const HeadIndexParams& params);

  int dim() const { return dim_; }
  uint32_t size() const { return static_cast<uint32_t>(alive_.size()); }
  uint32_t n_alive() const { return n_alive_; }
  const float* vec(uint32_t i) const { return centroids_.data() + size_t(i) * dim_; }
  bool alive(uint32_t i) const { return alive_[i] != 0; }
  const std::vector<float>& centroids() const { return centroids_; }

  // Replaces everything by `n` heads (all alive) and builds the graph. `pivots` (optional) are the
  // entry points to use, e.g. one head per region of the data; else a random sample.
  void build(const float* vecs, size_t n, ThreadPool* pool, std::vector<uint32_t> pivots = {});
  // Appends a head (alive) linked into the graph; returns its id (== previous size()).
  uint32_t add(const float* v);
  // Appends a head without linking it (alive as given).
  void append_unlinked(const float* v, bool alive);
  // Replaces everything by these heads, unlinked (loading a saved index; takes the vectors).
  void load(std::vector<float>&& centroids, std::vector<uint8_t>&& alive);
  void kill(uint32_t i);
  // Rebuilds the graph over the live heads (dead ones keep their centroid but lose all edges).
  void rebuild(ThreadPool* pool, std::vector<uint32_t> pivots = {});

  // The up to `n` nearest live heads of q, nearest first, as (squared distance, id). `ef` >= n is
  // the beam width. Exhaustive when there are few heads.
  void search(const float* q, size_t n, int ef, HeadScratch* scratch,
              std::vector<std::pair<float, uint32_t>>* out) const;
  // As search(), entering at `entry` (a head known to be near q, e.g. q's k-means leaf) instead of
  // the pivots: cheaper, and as good when the entry is in q's neighbourhood.
  void search_from(const float* q, uint32_t entry, size_t n, int ef, HeadScratch* scratch,
                   std::vector<std::pair<float, uint32_t>>* out) const;
  // Every live head, nearest first.
  void search_exhaustive(const float* q, std::vector<std::pair<float, uint32_t>>* out) const;

  // The graph file (adjacency and pivots; centroids and liveness are stored by the owner):
  // "MNHGRPH1", u32 nodes, u32 degree, u32 pivots, u32 adjacency[nodes][degree+1], u32 pivots[],
  // u32 CRC-32C. Written atomically; read straight into place (no second copy in RAM).
  Status write_graph(const std::string& path) const;
  Status read_graph(const std::string& path);
  bool has_graph() const { return graph_built_; }
  uint64_t ram_bytes() const;

 private:
  const uint32_t* links(uint32_t i) const { return adj_.data() + size_t(i) * (degree_ + 1); }
  uint32_t* links(uint32_t i) { return adj_.data() + size_t(i) * (degree_ + 1); }
  void link_new_node(uint32_t u, HeadScratch* scratch, bool locking);
  void beam(const float* q, int ef, HeadScratch* scratch, bool locking, uint32_t entry = UINT32_MAX) const;
  void select_neighbors(const float* base, std::vector<std::pair<float, uint32_t>>& cand, int max_n,
                        std::vector<uint32_t>* chosen) const;
  void add_reverse_link(uint32_t n, uint32_t u, bool locking);
  // (Re)builds the upper layer over the pivots when there are too many to scan.
  void build_upper();
  size_t pivot_target() const;
  std::mutex& lock_of(uint32_t i) const { return locks_[i & (kLockStripes - 1)]; }

  static constexpr uint32_t kLockStripes = 4096;
  int dim_;
  HeadIndexParams params_;
  int degree_;
  std::vector<float> centroids_;  // (size, dim)
  std::vector<uint8_t> alive_;
  uint32_t n_alive_ = 0;
  std::vector<uint32_t> adj_;  // (size, degree+1): [count, neighbours...]
  std::vector<uint32_t> pivots_;
  std::unique_ptr<HeadIndex> upper_;  // graph over the pivots (node i = pivots_[i]); null when few
  bool graph_built_ = false;
  std::unique_ptr<std::mutex[]> locks_;
};

}  // namespace mnemo::ltm::ann
