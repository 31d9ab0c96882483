// compress/awq.h: activation-aware per-input-channel scaling of weights before quantization
// (AWQ, Lin et al., "AWQ: Activation-aware Weight Quantization", MLSys 2024, sec. 3.2-3.3).
//
// For weights W_1..W_k that read the same input X (n channels; q/k/v after attn_norm, gate/up after
// ffn_norm), channel j is scaled by s_j = a_j^alpha / sqrt(max_j a_j^alpha * min_j a_j^alpha), a_j the
// mean |X_j| over the calibration tokens (clamped at 1e-4), and alpha is searched on the grid
// {0, 0.05, ..., 0.95} to minimise sum_i || (Q(W_i diag(s)) diag(s)^-1 - W_i) X^T ||^2 (eq. 4), Q the
// real quantizer of each tensor's type. alpha = 0 is s = 1 (no scaling), so the chosen scaling is
// never worse than none on the calibration rows. The scaled weights are W_i diag(s) and the
// preceding RMSNorm weight becomes g / s, which leaves the unquantized model's function unchanged.
#pragma once

#include <cstdint>
#include <vector>

#include "base/thread_pool.h"
#include "tensor/tensor.h"

namespace mnemo::compress {

struct AwqTensor {
  const float* w = nullptr;  // (m, n) row-major f32
  int64_t m = 0;
  DType type = DType::F32;   // the type it will be stored in
};

struct AwqResult {
  double alpha = 0;
  std::vector<float> s;      // (n) channel scales
  double loss = 0;           // output error with the chosen scales
  double loss_unscaled = 0;  // with s = 1
};

// X: (rows, n) calibration inputs; abs_mean: (n) mean |X_j| over all calibration tokens.
AwqResult awq_search(const std::vector<AwqTensor>& tensors, int64_t n, const float* X, int64_t rows,
                     const std::vector<double>& abs_mean, ThreadPool& pool);

// Output error sum_t || (Q(W diag(s)) diag(s)^-1 - W) x_t ||^2 of one tensor (s empty: s = 1).
double awq_output_error(const AwqTensor& t, int64_t n, const std::vector<float>& s, const float* X, int64_t rows,
                        ThreadPool& pool);

}  // namespace mnemo::compress
