// ltm/ann/spann_meta.h: the SPANN index's metadata file ("spann.meta"), the commit point of the
// index: a crash-safe (AtomicFileWriter) snapshot of the posting-list directory, the live ids, the
// parameters and applied_seq. Everything it references (extents, centroids, the graph file) is
// written and synced before it.
//
// Layout (little-endian): fixed header (MetaHeader, magic "MNSPMETA"), n_lists ListRecords,
// n_ids IdRecords, u32 CRC-32C of everything before it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ltm/ann/posting_file.h"
#include "mnemo/status.h"

namespace mnemo::ltm::ann {

constexpr uint32_t kSpannFormatVersion = 1;

struct ListRecord {
  uint64_t page = 0;   // extent start (0 = no extent)
  uint32_t pages = 0;  // extent length (capacity)
  uint32_t count = 0;  // records stored
  uint32_t crc = 0;    // CRC-32C of the count * record_bytes bytes
  uint32_t flags = 0;  // kListAlive
};
constexpr uint32_t kListAlive = 1;

struct IdRecord {
  uint64_t id = 0;
  uint32_t version = 0;
  uint32_t home = 0;
};

struct StoredParams {
  uint32_t leaf_size = 0, branching = 0, replica_limit = 0, closure_candidates = 0, posting_limit = 0;
  uint32_t max_probes = 0, head_ef = 0, degree = 0, ef_construction = 0, n_pivots = 0;
  float closure_epsilon = 0, prune_epsilon = 0, balance_lambda = 0, rng_factor = 0;
};

struct MetaHeader {
  uint64_t generation = 0;
  uint64_t applied_seq = 0;
  uint64_t instance_id = 0;
  uint32_t dim = 0;
  uint32_t record_bytes = 0;
  uint32_t version_counter = 0;
  uint32_t n_lists = 0;
  uint64_t n_ids = 0;
  uint64_t graph_generation = 0;  // graph-<n>.bin holds the head graph (0 = none)
  uint32_t centroids_crc = 0;     // CRC-32C of the first n_lists centroids
  uint64_t removed_since_compact = 0;
  StoredParams params;
};

struct Meta {
  MetaHeader h;
  std::vector<ListRecord> lists;
};

// Writes the metadata atomically to `path`; `ids(sink)` must call sink once per live id. Streams
// (no copy of the id map in RAM).
using IdSink = std::function<Status(const IdRecord&)>;
Status write_meta(const std::string& path, const Meta& meta, const std::function<Status(const IdSink&)>& ids);
// Reads and validates (magic, version, sizes, checksum, no two extents overlapping, homes naming
// live lists), streaming the ids to `on_id` (which may reject one with an error). Nothing read may
// be trusted unless it returns ok: the checksum is checked at the end. kNotFound when absent,
// kCorrupt when damaged.
Expected<Meta> read_meta(const std::string& path, const IdSink& on_id);
// Checks the directory against the posting file size (pages). kCorrupt when an extent lies beyond it.
Status check_extents(const Meta& meta, uint64_t file_pages, const std::string& postings_path);

}  // namespace mnemo::ltm::ann
