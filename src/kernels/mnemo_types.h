// kernels/mnemo_types.h: kernels for mnemo's own weight types (layouts in kernels/mnemo_formats.h).
//
// The generic entry points of kernels.h (dequantize_row, matmul_uses_q8, matmul_thread_work_size,
// matmul_rows, matmul) route these types here through one hook each (marked "mnemo types hook"),
// so models stored in them run through the normal forward pass. Contracts are those of kernels.h.
//
// Group types (int4/int3 sym and asym, fp4, fp3, bitmod4, bitmod3):
// - decode (T <= kGemvMaxTokens): Q8 activations (kernels.h). Per 32-code chunk the codes are
//   unpacked to byte indices, looked up in the group's int8 level table with a byte shuffle
//   (vpshufb / pshufb; a loop on the scalar target), and dotted with the Q8 block in int8 x int8
//   -> int32, which is exact; the block sum is scaled by d_w * d_x in f32 and, for the asymmetric
//   types, m * s_x (s_x = d_x * sum q_x) is added.
// - prefill (T > kGemvMaxTokens): the decode computation (one activation precision per type,
//   docs/COMPRESSION.md): each thread quantizes blocks of f32 activation rows to the same Q8 rows
//   and runs the decode GEMV per token, so every token's result is bit for bit its decode result.
// Bipolar types (bit-planes, Ma et al. arXiv 2409.17870): activations are quantized per 64
// elements to A-bit bipolar codes (A = 1..8, kBipolarModelActBits in the forward pass) and the
// product of a 64-weight block is sum_{s<W, t<A} 2^(s+t) (64 - 2 popcount(w_s xor x_t)): W x A
// binary products recombined by shifts, exact in integers; then scaled by d_w * d_x in f32.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/thread_pool.h"
#include "kernels/kernels.h"
#include "tensor/tensor.h"

namespace mnemo::kernels {

// --- hooks called from kernels.cc / matmul.cc for is_mnemo_type(type) -------------------------
void mnemo_dequantize_row(DType type, const void* src, float* dst, int64_t n);
bool mnemo_matmul_uses_q8(DType type, int64_t T);
size_t mnemo_matmul_thread_work_size(DType type, int64_t n, int64_t T);
void mnemo_matmul_rows(const TensorView& W, const MatmulArgs& a, int64_t r0, int64_t r1, void* thread_work);
void mnemo_matmul(const TensorView& W, const float* X, int64_t T, float* Y, void* work, size_t work_size,
                  ThreadPool& pool);

// --- bipolar-INT with a run-time activation precision -------------------------------------------

// Activation bits used by the forward pass (matmul) for bipolar weights.
constexpr int kBipolarModelActBits = 8;

// A row of n activations (n % 64 == 0) as A-bit bipolar codes, per 64-element group g:
//   s[g]  = max |x| / (2^A - 1)        (f32; 0 for an all-zero group)
//   v_i   = the odd integer nearest x_i / s[g], clamped to [-(2^A - 1), 2^A - 1]
//   u_i   = (v_i + 2^A - 1) / 2,  plane t bit i = bit t of u_i
// Layout: u64 planes[n/64][A] (group-major) | f32 s[n/64].
size_t bipolar_act_bytes(int64_t n, int A);
void bipolar_quantize_act(const float* x, int64_t n, int A, void* dst);

// y[r - r0] = dot(row r of W, activations) for rows [r0, r1) of a bipolar W (ne[0] % 64 == 0):
// per 64-block, d_w * s_x[g] * (exact integer bipolar product), summed in f32 in block order.
void bipolar_gemv(const TensorView& W, const void* act, int A, float* y, int64_t r0, int64_t r1);

// The exact integer dot product sum_i v_w[i] * v_x[i] over i < n (any n >= 0) of two bipolar
// vectors stored as bit-planes: w holds ceil(n/64) groups of W u64 planes (group-major, plane t of
// group g at w[g * W + t]), x ceil(n/64) groups of A planes; bits at and beyond n must be zero in
// both. Computed as W x A xor-popcount products recombined by shifts (dispatched SIMD target).
int64_t bipolar_dot(const uint64_t* w, int W, const uint64_t* x, int A, int64_t n);

// --- group types ---------------------------------------------------------------------------------

// y[r - r0] = dot(row r of W, Q8 row xq) (q8_row_bytes(n) layout of kernels.h) for a group type.
void group_gemv_q8(const TensorView& W, const void* xq, float* y, int64_t r0, int64_t r1);

// --- scalar references (tests) ---------------------------------------------------------------------
namespace ref {
void mnemo_dequantize_row(DType type, const void* src, float* dst, int64_t n);
// As group_gemv_q8 for one row, in plain loops (int32 block sums, same f32 scaling order).
float group_dot_q8(DType type, const void* row, const void* xq, int64_t n);
// Plain int64 sum of v_w * v_x from the decoded odd integers (no bit tricks).
int64_t bipolar_dot(const uint64_t* w, int W, const uint64_t* x, int A, int64_t n);
void bipolar_quantize_act(const float* x, int64_t n, int A, void* dst);
}  // namespace ref

}  // namespace mnemo::kernels
