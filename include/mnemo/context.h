// mnemo/context.h: one sequence being evaluated: its KV cache, activations and logits.
//
// A Context is created from a Model with a context size (positions) and a batch size; every
// buffer is allocated then, so eval() allocates nothing. A Context is used by one thread at a
// time; it runs its kernels on its own pool of n_threads threads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "mnemo/model.h"
#include "mnemo/status.h"
#include "mnemo/tokenizer.h"

namespace mnemo {

struct ContextParams {
  int64_t n_ctx = 0;         // positions; 0 = the model's training context
  int64_t n_batch = 512;     // tokens per forward pass (capped at n_ctx)
  int32_t n_threads = 0;     // 0 = all online CPUs; more is capped at them (one warning on stderr)
  bool logits_all = false;   // keep logits of every token of a batch (perplexity, scoring)
};

struct ContextMemory {
  uint64_t kv_reserved_bytes = 0;  // address space reserved for n_ctx positions
  uint64_t kv_used_bytes = 0;      // bytes holding the positions cached now
  uint64_t activation_bytes = 0;   // activations, logits and kernel workspace
};

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
