// runtime/context_impl.h: what a Context holds (internal to the runtime layer).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/aligned_block.h"
#include "model/llama.h"
#include "plan/budget.h"

namespace mnemo {

struct Context::Impl {
  std::shared_ptr<Engine> engine;  // keeps the pool and the budget alive
  Lease kv_lease, block_lease;
  AlignedBlock block;              // every buffer of the session's layout
  std::unique_ptr<LlamaSession> session;
  std::string adjusted;
  std::string model_fingerprint;   // ModelInfo::fingerprint, checked by load_sequence
  uint64_t min_bytes = 0;
  int64_t n_head_kv = 0;           // the model's, for the size of saved attention scores
};

}  // namespace mnemo
