// Dispatch of dequantization, get_row and the bandwidth read kernel (see kernels.h). Per-target
// code is in dequant-inl.h, compiled once per Highway target by foreach_target; the matrix
// products are in matmul.cc.
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/dequant-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mnemo::kernels::HWY_NAMESPACE {

const char* TargetNameImpl() { return hwy::TargetName(HWY_TARGET); }

void DequantizeRowImpl(DType type, const void* src, float* dst, int64_t n) {
  DequantizeRange(type, static_cast<const uint8_t*>(src), 0, n, dst);
}

// Sum of all 64-bit words of p[0, n) (n % 256 == 0) in 8 independent vector accumulators, so the
// loads are limited by the memory system, not by a dependency chain.
uint64_t ReadBytesImpl(const void* p, size_t n) {
  const hn::ScalableTag<uint64_t> d;
  const size_t N = hn::Lanes(d);
  const auto* w = static_cast<const uint64_t*>(p);
  const size_t words = n / sizeof(uint64_t);
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  auto a4 = hn::Zero(d), a5 = hn::Zero(d), a6 = hn::Zero(d), a7 = hn::Zero(d);
  size_t i = 0;
  for (; i + 8 * N <= words; i += 8 * N) {
    a0 = hn::Add(a0, hn::Load(d, w + i));
    a1 = hn::Add(a1, hn::Load(d, w + i + N));
    a2 = hn::Add(a2, hn::Load(d, w + i + 2 * N));
    a3 = hn::Add(a3, hn::Load(d, w + i + 3 * N));
    a4 = hn::Add(a4, hn::Load(d, w + i + 4 * N));
    a5 = hn::Add(a5, hn::Load(d, w + i + 5 * N));
    a6 = hn::Add(a6, hn::Load(d, w + i + 6 * N));
    a7 = hn::Add(a7, hn::Load(d, w + i + 7 * N));
  }
  for (; i + N <= words; i += N) a0 = hn::Add(a0, hn::Load(d, w + i));
  const auto s = hn::Add(hn::Add(hn::Add(a0, a1), hn::Add(a2, a3)), hn::Add(hn::Add(a4, a5), hn::Add(a6, a7)));
  uint64_t total = hn::GetLane(hn::SumOfLanes(d, s));
  for (; i < words; ++i) total += w[i];
  return total;
}

}  // namespace mnemo::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "base/check.h"
#include "kernels/kernels.h"
#include "kernels/mnemo_types.h"  // mnemo types hook (issue 4)

namespace mnemo::kernels {

HWY_EXPORT(TargetNameImpl);
HWY_EXPORT(DequantizeRowImpl);
HWY_EXPORT(ReadBytesImpl);

namespace {
void check_row_type(DType type, int64_t n) {
  const DTypeTraits& t = traits(type);
  MNEMO_CHECK_MSG(t.supported, "kernels: unsupported tensor type");
  MNEMO_CHECK(n >= 0 && n % t.block_elems == 0);
}
}  // namespace

const char* active_target() { return HWY_DYNAMIC_DISPATCH(TargetNameImpl)(); }

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  check_row_type(type, n);
  if (is_mnemo_type(type)) return mnemo_dequantize_row(type, src, dst, n);  // mnemo types hook (issue 4)
  HWY_DYNAMIC_DISPATCH(DequantizeRowImpl)(type, src, dst, n);
}

void get_row(const TensorView& E, int64_t r, float* out) {
  MNEMO_CHECK(r >= 0 && r < E.n_rows());
  dequantize_row(E.type, E.row(r), out, E.ne[0]);
}

uint64_t read_bytes(const void* p, size_t n) {
  MNEMO_CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0 && n % 256 == 0);
  return HWY_DYNAMIC_DISPATCH(ReadBytesImpl)(p, n);
}

}  // namespace mnemo::kernels
#endif  // HWY_ONCE
