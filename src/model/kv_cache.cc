#include "model/kv_cache.h"

#include <sys/mman.h>
#include <unistd.h>

#include <utility>

#include "base/strings.h"

namespace mnemo {

uint64_t KvCache::bytes_for(int64_t n_layer, int64_t n_pos, int64_t n_embd_kv) {
  uint64_t bytes = 0;
  if (n_layer < 0 || n_pos < 0 || n_embd_kv < 0) return 0;
  // 2 (K and V) * n_layer * n_pos * n_embd_kv * sizeof(float)
  if (__builtin_mul_overflow(static_cast<uint64_t>(n_layer), static_cast<uint64_t>(n_pos), &bytes) ||
      __builtin_mul_overflow(bytes, static_cast<uint64_t>(n_embd_kv), &bytes) ||
      __builtin_mul_overflow(bytes, 2 * sizeof(float), &bytes)) {
    return 0;
  }
  return bytes;
}

Expected<KvCache> KvCache::create(int64_t n_layer, int64_t n_ctx, int64_t n_embd_kv) {
  KvCache c;
  c.n_layer_ = n_layer;
  c.n_ctx_ = n_ctx;
  c.n_embd_kv_ = n_embd_kv;
  c.bytes_ = bytes_for(n_layer, n_ctx, n_embd_kv);
  if (c.bytes_ == 0 && n_layer > 0 && n_ctx > 0 && n_embd_kv > 0) {
    return out_of_range(str_printf("KV cache: %lld positions overflow the address space", static_cast<long long>(n_ctx)));
  }
  if (c.bytes_ == 0) return c;
  void* p = mmap(nullptr, c.bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    return resource_exhausted(str_printf("KV cache: cannot reserve %s for %lld positions",
                                         format_bytes(c.bytes_).c_str(), static_cast<long long>(n_ctx)));
  }
  c.base_ = static_cast<float*>(p);
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
}

void KvCache::release_from(int64_t n_pos) {
  if (base_ == nullptr || n_pos >= n_ctx_) return;
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t row_bytes = static_cast<uint64_t>(n_embd_kv_) * sizeof(float);
  const uint64_t half_bytes = static_cast<uint64_t>(layer_stride()) * sizeof(float);
  uint8_t* base = reinterpret_cast<uint8_t*>(base_);
  // Each layer's K and V are separate halves; only whole pages past position n_pos are dropped.
  for (int64_t half = 0; half < 2 * n_layer_; ++half) {
    const uint64_t off = static_cast<uint64_t>(half) * half_bytes;
    const uint64_t begin = (off + static_cast<uint64_t>(n_pos) * row_bytes + page - 1) / page * page;
    const uint64_t end = (off + half_bytes) / page * page;
    if (end > begin) madvise(base + begin, end - begin, MADV_DONTNEED);
  }
}

}  // namespace mnemo
