// kernels/kernels.h: the compute primitives of inference, over views and raw float buffers.
//
// Kernels know nothing of models or files: they take TensorViews (any supported DType, stored as
// in GGUF) and float arrays with explicit shapes. SIMD code is chosen at run time (Highway's
// dynamic dispatch); every kernel has a scalar reference in kernels/reference.h that tests
// compare against on every compiled target.
//
// Determinism: every output element is computed by one thread in an order that does not depend on
// the number of threads, so results are bit-identical at any thread count.
//
// Memory: no kernel allocates. Callers size a workspace once with *_work_size() and pass it in.
//
// Shapes use ggml's convention: a weight W with ne = {n, m} maps x (n floats) to y (m floats);
// row r of W (n elements, stored in W.type) produces y[r].
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/thread_pool.h"
#include "tensor/tensor.h"

namespace mnemo::kernels {

// Name of the SIMD target that dispatch picked on this machine ("AVX2", "SSE4", "SCALAR", ...).
const char* active_target();

// ---------------------------------------------------------------------------------------------
// Dequantization

// dst[0..n) = the first n elements of a row stored as `type` at src. n must be a multiple of the
// type's block size.
void dequantize_row(DType type, const void* src, float* dst, int64_t n);

// ---------------------------------------------------------------------------------------------
// Matrix products

// Bytes of workspace that matmul() needs for W's type and up to `max_tokens` input rows of
// length n (quantized activations for integer dot products, dequantized tiles, ...).
size_t matmul_work_size(DType type, int64_t n, int64_t max_tokens);

// Y[t, 0..m) = W X[t, 0..n) for t in [0, T): X is T x n row-major f32, Y is T x m row-major f32.
// T == 1 is the decode case (matrix-vector). W.ne = {n, m}.
void matmul(const TensorView& W, const float* X, int64_t T, float* Y, void* work, size_t work_size,
            ThreadPool& pool);

// out[0..n) = row r of an embedding table E (ne = {n, rows}), dequantized.
void get_row(const TensorView& E, int64_t r, float* out);

// ---------------------------------------------------------------------------------------------
// Element-wise and normalization

// y = x / sqrt(mean(x^2) + eps) * w   (RMSNorm, Zhang & Sennrich 2019). y may alias x.
void rmsnorm(const float* x, const float* w, float eps, int64_t n, float* y);

// x = x + y
void add(float* x, const float* y, int64_t n);

// out = silu(gate) * up, silu(g) = g / (1 + exp(-g))   (SwiGLU, Shazeer 2020). out may alias gate.
void swiglu(const float* gate, const float* up, int64_t n, float* out);

// In-place softmax over x[0..n).
void softmax(float* x, int64_t n);

// ---------------------------------------------------------------------------------------------
// Rotary position embedding (Su et al. 2021), in place on one token's heads.
//
// x holds n_heads heads of head_dim floats; the first n_rot dims of each head are rotated.
// Pairs: normal (GPT-J / llama) style rotates (x[2i], x[2i+1]); NeoX style rotates
// (x[i], x[i + n_rot/2]). theta_i = pos * freq_scale * base^(-2i/n_rot).
// n_rot must be even, <= head_dim and <= kRopeMaxRot. cos/sin are computed in double (reference.h).
constexpr int64_t kRopeMaxRot = 1024;
enum class RopeStyle { kNormal, kNeox };
struct RopeParams {
  int64_t n_rot = 0;
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;  // linear scaling: 1 / factor
  RopeStyle style = RopeStyle::kNormal;
};
void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, const RopeParams& p);

// ---------------------------------------------------------------------------------------------
// Causal self-attention with online softmax, for T new query tokens at positions pos0..pos0+T-1.
//
// Q:   T x (n_head * head_dim), row-major.
// K,V: cache rows for positions 0..pos0+T-1; row p of K starts at K + p * kv_stride and holds
//      n_head_kv * head_dim floats (head h_kv at offset h_kv * head_dim). Same for V.
// out: T x (n_head * head_dim). Query head h reads KV head h / (n_head / n_head_kv) (GQA/MQA).
// Token t attends to positions 0..pos0+t. scale is usually 1/sqrt(head_dim).
// head_dim <= kAttentionMaxHeadDim (the accumulator lives on the stack); n_head % n_head_kv == 0.
// Work is split statically over the T * n_head (token, head) pairs.
constexpr int64_t kAttentionMaxHeadDim = 256;
struct AttentionShape {
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
};
void attention(const float* Q, int64_t T, int64_t pos0, const float* K, const float* V, int64_t kv_stride,
               const AttentionShape& shape, float scale, float* out, ThreadPool& pool);

}  // namespace mnemo::kernels
