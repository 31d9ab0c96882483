// train/params.h: the shape of a llama model being trained, and where each of its tensors lives in
// one flat fp32 buffer (parameters, gradients and AdamW moments all use this layout, as in llm.c).
//
// Tensors keep the GGUF names and ggml shapes that runtime/load_gguf.cc reads. Matrices are stored
// (out, in) row-major: row r of W produces output r, so y = x W^T (ggml ne = {in, out}). Per layer
// the order is attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up,
// ffn_down: q, k and v are adjacent, so they form one fused (n_embd_q + 2 n_embd_kv, n_embd)
// matrix, and so do gate and up ((2 n_ff, n_embd)).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mnemo/status.h"

namespace mnemo::train {

struct TrainShape {
  int64_t n_vocab = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t n_ff = 0;
  int64_t n_ctx = 0;          // the context length recorded in the GGUF (training sequences <= it)
  float rms_eps = 1e-5f;
  float rope_base = 10000.0f; // RoPE (Su et al. 2021), GPT-J / llama pairing, all head dims rotated
  bool tied_output = false;   // the output head is the token embedding

  int64_t head_dim() const { return n_embd / n_head; }
  int64_t n_embd_q() const { return n_embd; }
  int64_t n_embd_kv() const { return head_dim() * n_head_kv; }
  bool operator==(const TrainShape&) const = default;
};

// Every count positive; n_embd a multiple of n_head, n_head of n_head_kv; head_dim even and at
// most 256; n_vocab below 2^24. Errors read "<subject>: n_head: ...".
Status validate_shape(const TrainShape& s, const std::string& subject);

// "d=256 L=8 H=8/4 ff=768 V=512 ctx=1024".
std::string describe_shape(const TrainShape& s);

enum class ParamKind { kEmbedding, kNorm, kAttention, kFfn, kOutput };
const char* param_kind_name(ParamKind k);  // "token_embd", "norm", "attention", "ffn", "output"

struct ParamInfo {
  std::string name;      // GGUF tensor name
  int64_t rows = 1;      // out (1 for vectors)
  int64_t cols = 0;      // in: the row length
  int64_t offset = 0;    // in floats, from the start of the buffer
  ParamKind kind = ParamKind::kNorm;
  int layer = -1;        // -1 outside the blocks
  bool is_matrix() const { return rows > 1 || kind != ParamKind::kNorm; }
  int64_t numel() const { return rows * cols; }
};

struct LayerOffsets {
  int64_t attn_norm, wqkv, wo, ffn_norm, wgu, wdown;  // wqkv = attn_q (then k, v); wgu = ffn_gate (then up)
};

class ParamLayout {
 public:
  static ParamLayout build(const TrainShape& s);

  const std::vector<ParamInfo>& tensors() const { return tensors_; }
  int64_t n_params() const { return n_params_; }
  const ParamInfo* find(const std::string& name) const;

  int64_t token_embd() const { return token_embd_; }
  int64_t output_norm() const { return output_norm_; }
  int64_t output() const { return output_; }  // == token_embd() when tied
  const LayerOffsets& layer(int64_t l) const { return layers_[static_cast<size_t>(l)]; }

 private:
  std::vector<ParamInfo> tensors_;
  std::vector<LayerOffsets> layers_;
  int64_t n_params_ = 0;
  int64_t token_embd_ = 0, output_norm_ = 0, output_ = 0;
};

// llama2.c's initialization: matrices and the embedding ~ N(0, std), the residual projections
// (attn_output, ffn_down) ~ N(0, std / sqrt(2 n_layer)), norms 1. Seeded; the same seed gives the
// same bytes.
void init_params(const TrainShape& s, const ParamLayout& layout, float std, uint64_t seed, float* params);
// Elements [begin, end) of the same initialization into out[0 .. end - begin) (ZeRO-3's shard).
void init_params_range(const TrainShape& s, const ParamLayout& layout, float std, uint64_t seed, int64_t begin,
                       int64_t end, float* out);

}  // namespace mnemo::train
