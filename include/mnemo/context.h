// mnemo/context.h: sequences being evaluated: their KV cache, activations and logits.
//
// A Context is created from a Model with a context size (positions per sequence), a batch size and
// a number of sequences. Its KV pool and its activation block (every activation buffer, the
// logits, the RoPE table and the kernel workspace, sized in one place) are leased from the
// model's Engine and allocated then, so eval() allocates nothing; when they do not fit what is left
// of the budget the planner shrinks the batch (then, if allowed, the context) or refuses with what
// it needs. A Context is used by one thread at a time; its kernels run on the engine's pool, one
// forward pass of the engine at a time.
//
// Sequences (vAttention, Prabhu et al. 2024): each of up to n_seq_max sequences has address space
// for n_ctx positions reserved at creation (free of charge) and takes physical pages from the KV
// pool as its tokens arrive; closing or truncating it returns them. The pool is the "KV cache"
// lease: n_seq_max full contexts by default, or kv_pool_bytes, so many sequences can share less
// memory than they could use at once; a token that needs a page the pool has not got is refused
// with an error, the context unchanged. Sequence 0 is open from the start and is what the
// single-sequence eval() uses; several sequences' tokens go through one forward pass with
// eval(std::span<const BatchEntry>) (llama.cpp's llama_decode of a llama_batch), each token's logits
// bit-identical to evaluating its sequence's tokens of that batch alone.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "mnemo/batch.h"
#include "mnemo/model.h"
#include "mnemo/status.h"
#include "mnemo/tokenizer.h"

namespace mnemo {

struct ContextParams {
  int64_t n_ctx = 0;         // positions per sequence; 0 = the model's training context
  int64_t n_ctx_min = 0;     // > 0: the planner may shorten the context down to this to fit the budget
  int64_t n_batch = 512;     // tokens per forward pass (capped at n_ctx; may be lowered to fit)
  int64_t n_batch_min = 1;   // the planner never lowers the batch below this (perplexity: a whole chunk)
  int64_t n_batch_floor = 1; // to fit, the batch is lowered to this before the context is shortened:
                             // the roofline's ridge batch (prefill_ridge_batch), below which prefill
                             // becomes memory-bound
  bool logits_all = false;   // keep logits of every token of a batch (perplexity, scoring)
  int32_t n_seq_max = 1;     // sequences held at once (each reserves address space for n_ctx positions)
  uint64_t kv_pool_bytes = 0;  // KV memory the sequences share (leased); 0: every sequence at n_ctx
  // How K and V rows are cached: "f32", "f16", "q8_0", "q4_0" (llama.cpp's --cache-type-k/-v and
  // block formats; the block types need a head size that is a multiple of 32). Empty: the default,
  // "f16" as in llama.cpp, except "f32" for models whose weights are F32 (ModelInfo::weight_type),
  // so that their greedy text stays llama2.c's byte for byte. Every sequence uses these types.
  std::string type_k;
  std::string type_v;
  // KV budget policy of every sequence (docs/KV.md): "full" (or empty) keeps every position;
  // "window", "sinks" (StreamingLLM), "h2o" (H2O), "kvmerger" (KVMerger) keep at most kv_budget
  // slots: a fraction of n_ctx ("0.5") or a number of tokens ("1024"). A budgeted sequence
  // compacts (evicts or merges, keys re-rotated to their new cache positions) before a step of
  // eval(tokens) would pass its budget, so its length (n_past) is its slot count, not the number of
  // tokens seen, and eval(tokens) goes on past n_ctx. Positions passed to eval are cache positions.
  std::string kv_policy;
  std::string kv_budget;
  int64_t kv_sinks = 4;   // sinks: the first slots kept (StreamingLLM's 4)
  int64_t kv_recent = 0;  // h2o, kvmerger: the last slots always kept; 0: half the budget
};

struct ContextMemory {
  uint64_t kv_reserved_bytes = 0;  // the KV pool leased from the budget (n_seq_max full contexts by default)
  uint64_t kv_used_bytes = 0;      // bytes holding the positions cached now (every open sequence)
  uint64_t kv_committed_bytes = 0; // resident KV pages (kv_used_bytes rounded up to pages, per layer's K and V)
  uint64_t kv_address_bytes = 0;   // address space reserved for n_seq_max sequences of n_ctx positions
  uint64_t activation_bytes = 0;   // the activation block: activations, logits, RoPE table, kernel workspace
  uint64_t workspace_bytes = 0;    // the kernel workspace part of activation_bytes
  uint64_t min_bytes = 0;          // KV + activations of the smallest context this request allows
  std::string adjusted;            // what the planner shrank to fit the budget ("batch 512 -> 64"), or empty
  std::string type_k, type_v;      // the KV cache types in use ("f16", ...)
  double kv_bytes_per_value = 0;   // cache bytes per K or V value, averaged over K and V (for the roofline)
  int64_t kv_values_per_position = 0;  // K (or V) values of one position over every layer (n_layer x n_embd_kv)
  std::string kv_policy;           // "full", "window", ...
  int64_t kv_budget = 0;           // slots per sequence (n_ctx for full)
  int64_t kv_compactions = 0;      // compactions so far (every sequence)
  uint64_t kv_policy_bytes = 0;    // accumulated-attention scores and compaction scratch (in activation_bytes)
};

// What a KV cache of the named types (empty: the default, see ContextParams) costs per position on
// `model`, computed where the cache's size is (KvCache::bytes_for). Errors (kInvalidArgument): an
// unknown name, a block type on a model whose head size is not a multiple of 32.
struct KvCacheTypes {
  std::string type_k, type_v;       // the names, the default resolved
  uint64_t bytes_per_position = 0;  // K and V rows of every layer for one position
  double bytes_per_value = 0;       // bytes_per_position / (2 * n_layer * n_embd_kv)
};
Expected<KvCacheTypes> kv_cache_types(const Model& model, const std::string& type_k = "",
                                      const std::string& type_v = "");
// The names ContextParams::type_k/type_v accept: {"f32", "f16", "q8_0", "q4_0"}.
std::vector<std::string> kv_cache_type_names();

class Context {
 public:
  static Expected<std::unique_ptr<Context>> create(const Model& model, const ContextParams& params = {});
  ~Context();

  // Evaluates tokens of sequence 0 at positions pos, pos+1, ...; positions >= pos in the cache are
  // replaced. With all_logits (requires ContextParams::logits_all and tokens.size() <= n_batch)
  // logits of every token are kept, else only the last one's.
  Status eval(std::span<const Token> tokens, int64_t pos, bool all_logits = false);

  // Evaluates a batch of at most n_batch entries of open sequences in one forward pass. Each
  // sequence's entries, in batch order, are consecutive positions starting at most at its length
  // (earlier positions are replaced); sequences may interleave. Entries with `logits` keep theirs
  // (at most n_seq_max of them, or n_batch with ContextParams::logits_all). Errors (the context
  // unchanged, nothing committed): a bad entry, as named; the KV pool exhausted.
  Status eval(std::span<const BatchEntry> batch);

  // n_vocab logits of token i of the last eval(tokens) (-1: its last token), or of entry i of the
  // last eval(batch) (empty when that entry did not ask for logits).
  std::span<const float> logits(int64_t i = -1) const;

  // Sequences. open_sequence() takes the lowest free one (errors when n_seq_max are open);
  // close_sequence() returns its KV pages to the pool; truncate_sequence() keeps positions
  // [0, n_pos) and returns the pages past them.
  Expected<SeqId> open_sequence();
  Status close_sequence(SeqId seq);
  Status truncate_sequence(SeqId seq, int64_t n_pos);
  // llama.cpp's context shift (full policy, at the context limit): drops positions [n_keep,
  // n_keep + n_discard) of the sequence and moves the later ones down, their keys re-rotated to
  // their new positions. Errors: a sequence not open, a range outside what it holds, a context
  // with a KV budget policy (which compacts instead).
  Status shift_sequence(SeqId seq, int64_t n_keep, int64_t n_discard);
  int64_t sequence_length(SeqId seq) const;        // positions held; -1 when not open
  uint64_t sequence_kv_bytes(SeqId seq) const;     // its resident KV pages
  int32_t n_seq_max() const;

  // Saved sequences (llama.cpp's --prompt-cache; file format: formats/kv_session.h).
  // save_sequence writes seq's cached rows (and, for h2o/kvmerger, its accumulated attention) and
  // `tokens`, the text they encode, atomically: an interrupted save leaves the previous file whole.
  // With the full policy there is one token per cached position; a compacted sequence (a budget
  // policy) holds fewer slots than its text has tokens. Errors: seq not open, a token count that
  // does not fit its length so, I/O.
  Status save_sequence(SeqId seq, std::span<const Token> tokens, const std::string& path) const;
  // Empties seq and restores a file saved from this model (ModelInfo::fingerprint) with the same
  // KV types, policy and budget; returns its tokens. After it no logits are held: evaluate at least
  // one token before sampling. Errors (seq unchanged): a missing, damaged or truncated file,
  // another model, other KV types or policy, more positions than the context; (seq left empty) the
  // KV pool unable to hold its rows.
  Expected<std::vector<Token>> load_sequence(SeqId seq, const std::string& path);

  int64_t n_ctx() const;
  int64_t n_batch() const;
  int64_t n_past() const;  // positions of sequence 0 in the cache
  int32_t n_threads() const;
  void reset();            // empties sequence 0 (keeps its pages)
  ContextMemory memory() const;

 private:
  struct Impl;
  explicit Context(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mnemo
