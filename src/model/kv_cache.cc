#include "model/kv_cache.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "base/check.h"
#include "base/strings.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older kernels answer EINVAL and we touch the pages
#endif

namespace mnemo {
namespace {

uint64_t round_up(uint64_t x, uint64_t g) { return (x + g - 1) / g * g; }

// Under vm.overcommit_memory=2 a writable private mapping is charged in full even with
// MAP_NORESERVE: reserve PROT_NONE and commit with mprotect instead.
bool overcommit_strict() {
  FILE* f = std::fopen("/proc/sys/vm/overcommit_memory", "r");
  if (f == nullptr) return false;
  int mode = 0;
  const bool ok = std::fscanf(f, "%d", &mode) == 1;
  std::fclose(f);
  return ok && mode == 2;
}

}  // namespace

uint64_t KvCache::page_bytes() {
  static const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return page;
}

uint64_t KvCache::bytes_for(int64_t n_layer, int64_t n_pos, uint64_t k_row_bytes, uint64_t v_row_bytes,
                            uint64_t granule) {
  if (n_layer < 0 || n_pos < 0 || granule == 0) return 0;
  // n_layer * (round_up(n_pos * k_row, granule) + round_up(n_pos * v_row, granule))
  uint64_t k = 0, v = 0, sum = 0, out = 0;
  const uint64_t n = static_cast<uint64_t>(n_pos);
  if (__builtin_mul_overflow(n, k_row_bytes, &k) || __builtin_mul_overflow(n, v_row_bytes, &v) ||
      k > UINT64_MAX - granule || v > UINT64_MAX - granule) {
    return 0;
  }
  k = round_up(k, granule);
  v = round_up(v, granule);
  if (__builtin_add_overflow(k, v, &sum) || __builtin_mul_overflow(sum, static_cast<uint64_t>(n_layer), &out)) return 0;
  return out;
}

Expected<KvCache> KvCache::create(const KvCacheParams& params) {
  if (params.n_layer <= 0 || params.n_ctx <= 0 || params.n_seq_max <= 0 || params.k_row_bytes == 0 ||
      params.v_row_bytes == 0 || params.prefault_pages < 0) {
    return invalid_argument(str_printf(
        "KV cache: expected positive layers, positions, sequences and row sizes, got %lld, %lld, %lld, %llu/%llu",
        static_cast<long long>(params.n_layer), static_cast<long long>(params.n_ctx),
        static_cast<long long>(params.n_seq_max), static_cast<unsigned long long>(params.k_row_bytes),
        static_cast<unsigned long long>(params.v_row_bytes)));
  }
  if (params.n_embd_kv < 0 ||
      (params.n_embd_kv > 0 &&
       (params.n_embd_kv % kv_type_block(params.type_k) != 0 || params.n_embd_kv % kv_type_block(params.type_v) != 0))) {
    return invalid_argument(str_printf("KV cache: rows of %lld values as K %s, V %s: expected whole blocks of each type",
                                       static_cast<long long>(params.n_embd_kv),
                                       std::string(kv_type_name(params.type_k)).c_str(),
                                       std::string(kv_type_name(params.type_v)).c_str()));
  }
  if (params.n_embd_kv > 0 && (params.k_row_bytes != kv_row_bytes(params.type_k, params.n_embd_kv) ||
                               params.v_row_bytes != kv_row_bytes(params.type_v, params.n_embd_kv))) {
    return invalid_argument(str_printf("KV cache: rows of %lld values as K %s, V %s: expected %llu/%llu bytes, got %llu/%llu",
                                       static_cast<long long>(params.n_embd_kv),
                                       std::string(kv_type_name(params.type_k)).c_str(),
                                       std::string(kv_type_name(params.type_v)).c_str(),
                                       static_cast<unsigned long long>(kv_row_bytes(params.type_k, params.n_embd_kv)),
                                       static_cast<unsigned long long>(kv_row_bytes(params.type_v, params.n_embd_kv)),
                                       static_cast<unsigned long long>(params.k_row_bytes),
                                       static_cast<unsigned long long>(params.v_row_bytes)));
  }
  KvCache c;
  c.p_ = params;
  c.page_ = page_bytes();
  c.slot_bytes_ = slot_bytes(params);
  c.plane_k_ = round_up(static_cast<uint64_t>(params.n_ctx) * params.k_row_bytes, c.page_);
  c.plane_v_ = round_up(static_cast<uint64_t>(params.n_ctx) * params.v_row_bytes, c.page_);
  if (c.slot_bytes_ == 0 || __builtin_mul_overflow(c.slot_bytes_, static_cast<uint64_t>(params.n_seq_max), &c.reserved_) ||
      c.reserved_ > (uint64_t{1} << 46)) {
    return out_of_range(str_printf("KV cache: %lld sequences of %lld positions overflow the address space",
                                   static_cast<long long>(params.n_seq_max), static_cast<long long>(params.n_ctx)));
  }
  if (c.p_.commit_limit == 0) c.p_.commit_limit = c.reserved_;
  c.strict_ = params.force_strict || overcommit_strict();
  void* p = MAP_FAILED;
  if (!c.strict_) {
    p = mmap(nullptr, c.reserved_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED && errno == ENOMEM) c.strict_ = true;  // a commit charge refused: reserve PROT_NONE
  }
  if (c.strict_) p = mmap(nullptr, c.reserved_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    return resource_exhausted(str_printf(
        "KV cache: cannot reserve %s of address space for %lld sequences of %lld positions (%s); "
        "lower the context size or the number of sequences",
        format_bytes(c.reserved_).c_str(), static_cast<long long>(params.n_seq_max),
        static_cast<long long>(params.n_ctx), std::strerror(errno)));
  }
  c.base_ = static_cast<uint8_t*>(p);
  madvise(c.base_, c.reserved_, MADV_NOHUGEPAGE);  // one partly used page per plane at most
  c.slots_.assign(static_cast<size_t>(params.n_seq_max), SlotPages{});
  return c;
}

KvCache::~KvCache() {
  if (base_ != nullptr) munmap(base_, reserved_);
}

void KvCache::swap(KvCache& o) noexcept {
  std::swap(p_, o.p_);
  std::swap(base_, o.base_);
  std::swap(reserved_, o.reserved_);
  std::swap(slot_bytes_, o.slot_bytes_);
  std::swap(plane_k_, o.plane_k_);
  std::swap(plane_v_, o.plane_v_);
  std::swap(page_, o.page_);
  std::swap(committed_total_, o.committed_total_);
  std::swap(strict_, o.strict_);
  std::swap(populate_, o.populate_);
  std::swap(slots_, o.slots_);
}

void KvCache::store_k(int64_t s, int64_t l, int64_t pos, int64_t v0, int64_t n, const float* src) const {
  MNEMO_DCHECK(p_.n_embd_kv > 0 && s < p_.n_seq_max && l < p_.n_layer && pos < p_.n_ctx && v0 + n <= p_.n_embd_kv);
  kernels::kv_store_row(p_.type_k, src, n, k_row(s, l, pos) + kv_row_bytes(p_.type_k, v0));
}

void KvCache::store_v(int64_t s, int64_t l, int64_t pos, int64_t v0, int64_t n, const float* src) const {
  MNEMO_DCHECK(p_.n_embd_kv > 0 && s < p_.n_seq_max && l < p_.n_layer && pos < p_.n_ctx && v0 + n <= p_.n_embd_kv);
  kernels::kv_store_row(p_.type_v, src, n, v_row(s, l, pos) + kv_row_bytes(p_.type_v, v0));
}

int64_t KvCache::committed_positions(int64_t s) const {
  const SlotPages& sp = slots_[static_cast<size_t>(s)];
  return std::min<int64_t>({p_.n_ctx, static_cast<int64_t>(sp.k / p_.k_row_bytes),
                            static_cast<int64_t>(sp.v / p_.v_row_bytes)});
}

Status KvCache::map_range(uint8_t* p, uint64_t bytes) {
  if (bytes == 0) return Status::ok();
  if (strict_ && mprotect(p, bytes, PROT_READ | PROT_WRITE) != 0) {
    return resource_exhausted(str_printf(
        "KV cache: the kernel refused to commit %s more (%s; with vm.overcommit_memory=2 the system's "
        "CommitLimit is reached)",
        format_bytes(bytes).c_str(), std::strerror(errno)));
  }
  if (populate_) {
    if (madvise(p, bytes, MADV_POPULATE_WRITE) == 0) return Status::ok();
    if (errno != EINVAL) {
      return resource_exhausted(str_printf("KV cache: cannot commit %s of pages (%s)", format_bytes(bytes).c_str(),
                                           std::strerror(errno)));
    }
    populate_ = false;  // kernel < 5.14
  }
  // One write per page; the pages are new (never written), a read-write of one byte keeps any data.
  for (uint64_t off = 0; off < bytes; off += page_) {
    volatile uint8_t* b = p + off;
    *b = *b;
  }
  return Status::ok();
}

void KvCache::unmap_range(uint8_t* p, uint64_t bytes) {
  if (bytes == 0) return;
  madvise(p, bytes, MADV_DONTNEED);
  if (strict_) mprotect(p, bytes, PROT_NONE);  // uncharged again
}

Status KvCache::map_planes(int64_t s, uint64_t k_from, uint64_t k_to, uint64_t v_from, uint64_t v_to) {
  for (int64_t l = 0; l < p_.n_layer; ++l) {
    Status st = map_range(k(s, l) + k_from, k_to > k_from ? k_to - k_from : 0);
    if (st.is_ok()) st = map_range(v(s, l) + v_from, v_to > v_from ? v_to - v_from : 0);
    if (!st.is_ok()) {
      unmap_planes(s, k_from, k_to, v_from, v_to);  // back to what was committed
      return st;
    }
  }
  return Status::ok();
}

void KvCache::unmap_planes(int64_t s, uint64_t k_from, uint64_t k_to, uint64_t v_from, uint64_t v_to) {
  for (int64_t l = 0; l < p_.n_layer; ++l) {
    if (k_to > k_from) unmap_range(k(s, l) + k_from, k_to - k_from);
    if (v_to > v_from) unmap_range(v(s, l) + v_from, v_to - v_from);
  }
}

uint64_t KvCache::extra_for(int64_t s, int64_t n_pos) const {
  const SlotPages& sp = slots_[static_cast<size_t>(s)];
  const int64_t n = std::min(n_pos, p_.n_ctx);
  const uint64_t need_k = pages_for(n, p_.k_row_bytes), need_v = pages_for(n, p_.v_row_bytes);
  return static_cast<uint64_t>(p_.n_layer) * ((need_k > sp.k ? need_k - sp.k : 0) + (need_v > sp.v ? need_v - sp.v : 0));
}

Status KvCache::commit(int64_t s, int64_t n_pos) {
  MNEMO_CHECK(s >= 0 && s < p_.n_seq_max && n_pos >= 0);
  if (n_pos > p_.n_ctx) {
    return out_of_range(str_printf("KV cache: %lld positions exceed the %lld reserved per sequence",
                                   static_cast<long long>(n_pos), static_cast<long long>(p_.n_ctx)));
  }
  SlotPages& sp = slots_[static_cast<size_t>(s)];
  const uint64_t need_k = pages_for(n_pos, p_.k_row_bytes), need_v = pages_for(n_pos, p_.v_row_bytes);
  if (need_k <= sp.k && need_v <= sp.v) return Status::ok();
  const uint64_t ahead = static_cast<uint64_t>(p_.prefault_pages) * page_;
  const uint64_t L = static_cast<uint64_t>(p_.n_layer);
  uint64_t want_k = std::max(sp.k, std::min(plane_k_, need_k + ahead));
  uint64_t want_v = std::max(sp.v, std::min(plane_v_, need_v + ahead));
  auto extra = [&] { return L * ((want_k - sp.k) + (want_v - sp.v)); };
  if (committed_total_ + extra() > p_.commit_limit) {  // the pages ahead are optional
    want_k = std::max(sp.k, need_k);
    want_v = std::max(sp.v, need_v);
  }
  if (committed_total_ + extra() > p_.commit_limit) {
    const uint64_t left = pool_left();
    return resource_exhausted(str_printf(
        "KV cache: sequence %lld needs %s more for %lld positions but %s of the %s KV pool is left "
        "(end or shorten sequences, or give the KV cache more of the budget)",
        static_cast<long long>(s), format_bytes(extra()).c_str(), static_cast<long long>(n_pos),
        format_bytes(left).c_str(), format_bytes(p_.commit_limit).c_str()));
  }
  MNEMO_RETURN_IF_ERROR(map_planes(s, sp.k, want_k, sp.v, want_v));
  committed_total_ += extra();
  sp.k = want_k;
  sp.v = want_v;
  return Status::ok();
}

void KvCache::release_from(int64_t s, int64_t n_pos) {
  MNEMO_CHECK(s >= 0 && s < p_.n_seq_max && n_pos >= 0);
  SlotPages& sp = slots_[static_cast<size_t>(s)];
  const uint64_t keep_k = std::min(sp.k, pages_for(std::min(n_pos, p_.n_ctx), p_.k_row_bytes));
  const uint64_t keep_v = std::min(sp.v, pages_for(std::min(n_pos, p_.n_ctx), p_.v_row_bytes));
  if (keep_k == sp.k && keep_v == sp.v) return;
  unmap_planes(s, keep_k, sp.k, keep_v, sp.v);
  committed_total_ -= static_cast<uint64_t>(p_.n_layer) * ((sp.k - keep_k) + (sp.v - keep_v));
  sp.k = keep_k;
  sp.v = keep_v;
}

}  // namespace mnemo
