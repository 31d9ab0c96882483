// Dispatch of dequantization, matmul and get_row (see kernels.h). Per-target code is in
// dequant-inl.h, dot-inl.h and matmul-inl.h, compiled once per Highway target by foreach_target.
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/dequant-inl.h"
#include "kernels/matmul-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mnemo::kernels::HWY_NAMESPACE {

const char* TargetNameImpl() { return hwy::TargetName(HWY_TARGET); }

void DequantizeRowImpl(DType type, const void* src, float* dst, int64_t n) {
  DequantizeRange(type, static_cast<const uint8_t*>(src), 0, n, dst);
}

void MatmulRowsImpl(const TensorView& W, const float* X, int64_t T, float* Y, int64_t r0, int64_t r1) {
  MatmulRowRange(W, X, T, Y, r0, r1);
}

}  // namespace mnemo::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "base/check.h"
#include "kernels/kernels.h"

namespace mnemo::kernels {

HWY_EXPORT(TargetNameImpl);
HWY_EXPORT(DequantizeRowImpl);
HWY_EXPORT(MatmulRowsImpl);

namespace {
// Rows per unit of the static split: enough to amortise the per-row setup.
constexpr int64_t kRowGrain = 16;

void check_row_type(DType type, int64_t n) {
  const DTypeTraits& t = traits(type);
  MNEMO_CHECK_MSG(t.supported, "kernels: unsupported tensor type");
  MNEMO_CHECK(n >= 0 && n % t.block_elems == 0);
}
}  // namespace

const char* active_target() { return HWY_DYNAMIC_DISPATCH(TargetNameImpl)(); }

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  check_row_type(type, n);
  HWY_DYNAMIC_DISPATCH(DequantizeRowImpl)(type, src, dst, n);
}

size_t matmul_work_size(DType type, int64_t n, int64_t max_tokens) {
  check_row_type(type, n);
  MNEMO_CHECK(max_tokens >= 0);
  return 0;  // phase 1 dequantizes into stack buffers
}

void matmul(const TensorView& W, const float* X, int64_t T, float* Y, void* work, size_t work_size,
            ThreadPool& pool) {
  const int64_t n = W.ne[0];
  const int64_t m = W.n_rows();
  check_row_type(W.type, n);
  MNEMO_CHECK(T >= 0);
  MNEMO_CHECK(work_size >= matmul_work_size(W.type, n, T));
  (void)work;
  if (T == 0 || m == 0) return;
  auto* const fn = &HWY_DYNAMIC_DISPATCH(MatmulRowsImpl);
  pool.parallel_for(m, kRowGrain, [&](int64_t r0, int64_t r1) { fn(W, X, T, Y, r0, r1); });
}

void get_row(const TensorView& E, int64_t r, float* out) {
  MNEMO_CHECK(r >= 0 && r < E.n_rows());
  dequantize_row(E.type, E.row(r), out, E.ne[0]);
}

}  // namespace mnemo::kernels
#endif  // HWY_ONCE
