// model/llama.h: the llama-family decoder forward pass (Llama 2/3, Qwen2, llama2.c models).
//
//   x = embd[token]
//   per layer:  h = x + Wo * Attn(RoPE(Wq n), RoPE(Wk n), Wv n),  n = RMSNorm(x) * attn_norm
//               x = h + Wdown * (SiLU(Wgate m) * Wup m),          m = RMSNorm(h) * ffn_norm
//   logits = Wout * (RMSNorm(x) * output_norm)
//
// LlamaModel is immutable and may be shared by any number of sessions (and threads). A session
// owns the KV cache of up to n_seq_max sequences (model/kv_cache.h: vAttention, pages committed
// as tokens arrive) and every activation buffer, all sized at creation for n_ctx positions per
// sequence and batches of up to n_batch tokens: forward() and forward_batch() allocate nothing.
//
// A batch (model/batch.h) is a set of runs, one per sequence, each of consecutive positions. Its
// tokens go through the weights in groups: all the small runs (<= kernels::kGemvMaxTokens tokens,
// decode steps) together, in GEMV tiles of up to kGemvMaxTokens tokens that share each chunk of
// weight rows while it is in cache (one pass over the weights for every decoding sequence), then
// each longer run on its own (the GEMM/OpenBLAS product a single-sequence forward of that run
// computes). Attention runs per run against its own sequence's cache. Hence a token's logits do
// not depend on what else is in the batch: bit-identical to evaluating its run alone.
//
// Execution: one forward chunk is one ThreadPool job whose phases are separated by barriers.
// Per layer: [RMSNorm + Q8 quantization] -> Q/K/V rows (+ bias, RoPE from a table computed at
// creation, K/V written into their sequence's cache rows: in place for an F32 cache, else staged in
// k_new/v_new and converted to the cache's type per head by the thread that computed them,
// kernels::kv_store_row) -> barrier -> attention (over the typed rows) -> barrier -> Wo rows added into
// the residual -> barrier -> [RMSNorm + Q8] -> gate/up rows with SwiGLU -> barrier -> down rows
// added into the residual -> barrier. Rows are split statically (by heads for Q/K/V, in groups of
// heads that cover whole kernels::matmul_fixed_chunk chunks where OpenBLAS takes the product;
// otherwise in units of kernels::matmul_row_grain), so every element is computed by one thread in
// an order that does not depend on the thread count. For the small runs each thread normalizes
// and quantizes their input rows itself (in its own buffers, up to SessionLayout::decode_rows
// tokens at a time) instead of waiting at another barrier; for longer runs the rows are split by
// token and shared.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/aligned_block.h"
#include "base/thread_pool.h"
#include "model/batch.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/kv_policy.h"
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
  int64_t decode_rows = 0;  // tokens of small runs a thread holds at once (f32, rounded and Q8 rows)
  size_t thread_bytes = 0;  // per-thread slice (a multiple of 64)
  size_t dec_f32_off = 0, round_off = 0, dec_q8_off = 0, scratch_off = 0;  // offsets within a slice
  size_t q8_stride = 0;     // bytes per Q8 row (for the widest input)
  bool mixed_rounding = false;  // some normalised input feeds weights of different roundings
};

// What a session is asked to hold.
struct SessionShape {
  int64_t n_ctx = 0;        // positions per sequence
  int64_t n_batch = 0;      // tokens per forward chunk (capped at n_ctx when n_seq_max is 1)
  bool logits_all = false;  // keep logits of every token of a batch
  int n_threads = 1;        // threads of the pool the session runs on (one arena slice each)
  KvType type_k = KvType::kF32;  // how K and V rows are cached (tensor/kv_type.h); the block
  KvType type_v = KvType::kF32;  // types need head_dim % 32 == 0
  int64_t n_seq_max = 1;    // sequences held at once
  uint64_t kv_pool_bytes = 0;  // KV pages the sequences may commit together; 0: all at n_ctx
  // Every sequence's KV budget policy (model/kv_policy.h); budget in slots (full: ignored).
  KvPolicyParams kv_policy;
};

// Most sequences a session holds (each a reservation of address space and a few bytes of state).
constexpr int64_t kMaxSequences = int64_t{1} << 16;

// The largest batch a shape can use: every sequence's whole context.
inline int64_t max_batch(const SessionShape& s) {
  int64_t b = 0;
  return __builtin_mul_overflow(s.n_ctx, s.n_seq_max, &b) ? INT64_MAX : b;
}

// Every buffer of a session as a slice of one 64-byte-aligned block (llm.c's "malloc and point"),
// and the KV reservation beside it. LlamaSession::layout() is the one place these sizes are
// computed: the planner budgets with it and LlamaSession::create() carves the block with it.
struct SessionLayout {
  struct Slice {
    size_t offset = 0, bytes = 0;
  };
  SessionShape shape;
  // Activations (n_batch, width) row-major: x (n_embd), xn (max(n_embd, n_embd_q)), q and attn
  // (n_embd_q), hb and hb2 (n_ff); logits (logits_rows, n_vocab); rope (n_ctx, n_rot): cos
  // then sin of every position; arena: n_threads slices of arena_layout.thread_bytes; k_new and
  // v_new (n_batch, n_embd_kv), plan order: the f32 K and V of the tokens being evaluated, before
  // they are converted into a cache of another type than F32 (empty for an F32 cache, written in
  // place); the batch plan (model/batch.h): tokens (n_batch BatchToken), runs
  // (2 * min(n_batch, n_seq_max) BatchRun), out_tok and entry_row (n_batch int32 each), seq_run
  // (n_seq_max int32).
  // KV policies (empty for the full policy): kv_scores, n_seq_max x kv_score_floats (each sequence's
  // accumulated attention, [layer][KV head][budget slots]); score_work, n_threads x (budget +
  // head_dim) floats (kernels::attention_scores_part's work); kv_compact, 2 x budget x n_embd_kv +
  // head_dim floats (a layer's K and V rows dequantized to f32 while compacting, and a row of tmp).
  Slice x, xn, q, attn, hb, hb2, logits, rope, arena, k_new, v_new, plan_tok, plan_runs, plan_out, plan_entry,
      plan_seq, kv_scores, score_work, kv_compact;
  ArenaLayout arena_layout;
  int64_t logits_rows = 1;  // n_batch with logits_all, else min(n_batch, n_seq_max)
  size_t block_bytes = 0;   // the whole block
  uint64_t kv_slot_bytes = 0;  // KvCache::slot_bytes of the typed rows: one sequence's reservation
                               // (= its KV at n_ctx)
  uint64_t kv_bytes = 0;    // the KV pool leased beside the block: kv_pool_bytes, or n_seq_max slots

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

  // Runs tokens[0..n) of sequence `seq` (0 unless given) at positions pos..pos+n-1. The cache
  // keeps positions < pos; anything it held at >= pos is overwritten. Logits are kept for the last
  // token, or for every token when all_logits (then n <= n_batch and the session was created with
  // logits_all). Otherwise n may exceed n_batch: it is processed in chunks. Errors: the sequence
  // not open, pos + n > n_ctx, a token id outside the vocabulary, the KV pool exhausted.
  Status forward(std::span<const int32_t> tokens, int64_t pos, bool all_logits, int32_t seq = 0);
  // Runs a batch of several sequences' tokens (model/batch.h has the rules and errors), at most
  // n_batch entries. On error nothing was computed and no sequence changed.
  Status forward_batch(std::span<const BatchEntry> entries);

  // Logits (n_vocab floats). After forward(): of token i (i = -1: the last token). After
  // forward_batch(): of entry i, empty when that entry did not ask for logits.
  std::span<const float> logits(int64_t i = -1) const;

  // Sequences. Sequence 0 is open at creation. open_sequence() takes the lowest free slot;
  // close_sequence() returns its KV pages; truncate_sequence() keeps positions [0, n_pos).
  Expected<int32_t> open_sequence();
  Status close_sequence(int32_t seq);
  Status truncate_sequence(int32_t seq, int64_t n_pos);
  // Restoring a saved sequence: empties `seq`, commits positions [0, n_pos) and makes them its
  // length; the caller then writes their rows (kv().k_row/v_row) before the next forward. Errors:
  // not open, n_pos outside [0, n_ctx], the KV pool refusing the pages (seq is left empty).
  Status adopt_rows(int32_t seq, int64_t n_pos);
  int64_t sequence_length(int32_t seq) const;  // -1: not open (or out of range)
  int64_t n_seq_open() const;

  int64_t n_ctx() const { return layout_.shape.n_ctx; }
  int64_t n_batch() const { return layout_.shape.n_batch; }
  int64_t n_seq_max() const { return layout_.shape.n_seq_max; }
  int64_t n_past() const { return std::max<int64_t>(0, seq_len_[0]); }  // positions of sequence 0
  const SessionLayout& layout() const { return layout_; }
  const KvCache& kv() const { return kv_; }
  KvCache& kv() { return kv_; }
  ThreadPool& pool() { return *pool_; }
  void reset() { seq_len_[0] = 0; }  // empties (and opens) sequence 0, keeps its pages

  // KV policies. The policy every sequence follows; compact_sequence() compacts sequence `seq` to
  // `target` slots now (forward() calls it by the rule of kv_step()); scores(seq) is its
  // accumulated attention ([layer][KV head][budget], null unless the policy needs scores).
  const KvPolicyParams& kv_policy() const { return layout_.shape.kv_policy; }
  Status compact_sequence(int32_t seq, int64_t target);
  // llama.cpp's context shift (full policy): positions [n_keep, n_keep + n_discard) of sequence
  // `seq` are dropped, the later ones move down by n_discard (K re-rotated by -n_discard, V moved
  // as it is). Errors: a sequence not open, a range outside what it holds, a budget policy.
  Status shift_sequence(int32_t seq, int64_t n_keep, int64_t n_discard);
  float* scores(int32_t seq) const;
  int64_t n_compactions() const { return n_compactions_; }

 private:
  class Job;     // llama_forward.cc: one thread's work on a planned batch
  struct Group;  // tokens that go through the weights together
  LlamaSession() = default;
  static ArenaLayout arena_layout(const LlamaModel& model, int64_t n_batch, int64_t decode_rows);
  template <class T>
  T* at(const SessionLayout::Slice& s) const { return reinterpret_cast<T*>(block_ + s.offset); }
  float* f32(const SessionLayout::Slice& s) const { return at<float>(s); }
  BatchPlan empty_plan() const;
  Status commit_kv(const BatchPlan& plan);
  Status forward_budgeted(std::span<const int32_t> tokens, int64_t pos, bool all_logits, int32_t seq);
  // Runs a planned batch; its logits rows go to logits_out + row * n_vocab.
  void run_plan(const BatchPlan& plan, float* logits_out);

  std::shared_ptr<const LlamaModel> model_;
  ThreadPool* pool_ = nullptr;
  SessionLayout layout_;
  std::vector<int64_t> seq_len_;  // per sequence: positions held, -1 when not open
  KvCache kv_;
  uint8_t* block_ = nullptr;    // every buffer of layout_, not owned (see owned_block_)
  AlignedBlock owned_block_;    // set only by the convenience create()
  int64_t n_logits_ = 0;        // rows of logits filled by the last forward
  int64_t batch_entries_ = -1;  // entries of the last forward_batch, -1 after a forward()
  std::unique_ptr<KvCompactor> compactor_;  // policies other than full: plans (sized at creation)
  int64_t n_compactions_ = 0;
};

}  // namespace mnemo
