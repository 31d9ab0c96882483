#include "model/kv_cache.h"

#include <sys/mman.h>
#include <unistd.h>

#include <utility>

#include "base/check.h"
#include "base/strings.h"

namespace mnemo {

uint64_t KvCache::bytes_for(int64_t n_layer, int64_t n_pos, int64_t n_embd_kv, KvType type_k,
                            KvType type_v) {
  if (n_layer < 0 || n_pos < 0 || n_embd_kv < 0) return 0;
  if (n_embd_kv % kv_type_block(type_k) != 0 || n_embd_kv % kv_type_block(type_v) != 0) return 0;
  // n_layer * n_pos * (K row bytes + V row bytes); a row is at most 4 bytes per value.
  const uint64_t row = kv_row_bytes(type_k, n_embd_kv) + kv_row_bytes(type_v, n_embd_kv);
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(n_layer), static_cast<uint64_t>(n_pos),
                             &bytes) ||
      __builtin_mul_overflow(bytes, row, &bytes)) {
    return 0;
  }
  return bytes;
}

Expected<KvCache> KvCache::create(int64_t n_layer, int64_t n_ctx, int64_t n_embd_kv, KvType type_k,
                                  KvType type_v) {
  MNEMO_CHECK(n_embd_kv % kv_type_block(type_k) == 0 && n_embd_kv % kv_type_block(type_v) == 0);
  KvCache c;
  c.n_layer_ = n_layer;
  c.n_ctx_ = n_ctx;
  c.n_embd_kv_ = n_embd_kv;
  c.type_k_ = type_k;
  c.type_v_ = type_v;
  c.k_row_bytes_ = kv_row_bytes(type_k, n_embd_kv);
  c.v_row_bytes_ = kv_row_bytes(type_v, n_embd_kv);
  c.bytes_ = bytes_for(n_layer, n_ctx, n_embd_kv, type_k, type_v);
  if (c.bytes_ == 0 && n_layer > 0 && n_ctx > 0 && n_embd_kv > 0) {
    return out_of_range(str_printf("KV cache: %lld positions overflow the address space", static_cast<long long>(n_ctx)));
  }
  if (c.bytes_ == 0) return c;
  void* p = mmap(nullptr, c.bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    return resource_exhausted(str_printf("KV cache: cannot reserve %s for %lld positions",
                                         format_bytes(c.bytes_).c_str(), static_cast<long long>(n_ctx)));
  }
  c.base_ = static_cast<uint8_t*>(p);
  return c;
}

KvCache::~KvCache() {
  if (base_ != nullptr) munmap(base_, bytes_);
}

void KvCache::swap(KvCache& o) noexcept {
  std::swap(base_, o.base_);
  std::swap(bytes_, o.bytes_);
  std::swap(n_layer_, o.n_layer_);
  std::swap(n_ctx_, o.n_ctx_);
  std::swap(n_embd_kv_, o.n_embd_kv_);
  std::swap(type_k_, o.type_k_);
  std::swap(type_v_, o.type_v_);
  std::swap(k_row_bytes_, o.k_row_bytes_);
  std::swap(v_row_bytes_, o.v_row_bytes_);
}

void KvCache::store_k(int64_t layer, int64_t pos, int64_t v0, int64_t n, const float* src) {
  MNEMO_DCHECK(layer < n_layer_ && pos < n_ctx_ && v0 + n <= n_embd_kv_);
  kernels::kv_store_row(type_k_, src, n, k_row(layer, pos) + kv_row_bytes(type_k_, v0));
}

void KvCache::store_v(int64_t layer, int64_t pos, int64_t v0, int64_t n, const float* src) {
  MNEMO_DCHECK(layer < n_layer_ && pos < n_ctx_ && v0 + n <= n_embd_kv_);
  kernels::kv_store_row(type_v_, src, n, v_row(layer, pos) + kv_row_bytes(type_v_, v0));
}

kernels::KvRows KvCache::rows(int64_t layer) const {
  return {k_row(layer, 0), v_row(layer, 0), k_row_bytes_, v_row_bytes_, type_k_, type_v_};
}

void KvCache::release_from(int64_t n_pos) {
  if (base_ == nullptr || n_pos >= n_ctx_) return;
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  // Each layer's K and V rows are separate ranges; only whole pages past position n_pos are
  // dropped.
  for (int64_t half = 0; half < 2 * n_layer_; ++half) {
    const bool is_k = half < n_layer_;
    const uint64_t row_bytes = is_k ? k_row_bytes_ : v_row_bytes_;
    const uint64_t range_bytes = static_cast<uint64_t>(n_ctx_) * row_bytes;
    const uint64_t off = is_k ? static_cast<uint64_t>(half) * range_bytes
                              : k_bytes() + static_cast<uint64_t>(half - n_layer_) * range_bytes;
    const uint64_t begin =
        (off + static_cast<uint64_t>(n_pos) * row_bytes + page - 1) / page * page;
    const uint64_t end = (off + range_bytes) / page * page;
    if (end > begin) madvise(base_ + begin, end - begin, MADV_DONTNEED);
  }
}

}  // namespace mnemo
