// plan/planner.h: fits a session (the KV pool of its sequences, with rows of the asked KV types,
// activations and kernel workspace) into what is left of a budget.
//
// The sizes come from LlamaSession::layout(), the one place they are computed; the planner only
// chooses the shape. Given the requested context and batch it tries, in order:
//   1. the shape as asked;
//   2. smaller batches, halving down to `n_batch_floor` (the roofline's ridge: below it prefill
//      becomes memory-bound, so it is the cheapest place to save bytes);
//   3. shorter contexts, halving down to `n_ctx_min` (only when the caller allows it: a context
//      size the user gave explicitly is never shortened);
//   4. smaller batches down to 1.
// and refuses with the smallest session's needs when none fits.
#pragma once

#include <cstdint>
#include <string>

#include "model/llama.h"
#include "mnemo/status.h"

namespace mnemo {

struct SessionRequest {
  SessionShape shape;          // as asked (n_ctx > 0)
  int64_t n_ctx_min = 0;       // 0: the context may not be shortened
  int64_t n_batch_floor = 1;   // step 2 stops here
  int64_t n_batch_min = 1;     // no step goes below this (a caller that needs whole batches)
};

struct SessionPlan {
  SessionLayout layout;
  uint64_t min_bytes = 0;  // the smallest session the request allows (total bytes): the least it can fit in
  std::string adjusted;  // empty, or what was shrunk to fit: "batch 512 -> 64, context 2048 -> 1024"
};

// available_bytes: what the budget has left for this session (KV reservation + block).
Expected<SessionPlan> plan_session(const LlamaModel& model, const SessionRequest& request, uint64_t available_bytes);

// "KV cache 44.0 MiB for 2048 positions (K f32, V f32), activations 12.0 MiB at batch 512 (kernel
// workspace 3.0 MiB)"; with several sequences "... for 2048 positions x 4 sequences (K f16, V f16) ..."
std::string describe(const SessionLayout& layout);

}  // namespace mnemo
