// model/config.h: the hyperparameters of a llama-family decoder, independent of any file format.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/kernels.h"
#include "mnemo/status.h"

namespace mnemo {

struct LlamaConfig {
  std::string arch = "llama";  // "llama" or "qwen2" (as GGUF general.architecture)
  int64_t n_vocab = 0;
  int64_t n_embd = 0;      // d_model
  int64_t n_layer = 0;
  int64_t n_head = 0;      // query heads
  int64_t n_head_kv = 0;   // key/value heads (GQA when < n_head, MQA when 1)
  int64_t head_dim = 0;    // usually n_embd / n_head
  int64_t n_ff = 0;        // SwiGLU hidden size
  int64_t n_ctx_train = 0; // context length the model was trained (or converted) with
  float rms_eps = 1e-5f;
  kernels::RopeParams rope;  // n_rot, base, linear scale, normal or NeoX pairing
  bool qkv_bias = false;     // Qwen2 adds biases to q, k, v
  bool tied_output = false;  // output head shares the token embedding

  int64_t n_embd_q() const { return n_head * head_dim; }
  int64_t n_embd_kv() const { return n_head_kv * head_dim; }
};

// The RoPE settings mnemo accepts, one rule for the GGUF loader and for generate_model, so that
// mnemo never writes a model it refuses to load: a frequency base finite and > 1, a linear scaling
// factor in [1e-30, 1e30] (so that it and its inverse are normal f32 values). Errors are kOutOfRange, "<subject>: expected ..., found ...", the subject
// naming where the value came from (a file and its key, or a flag).
Status check_rope_freq_base(const std::string& subject, double base);
Status check_rope_scaling_factor(const std::string& subject, double factor);

}  // namespace mnemo
