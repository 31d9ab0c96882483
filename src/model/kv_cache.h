// model/kv_cache.h: a contiguous key/value cache, one row per position.
//
// Layout: K[layer][pos] rows of kv_row_bytes(type_k, n_embd_kv) bytes for every layer, then
// V[layer][pos] rows of kv_row_bytes(type_v, n_embd_kv), reserved for n_ctx positions at creation.
// A row holds the n_head_kv heads of one position in its type (tensor/kv_type.h: F32, F16, Q8_0,
// Q4_0), written from f32 by store_k/store_v (kernels::kv_store_row) and read by
// kernels::attention through rows(). The reservation is anonymous memory the kernel commits page
// by page on first write, so resident KV grows with the tokens actually cached (the vAttention
// idea, in its simplest form; a later virtual-memory cache replaces this one).
#pragma once

#include <cstdint>

#include "kernels/kernels.h"
#include "mnemo/status.h"
#include "tensor/kv_type.h"

namespace mnemo {

class KvCache {
 public:
  // Bytes of K (rows of type_k) and V (rows of type_v) for n_pos positions of every layer: the one
  // place the KV size is computed. 0 when the product overflows 64 bits or n_embd_kv is not a
  // multiple of a type's block (callers check).
  static uint64_t bytes_for(int64_t n_layer, int64_t n_pos, int64_t n_embd_kv, KvType type_k,
                            KvType type_v);

  static Expected<KvCache> create(int64_t n_layer, int64_t n_ctx, int64_t n_embd_kv,
                                  KvType type_k = KvType::kF32, KvType type_v = KvType::kF32);
  KvCache() = default;
  KvCache(KvCache&& o) noexcept { swap(o); }
  KvCache& operator=(KvCache&& o) noexcept {
    KvCache t(std::move(o));
    swap(t);
    return *this;
  }
  ~KvCache();

  int64_t n_ctx() const { return n_ctx_; }
  int64_t row_values() const { return n_embd_kv_; }
  KvType type_k() const { return type_k_; }
  KvType type_v() const { return type_v_; }
  uint64_t k_row_bytes() const { return k_row_bytes_; }
  uint64_t v_row_bytes() const { return v_row_bytes_; }
  // The bytes of position pos's row of `layer` (the mapping is not part of the object's state).
  uint8_t* k_row(int64_t layer, int64_t pos) const {
    return base_ + (layer * n_ctx_ + pos) * k_row_bytes_;
  }
  uint8_t* v_row(int64_t layer, int64_t pos) const {
    return base_ + k_bytes() + (layer * n_ctx_ + pos) * v_row_bytes_;
  }
  // Position pos's K (or V) row of `layer`, values [v0, v0 + n) of it, from n f32 values at src,
  // converted to the row's type. v0 and n are multiples of the type's block (whole heads).
  void store_k(int64_t layer, int64_t pos, int64_t v0, int64_t n, const float* src);
  void store_v(int64_t layer, int64_t pos, int64_t v0, int64_t n, const float* src);
  // The rows of `layer`, as attention reads them.
  kernels::KvRows rows(int64_t layer) const;

  uint64_t reserved_bytes() const { return bytes_; }
  // Bytes holding positions [0, n_pos) in every layer.
  uint64_t used_bytes(int64_t n_pos) const {
    return bytes_for(n_layer_, n_pos, n_embd_kv_, type_k_, type_v_);
  }
  // Returns the pages of positions >= n_pos to the OS (the cache is truncated to n_pos).
  void release_from(int64_t n_pos);

 private:
  uint64_t k_bytes() const { return static_cast<uint64_t>(n_layer_ * n_ctx_) * k_row_bytes_; }
  void swap(KvCache& o) noexcept;

  uint8_t* base_ = nullptr;
  uint64_t bytes_ = 0;
  int64_t n_layer_ = 0, n_ctx_ = 0, n_embd_kv_ = 0;
  KvType type_k_ = KvType::kF32, type_v_ = KvType::kF32;
  uint64_t k_row_bytes_ = 0, v_row_bytes_ = 0;
};

}  // namespace mnemo
