// model/weights.h: non-owning views of a llama model's tensors, as the loader found them.
//
// Matrices keep their stored DType (F32, F16, BF16, Q8_0, Q4_0, K-quants, ...); kernels read them
// in place. Shapes (ggml ne = {in, out}):
//   token_embd {n_embd, n_vocab}     output {n_embd, n_vocab} (the embedding when tied)
//   attn_q {n_embd, n_embd_q}  attn_k, attn_v {n_embd, n_embd_kv}  attn_output {n_embd_q, n_embd}
//   ffn_gate, ffn_up {n_embd, n_ff}  ffn_down {n_ff, n_embd}
//   norms, biases and rope_freqs: F32 vectors.
// The views point into memory owned elsewhere (a file mapping, or storage the loader keeps).
#pragma once

#include <vector>

#include "tensor/tensor.h"

namespace mnemo {

struct LlamaLayerWeights {
  const float* attn_norm = nullptr;  // (n_embd)
  TensorView wq, wk, wv, wo;
  const float* bq = nullptr;  // (n_embd_q), Qwen2 only
  const float* bk = nullptr;  // (n_embd_kv)
  const float* bv = nullptr;  // (n_embd_kv)
  const float* ffn_norm = nullptr;  // (n_embd)
  TensorView ffn_gate, ffn_up, ffn_down;
};

struct LlamaWeights {
  TensorView token_embd;
  std::vector<LlamaLayerWeights> layers;
  const float* output_norm = nullptr;  // (n_embd)
  TensorView output;
  // (n_rot/2) divisors of RoPE's per-pair angles, shared by every layer (GGUF rope_freqs.weight:
  // Llama 3.1's "llama3" frequency scaling); null when the model has none.
  const float* rope_freqs = nullptr;
};

}  // namespace mnemo
