// model/batch.h: a batch of several sequences' tokens, ordered for the forward pass.
//
// The caller's entries (mnemo/batch.h) may interleave sequences; each sequence's entries must be
// consecutive positions in batch order (one run per sequence), starting at most at the positions
// it holds (earlier positions replace what the cache held there). The plan reorders them into
// runs, each run's tokens contiguous:
//   - first the "small" runs of at most kernels::kGemvMaxTokens tokens (decode steps): their
//     matrix products are GEMVs, whose result for a token does not depend on the other tokens of
//     the call, so the tokens of all small runs share each pass over the weights;
//   - then every longer run (a prompt) on its own: the product of a run of T tokens is the
//     product a single-sequence forward of those T tokens computes (OpenBLAS's sums depend on T).
// So every token's logits are bit-identical to evaluating its run alone, whatever else is in the
// batch. Logits rows follow the same rule: rows [0, n_out_small) belong to runs that want at most
// kGemvMaxTokens logits, then each run wanting more has its rows contiguous.
//
// Every array lives in the session's block (sized by LlamaSession::layout): planning allocates
// nothing.
#pragma once

#include <cstdint>
#include <span>

#include "mnemo/batch.h"
#include "mnemo/status.h"

namespace mnemo {

struct BatchToken {
  int32_t token = 0;
  int32_t seq = 0;
  int64_t pos = 0;
  int32_t out_row = -1;  // its logits row, or -1
};

struct BatchRun {
  int32_t seq = 0;
  int32_t n_out = 0;  // tokens wanting logits
  int64_t pos0 = 0;   // position of its first token
  int64_t t0 = 0;     // first token in plan order
  int64_t T = 0;      // tokens
};

// Views into the session's block; capacities fixed at creation.
struct BatchPlan {
  BatchToken* tok = nullptr;   // n_tokens, plan order
  BatchRun* runs = nullptr;    // n_runs; runs [0, n_small_runs) are small and hold tokens [0, n_small)
  int32_t* out_tok = nullptr;  // n_out: the plan-order token of each logits row
  int32_t* entry_row = nullptr;  // per caller entry: its logits row or -1 (forward_batch only)
  int64_t n_tokens = 0, n_runs = 0, n_small_runs = 0, n_small = 0, n_out = 0, n_out_small = 0;
};

// What a batch is checked against.
struct BatchLimits {
  int64_t n_vocab = 0, n_ctx = 0, n_batch = 0, n_seq_max = 0;
  int64_t n_out_max = 0;                   // logits rows
  std::span<const int64_t> seq_len;        // per sequence: positions held, -1 when not open
};

// Plans `entries` into `plan` (whose arrays hold n_batch tokens, min(n_batch, n_seq_max) runs
// twice over, and n_batch rows). seq_run: n_seq_max ints, all -1 on entry and on return.
// Errors (nothing planned): an empty batch or one larger than n_batch, a token outside the
// vocabulary, a sequence out of range or not open, a sequence whose entries are not consecutive
// positions, a gap after the positions a sequence holds, a run past n_ctx, more logits than rows.
Status plan_batch(std::span<const BatchEntry> entries, const BatchLimits& lim, int32_t* seq_run, BatchPlan* plan);

// The plan of one run of `n` tokens of sequence `seq` at pos..pos+n-1 (the single-sequence
// forward): logits for every token (all), the last (last), or none.
void plan_run(const int32_t* tokens, int64_t n, int32_t seq, int64_t pos, bool all, bool last, BatchPlan* plan);

}  // namespace mnemo
