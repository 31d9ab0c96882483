// ltm/vector_index.h: the interface between the memory service and its approximate nearest
// neighbour indexes (an exact flat index for small sets, SPANN for large ones).
//
// Ids are the memory store's row ids. Vectors are float32 of a fixed dimension. Distances are
// squared L2 (embeddings are unit-normalised, so this orders like cosine similarity).
//
// Durability contract: an index is derived data. The store (SQLite) is the source of truth; every
// change carries the store's sequence number, and the index remembers the highest sequence it has
// applied durably (applied_seq()). After a crash the service replays changes with a higher
// sequence, or rebuilds the index when it is missing or corrupt.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "mnemo/status.h"

namespace mnemo::ltm {

struct Neighbor {
  uint64_t id = 0;
  float distance = 0.0f;  // squared L2
};

struct SearchOptions {
  int k = 10;
  // Only ids for which filter(id) is true are returned; the search keeps probing until it has k
  // of them or has exhausted the index (so a filter that matches >= k items yields k results).
  std::function<bool(uint64_t)> filter;
  // Index-specific effort knobs (SPANN: max posting lists probed, pruning epsilon); 0 = default.
  int max_probes = 0;
  float prune_epsilon = 0.0f;
  // How many ids `filter` accepts, when the caller knows (e.g. a user's memory count); 0 = unknown.
  // Lets an index pick its strategy for selective filters up front (SPANN: enumerate the matching
  // ids instead of probing). A wrong hint costs time, never correctness.
  uint64_t filter_cardinality = 0;
};

struct IndexStats {
  uint64_t n_vectors = 0;
  uint64_t ram_bytes = 0;          // resident memory the index holds (centroids, maps, caches)
  uint64_t disk_bytes = 0;         // bytes in its files
  uint64_t reads_4k_last_query = 0;  // 4 KiB disk reads done by the last search
  uint64_t vectors_scanned_last_query = 0;
};

class VectorIndex {
 public:
  virtual ~VectorIndex() = default;
  virtual int dim() const = 0;
  virtual Status add(uint64_t id, std::span<const float> vec, uint64_t seq) = 0;
  virtual Status remove(uint64_t id, uint64_t seq) = 0;
  virtual Expected<std::vector<Neighbor>> search(std::span<const float> query, const SearchOptions& opts) = 0;
  // Makes every applied change durable and records applied_seq().
  virtual Status flush() = 0;
  virtual uint64_t applied_seq() const = 0;
  virtual IndexStats stats() const = 0;
};

}  // namespace mnemo::ltm
