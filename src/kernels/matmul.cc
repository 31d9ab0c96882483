// Dispatch of the matrix products and of the activation quantization (see kernels.h). Per-target
// code: gemv-inl.h (decode), gemm-inl.h (prefill), q8-inl.h (8-bit activations).
#include <algorithm>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/gemm-inl.h"
#include "kernels/gemv-inl.h"
#include "kernels/q8-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mnemo::kernels::HWY_NAMESPACE {

void MatmulRowsImpl(const TensorView& W, const MatmulArgs& a, int64_t r0, int64_t r1, void* work) {
  if (a.T <= kGemvMaxTokens || a.gemv) {
    gemv::GemvRows(W, a, r0, r1, static_cast<float*>(work));
  } else {
    gemm::GemmRows(W, a, r0, r1, static_cast<float*>(work));
  }
}

void QuantizeQ8Impl(const float* x, int64_t n, void* dst, ActRounding r) {
  q8::QuantizeRow(x, nullptr, 0.0f, n, nullptr, dst, r);
}
void RoundActivationsImpl(ActRounding r, const float* x, int64_t n, float* y) { q8::RoundRow(r, x, n, y); }

int64_t GemmScratchFloatsImpl() { return gemm::ScratchFloats(); }

}  // namespace mnemo::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "base/check.h"
#include "kernels/blas.h"
#include "kernels/kernels.h"
#include "kernels/mnemo_types.h"  // mnemo types hook (issue 4)

namespace mnemo::kernels {

HWY_EXPORT(MatmulRowsImpl);
HWY_EXPORT(QuantizeQ8Impl);
HWY_EXPORT(RoundActivationsImpl);
HWY_EXPORT(GemmScratchFloatsImpl);

namespace {
// Rows per unit of the static split of matmul(): a multiple of the GEMV and GEMM row tiles.
constexpr int64_t kRowGrain = 16;

size_t round64(size_t b) { return (b + 63) / 64 * 64; }

void check_row_type(DType type, int64_t n) {
  const DTypeTraits& t = traits(type);
  MNEMO_CHECK_MSG(t.supported, "kernels: unsupported tensor type");
  MNEMO_CHECK(n >= 0 && n % t.block_elems == 0);
}

bool has_int_kernel(DType type) {
  return type == DType::Q8_0 || type == DType::Q4_0 || type == DType::Q4_K || type == DType::Q6_K;
}
}  // namespace

size_t q8_row_bytes(int64_t n) {
  MNEMO_CHECK(n >= 0 && n % kQ8Block == 0);
  return round64(static_cast<size_t>(n) * 2 + static_cast<size_t>(n) / 4);
}

ActRounding activation_rounding(DType type) {
  switch (type) {
    case DType::F16: return ActRounding::kF16;
    case DType::BF16: return ActRounding::kBF16;
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q8_0: return ActRounding::kQ8x32;
    case DType::Q2_K:
    case DType::Q3_K:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K: return ActRounding::kQ8x256;
    default: return ActRounding::kF32;  // F32, and mnemo's own types (which round for themselves)
  }
}

void round_activations(ActRounding r, const float* x, int64_t n, float* y) {
  MNEMO_CHECK(n >= 0);
  MNEMO_CHECK(r != ActRounding::kQ8x32 || n % kQ8Block == 0);
  MNEMO_CHECK(r != ActRounding::kQ8x256 || n % 256 == 0);
  HWY_DYNAMIC_DISPATCH(RoundActivationsImpl)(r, x, n, y);
}

void quantize_q8(const float* x, int64_t n, void* dst, ActRounding r) {
  MNEMO_CHECK(r == ActRounding::kQ8x32 || r == ActRounding::kQ8x256);
  MNEMO_CHECK(n >= 0 && n % (r == ActRounding::kQ8x32 ? kQ8Block : 256) == 0);
  HWY_DYNAMIC_DISPATCH(QuantizeQ8Impl)(x, n, dst, r);
}

bool matmul_uses_q8(DType type, int64_t T) {
  if (is_mnemo_type(type)) return mnemo_matmul_uses_q8(type, T);  // mnemo types hook (issue 4)
  return T <= kGemvMaxTokens && has_int_kernel(type);
}

int64_t matmul_fixed_chunk(DType type, int64_t n, int64_t T) { return blas_applies(type, n, T) ? kBlasRowChunk : 1; }

int64_t matmul_row_grain(DType type, int64_t n, int64_t T) {
  static_assert(kBlasRowChunk % kRowGrain == 0);
  return std::max(kRowGrain, matmul_fixed_chunk(type, n, T));
}

size_t matmul_thread_work_size(DType type, int64_t n, int64_t T) {
  check_row_type(type, n);
  if (is_mnemo_type(type)) return mnemo_matmul_thread_work_size(type, n, T);  // mnemo types hook (issue 4)
  // The largest need of the three regimes that some T' <= T falls in (GEMV, own GEMM, OpenBLAS).
  size_t bytes = 0;
  if (T >= 1) {
    const bool plain = type == DType::F32 || type == DType::F16 || type == DType::BF16;
    if (!plain && !has_int_kernel(type)) bytes = round64(2048 * sizeof(float));  // gemv::kChunk
  }
  static_assert(kBlasMinTokens > kGemvMaxTokens + 1);  // some T' in between takes mnemo's GEMM
  if (T > kGemvMaxTokens) {
    bytes = std::max(bytes, round64(static_cast<size_t>(HWY_DYNAMIC_DISPATCH(GemmScratchFloatsImpl)()) * sizeof(float)));
  }
  if (blas_applies(type, n, T)) bytes = std::max(bytes, round64(blas_thread_work_size(type, n, T)));
  return bytes;
}

size_t matmul_work_size(DType type, int64_t n, int64_t max_tokens, int n_threads) {
  check_row_type(type, n);
  MNEMO_CHECK(max_tokens >= 0 && n_threads >= 1);
  size_t bytes = 64;  // alignment slack
  // The largest need over T in [1, max_tokens]: Q8 rows for small T, panels for large T.
  for (int64_t T : {std::min<int64_t>(max_tokens, kGemvMaxTokens), max_tokens}) {
    if (T <= 0) continue;
    size_t b = 64 + static_cast<size_t>(n_threads) * matmul_thread_work_size(type, n, T);
    if (matmul_uses_q8(type, T)) {
      b += static_cast<size_t>(T) * q8_row_bytes(n);
    } else if (activation_rounding(type) != ActRounding::kF32) {
      b += round64(static_cast<size_t>(T) * static_cast<size_t>(n) * sizeof(float));
    }
    bytes = std::max(bytes, b);
  }
  return bytes;
}

void matmul_rows(const TensorView& W, const MatmulArgs& a, int64_t r0, int64_t r1, void* thread_work) {
  MNEMO_DCHECK(r0 >= 0 && r1 <= W.n_rows());
  if (r0 >= r1 || a.T <= 0) return;
  if (a.gemv && a.T > kGemvMaxTokens) {
    MNEMO_DCHECK(a.T <= kGemvTileTokens);
    // Q4_0's GEMV shares each block's unpacking among up to kGemvTileTokens tokens; other types
    // take tiles of kGemvMaxTokens (their GEMV is per token anyway).
    if (W.type == DType::Q4_0) return HWY_DYNAMIC_DISPATCH(MatmulRowsImpl)(W, a, r0, r1, thread_work);
    for (int64_t t = 0; t < a.T; t += kGemvMaxTokens) {
      MatmulArgs b = a;
      b.T = std::min(kGemvMaxTokens, a.T - t);
      b.x = a.x + t * a.ldx;
      if (a.xq != nullptr) b.xq = static_cast<const uint8_t*>(a.xq) + t * a.ldq;
      b.y = a.y + t * a.ldy;
      matmul_rows(W, b, r0, r1, thread_work);
    }
    return;
  }
  if (is_mnemo_type(W.type)) return mnemo_matmul_rows(W, a, r0, r1, thread_work);  // mnemo types hook (issue 4)
  if (blas_applies(W.type, W.ne[0], a.T)) return blas_matmul_rows(W, a, r0, r1, thread_work);
  HWY_DYNAMIC_DISPATCH(MatmulRowsImpl)(W, a, r0, r1, thread_work);
}

void matmul(const TensorView& W, const float* X, int64_t T, float* Y, void* work, size_t work_size,
            ThreadPool& pool) {
  const int64_t n = W.ne[0];
  const int64_t m = W.n_rows();
  check_row_type(W.type, n);
  if (is_mnemo_type(W.type)) return mnemo_matmul(W, X, T, Y, work, work_size, pool);  // mnemo types hook (issue 4)
  MNEMO_CHECK(T >= 0);
  MNEMO_CHECK(work_size >= matmul_work_size(W.type, n, T, pool.size()));
  if (T == 0 || m == 0) return;
  auto* p = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(work) + 63) / 64 * 64);
  MatmulArgs a;
  a.T = T;
  a.x = X;
  a.ldx = n;
  a.y = Y;
  a.ldy = m;
  const ActRounding r = activation_rounding(W.type);
  if (matmul_uses_q8(W.type, T)) {
    a.xq = p;
    a.ldq = static_cast<int64_t>(q8_row_bytes(n));
    for (int64_t t = 0; t < T; ++t) quantize_q8(X + t * n, n, p + t * a.ldq, r);
    p += static_cast<size_t>(T) * q8_row_bytes(n);
  } else if (r != ActRounding::kF32) {
    auto* xr = reinterpret_cast<float*>(p);
    round_activations(r, X, T * n, xr);
    a.x = xr;
    p += round64(static_cast<size_t>(T) * static_cast<size_t>(n) * sizeof(float));
  }
  const size_t per_thread = matmul_thread_work_size(W.type, n, T);
  pool.run([&](int ith, int nth) {
    int64_t r0, r1;
    ThreadPool::split_range(m, matmul_row_grain(W.type, n, T), ith, nth, &r0, &r1);
    if (r0 < r1) matmul_rows(W, a, r0, r1, p + static_cast<size_t>(ith) * per_thread);
  });
}

}  // namespace mnemo::kernels
#endif  // HWY_ONCE
