// mnemo/context.h: one sequence being evaluated: its KV cache, activations and logits.
//
// A Context is created from a Model with a context size (positions) and a batch size. Its KV cache
// and its activation block (every activation buffer, the logits, the RoPE table and the kernel
// workspace, sized in one place) are leased from the model's Engine and allocated then, so eval()
// allocates nothing; when they do not fit what is left of the budget the planner shrinks the batch
// (then, if allowed, the context) or refuses with what it needs. A Context is used by one thread
// at a time; its kernels run on the engine's pool, one forward pass of the engine at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "mnemo/model.h"
#include "mnemo/status.h"
#include "mnemo/tokenizer.h"

namespace mnemo {

struct ContextParams {
  int64_t n_ctx = 0;      // positions; 0 = the model's training context
  int64_t n_ctx_min = 0;  // > 0: the planner may shorten the context down to this to fit the budget
  int64_t n_batch = 512;  // tokens per forward pass (capped at n_ctx; may be lowered to fit)
  int64_t n_batch_min =
      1;  // the planner never lowers the batch below this (perplexity: a whole chunk)
  int64_t n_batch_floor = 1;  // to fit, the batch is lowered to this before the context is
                              // shortened: the roofline's ridge batch (prefill_ridge_batch), below
                              // which prefill becomes memory-bound
  bool logits_all = false;  // keep logits of every token of a batch (perplexity, scoring)
  // How K and V rows are cached: "f32", "f16", "q8_0", "q4_0" (llama.cpp's --cache-type-k/-v and
  // block formats; the block types need a head size that is a multiple of 32). Empty: the default,
  // "f16" as in llama.cpp, except "f32" for models whose weights are F32 (ModelInfo::weight_type),
  // so that their greedy text stays llama2.c's byte for byte.
  std::string type_k;
  std::string type_v;
};

struct ContextMemory {
  uint64_t kv_reserved_bytes = 0;  // address space reserved (and leased) for n_ctx positions
  uint64_t kv_used_bytes = 0;      // bytes holding the positions cached now
  uint64_t activation_bytes =
      0;  // the activation block: activations, logits, RoPE table, kernel workspace
  uint64_t workspace_bytes = 0;  // the kernel workspace part of activation_bytes
  uint64_t min_bytes = 0;        // KV + activations of the smallest context this request allows
  std::string adjusted;  // what the planner shrank to fit the budget ("batch 512 -> 64"), or empty
  std::string type_k, type_v;  // the KV cache types in use ("f16", ...)
  double kv_bytes_per_value =
      0;  // cache bytes per K or V value, averaged over K and V (for the roofline)
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

  // Evaluates tokens at positions pos, pos+1, ...; positions >= pos in the cache are replaced.
  // With all_logits (requires ContextParams::logits_all and tokens.size() <= n_batch) logits of
  // every token are kept, else only the last one's.
  Status eval(std::span<const Token> tokens, int64_t pos, bool all_logits = false);

  // n_vocab logits of token i of the last eval (-1: its last token).
  std::span<const float> logits(int64_t i = -1) const;

  int64_t n_ctx() const;
  int64_t n_batch() const;
  int64_t n_past() const;  // positions in the cache
  int32_t n_threads() const;
  void reset();            // empties the cache (keeps the memory)
  ContextMemory memory() const;

 private:
  struct Impl;
  explicit Context(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mnemo
