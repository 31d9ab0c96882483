// Dispatch of the kernels of mnemo's own weight types (kernels/mnemo_types.h). Per-target code:
// lut-inl.h (group types), bipolar-inl.h (bit-plane products).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/mnemo_types.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/bipolar-inl.h"
#include "kernels/lut-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mnemo::kernels::HWY_NAMESPACE {

void GroupGemvQ8Impl(const TensorView& W, const void* xq, float* y, int64_t r0, int64_t r1) {
  lut::GroupGemvQ8(W, xq, y, r0, r1);
}

void GroupDecodeRowImpl(DType type, const void* src, float* dst, int64_t n) {
  lut::DecodeRow(*mformat::group_type(type), static_cast<const uint8_t*>(src), n, dst);
}

int64_t BipolarDotImpl(const uint64_t* w, int W, const uint64_t* x, int A, int64_t n) {
  return bipolar::DotFor(W, A)(w, x, n);
}

void BipolarGemvImpl(const TensorView& Wt, const void* act, int A, float* y, int64_t r0, int64_t r1) {
  bipolar::GemvFor(mformat::bipolar_bits(Wt.type), A)(Wt, act, y, r0, r1);
}

}  // namespace mnemo::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "base/check.h"
#include "kernels/mnemo_types.h"

namespace mnemo::kernels {

HWY_EXPORT(GroupGemvQ8Impl);
HWY_EXPORT(GroupDecodeRowImpl);
HWY_EXPORT(BipolarDotImpl);
HWY_EXPORT(BipolarGemvImpl);

namespace {

size_t round64(size_t b) { return (b + 63) / 64 * 64; }

// Tokens whose Q8 activation rows a thread holds at a time in the prefill path of the group types
// (thread work: kPrefillTokens * q8_row_bytes(n) bytes plus a chunk of results).
constexpr int64_t kPrefillTokens = 64;
// Rows per unit of the static split in mnemo_matmul.
constexpr int64_t kRowGrain = 16;

void check_type(DType type, int64_t n) {
  const DTypeTraits& t = traits(type);
  MNEMO_CHECK(is_mnemo_type(type) && t.supported);
  MNEMO_CHECK(n >= 0 && n % t.block_elems == 0);
}

void store(const MatmulArgs& a, int64_t t, int64_t r, float v) {
  float* y = a.y + t * a.ldy + r;
  *y = a.accumulate ? *y + v : v;
}

// Tokens [t0, t1) of a on rows [r0, r1) of group-type W, token t's Q8 row at xq + (t - t0) * ldq:
// per chunk of kRowGrain rows (kept in cache), the table-lookup GEMV of every token.
// out: kRowGrain floats of the thread's work.
void group_rows_q8(const TensorView& W, const MatmulArgs& a, int64_t t0, int64_t t1, const void* xq, int64_t ldq,
                   float* out, int64_t r0, int64_t r1) {
  auto* const fn = &HWY_DYNAMIC_DISPATCH(GroupGemvQ8Impl);
  for (int64_t c0 = r0; c0 < r1; c0 += kRowGrain) {
    const int64_t c1 = std::min(r1, c0 + kRowGrain);
    for (int64_t t = t0; t < t1; ++t) {
      fn(W, static_cast<const uint8_t*>(xq) + (t - t0) * ldq, out, c0, c1);
      for (int64_t r = c0; r < c1; ++r) store(a, t, r, out[r - c0]);
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Hooks.

void mnemo_dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  check_type(type, n);
  if (mformat::is_group_type(type)) {
    HWY_DYNAMIC_DISPATCH(GroupDecodeRowImpl)(type, src, dst, n);
  } else {
    ref::mnemo_dequantize_row(type, src, dst, n);
  }
}

bool mnemo_matmul_uses_q8(DType type, int64_t T) { return T <= kGemvMaxTokens && mformat::is_group_type(type); }

size_t mnemo_matmul_thread_work_size(DType type, int64_t n, int64_t T) {
  check_type(type, n);
  if (mformat::bipolar_bits(type) > 0) {
    // The activations of T tokens in bipolar planes, plus a row of results.
    return round64(static_cast<size_t>(T) * bipolar_act_bytes(n, kBipolarModelActBits)) +
           round64(static_cast<size_t>(kRowGrain) * sizeof(float));
  }
  // Group types: a chunk of results; in prefill also this thread's Q8 rows of kPrefillTokens tokens.
  const size_t out = round64(static_cast<size_t>(kRowGrain) * sizeof(float));
  if (T <= kGemvMaxTokens) return out;
  return out + static_cast<size_t>(std::min(T, kPrefillTokens)) * q8_row_bytes(n);
}

void mnemo_matmul_rows(const TensorView& W, const MatmulArgs& a, int64_t r0, int64_t r1, void* thread_work) {
  const int64_t n = W.ne[0];
  check_type(W.type, n);
  if (r0 >= r1 || a.T <= 0) return;
  auto* work = static_cast<uint8_t*>(thread_work);
  const int wbits = mformat::bipolar_bits(W.type);
  if (wbits > 0) {
    // Each thread quantizes the (few) activation rows itself: n * A bits per token.
    const size_t ab = bipolar_act_bytes(n, kBipolarModelActBits);
    float* out = reinterpret_cast<float*>(work + round64(static_cast<size_t>(a.T) * ab));
    for (int64_t t = 0; t < a.T; ++t) bipolar_quantize_act(a.x + t * a.ldx, n, kBipolarModelActBits, work + t * ab);
    auto* const fn = &HWY_DYNAMIC_DISPATCH(BipolarGemvImpl);
    for (int64_t c0 = r0; c0 < r1; c0 += kRowGrain) {
      const int64_t c1 = std::min(r1, c0 + kRowGrain);
      for (int64_t t = 0; t < a.T; ++t) {
        fn(W, work + t * ab, kBipolarModelActBits, out, c0, c1);
        for (int64_t r = c0; r < c1; ++r) store(a, t, r, out[r - c0]);
      }
    }
    return;
  }
  float* out = reinterpret_cast<float*>(work);
  if (a.T <= kGemvMaxTokens) {
    MNEMO_CHECK(a.xq != nullptr);
    return group_rows_q8(W, a, 0, a.T, a.xq, a.ldq, out, r0, r1);
  }
  // Prefill: the decode computation exactly (one activation precision per type, docs/COMPRESSION.md):
  // blocks of kPrefillTokens f32 rows quantized to Q8 rows of 32 (as kernels::matmul does for
  // decode), then the same GEMV per token, so every token's result is bit for bit its decode result.
  uint8_t* xq = work + round64(static_cast<size_t>(kRowGrain) * sizeof(float));
  const auto ldq = static_cast<int64_t>(q8_row_bytes(n));
  for (int64_t t0 = 0; t0 < a.T; t0 += kPrefillTokens) {
    const int64_t t1 = std::min(a.T, t0 + kPrefillTokens);
    for (int64_t t = t0; t < t1; ++t) quantize_q8(a.x + t * a.ldx, n, xq + (t - t0) * ldq, ActRounding::kQ8x32);
    group_rows_q8(W, a, t0, t1, xq, ldq, out, r0, r1);
  }
}

void mnemo_matmul(const TensorView& W, const float* X, int64_t T, float* Y, void* work, size_t work_size,
                  ThreadPool& pool) {
  const int64_t n = W.ne[0];
  const int64_t m = W.n_rows();
  check_type(W.type, n);
  MNEMO_CHECK(T >= 0);
  MNEMO_CHECK(work_size >= matmul_work_size(W.type, n, T, pool.size()));
  if (T == 0 || m == 0) return;
  // Same workspace layout as kernels::matmul: Q8 rows (when used), then per-thread scratch.
  auto* p = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(work) + 63) / 64 * 64);
  MatmulArgs a;
  a.T = T;
  a.x = X;
  a.ldx = n;
  a.y = Y;
  a.ldy = m;
  if (mnemo_matmul_uses_q8(W.type, T)) {
    a.xq = p;
    a.ldq = static_cast<int64_t>(q8_row_bytes(n));
    for (int64_t t = 0; t < T; ++t) quantize_q8(X + t * n, n, p + t * a.ldq, ActRounding::kQ8x32);
    p += static_cast<size_t>(T) * q8_row_bytes(n);
  }
  const size_t per_thread = mnemo_matmul_thread_work_size(W.type, n, T);
  pool.run([&](int ith, int nth) {
    int64_t r0, r1;
    ThreadPool::split_range(m, matmul_row_grain(W.type, n, T), ith, nth, &r0, &r1);
    if (r0 < r1) mnemo_matmul_rows(W, a, r0, r1, p + static_cast<size_t>(ith) * per_thread);
  });
}

// ---------------------------------------------------------------------------------------------
// Bipolar and group entry points.

size_t bipolar_act_bytes(int64_t n, int A) {
  MNEMO_CHECK(n % 64 == 0 && A >= 1 && A <= 8);
  // Rounded to 64 bytes so that consecutive rows keep their uint64 planes aligned.
  return round64(static_cast<size_t>(n / 64) * (static_cast<size_t>(A) * 8 + sizeof(float)));
}

void bipolar_quantize_act(const float* x, int64_t n, int A, void* dst) { ref::bipolar_quantize_act(x, n, A, dst); }

void bipolar_gemv(const TensorView& W, const void* act, int A, float* y, int64_t r0, int64_t r1) {
  const int wb = mformat::bipolar_bits(W.type);
  MNEMO_CHECK(wb >= 1 && A >= 1 && A <= 8 && W.ne[0] % 64 == 0);
  MNEMO_DCHECK(r0 >= 0 && r1 <= W.n_rows());
  if (r0 < r1) HWY_DYNAMIC_DISPATCH(BipolarGemvImpl)(W, act, A, y, r0, r1);
}

int64_t bipolar_dot(const uint64_t* w, int W, const uint64_t* x, int A, int64_t n) {
  MNEMO_CHECK(W >= 1 && W <= 8 && A >= 1 && A <= 8 && n >= 0);
  return HWY_DYNAMIC_DISPATCH(BipolarDotImpl)(w, W, x, A, n);
}

void group_gemv_q8(const TensorView& W, const void* xq, float* y, int64_t r0, int64_t r1) {
  MNEMO_CHECK(mformat::is_group_type(W.type) && W.ne[0] % traits(W.type).block_elems == 0);
  if (r0 < r1) HWY_DYNAMIC_DISPATCH(GroupGemvQ8Impl)(W, xq, y, r0, r1);
}

// ---------------------------------------------------------------------------------------------
// Scalar references.

namespace ref {

void mnemo_dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  if (auto g = mformat::group_type(type)) {
    for (int64_t k = 0; k < n; k += g->group, p += g->block_bytes) mformat::decode_group(*g, p, dst + k);
    return;
  }
  const int w = mformat::bipolar_bits(type);
  MNEMO_CHECK(w > 0 && n % 64 == 0);
  for (int64_t k = 0; k < n; k += 64, p += mformat::bipolar_block_bytes(w)) {
    const float d = mformat::bipolar_scale(p, w);
    for (int i = 0; i < 64; ++i) dst[k + i] = d * static_cast<float>(mformat::bipolar_value(p, w, i));
  }
}

float group_dot_q8(DType type, const void* row, const void* xq, int64_t n) {
  const mformat::GroupType g = *mformat::group_type(type);
  const auto* base = static_cast<const uint8_t*>(xq);
  const auto* qs = reinterpret_cast<const int8_t*>(base);
  const auto* xd = reinterpret_cast<const float*>(base + 2 * n);
  const auto* xs = reinterpret_cast<const float*>(base + 2 * n + n / 8);
  const auto* p = static_cast<const uint8_t*>(row);
  float acc = 0.0f, macc = 0.0f;
  int64_t b = 0;
  for (int64_t k = 0; k < n; k += g.group, p += g.block_bytes) {
    const mformat::Header h = mformat::read_header(g, p);
    for (int c = 0; c < g.group / mformat::kChunk; ++c, ++b) {
      uint8_t codes[mformat::kChunk];
      mformat::unpack_chunk(g.bits, p + g.header_bytes + c * g.chunk_bytes, codes);
      int32_t s = 0;
      for (int j = 0; j < mformat::kChunk; ++j) s += h.levels[codes[j]] * qs[b * 32 + j];
      acc += static_cast<float>(s) * (h.d * xd[b]);
      if (g.has_zero) macc += h.m * xs[b];
    }
  }
  return acc + macc;
}

int64_t bipolar_dot(const uint64_t* w, int W, const uint64_t* x, int A, int64_t n) {
  int64_t s = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t g = i / 64, bit = i % 64;
    int64_t uw = 0, ux = 0;
    for (int t = 0; t < W; ++t) uw |= static_cast<int64_t>((w[g * W + t] >> bit) & 1) << t;
    for (int t = 0; t < A; ++t) ux |= static_cast<int64_t>((x[g * A + t] >> bit) & 1) << t;
    s += (2 * uw - ((1 << W) - 1)) * (2 * ux - ((1 << A) - 1));
  }
  return s;
}

void bipolar_quantize_act(const float* x, int64_t n, int A, void* dst) {
  MNEMO_CHECK(n % 64 == 0 && A >= 1 && A <= 8);
  const int64_t groups = n / 64;
  // dst need not be 8-byte aligned (rows are packed): planes are written with memcpy.
  auto* planes = static_cast<uint8_t*>(dst);
  float* sx = reinterpret_cast<float*>(planes + groups * A * sizeof(uint64_t));
  const int L = (1 << A) - 1;
  for (int64_t g = 0; g < groups; ++g) {
    const float* xg = x + g * 64;
    float amax = 0.0f;
    for (int i = 0; i < 64; ++i) amax = std::max(amax, std::fabs(xg[i]));
    const float s = amax / static_cast<float>(L);
    const float id = s > 0.0f && std::isfinite(1.0f / s) ? 1.0f / s : 0.0f;
    uint64_t pl[8] = {};
    for (int i = 0; i < 64; ++i) {
      // The odd integer v nearest x / s is 2u - L with u = round((x / s + L) / 2).
      const float u_f = std::floor((xg[i] * id + static_cast<float>(L)) * 0.5f + 0.5f);
      const int u = u_f >= static_cast<float>(L) ? L : u_f > 0.0f ? static_cast<int>(u_f) : 0;  // NaN: 0
      for (int t = 0; t < A; ++t) pl[t] |= static_cast<uint64_t>((u >> t) & 1) << i;
    }
    std::memcpy(planes + g * A * sizeof(uint64_t), pl, static_cast<size_t>(A) * sizeof(uint64_t));
    const float sg = id > 0.0f ? s : 0.0f;
    std::memcpy(sx + g, &sg, sizeof(float));
  }
}

}  // namespace ref
}  // namespace mnemo::kernels
#endif  // HWY_ONCE
