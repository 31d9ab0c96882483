// kernels/reference.h: scalar reference implementations of every kernel in kernels.h.
//
// They define what the dispatched SIMD kernels must compute and are what the tests compare
// against on every compiled target. They favour clarity over speed, may allocate, and are not
// meant for inference.
//
// - dequantize_row_ref is bit-identical to ggml's scalar dequantize_row_* (ggml/src/ggml-quants.c)
//   with floating-point contraction off; F16/BF16 convert as base/fp16.h does.
// - matmul_ref dequantizes each row with dequantize_row_ref and accumulates the dot product in
//   double in index order, rounding once to float.
// - round_activations_ref and quantize_q8_ref are the definitions of activation rounding and of
//   the Q8 activation rows (kernels.h); every target reproduces them bit for bit.
// - matmul_q8_ref is what matmul computes with Q8 activations (matmul_uses_q8): the weights
//   dequantized with dequantize_row_ref dotted in double with the dequantized activations
//   d_b * q_i, rounded once to float.
// - kv_store_row_ref defines the KV cache row formats (F16 with base/fp16.h, Q8_0 by the kQ8x32
//   rounding of round_activations_ref, Q4_0 by ggml's quantize_row_q4_0_ref).
// - rmsnorm, swiglu, softmax and attention accumulate in double; rope computes theta, cos and
//   sin in double and rotates in float.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"
#include "tensor/blocks.h"
#include "tensor/dtype.h"
#include "tensor/tensor.h"

namespace mnemo::kernels {

// As dequantize_row(). Every supported type: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K,
// Q3_K, Q4_K, Q5_K, Q6_K.
void dequantize_row_ref(DType type, const void* src, float* dst, int64_t n);

void matmul_ref(const TensorView& W, const float* X, int64_t T, float* Y);
void quantize_q8_ref(const float* x, int64_t n, void* dst, ActRounding r);
void round_activations_ref(ActRounding r, const float* x, int64_t n, float* y);
// Xq: T Q8 rows of q8_row_bytes(n) bytes each.
void matmul_q8_ref(const TensorView& W, const void* Xq, int64_t T, float* Y);
void get_row_ref(const TensorView& E, int64_t r, float* out);
void rmsnorm_ref(const float* x, const float* w, float eps, int64_t n, float* y);
void add_ref(float* x, const float* y, int64_t n);
void swiglu_ref(const float* gate, const float* up, int64_t n, float* out);
void softmax_ref(float* x, int64_t n);
void rope_ref(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, const RopeParams& p);
void attention_ref(const float* Q, int64_t T, int64_t pos0, const float* K, const float* V,
                   int64_t kv_stride, const AttentionShape& shape, float scale, float* out);
// Typed cache rows: each row dequantized with dequantize_row_ref, the query rounded with
// round_activations_ref as attention() rounds it for K's type, then the double arithmetic above.
void attention_ref(const float* Q, int64_t T, int64_t pos0, const KvRows& kv,
                   const AttentionShape& shape, float scale, float* out);
void kv_store_row_ref(KvType t, const float* src, int64_t n, void* dst);
// One block of 32 values as ggml's quantize_row_q4_0_ref writes it (kernels.h, kv_store_row): the
// one definition, shared by kv_store_row on every target and by compress's Q4_0 quantizer.
void quantize_block_q4_0_ref(const float* x, BlockQ4_0* y);

// cos and sin of theta_i = pos * freq_scale * freq_base^(-2i/n_rot) / freq_factors[i] (factor 1
// without freq_factors) for i in [0, n_rot/2),
// computed in double and rounded to float. Shared by rope_ref and the SIMD rope so that both
// rotate by the same angles.
void rope_angles(int64_t pos, const RopeParams& p, float* cos_out, float* sin_out);

}  // namespace mnemo::kernels
