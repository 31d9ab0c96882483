// ltm/ann/spann_internal.h: pieces shared by the spann_*.cc files (not a public header).
#pragma once

#include <cstring>
#include <utility>
#include <vector>

#include "ltm/ann/head_index.h"
#include "ltm/ann/posting_file.h"
#include "ltm/ann/spann_index.h"

namespace mnemo::ltm::ann {

// A posting record: u64 id, u32 version, f32 vector[dim]. 12 + 4*dim bytes, packed across pages.
constexpr size_t kRecordHeader = 12;

inline uint64_t record_id(const uint8_t* r) {
  uint64_t id;
  std::memcpy(&id, r, 8);
  return id;
}
inline uint32_t record_version(const uint8_t* r) {
  uint32_t v;
  std::memcpy(&v, r + 8, 4);
  return v;
}
inline const float* record_vec(const uint8_t* r) { return reinterpret_cast<const float*>(r + kRecordHeader); }

inline void put_record(uint8_t* r, uint64_t id, uint32_t version, const float* vec, int dim) {
  std::memcpy(r, &id, 8);
  std::memcpy(r + 8, &version, 4);
  std::memcpy(r + kRecordHeader, vec, sizeof(float) * size_t(dim));
}

inline uint32_t pages_for(uint64_t bytes) { return uint32_t((bytes + kPageBytes - 1) / kPageBytes); }

// Per-search (and per-builder-thread) scratch space.
struct SpannIndex::Scratch {
  explicit Scratch(const PostingFile* f) : reader(f) {}
  HeadScratch head;
  BatchReader reader;
  AlignedBuffer io;
  std::vector<std::pair<float, uint32_t>> cands;
  std::vector<std::pair<float, uint32_t>> all_cands;
  std::vector<float> dist;
  std::vector<uint32_t> done;
  std::vector<uint32_t> probed;  // epoch marks by list
  uint32_t probed_epoch = 0;
};

}  // namespace mnemo::ltm::ann
