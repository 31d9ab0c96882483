// train/ops.h: the element-wise and row kernels of the backward pass (SIMD via Highway's run-time
// dispatch, like kernels/). Each result is computed in one fixed order that depends only on n, so
// it is the same on every call and at any thread count (on one machine: the SIMD target chosen
// at run time sets the lane count).
#pragma once

#include <cstdint>

namespace mnemo::train {

// sum_i a[i] b[i] (f32 lanes, then the lanes summed, then the tail in index order).
float dot(const float* a, const float* b, int64_t n);
// max_i x[i]; -inf for n == 0.
float max_of(const float* x, int64_t n);
// x[i] = exp(x[i] - shift) for i < n; returns the sum of the new values (f32 lanes).
float exp_sub_sum(float* x, int64_t n, float shift);
// x[i] *= s.
void scale(float* x, int64_t n, float s);
// y[i] += a * x[i].
void axpy(float* y, const float* x, float a, int64_t n);
// acc[i] += a[i] * b[i] * s.
void acc_mul(float* acc, const float* a, const float* b, float s, int64_t n);
// The softmax backward of one attention row: dp[i] = p[i] * (dp[i] - d).
void softmax_backward_row(const float* p, float* dp, float d, int64_t n);
// SwiGLU (Shazeer 2020) out = silu(g) * u, and its backward: dg = dout * u * silu'(g),
// du = dout * silu(g), with silu(g) = g s, s = 1 / (1 + exp(-g)), silu'(g) = s (1 + g (1 - s)).
void swiglu_forward(const float* g, const float* u, int64_t n, float* out);
void swiglu_backward(const float* g, const float* u, const float* dout, int64_t n, float* dg, float* du);

}  // namespace mnemo::train
