#include "memory/planner.h"

#include <algorithm>

#include "base/strings.h"

namespace mnemo {

uint64_t activation_bytes(const LlamaConfig& c, int64_t n_batch, bool logits_all) {
  const uint64_t B = static_cast<uint64_t>(n_batch);
  const uint64_t per_token = static_cast<uint64_t>(c.n_embd + std::max(c.n_embd, c.n_embd_q()) + 2 * c.n_embd_q() +
                                                   2 * c.n_embd_kv() + 2 * c.n_ff);
  const uint64_t logits_rows = logits_all ? B : 1;
  return (B * per_token + logits_rows * static_cast<uint64_t>(c.n_vocab)) * sizeof(float);
}

Expected<MemoryPlan> plan_memory(const LlamaConfig& c, uint64_t weight_bytes, const MemoryRequest& r) {
  MemoryPlan p;
  p.n_ctx = r.n_ctx > 0 ? r.n_ctx : c.n_ctx_train;
  if (p.n_ctx <= 0) return invalid_argument("context size: expected a positive value");
  if (r.n_batch <= 0) return invalid_argument("batch size: expected a positive value");
  p.n_batch = std::min(r.n_batch, p.n_ctx);
  p.weight_bytes = weight_bytes;
  p.weight_resident_bytes = r.weights_resident ? weight_bytes : 0;
  p.kv_bytes = 2ull * static_cast<uint64_t>(c.n_layer) * static_cast<uint64_t>(p.n_ctx) *
               static_cast<uint64_t>(c.n_embd_kv()) * sizeof(float);
  p.workspace_bytes = r.workspace_bytes ? r.workspace_bytes(p.n_batch) : 0;
  p.activation_bytes = activation_bytes(c, p.n_batch, r.logits_all) + p.workspace_bytes;
  if (r.budget_bytes > 0 && p.total_bytes() > r.budget_bytes) {
    return resource_exhausted("memory budget " + format_bytes(r.budget_bytes) + ": the plan needs " +
                              format_bytes(p.total_bytes()) + " (" + p.describe() +
                              "); lower the context size or the batch size");
  }
  return p;
}

std::string MemoryPlan::describe() const {
  return "weights " + format_bytes(weight_bytes) + (weight_resident_bytes ? " (resident)" : " (mapped)") + ", KV " +
         format_bytes(kv_bytes) + str_printf(" for %lld positions", static_cast<long long>(n_ctx)) + ", activations " +
         format_bytes(activation_bytes) + " (kernel workspace " + format_bytes(workspace_bytes) + ")";
}

}  // namespace mnemo
