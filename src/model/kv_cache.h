// model/kv_cache.h: a virtual-memory key/value cache for many sequences (vAttention).
//
// vAttention (Prabhu et al. 2024, "vAttention: Dynamic Memory Management for Serving LLMs without
// PagedAttention"): every sequence gets contiguous *virtual* memory for its maximum context at
// creation, and physical pages are committed only as its tokens arrive, so attention reads plain
// contiguous rows (no block tables) while resident memory follows the tokens actually cached.
//
// Layout. One reservation of n_seq_max slots. A slot holds, for every layer, a K plane and a V
// plane: rows of positions 0..n_ctx-1, each `k_row_bytes` (`v_row_bytes`) bytes, opaque to the
// cache (F32 rows are n_embd_kv * 4 bytes; quantized row types only change the row size). Each
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

#include "mnemo/status.h"

namespace mnemo {

struct KvCacheParams {
  int64_t n_layer = 0;
  int64_t n_ctx = 0;             // positions reserved per sequence
  int64_t n_seq_max = 1;         // sequence slots
  uint64_t k_row_bytes = 0;      // bytes of one position's K row in one layer (F32: n_embd_kv * 4)
  uint64_t v_row_bytes = 0;      // the same for V
  uint64_t commit_limit = 0;     // most bytes committed at once over all slots; 0: every slot full
  int64_t prefault_pages = 1;    // pages committed ahead of the positions asked for, per plane
  bool force_strict = false;     // tests: take the vm.overcommit_memory=2 path (PROT_NONE + mprotect)
};

class KvCache {
 public:
  // The one place KV sizes are computed: bytes of K and V rows for n_pos positions of n_layer
  // layers, each layer's K and V rounded up to `granule` bytes (1: the rows themselves; the page
  // size: what a cache commits for them). 0 when the result overflows 64 bits (callers check).
  static uint64_t bytes_for(int64_t n_layer, int64_t n_pos, uint64_t k_row_bytes, uint64_t v_row_bytes,
                            uint64_t granule = 1);
  // F32 rows of n_embd_kv floats (K and V alike).
  static uint64_t f32_row_bytes(int64_t n_embd_kv) { return static_cast<uint64_t>(n_embd_kv) * sizeof(float); }
  static uint64_t page_bytes();
  // Address space of one slot (every plane of n_ctx positions, page-rounded): also what one
  // sequence commits at its full context, hence the default commit limit per slot.
  static uint64_t slot_bytes(const KvCacheParams& p) {
    return bytes_for(p.n_layer, p.n_ctx, p.k_row_bytes, p.v_row_bytes, page_bytes());
  }

  // Errors: non-positive sizes, sizes that overflow, a reservation the kernel refuses even
  // PROT_NONE (address-space limit). Nothing is left mapped on error.
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

  // Rows of slot s, layer l: position pos's row at k(s, l) + pos * k_row_bytes. Only committed
  // positions may be touched.
  uint8_t* k(int64_t s, int64_t l) const { return plane(s, 2 * l); }
  uint8_t* v(int64_t s, int64_t l) const { return plane(s, 2 * l + 1); }
  uint8_t* k_row(int64_t s, int64_t l, int64_t pos) const { return k(s, l) + static_cast<uint64_t>(pos) * p_.k_row_bytes; }
  uint8_t* v_row(int64_t s, int64_t l, int64_t pos) const { return v(s, l) + static_cast<uint64_t>(pos) * p_.v_row_bytes; }
  // F32 views (rows of n_embd_kv floats).
  float* k_f32(int64_t s, int64_t l) const { return reinterpret_cast<float*>(k(s, l)); }
  float* v_f32(int64_t s, int64_t l) const { return reinterpret_cast<float*>(v(s, l)); }

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
