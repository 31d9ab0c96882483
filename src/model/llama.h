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

#include "base/aligned_block.h"
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

 private:
  LlamaModel(LlamaConfig c, LlamaWeights w) : config_(std::move(c)), weights_(std::move(w)) {}
  LlamaConfig config_;
  LlamaWeights weights_;
};

// One thread's slice of a session's kernel workspace (the arena).
struct ArenaLayout {
  size_t thread_bytes = 0;  // per-thread slice (a multiple of 64)
  size_t dec_f32_off = 0, round_off = 0, dec_q8_off = 0, scratch_off = 0;  // offsets within a slice
  size_t q8_stride = 0;     // bytes per Q8 row (for the widest input)
  bool mixed_rounding = false;  // some normalised input feeds weights of different roundings
};

// What a session is asked to hold.
struct SessionShape {
  int64_t n_ctx = 0;             // positions
  int64_t n_batch = 0;           // tokens per forward chunk (capped at n_ctx)
  bool logits_all = false;       // keep logits of every token of a batch
  int n_threads = 1;             // threads of the pool the session runs on (one arena slice each)
  KvType type_k = KvType::kF32;  // how K and V rows are cached (tensor/kv_type.h); the block
  KvType type_v = KvType::kF32;  // types need head_dim % 32 == 0
};

// Every buffer of a session as a slice of one 64-byte-aligned block (llm.c's "malloc and point"),
// and the KV reservation beside it. LlamaSession::layout() is the one place these sizes are
// computed: the planner budgets with it and LlamaSession::create() carves the block with it.
struct SessionLayout {
  struct Slice {
    size_t offset = 0, bytes = 0;
  };
  SessionShape shape;
  // Activations (n_batch, width) row-major: x (n_embd), xn (max(n_embd, n_embd_q)), q and attn
  // (n_embd_q), hb and hb2 (n_ff); logits (n_batch or 1 rows, n_vocab); rope (n_ctx, n_rot): cos
  // then sin of every position; arena: n_threads slices of arena_layout.thread_bytes; k_new and
  // v_new (n_batch, n_embd_kv): the f32 K and V of the tokens being evaluated, before they are
  // converted into a cache of another type than F32 (empty for an F32 cache, written in place).
  Slice x, xn, q, attn, hb, hb2, logits, rope, arena, k_new, v_new;
  ArenaLayout arena_layout;
  size_t block_bytes = 0;  // the whole block
  uint64_t kv_bytes = 0;  // KvCache::bytes_for(n_layer, n_ctx, n_embd_kv, type_k, type_v), reserved
                          // beside the block

  uint64_t workspace_bytes() const { return arena.bytes; }
  uint64_t total_bytes() const { return block_bytes + kv_bytes; }
};

class LlamaSession {
 public:
  // The layout of a session of this shape. Errors: non-positive sizes, or sizes that overflow the
  // address space (an absurd context size is refused here, before anything is allocated).
  static Expected<SessionLayout> layout(const LlamaModel& model, SessionShape shape);

  // Creates a session over `block` (at least layout.block_bytes, 64-byte aligned; the caller owns
  // it and keeps it alive as long as the session); reserves the KV cache. layout.shape.n_threads
  // must equal pool->size().
  static Expected<std::unique_ptr<LlamaSession>> create(std::shared_ptr<const LlamaModel> model,
                                                        const SessionLayout& layout, ThreadPool* pool,
                                                        std::span<uint8_t> block);
  // Convenience for tools and tests: the session owns its block.
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

  int64_t n_ctx() const { return layout_.shape.n_ctx; }
  int64_t n_batch() const { return layout_.shape.n_batch; }
  int64_t n_past() const { return n_past_; }  // positions held in the cache
  const SessionLayout& layout() const { return layout_; }
  const KvCache& kv() const { return kv_; }
  KvCache& kv() { return kv_; }
  ThreadPool& pool() { return *pool_; }
  void reset() { n_past_ = 0; }

 private:
  LlamaSession() = default;
  static ArenaLayout arena_layout(const LlamaModel& model, int64_t n_batch);
  float* f32(const SessionLayout::Slice& s) const { return reinterpret_cast<float*>(block_ + s.offset); }
  void forward_chunk(const int32_t* tokens, int64_t n, int64_t pos, bool all_logits, float* logits_out);

  std::shared_ptr<const LlamaModel> model_;
  ThreadPool* pool_ = nullptr;
  SessionLayout layout_;
  int64_t n_past_ = 0;
  KvCache kv_;
  uint8_t* block_ = nullptr;    // every buffer of layout_, not owned (see owned_block_)
  AlignedBlock owned_block_;    // set only by the convenience create()
  int64_t n_logits_ = 0;        // rows of logits filled by the last forward
  int64_t max_logits_ = 1;      // capacity of logits in rows
};

}  // namespace mnemo
