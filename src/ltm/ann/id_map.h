// ltm/ann/id_map.h: the live vectors of a SPANN index: id -> (version, home posting list).
//
// Posting lists may hold stale copies of a vector (replicas of a deleted or re-inserted vector,
// entries left behind by a split); an entry (id, version) is live only if this map says that id
// has that version. Deleting is therefore erasing from the map; stale entries are dropped when
// their posting list is rewritten (SPFresh-style tombstones).
//
// Compact on purpose (the index keeps it in RAM): ids that are dense (a store's row ids) live in
// an array indexed by id (8 bytes per id); otherwise, or once ids become sparse, an open-addressing
// hash table (about 20-30 bytes per id).
//
// Not thread-safe: the owning index serialises writers against readers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mnemo::ltm::ann {

struct IdEntry {
  uint32_t version = 0;  // 0 = absent; versions are never 0 for a live id
  uint32_t home = 0;     // the posting list of the vector's nearest centroid
};

class IdMap {
 public:
  IdMap() = default;

  size_t size() const { return size_; }
  // nullptr when absent. The pointer is valid until the next insert or erase.
  const IdEntry* find(uint64_t id) const;
  IdEntry* find(uint64_t id) { return const_cast<IdEntry*>(static_cast<const IdMap*>(this)->find(id)); }
  // Inserts or overwrites. `e.version` must not be 0. `id` must not be UINT64_MAX.
  void put(uint64_t id, IdEntry e);
  // Returns whether it was present.
  bool erase(uint64_t id);
  void clear();
  void reserve(size_t n);
  uint64_t ram_bytes() const;

  // Calls fn(id, entry) for live ids (in no particular order) while it returns true; returns
  // false when fn stopped the walk.
  template <typename Fn>
  bool for_each_while(Fn&& fn) const {
    if (dense_) {
      for (size_t i = 0; i < dense_values_.size(); ++i) {
        if (dense_values_[i].version != 0 && !fn(static_cast<uint64_t>(i), dense_values_[i])) return false;
      }
    } else {
      for (size_t i = 0; i < keys_.size(); ++i) {
        if (keys_[i] != kEmpty && !fn(keys_[i], values_[i])) return false;
      }
    }
    return true;
  }

  // Calls fn(id, entry) for every live id (in no particular order).
  template <typename Fn>
  void for_each(Fn&& fn) const {
    if (dense_) {
      for (size_t i = 0; i < dense_values_.size(); ++i) {
        if (dense_values_[i].version != 0) fn(static_cast<uint64_t>(i), dense_values_[i]);
      }
    } else {
      for (size_t i = 0; i < keys_.size(); ++i) {
        if (keys_[i] != kEmpty) fn(keys_[i], values_[i]);
      }
    }
  }

 private:
  static constexpr uint64_t kEmpty = UINT64_MAX;
  size_t slot_of(uint64_t id) const;
  void to_hash();
  void grow_hash(size_t min_capacity);

  bool dense_ = true;
  size_t size_ = 0;
  std::vector<IdEntry> dense_values_;  // dense mode: index = id
  std::vector<uint64_t> keys_;         // hash mode: linear probing, kEmpty = free
  std::vector<IdEntry> values_;
};

}  // namespace mnemo::ltm::ann
