#include "ltm/ann/id_map.h"

#include "base/check.h"

namespace mnemo::ltm::ann {
namespace {

uint64_t mix(uint64_t x) {  // splitmix64 finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

// Dense mode holds ids below this bound while they stay dense (max id < 2 * count + slack).
constexpr uint64_t kDenseSlack = 1 << 16;

}  // namespace

size_t IdMap::slot_of(uint64_t id) const {
  // Multiply-shift maps the hash onto any capacity (not only powers of two).
  return static_cast<size_t>((static_cast<unsigned __int128>(mix(id)) * keys_.size()) >> 64);
}

const IdEntry* IdMap::find(uint64_t id) const {
  if (dense_) {
    if (id >= dense_values_.size() || dense_values_[id].version == 0) return nullptr;
    return &dense_values_[id];
  }
  if (keys_.empty()) return nullptr;
  size_t i = slot_of(id);
  const size_t cap = keys_.size();
  while (true) {
    if (keys_[i] == id) return &values_[i];
    if (keys_[i] == kEmpty) return nullptr;
    if (++i == cap) i = 0;
  }
}

void IdMap::put(uint64_t id, IdEntry e) {
  MNEMO_CHECK(e.version != 0 && id != kEmpty);
  if (dense_) {
    if (id < dense_values_.size()) {
      if (dense_values_[id].version == 0) ++size_;
      dense_values_[id] = e;
      return;
    }
    if (id < 2 * (size_ + 1) + kDenseSlack) {
      size_t cap = dense_values_.size() < 1024 ? 1024 : dense_values_.size();
      while (cap <= id) cap += cap / 2;
      dense_values_.resize(cap);
      dense_values_[id] = e;
      ++size_;
      return;
    }
    to_hash();
  }
  if (keys_.empty() || (size_ + 1) * 5 > keys_.size() * 4) grow_hash((size_ + 1) * 2);
  size_t i = slot_of(id);
  const size_t cap = keys_.size();
  while (keys_[i] != kEmpty && keys_[i] != id) {
    if (++i == cap) i = 0;
  }
  if (keys_[i] == kEmpty) {
    keys_[i] = id;
    ++size_;
  }
  values_[i] = e;
}

bool IdMap::erase(uint64_t id) {
  if (dense_) {
    if (id >= dense_values_.size() || dense_values_[id].version == 0) return false;
    dense_values_[id] = IdEntry{};
    --size_;
    return true;
  }
  if (keys_.empty()) return false;
  const size_t cap = keys_.size();
  size_t i = slot_of(id);
  while (keys_[i] != id) {
    if (keys_[i] == kEmpty) return false;
    if (++i == cap) i = 0;
  }
  // Backward-shift deletion: move later members of the probe run into the hole.
  size_t hole = i;
  size_t j = i;
  while (true) {
    if (++j == cap) j = 0;
    if (keys_[j] == kEmpty) break;
    const size_t home = slot_of(keys_[j]);
    // Can the entry at j move to `hole`? Only if its home is not cyclically in (hole, j].
    const bool in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!in_range) {
      keys_[hole] = keys_[j];
      values_[hole] = values_[j];
      hole = j;
    }
  }
  keys_[hole] = kEmpty;
  --size_;
  return true;
}

void IdMap::clear() {
  dense_ = true;
  size_ = 0;
  dense_values_.clear();
  dense_values_.shrink_to_fit();
  keys_.clear();
  keys_.shrink_to_fit();
  values_.clear();
  values_.shrink_to_fit();
}

void IdMap::reserve(size_t n) {
  if (!dense_ && n * 5 > keys_.size() * 4) grow_hash(n * 2);
}

void IdMap::to_hash() {
  std::vector<IdEntry> old;
  old.swap(dense_values_);
  dense_ = false;
  const size_t n = size_;
  size_ = 0;
  keys_.clear();
  values_.clear();
  grow_hash(n * 2 + 16);
  for (size_t i = 0; i < old.size(); ++i) {
    if (old[i].version != 0) put(i, old[i]);
  }
}

void IdMap::grow_hash(size_t min_capacity) {
  std::vector<uint64_t> old_keys;
  std::vector<IdEntry> old_values;
  old_keys.swap(keys_);
  old_values.swap(values_);
  keys_.assign(min_capacity < 16 ? 16 : min_capacity, kEmpty);
  values_.assign(keys_.size(), IdEntry{});
  size_ = 0;
  for (size_t i = 0; i < old_keys.size(); ++i) {
    if (old_keys[i] != kEmpty) put(old_keys[i], old_values[i]);
  }
}

uint64_t IdMap::ram_bytes() const {
  return dense_values_.capacity() * sizeof(IdEntry) + keys_.capacity() * 8 + values_.capacity() * sizeof(IdEntry);
}

}  // namespace mnemo::ltm::ann
