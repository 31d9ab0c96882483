// memory/planner.h: the one place that decides how many bytes each part of a running model gets.
//
// Given the model's shape and what the user asked for (context length, batch, threads, an
// optional budget), the planner states every allocation before anything is allocated:
//   weights     as stored in the file (mapped: resident on demand; read or locked: all resident)
//   KV cache    2 * n_layer * n_ctx * n_embd_kv * sizeof(float), reserved; committed per token
//   activations per-batch buffers of the forward pass, logits, kernel workspace (per thread:
//               decode inputs, rounded inputs, matmul scratch such as OpenBLAS's f32 panels)
// and refuses plans that exceed the budget, saying which part to shrink.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "model/config.h"
#include "mnemo/status.h"

namespace mnemo {

struct MemoryRequest {
  int64_t n_ctx = 0;           // 0: the model's training context
  int64_t n_batch = 512;
  bool logits_all = false;
  bool weights_resident = false;  // --no-mmap or --mlock: the whole file is in RAM
  uint64_t budget_bytes = 0;      // 0: no limit
  // Kernel workspace of a session for the planned batch size (the model layer supplies it:
  // LlamaSession::workspace_bytes for its weights and thread count); empty: none.
  std::function<uint64_t(int64_t n_batch)> workspace_bytes;
};

struct MemoryPlan {
  int64_t n_ctx = 0;
  int64_t n_batch = 0;
  uint64_t weight_bytes = 0;      // of the weights as stored
  uint64_t weight_resident_bytes = 0;  // counted against the budget (all if resident, else 0)
  uint64_t kv_bytes = 0;          // reserved for n_ctx positions
  uint64_t activation_bytes = 0;  // forward-pass buffers, logits and kernel workspace
  uint64_t workspace_bytes = 0;   // the kernel workspace part of activation_bytes

  uint64_t total_bytes() const { return weight_resident_bytes + kv_bytes + activation_bytes; }
  std::string describe() const;  // one line: "weights 1.2 MiB (mapped), KV 2.5 MiB, activations ..."
};

Expected<MemoryPlan> plan_memory(const LlamaConfig& config, uint64_t weight_bytes, const MemoryRequest& request);

// Bytes of the per-batch activation buffers of LlamaSession for a batch of n_batch tokens.
uint64_t activation_bytes(const LlamaConfig& c, int64_t n_batch, bool logits_all);

}  // namespace mnemo
