// formats/llama2c.h: Karpathy's llama2.c checkpoints (the legacy "version 0" export of run.c).
//
// Layout: 7 x int32 header {dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len};
// vocab_size < 0 means the classifier is stored separately (unshared), |vocab_size| is the vocab.
// Then float32 arrays in this order:
//   token_embedding_table (vocab, dim)
//   rms_att_weight (layer, dim)
//   wq (layer, dim, n_heads*head_size)   wk (layer, dim, n_kv_heads*head_size)
//   wv (layer, dim, n_kv_heads*head_size) wo (layer, n_heads*head_size, dim)
//   rms_ffn_weight (layer, dim)
//   w1 (layer, hidden_dim, dim) w2 (layer, dim, hidden_dim) w3 (layer, hidden_dim, dim)
//   rms_final_weight (dim)
//   freq_cis_real (seq_len, head_size/2), freq_cis_imag (same)   -- skipped
//   wcls (vocab, dim)                                             -- only when unshared
// Every matrix is row-major with one row per output, i.e. ggml ne = {in, out}.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/file.h"
#include "mnemo/status.h"
#include "tensor/tensor.h"

namespace mnemo::llama2c {

// Sane bounds on the header (far above any published llama2.c model; they also keep every size
// computation below 2^50).
inline constexpr int32_t kMaxDim = 1 << 16;
inline constexpr int32_t kMaxHiddenDim = 1 << 18;
inline constexpr int32_t kMaxLayers = 1024;
inline constexpr int32_t kMaxHeads = 1024;
inline constexpr int32_t kMaxVocab = 1 << 22;
inline constexpr int32_t kMaxSeqLen = 1 << 20;

struct Config {
  int32_t dim = 0;
  int32_t hidden_dim = 0;
  int32_t n_layers = 0;
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;
  int32_t vocab_size = 0;  // always positive here
  int32_t seq_len = 0;
  bool shared_classifier = true;
};

// Views of one layer's weights (all F32, shapes as ggml ne).
struct LayerViews {
  TensorView attn_norm;  // {dim}
  TensorView wq;         // {dim, n_heads*head_size}
  TensorView wk;         // {dim, n_kv_heads*head_size}
  TensorView wv;         // {dim, n_kv_heads*head_size}
  TensorView wo;         // {n_heads*head_size, dim}
  TensorView ffn_norm;   // {dim}
  TensorView w1;         // gate {dim, hidden}
  TensorView w2;         // down {hidden, dim}
  TensorView w3;         // up   {dim, hidden}
};

class Checkpoint {
 public:
  // Validates the header (positive dims within the limits above, heads dividing dim, kv heads
  // dividing heads, an even head size) and that the file holds exactly the bytes the header implies
  // (with the freq_cis tables, and with the trailing classifier exactly when vocab_size < 0), then
  // exposes views into the mapping. Errors: "m.bin: header: n_heads: expected a divisor of dim 64,
  // found 7", "m.bin: file size: expected 1056540 bytes for dim=64 ..., found 1056536".
  static Expected<std::unique_ptr<Checkpoint>> open(const std::string& path, MapMode mode = MapMode::kMap);
  // Same over bytes in memory (fuzzing, tests): they must outlive the Checkpoint and start at a
  // 4-byte-aligned address (the views are float arrays).
  static Expected<std::unique_ptr<Checkpoint>> parse(std::span<const uint8_t> bytes, const std::string& name);

  const Config& config() const { return config_; }
  const TensorView& token_embedding() const { return tok_emb_; }  // {dim, vocab}
  const LayerViews& layer(int i) const;  // 0 <= i < config().n_layers
  const TensorView& final_norm() const { return final_norm_; }  // {dim}
  const TensorView& classifier() const { return cls_; }         // {dim, vocab}; the embedding when shared
  const FileBytes& file() const { return file_; }
  const std::string& path() const { return name_; }

 private:
  Status parse_all();

  std::string name_;
  FileBytes file_;
  std::span<const uint8_t> bytes_;
  Config config_;
  TensorView tok_emb_, final_norm_, cls_;
  std::vector<LayerViews> layers_;
};

}  // namespace mnemo::llama2c
