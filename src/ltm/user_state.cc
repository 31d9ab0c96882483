#include "ltm/user_state.h"

#include <algorithm>

#include "ltm/embedder.h"
#ifdef MNEMO_LTM_HAVE_ANN
#include "ltm/ann/distance.h"
#endif

namespace mnemo::ltm {

UserState::UserState(int dim, std::vector<double> context_weights) : dim_(dim), weights_(std::move(context_weights)) {}

uint32_t UserState::slot_of(uint64_t id) const {
  auto it = slot_of_.find(id);
  return it == slot_of_.end() ? UINT32_MAX : it->second;
}

std::vector<uint32_t> UserState::with_hash(uint64_t h) const {
  auto it = by_hash_.find(h);
  return it == by_hash_.end() ? std::vector<uint32_t>{} : it->second;
}

const std::vector<uint64_t>* UserState::backlinks(uint64_t id) const {
  auto it = backlinks_.find(id);
  return it == backlinks_.end() ? nullptr : &it->second;
}

size_t UserState::position(const std::vector<uint32_t>& order, uint64_t id) const {
  auto it = std::lower_bound(order.begin(), order.end(), id,
                             [this](uint32_t s, uint64_t v) { return slots_[s].id < v; });
  return static_cast<size_t>(it - order.begin());
}

void UserState::neighbours(uint32_t slot, std::vector<std::pair<uint32_t, float>>& out) const {
  out.clear();
  const SlotMeta& m = slots_[slot];
  if (m.session == 0 || weights_.empty()) return;
  auto it = sessions_.find(session_key(m.agent, m.session));
  if (it == sessions_.end()) return;
  const auto& order = it->second;
  size_t p = position(order, m.id);
  if (p >= order.size() || order[p] != slot) return;
  for (size_t d = 1; d <= weights_.size(); ++d) {
    float w = static_cast<float>(weights_[d - 1]);
    if (p >= d) out.emplace_back(order[p - d], w);
    if (p + d < order.size()) out.emplace_back(order[p + d], w);
  }
}

// Rebuilds the BM25 documents of positions [from, to] of a session.
void UserState::refresh(uint64_t key, size_t from, size_t to) {
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return;
  const auto& order = it->second;
  if (order.empty()) return;
  to = std::min(to, order.size() - 1);
  std::vector<std::pair<uint32_t, float>> nb;
  for (size_t p = from; p <= to; ++p) {
    uint32_t s = order[p];
    TermBag bag = slots_[s].own;
    neighbours(s, nb);
    for (const auto& [ns, w] : nb) bag_add(bag, slots_[ns].own, w);
    float len = 0;
    for (const auto& [t, c] : slots_[s].own) len += c;
    bm25_.set(s, std::move(bag), len);
  }
}

uint32_t UserState::insert(SlotMeta meta, std::span<const float> vec) {
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
    vecs_.resize(slots_.size() * static_cast<size_t>(dim_));
    norms2_.resize(slots_.size());
  }
  meta.live = true;
  const uint64_t id = meta.id;
  slots_[slot] = std::move(meta);
  std::copy(vec.begin(), vec.end(), vecs_.begin() + static_cast<std::ptrdiff_t>(slot) * dim_);
  norms2_[slot] = dot(vec.data(), vec.data(), vec.size());
  slot_of_[id] = slot;
  ++n_live_;
  const SlotMeta& m = slots_[slot];
  by_hash_[m.norm_hash].push_back(slot);
  for (uint64_t l : m.links) backlinks_[l].push_back(id);
  if (m.session != 0 && !weights_.empty()) {
    uint64_t key = session_key(m.agent, m.session);
    auto& order = sessions_[key];
    size_t p = position(order, id);
    order.insert(order.begin() + static_cast<std::ptrdiff_t>(p), slot);
    size_t w = weights_.size();
    refresh(key, p >= w ? p - w : 0, p + w);
  } else {
    float len = 0;
    for (const auto& [t, c] : m.own) len += c;
    bm25_.set(slot, m.own, len);
  }
  return slot;
}

bool UserState::erase(uint64_t id) {
  auto it = slot_of_.find(id);
  if (it == slot_of_.end()) return false;
  uint32_t slot = it->second;
  slot_of_.erase(it);
  SlotMeta& m = slots_[slot];
  auto& hs = by_hash_[m.norm_hash];
  hs.erase(std::remove(hs.begin(), hs.end(), slot), hs.end());
  if (hs.empty()) by_hash_.erase(m.norm_hash);
  for (uint64_t l : m.links) {
    auto bl = backlinks_.find(l);
    if (bl == backlinks_.end()) continue;
    bl->second.erase(std::remove(bl->second.begin(), bl->second.end(), id), bl->second.end());
    if (bl->second.empty()) backlinks_.erase(bl);
  }
  bm25_.erase(slot);
  if (m.session != 0 && !weights_.empty()) {
    uint64_t key = session_key(m.agent, m.session);
    auto sit = sessions_.find(key);
    if (sit != sessions_.end()) {
      auto& order = sit->second;
      size_t p = position(order, id);
      if (p < order.size() && order[p] == slot) order.erase(order.begin() + static_cast<std::ptrdiff_t>(p));
      if (order.empty()) {
        sessions_.erase(sit);
      } else {
        size_t w = weights_.size();
        size_t from = p >= w ? p - w : 0;
        size_t to = p + w - 1;
        if (from < order.size()) refresh(key, from, to);
      }
    }
  }
  m = SlotMeta{};
  std::fill(vecs_.begin() + static_cast<std::ptrdiff_t>(slot) * dim_,
            vecs_.begin() + static_cast<std::ptrdiff_t>(slot + 1) * dim_, 0.0f);
  norms2_[slot] = 0.0f;
  free_.push_back(slot);
  --n_live_;
  return true;
}

void UserState::set_vector(uint32_t slot, std::span<const float> vec) {
  std::copy(vec.begin(), vec.end(), vecs_.begin() + static_cast<std::ptrdiff_t>(slot) * dim_);
  norms2_[slot] = dot(vec.data(), vec.data(), vec.size());
}

void UserState::similarities(const float* query, float* out) const {
  const size_t n = slots_.size(), d = static_cast<size_t>(dim_);
  if (n == 0) return;
#ifdef MNEMO_LTM_HAVE_ANN
  // a.b = (|a|^2 + |b|^2 - |a - b|^2) / 2 with the SIMD batch of squared distances.
  ann::l2_sq_batch(query, vecs_.data(), d, n, d, out);
  const float qn2 = dot(query, query, d);
  for (size_t s = 0; s < n; ++s) out[s] = norms2_[s] > 0 ? 0.5f * (qn2 + norms2_[s] - out[s]) : 0.0f;
#else
  for (size_t s = 0; s < n; ++s) out[s] = norms2_[s] > 0 ? dot(query, vecs_.data() + s * d, d) : 0.0f;
#endif
}

uint64_t UserState::ram_bytes() const {
  uint64_t b = vecs_.capacity() * sizeof(float) + bm25_.ram_bytes() + slots_.capacity() * sizeof(SlotMeta);
  for (const auto& s : slots_) b += s.text.capacity() + s.own.capacity() * 8 + s.stems.capacity() * 4;
  return b;
}

}  // namespace mnemo::ltm
