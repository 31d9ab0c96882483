// ltm/ann/flat_index.h: exact nearest-neighbour search by scanning every vector.
//
// For small sets (the memory service keeps one per user while a user has few memories) and as the
// ground truth of the approximate indexes. Vectors live in RAM; when opened on a file, flush()
// rewrites that file atomically (AtomicFileWriter) with a CRC-32C over its bytes, so a crash
// leaves the previous flush or the new one.
//
// File layout (little-endian): "MNFLAT01", u32 format version, u32 dim, u64 n, u64 applied_seq,
// u64 ids[n], f32 vectors[n][dim], u32 crc32c of everything before it.
//
// Thread-safety: search() may run concurrently with other searches; add/remove/flush are
// exclusive (a shared mutex inside).
#pragma once

#include <atomic>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "ltm/vector_index.h"

namespace mnemo::ltm::ann {

class FlatIndex final : public VectorIndex {
 public:
  // In memory only: flush() records applied_seq and writes nothing.
  explicit FlatIndex(int dim);
  // Backed by `path`: loads it when it exists (kCorrupt when it is damaged or of another
  // dimension), else starts empty and creates it on the first flush().
  static Expected<std::unique_ptr<FlatIndex>> open(const std::string& path, int dim);

  int dim() const override { return dim_; }
  // Adding an id that is present replaces its vector.
  Status add(uint64_t id, std::span<const float> vec, uint64_t seq) override;
  // Removing an absent id is not an error (replayed deletes are idempotent).
  Status remove(uint64_t id, uint64_t seq) override;
  Expected<std::vector<Neighbor>> search(std::span<const float> query, const SearchOptions& opts) override;
  Status flush() override;
  uint64_t applied_seq() const override;
  IndexStats stats() const override;

  size_t size() const;
  bool contains(uint64_t id) const;
  // The stored vector of `id` (empty when absent); a copy, safe against concurrent writers.
  std::vector<float> get(uint64_t id) const;

 private:
  Status load();

  int dim_;
  std::string path_;  // empty: in memory only
  mutable std::shared_mutex mu_;
  std::vector<uint64_t> ids_;
  std::vector<float> vecs_;  // (ids_.size(), dim_)
  std::unordered_map<uint64_t, uint32_t> row_of_;
  uint64_t applied_seq_ = 0;
  uint64_t disk_bytes_ = 0;
  std::atomic<uint64_t> last_scanned_{0};
};

}  // namespace mnemo::ltm::ann
