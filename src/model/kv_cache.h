// model/kv_cache.h: a virtual-memory key/value cache for many sequences (vAttention).
//
// vAttention (Prabhu et al. 2024, "vAttention: Dynamic Memory Management for Serving LLMs without
// PagedAttention"): every sequence gets contiguous *virtual* memory for its maximum context at
// creation, and physical pages are committed only as its tokens arrive, so attention reads plain
// contiguous rows (no block tables) while resident memory follows the tokens actually cached.
//
// Rows. A row is the n_head_kv heads of one position's K (or V) in one layer, stored in a KV type
// (tensor/kv_type.h: F32, F16, Q8_0, Q4_0, llama.cpp's --cache-type-k/-v): k_row_bytes =
// kv_row_bytes(type_k, n_embd_kv), the same for V (KvCacheParams::typed). store_k/store_v write a
// row from f32 (kernels::kv_store_row) and rows(s, l) is the view kernels::attention reads. For
// the storage a row is opaque bytes: the type only changes the row size (a cache of raw rows,
// n_embd_kv = 0, is only read and written through k_row/v_row).
//
// Layout. One reservation of n_seq_max slots. A slot holds, for every layer, a K plane and a V
// plane: rows of positions 0..n_ctx-1, each `k_row_bytes` (`v_row_bytes`) bytes. Each
// plane starts on a page boundary:
//   slot s, layer l:  K plane at base + s * slot_bytes + (2l)   * plane  (l's K, positions 0..n_ctx-1)
//                     V plane at base + s * slot_bytes + (2l+1) * plane  (padded to `plane_bytes_v`)
// so one layer's K (V) of consecutive positions is contiguous and attention kernels stay simple.
//
// Pages. commit(s, n) makes the pages of positions [0, n) of every plane of slot s resident
// (MADV_POPULATE_WRITE where the kernel has it, Linux >= 5.14; else one write per page), plus
// `prefault_pages` pages ahead of them, in one call per plane: the next tokens find their pages
// ready instead of faulting inside the kernels. release_from(s, n) returns the pages past position
// n with MADV_DONTNEED. Huge pages are turned off for the reservation (MADV_NOHUGEPAGE) so that a
// plane never holds more than one partly used page. So a slot's committed bytes are, per plane,
// its rows rounded up to a page (+ the pages ahead): resident KV = tokens x bytes per token
// within (1 + prefault_pages) pages per plane.
//
// Accounting. committed_bytes(s) per slot and committed_bytes() in total are what is resident
// (what /proc/self/smaps counts for the reservation). commit_limit is the pool the context
// leased from the Engine's budget: a commit that would pass it is refused with an error naming
// what was needed and what is left (the pages ahead are clipped first), never an OOM.
//
// Overcommit. The reservation is normally mapped read-write with MAP_NORESERVE, which costs no
// commit charge under the default heuristic overcommit. Under vm.overcommit_memory=2 the kernel
// charges such a mapping in full and refuses large ones: then the reservation is mapped PROT_NONE
// (never charged) and pages are made writable with mprotect as they are committed (charged then,
// and refused with a clear error when the system's commit limit is reached), and made PROT_NONE
// again when released. When even the address space cannot be had (RLIMIT_AS), create() fails with
// an error naming the reservation.
//
// Thread-safety: commit/release/accessors from one thread at a time; kernels may read and write
// rows of committed positions from any thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/kernels.h"
#include "mnemo/status.h"
#include "tensor/kv_type.h"

namespace mnemo {

struct KvCacheParams {
  int64_t n_layer = 0;
  int64_t n_ctx = 0;             // positions reserved per sequence
  int64_t n_seq_max = 1;         // sequence slots
  uint64_t k_row_bytes = 0;      // bytes of one position's K row in one layer: kv_row_bytes(type_k, n_embd_kv)
  uint64_t v_row_bytes = 0;      // the same for V
  uint64_t commit_limit = 0;     // most bytes committed at once over all slots; 0: every slot full
  int64_t prefault_pages = 1;    // pages committed ahead of the positions asked for, per plane
  bool force_strict = false;     // tests: take the vm.overcommit_memory=2 path (PROT_NONE + mprotect)
  // The row types (typed()); n_embd_kv = 0: raw rows of the sizes above (no store_k/v, no rows()).
  int64_t n_embd_kv = 0;         // values per row (n_head_kv * head_dim)
  KvType type_k = KvType::kF32;
  KvType type_v = KvType::kF32;

  // Rows of n_embd_kv values stored as type_k (type_v); the row sizes from kv_row_bytes, the one
  // row-size function (n_embd_kv must be whole blocks of both types: kv_type_fits per head).
  static KvCacheParams typed(int64_t n_layer, int64_t n_ctx, int64_t n_seq_max, int64_t n_embd_kv,
                             KvType type_k, KvType type_v) {
    KvCacheParams p;
    p.n_layer = n_layer;
    p.n_ctx = n_ctx;
    p.n_seq_max = n_seq_max;
    p.n_embd_kv = n_embd_kv;
    p.type_k = type_k;
    p.type_v = type_v;
    p.k_row_bytes = kv_row_bytes(type_k, n_embd_kv);
    p.v_row_bytes = kv_row_bytes(type_v, n_embd_kv);
    return p;
  }
};

class KvCache {
 public:
  // The one place KV sizes are computed: bytes of K and V rows for n_pos positions of n_layer
  // layers, each layer's K and V rounded up to `granule` bytes (1: the rows themselves; the page
  // size: what a cache commits for them). Row sizes come from kv_row_bytes (tensor/kv_type.h) for
  // the cache's types. 0 when the result overflows 64 bits (callers check).
  static uint64_t bytes_for(int64_t n_layer, int64_t n_pos, uint64_t k_row_bytes, uint64_t v_row_bytes,
                            uint64_t granule = 1);
  static uint64_t page_bytes();
  // Address space of one slot (every plane of n_ctx positions, page-rounded): also what one
  // sequence commits at its full context, hence the default commit limit per slot.
  static uint64_t slot_bytes(const KvCacheParams& p) {
    return bytes_for(p.n_layer, p.n_ctx, p.k_row_bytes, p.v_row_bytes, page_bytes());
  }

  // Errors: non-positive sizes, typed row sizes that are not kv_row_bytes of their type, sizes
  // that overflow, a reservation the kernel refuses even PROT_NONE (address-space limit). Nothing
  // is left mapped on error.
  static Expected<KvCache> create(const KvCacheParams& params);
  KvCache() = default;
  KvCache(KvCache&& o) noexcept { swap(o); }
  KvCache& operator=(KvCache&& o) noexcept {
    KvCache t(std::move(o));
    swap(t);
    return *this;
  }
  ~KvCache();

  int64_t n_layer() const { return p_.n_layer; }
  int64_t n_ctx() const { return p_.n_ctx; }
  // Bytes of the rows of n_pos positions of one sequence (every layer, K and V).
  uint64_t used_bytes(int64_t n_pos) const { return bytes_for(p_.n_layer, n_pos, p_.k_row_bytes, p_.v_row_bytes); }
  int64_t n_seq_max() const { return p_.n_seq_max; }
  uint64_t k_row_bytes() const { return p_.k_row_bytes; }
  uint64_t v_row_bytes() const { return p_.v_row_bytes; }
  int64_t n_embd_kv() const { return p_.n_embd_kv; }
  KvType type_k() const { return p_.type_k; }
  KvType type_v() const { return p_.type_v; }

  // Rows of slot s, layer l: position pos's row at k(s, l) + pos * k_row_bytes. Only committed
  // positions may be touched.
  uint8_t* k(int64_t s, int64_t l) const { return plane(s, 2 * l); }
  uint8_t* v(int64_t s, int64_t l) const { return plane(s, 2 * l + 1); }
  uint8_t* k_row(int64_t s, int64_t l, int64_t pos) const { return k(s, l) + static_cast<uint64_t>(pos) * p_.k_row_bytes; }
  uint8_t* v_row(int64_t s, int64_t l, int64_t pos) const { return v(s, l) + static_cast<uint64_t>(pos) * p_.v_row_bytes; }
  // F32 views (rows of n_embd_kv floats; type_k (type_v) F32 only).
  float* k_f32(int64_t s, int64_t l) const { return reinterpret_cast<float*>(k(s, l)); }
  float* v_f32(int64_t s, int64_t l) const { return reinterpret_cast<float*>(v(s, l)); }
  // Slot s, layer l, position pos's K (or V) row, values [v0, v0 + n) of it, from n f32 values at
  // src, converted to the row's type (kernels::kv_store_row). v0 and n are multiples of the type's
  // block (whole heads). The position must be committed.
  void store_k(int64_t s, int64_t l, int64_t pos, int64_t v0, int64_t n, const float* src) const;
  void store_v(int64_t s, int64_t l, int64_t pos, int64_t v0, int64_t n, const float* src) const;
  // The rows of slot s, layer l, as kernels::attention reads them.
  kernels::KvRows rows(int64_t s, int64_t l) const {
    return {k(s, l), v(s, l), p_.k_row_bytes, p_.v_row_bytes, p_.type_k, p_.type_v};
  }

  // Makes positions [0, n_pos) of slot s resident (and some pages ahead). Cheap when they already
  // are. Errors: n_pos > n_ctx; the pool (commit_limit) or the kernel (strict overcommit) refusing
  // the pages. On error nothing is committed beyond what was.
  Status commit(int64_t s, int64_t n_pos);
  // Bytes that commit(s, n_pos) needs beyond what slot s holds, without the pages ahead.
  uint64_t extra_for(int64_t s, int64_t n_pos) const;
  uint64_t pool_left() const { return p_.commit_limit - std::min(committed_total_, p_.commit_limit); }
  // Returns the pages of slot s past those holding positions [0, n_pos) (n_pos = 0: all).
  void release_from(int64_t s, int64_t n_pos);

  // Positions of slot s whose rows are resident in every plane.
  int64_t committed_positions(int64_t s) const;
  uint64_t committed_bytes(int64_t s) const {
    const SlotPages& sp = slots_[static_cast<size_t>(s)];
    return static_cast<uint64_t>(p_.n_layer) * (sp.k + sp.v);
  }
  uint64_t committed_bytes() const { return committed_total_; }
  uint64_t commit_limit() const { return p_.commit_limit; }
  uint64_t reserved_bytes() const { return reserved_; }  // address space of every slot
  bool strict() const { return strict_; }                // the PROT_NONE + mprotect path
  // The reservation's address range, for tests reading /proc/self/smaps.
  const void* base() const { return base_; }

 private:
  uint8_t* plane(int64_t s, int64_t i) const {
    return base_ + static_cast<uint64_t>(s) * slot_bytes_ + static_cast<uint64_t>(i / 2) * (plane_k_ + plane_v_) +
           (i % 2 == 0 ? 0 : plane_k_);
  }
  // Bytes of whole pages holding rows [0, n_pos) of `row_bytes` each.
  uint64_t pages_for(int64_t n_pos, uint64_t row_bytes) const {
    return (static_cast<uint64_t>(n_pos) * row_bytes + page_ - 1) / page_ * page_;
  }
  // Commits bytes [from, to) of every K (V) plane of slot s.
  Status map_planes(int64_t s, uint64_t k_from, uint64_t k_to, uint64_t v_from, uint64_t v_to);
  Status map_range(uint8_t* p, uint64_t bytes);
  void unmap_range(uint8_t* p, uint64_t bytes);
  void unmap_planes(int64_t s, uint64_t k_from, uint64_t k_to, uint64_t v_from, uint64_t v_to);
  void swap(KvCache& o) noexcept;

  KvCacheParams p_;
  uint8_t* base_ = nullptr;
  uint64_t reserved_ = 0, slot_bytes_ = 0, plane_k_ = 0, plane_v_ = 0, page_ = 4096;
  uint64_t committed_total_ = 0;
  bool strict_ = false;
  bool populate_ = true;  // MADV_POPULATE_WRITE works (cleared on EINVAL: older kernels)
  struct SlotPages {
    uint64_t k = 0, v = 0;  // bytes committed at the start of each K (V) plane of the slot
  };
  std::vector<SlotPages> slots_;  // n_seq_max
};

}  // namespace mnemo
