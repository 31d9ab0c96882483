// ltm/ann/spann_index.h: SPANN, a memory-disk hybrid vector index (Chen et al., "SPANN: Highly-
// efficient Billion-scale Approximate Nearest Neighbor Search", NeurIPS 2021, arXiv 2111.08566),
// with SPFresh-style in-place updates (Xu et al., SOSP 2023).
//
// RAM holds only the posting-list centroids ("heads") with a navigable graph over them
// (head_index.h), the posting-list directory and the map of live ids (id_map.h). The vectors live
// in posting lists on disk, each a run of 4 KiB pages read with O_DIRECT (posting_file.h).
//
//  - Build (section 3.2): hierarchical balanced k-means cuts the data into many small clusters;
//    their means are the heads. Closure assignment: a vector also joins list j when
//    d(x, c_j) <= (1 + closure_epsilon) * d(x, c_1), unless an already chosen head c_i is closer to
//    c_j than x is (the RNG rule: replicas go in different directions), up to replica_limit lists.
//  - Search (section 3.3): the nearest heads come from the graph; only lists with
//    d(q, c_i) <= (1 + prune_epsilon) * d(q, c_1) are read (query-aware pruning), at most
//    max_probes, all in one asynchronous batch. With a filter, probing goes on in order of centroid
//    distance until k matches are found (see search() for how selective filters are handled).
//  - Updates (SPFresh): inserts append to the chosen lists (in RAM until written); a list over
//    posting_limit is split in two by 2-means and the vectors near the split (its own, and those of
//    nearby lists) are reassigned when a new head is now nearer. Deletes erase the id from the id
//    map; stale copies are skipped by search and dropped when their list is rewritten.
//  - Distances are squared L2, and both epsilons apply to squared distances.
//
// Files in the index directory: spann.meta (commit point; spann_meta.h), postings.dat (extents),
// centroids.f32 (append-only, by list id), graph-<gen>.bin (head graph; derived, rebuilt when
// missing), LOCK (flock: one process at a time).
//
// Durability: flush() writes pending lists, syncs postings and centroids, writes the graph if it
// changed, then commits a new spann.meta (temporary + fsync + rename) recording applied_seq().
// Extents referenced by the committed metadata are never overwritten except for appending records
// past their committed count (bytes the committed checksum does not cover), so a crash at any point
// reopens at the last committed flush. Checksums (CRC-32C) cover the metadata, the centroids, the
// graph and every posting list (verified on each read).
//
// Thread-safety: search() runs concurrently with other searches; add/remove/flush/compact take
// an exclusive lock.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/thread_pool.h"
#include "ltm/ann/head_index.h"
#include "ltm/ann/id_map.h"
#include "ltm/ann/posting_file.h"
#include "ltm/ann/spann_meta.h"
#include "ltm/vector_index.h"

namespace mnemo::ltm::ann {

struct SpannParams {
  // Build: hierarchical balanced k-means.
  // Vectors per posting list before replication (heads = n / leaf_size). 0 = as many as fill
  // target_list_bytes: lists of about 64 KiB are one read each on an SSD that does ~25k 16 KiB reads
  // per second, so a query's reads stay few while its scan stays short (about 125 vectors at d=128).
  size_t leaf_size = 0;
  size_t target_list_bytes = 64u << 10;
  int kmeans_branching = 32;
  float balance_lambda = 0.5f;  // k-means balance penalty (kmeans.h)
  // Closure assignment (posting-list expansion) with RNG pruning.
  int replica_limit = 8;
  float closure_epsilon = 0.25f;
  int closure_candidates = 24;  // nearest heads considered
  // RNG rule strength: skip c_j when rng_factor * d(c_i, c_j) < d(x, c_j) for a chosen c_i
  // (SPANN/SPTAG: 1.0; 0 disables it).
  float rng_factor = 1.0f;
  // Posting lists: a list with more records is split (SPFresh); build caps lists at it.
  int posting_limit = 0;  // 0 = 3 * leaf_size
  // Search defaults (SearchOptions overrides per query).
  int max_probes = 32;
  float prune_epsilon = 2.0f;
  int head_ef = 64;  // graph beam width (raised to the probe count when smaller)
  HeadIndexParams head;
  // Updates: nearby lists examined for reassignment after a split.
  int reassign_neighbors = 8;
  // I/O.
  bool direct_io = true;
  bool verify_checksums = true;  // CRC of every posting list read by search
  size_t pending_budget_bytes = 32u << 20;  // unwritten inserts held in RAM before writing lists
  uint64_t seed = 1;
};

struct SpannStats {
  uint64_t n_lists = 0;      // live posting lists
  uint64_t n_records = 0;    // entries on disk and pending (replicas and stale copies included)
  uint64_t max_list_records = 0;
  uint64_t splits = 0;       // since open
  uint64_t reassigned = 0;   // since open
  uint64_t pending_bytes = 0;
  uint64_t lists_probed_last_query = 0;
  bool direct_io = false;
  bool async_io = false;
};

// Run-time settings for open(); the structure (and the search defaults) come from the metadata.
struct SpannOpenOptions {
  bool direct_io = true;
  bool verify_checksums = true;
  size_t pending_budget_bytes = 32u << 20;
  int max_probes = 0;        // 0 = as stored
  float prune_epsilon = 0;   // 0 = as stored
  int head_ef = 0;           // 0 = as stored
};

// What the last search did (cheap: no locks, no system calls).
struct SpannQueryStats {
  uint64_t vectors_scanned = 0;  // posting entries whose distance was computed (replicas included)
  uint64_t reads_4k = 0;         // 4 KiB pages read from disk
  uint64_t lists_probed = 0;
};

class SpannIndex final : public VectorIndex {
 public:
  // An empty index in `dir` (created if needed; must not hold an index). It grows by add().
  static Expected<std::unique_ptr<SpannIndex>> create(const std::string& dir, int dim, const SpannParams& params);
  // Bulk build from (n, dim) vectors and their ids, committed at applied_seq `seq`. `pool` may be null.
  static Expected<std::unique_ptr<SpannIndex>> build(const std::string& dir, int dim, const SpannParams& params,
                                                     const float* vectors, const uint64_t* ids, size_t n,
                                                     uint64_t seq, ThreadPool* pool);
  // Opens a committed index. kNotFound when there is none, kCorrupt when a file is damaged, kIoError
  // when another process has it open.
  static Expected<std::unique_ptr<SpannIndex>> open(const std::string& dir, const SpannOpenOptions& opts = {});
  // Removes the index files of `dir` (not the directory).
  static Status destroy(const std::string& dir);

  ~SpannIndex() override;

  int dim() const override { return dim_; }
  // Adding an id that is present replaces its vector. Vectors must be finite.
  Status add(uint64_t id, std::span<const float> vec, uint64_t seq) override;
  // Removing an absent id is not an error.
  Status remove(uint64_t id, uint64_t seq) override;
  Expected<std::vector<Neighbor>> search(std::span<const float> query, const SearchOptions& opts) override;
  Status flush() override;
  // The highest sequence applied (durable once flush() returns; after open, the flushed one).
  uint64_t applied_seq() const override;
  IndexStats stats() const override;

  SpannStats spann_stats() const;
  SpannQueryStats last_query() const {
    return {last_scanned_.load(std::memory_order_relaxed), last_reads_.load(std::memory_order_relaxed),
            last_probed_.load(std::memory_order_relaxed)};
  }
  bool contains(uint64_t id) const;
  // Rewrites every list holding stale entries (deleted or moved vectors) and drops empty lists.
  Status compact();
  // Reads every posting list and checks its checksum; kCorrupt names the first damaged list.
  Status verify();
  const SpannParams& params() const { return params_; }

 private:
  struct ListInfo {
    uint64_t page = 0;
    uint32_t pages = 0;
    uint32_t count = 0;
    uint32_t crc = 0;
    bool alive = false;
    Extent extent() const { return Extent{page, pages}; }
  };
  struct Scratch;
  struct Query;

  SpannIndex(std::string dir, int dim, const SpannParams& params);
  Status open_files(bool create);
  Status lock_dir();
  std::unique_ptr<Scratch> take_scratch() const;
  void give_scratch(std::unique_ptr<Scratch> s) const;

  // Closure assignment of x: lists, home (nearest) first. `near` (optional) is a head close to x
  // where the graph search starts.
  void assign_closure(const float* x, std::vector<uint32_t>* lists, Scratch* s, uint32_t near = UINT32_MAX) const;
  uint32_t new_list(const float* centroid);
  void append_record(uint32_t list, uint64_t id, uint32_t version, const float* vec);
  uint32_t next_version();
  size_t list_size(uint32_t l) const;  // disk + pending records
  // Reads list l (disk records then pending) into `buf`; returns the record count.
  Expected<size_t> load_list(uint32_t l, AlignedBuffer* buf, bool verify) const;
  bool live(uint64_t id, uint32_t version) const;
  // Writes list l's pending records (in place when they fit, else relocating and dropping stale
  // entries). `gc` forces the relocation with stale entries dropped.
  Status write_list(uint32_t l, bool gc);
  Status write_all_pending();
  void retire_extent(const Extent& e);
  Status split_list(uint32_t l, std::vector<uint32_t>* queue);
  Status reassign(uint64_t id, const float* vec, std::vector<uint32_t>* queue);
  Status process_splits(std::vector<uint32_t>* queue);
  Status commit();
  Status search_locked(const float* q, const SearchOptions& opts, Scratch* s, std::vector<Neighbor>* out);
  // Reads lists (one asynchronous batch) and scans them with their pending records into the query.
  Status probe(std::span<const uint32_t> lists, Query* qs, Scratch* s) const;
  void scan(const uint8_t* recs, size_t n, Query* qs, Scratch* s) const;
  // Exact filtered search by enumerating the ids the filter accepts and reading their home lists.
  // Returns false (and probes nothing) when more than `cap` ids match.
  Expected<bool> enumerate_filtered(Query* qs, Scratch* s, uint64_t cap) const;
  Status write_centroids();
  Status load_centroids(const Meta& meta);

  std::string dir_;
  int dim_;
  SpannParams params_;
  uint32_t rec_bytes_;
  uint64_t instance_id_ = 0;
  int lock_fd_ = -1;
  int cent_fd_ = -1;  // centroids.f32
  AlignedBuffer wbuf_, rbuf_;  // exclusive-lock I/O buffers

  mutable std::shared_mutex mu_;
  std::unique_ptr<PostingFile> postings_;
  ExtentAllocator alloc_;
  HeadIndex head_;
  std::vector<ListInfo> lists_;
  IdMap ids_;
  std::unordered_map<uint32_t, std::vector<uint8_t>> pending_;  // list -> appended records
  uint64_t pending_bytes_ = 0;
  std::unordered_set<uint64_t> fresh_extents_;  // first pages of extents allocated since the last commit
  std::vector<Extent> free_after_commit_;
  uint32_t version_counter_ = 0;
  uint64_t applied_seq_ = 0;
  uint64_t generation_ = 0;
  uint64_t graph_generation_ = 0;
  bool graph_dirty_ = false;
  uint32_t centroids_on_disk_ = 0;
  bool meta_dirty_ = false;
  uint64_t removed_since_compact_ = 0;
  uint64_t n_records_ = 0;
  uint64_t splits_ = 0;
  uint64_t reassigned_ = 0;

  mutable std::mutex scratch_mu_;
  mutable std::vector<std::unique_ptr<Scratch>> scratch_pool_;
  std::atomic<uint64_t> last_reads_{0};
  std::atomic<uint64_t> last_scanned_{0};
  std::atomic<uint64_t> last_probed_{0};
};

}  // namespace mnemo::ltm::ann
