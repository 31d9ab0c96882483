// model/llama.h: the llama-family decoder forward pass (Llama 2/3, Qwen2, llama2.c models).
//
//   x = embd[token]
//   per layer:  h = x + Wo * Attn(RoPE(Wq n), RoPE(Wk n), Wv n),  n = RMSNorm(x) * attn_norm
//               x = h + Wdown * (SiLU(Wgate m) * Wup m),          m = RMSNorm(h) * ffn_norm
//   logits = Wout * (RMSNorm(x) * output_norm)
//
// LlamaModel is immutable and may be shared by any number of sessions (and threads). A session
// owns one sequence's KV cache and every activation buffer, all sized at creation for n_ctx
// positions and batches of up to n_batch tokens: forward() allocates nothing.
//
// Execution: one forward chunk is one ThreadPool job whose phases are separated by barriers.
// Per layer: [RMSNorm + Q8 quantization] -> Q/K/V rows (+ bias, RoPE from a table computed at
// creation, K/V written into the cache) -> barrier -> attention -> barrier -> Wo rows added into
// the residual -> barrier -> [RMSNorm + Q8] -> gate/up rows with SwiGLU -> barrier -> down rows
// added into the residual -> barrier. Rows are split statically (by heads for Q/K/V, in groups of
// heads that cover whole kernels::matmul_fixed_chunk chunks where OpenBLAS takes the product;
// otherwise in units of kernels::matmul_row_grain), so every element is computed by one thread in
// an order that does not depend on the thread count. For decode (T <= kGemvMaxTokens) each
// thread normalizes and quantizes the small input rows itself (in its own buffers) instead of
// waiting at another barrier; for prefill the rows are split by token and shared.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/thread_pool.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/weights.h"
#include "mnemo/status.h"

namespace mnemo {

class LlamaModel {
 public:
  // Checks that every view has the shape the config implies and a type the kernels support.
  static Expected<std::shared_ptr<const LlamaModel>> create(LlamaConfig config, LlamaWeights weights);

  const LlamaConfig& config() const { return config_; }
  const LlamaWeights& weights() const { return weights_; }
  // Bytes of all weight tensors as stored.
  uint64_t weight_bytes() const;

 private:
  LlamaModel(LlamaConfig c, LlamaWeights w) : config_(std::move(c)), weights_(std::move(w)) {}
  LlamaConfig config_;
  LlamaWeights weights_;
};

class LlamaSession {
 public:
  // logits_all: keep logits for every token of a batch (up to n_batch rows), for perplexity and
  // scoring; otherwise only the last token's.
  static Expected<std::unique_ptr<LlamaSession>> create(std::shared_ptr<const LlamaModel> model, int64_t n_ctx,
                                                        int64_t n_batch, bool logits_all, ThreadPool* pool);

  // Runs tokens[0..n) at positions pos..pos+n-1. The cache keeps positions < pos; anything it held
  // at >= pos is overwritten. Logits are kept for the last token, or for every token when
  // all_logits (then n <= n_batch and the session was created with logits_all). Otherwise n may
  // exceed n_batch: it is processed in chunks. Errors: pos + n > n_ctx, a token id outside the
  // vocabulary.
  Status forward(std::span<const int32_t> tokens, int64_t pos, bool all_logits);

  // Logits (n_vocab floats) of token i of the last forward() (i = -1: the last token).
  std::span<const float> logits(int64_t i = -1) const;

  // Bytes of the kernel workspace (the per-thread arena) that create() allocates for n_batch and
  // n_threads: decode inputs, rounded inputs and matmul scratch (OpenBLAS panels included).
  static uint64_t workspace_bytes(const LlamaModel& model, int64_t n_batch, int n_threads);

  int64_t n_ctx() const { return n_ctx_; }
  int64_t n_batch() const { return n_batch_; }
  int64_t n_past() const { return n_past_; }  // positions held in the cache
  const KvCache& kv() const { return kv_; }
  KvCache& kv() { return kv_; }
  ThreadPool& pool() { return *pool_; }
  void reset() { n_past_ = 0; }

 private:
  LlamaSession() = default;
  // One thread's slice of the arena.
  struct ArenaLayout {
    size_t thread_bytes = 0;  // per-thread slice
    size_t dec_f32_off = 0, round_off = 0, dec_q8_off = 0, scratch_off = 0;  // offsets within a slice
    size_t q8_stride = 0;     // bytes per Q8 row (for the widest input)
    bool mixed_rounding = false;  // some normalised input feeds weights of different roundings
  };
  static ArenaLayout arena_layout(const LlamaModel& model, int64_t n_batch);
  void forward_chunk(const int32_t* tokens, int64_t n, int64_t pos, bool all_logits, float* logits_out);

  std::shared_ptr<const LlamaModel> model_;
  ThreadPool* pool_ = nullptr;
  int64_t n_ctx_ = 0, n_batch_ = 0, n_past_ = 0;
  KvCache kv_;
  // Activations, each (n_batch, width) row-major, allocated once.
  std::vector<float> x_, xn_, q_, attn_, hb_, hb2_;
  std::vector<float> logits_;   // (n_logits, n_vocab)
  int64_t n_logits_ = 0;        // rows of logits_ filled by the last forward
  int64_t max_logits_ = 1;      // capacity of logits_ in rows
  std::vector<float> rope_;     // (n_ctx, n_rot): cos then sin of every position (kernels::rope_table)
  // 64-byte-aligned arena: per thread, decode inputs (f32 and Q8 rows of up to kGemvMaxTokens
  // tokens), rounded inputs (kernels::round_activations; n_batch rows when one input feeds weights
  // of different roundings, else kGemvMaxTokens rows) and matmul scratch.
  std::vector<uint8_t> arena_;
  uint8_t* arena_base_ = nullptr;
  ArenaLayout layout_;
};

}  // namespace mnemo
