// compress/calibrate.h: activation statistics of a llama-family model on calibration text, for
// activation-aware weight scaling (compress/awq.h).
//
// The forward pass here is a plain f32 evaluation (kernels' matmul on the stored F32/F16/BF16
// weights, prefill path; no KV cache beyond the chunk) that records the inputs of the
// norm-preceded projections: n_attn = RMSNorm(x) * attn_norm (input of q, k, v) and
// n_ffn = RMSNorm(h) * ffn_norm (input of gate, up) in every layer. It is independent of
// model/llama.cc, whose forward pass has no taps; both follow model/llama.h's equations.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/thread_pool.h"
#include "mnemo/status.h"
#include "model/config.h"
#include "model/weights.h"

namespace mnemo::compress {

struct LayerActivations {
  std::vector<double> attn_abs_sum;  // (n_embd): sum over tokens of |n_attn|
  std::vector<double> ffn_abs_sum;   // (n_embd)
  std::vector<float> attn_rows;      // (n_rows, n_embd): sampled rows of n_attn
  std::vector<float> ffn_rows;       // (n_rows, n_embd)
};

struct Activations {
  int64_t n_tokens = 0;  // tokens evaluated
  int64_t n_rows = 0;    // sampled rows per layer
  std::vector<LayerActivations> layers;
};

// Evaluates `tokens` in chunks of `ctx` positions (each chunk starting with `bos` when >= 0) and
// samples up to `max_rows` token rows per layer at a fixed stride. Weights must be F32, F16 or
// BF16 (any type the kernels take works; calibration wants the unquantized model).
Expected<Activations> collect_activations(const LlamaConfig& c, const LlamaWeights& w, std::span<const int32_t> tokens,
                                          int32_t bos, int64_t ctx, int64_t max_rows, ThreadPool& pool);

}  // namespace mnemo::compress
