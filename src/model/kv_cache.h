// model/kv_cache.h: a contiguous key/value cache, one row per position.
//
// Layout (F32): K[layer][pos][n_embd_kv] and V[layer][pos][n_embd_kv], reserved for n_ctx positions
// at creation. The reservation is anonymous memory the kernel commits page by page on first write,
// so resident KV grows with the tokens actually cached (the vAttention idea, in its simplest
// form; a later virtual-memory cache replaces this one).
#pragma once

#include <cstdint>

#include "mnemo/status.h"

namespace mnemo {

class KvCache {
 public:
  // Bytes of K and V for n_pos positions of every layer: the one place the KV size is computed.
  // 0 when the product overflows 64 bits (callers check with kv_fits()).
  static uint64_t bytes_for(int64_t n_layer, int64_t n_pos, int64_t n_embd_kv);

  static Expected<KvCache> create(int64_t n_layer, int64_t n_ctx, int64_t n_embd_kv);
  KvCache() = default;
  KvCache(KvCache&& o) noexcept { swap(o); }
  KvCache& operator=(KvCache&& o) noexcept {
    KvCache t(std::move(o));
    swap(t);
    return *this;
  }
  ~KvCache();

  int64_t n_ctx() const { return n_ctx_; }
  int64_t row_floats() const { return n_embd_kv_; }
  float* k(int64_t layer) { return base_ + layer * layer_stride(); }
  float* v(int64_t layer) { return base_ + (n_layer_ + layer) * layer_stride(); }
  float* k_row(int64_t layer, int64_t pos) { return k(layer) + pos * n_embd_kv_; }
  float* v_row(int64_t layer, int64_t pos) { return v(layer) + pos * n_embd_kv_; }

  uint64_t reserved_bytes() const { return bytes_; }
  // Bytes holding positions [0, n_pos) in every layer.
  uint64_t used_bytes(int64_t n_pos) const { return bytes_for(n_layer_, n_pos, n_embd_kv_); }
  // Returns the pages of positions >= n_pos to the OS (the cache is truncated to n_pos).
  void release_from(int64_t n_pos);

 private:
  int64_t layer_stride() const { return n_ctx_ * n_embd_kv_; }
  void swap(KvCache& o) noexcept;

  float* base_ = nullptr;
  uint64_t bytes_ = 0;
  int64_t n_layer_ = 0, n_ctx_ = 0, n_embd_kv_ = 0;
};

}  // namespace mnemo
