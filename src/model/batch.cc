#include "model/batch.h"

#include "base/check.h"
#include "base/strings.h"
#include "kernels/kernels.h"

namespace mnemo {
namespace {

// Checks entry i against the limits and the run its sequence has so far (nullptr: its first).
Status check_entry(const BatchEntry& e, int64_t i, const BatchLimits& lim, const BatchRun* run) {
  if (e.token < 0 || e.token >= lim.n_vocab) {
    return out_of_range(str_printf("batch entry %lld: token id %d outside the vocabulary [0, %lld)",
                                   static_cast<long long>(i), e.token, static_cast<long long>(lim.n_vocab)));
  }
  if (e.seq < 0 || e.seq >= lim.n_seq_max) {
    return invalid_argument(str_printf("batch entry %lld: sequence %d outside [0, %lld) (the context's n_seq_max)",
                                       static_cast<long long>(i), e.seq, static_cast<long long>(lim.n_seq_max)));
  }
  const int64_t held = lim.seq_len[static_cast<size_t>(e.seq)];
  if (held < 0) {
    return invalid_argument(str_printf("batch entry %lld: sequence %d is not open", static_cast<long long>(i), e.seq));
  }
  if (run == nullptr && (e.pos < 0 || e.pos > held)) {
    return invalid_argument(str_printf("batch entry %lld: position %lld of sequence %d leaves a gap after its %lld positions",
                                       static_cast<long long>(i), static_cast<long long>(e.pos), e.seq,
                                       static_cast<long long>(held)));
  }
  if (run != nullptr && e.pos != run->pos0 + run->T) {
    return invalid_argument(str_printf(
        "batch entry %lld: sequence %d continues at position %lld, expected %lld (a sequence's entries must be "
        "consecutive positions)",
        static_cast<long long>(i), e.seq, static_cast<long long>(e.pos), static_cast<long long>(run->pos0 + run->T)));
  }
  if (e.pos >= lim.n_ctx) {
    return out_of_range(str_printf("batch entry %lld: position %lld of sequence %d is past the context size %lld",
                                   static_cast<long long>(i), static_cast<long long>(e.pos), e.seq,
                                   static_cast<long long>(lim.n_ctx)));
  }
  return Status::ok();
}

// Logits rows: first the wanted tokens of runs wanting at most kGemvMaxTokens, then the others.
void assign_out_rows(BatchPlan* p) {
  p->n_out = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (int64_t r = 0; r < p->n_runs; ++r) {
      const BatchRun& run = p->runs[r];
      if ((run.n_out <= kernels::kGemvMaxTokens) != (pass == 0)) continue;
      for (int64_t t = run.t0; t < run.t0 + run.T; ++t) {
        if (p->tok[t].out_row < 0) continue;
        p->tok[t].out_row = static_cast<int32_t>(p->n_out);
        p->out_tok[p->n_out++] = static_cast<int32_t>(t);
      }
    }
    if (pass == 0) p->n_out_small = p->n_out;
  }
}

}  // namespace

Status plan_batch(std::span<const BatchEntry> entries, const BatchLimits& lim, int32_t* seq_run, BatchPlan* p) {
  const int64_t n = static_cast<int64_t>(entries.size());
  if (n == 0) return invalid_argument("batch: no entries");
  if (n > lim.n_batch) {
    return invalid_argument(str_printf("batch: %lld entries exceed the context's batch size %lld",
                                       static_cast<long long>(n), static_cast<long long>(lim.n_batch)));
  }
  // Runs in order of first appearance, collected past the end of the final runs array.
  const int64_t cap = std::min(lim.n_batch, lim.n_seq_max);
  BatchRun* found = p->runs + cap;
  int64_t n_runs = 0, n_out = 0;
  Status st = Status::ok();
  for (int64_t i = 0; i < n && st.is_ok(); ++i) {
    const BatchEntry& e = entries[static_cast<size_t>(i)];
    const bool seq_ok = e.seq >= 0 && e.seq < lim.n_seq_max;
    BatchRun* run = seq_ok && seq_run[e.seq] >= 0 ? &found[seq_run[e.seq]] : nullptr;
    st = check_entry(e, i, lim, run);
    if (!st.is_ok()) break;
    if (run == nullptr) {
      seq_run[e.seq] = static_cast<int32_t>(n_runs);
      run = &found[n_runs++];
      *run = BatchRun{e.seq, 0, e.pos, 0, 0};
    }
    run->T++;
    run->n_out += e.logits ? 1 : 0;
    n_out += e.logits ? 1 : 0;
  }
  if (st.is_ok() && n_out > lim.n_out_max) {
    st = invalid_argument(str_printf("batch: %lld entries want logits, the context keeps at most %lld rows",
                                     static_cast<long long>(n_out), static_cast<long long>(lim.n_out_max)));
  }
  if (!st.is_ok()) {
    for (int64_t r = 0; r < n_runs; ++r) seq_run[found[r].seq] = -1;
    return st;
  }
  // Small runs first, then the others, each in order of first appearance; seq_run -> final index.
  p->n_runs = 0;
  int64_t t0 = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (int64_t r = 0; r < n_runs; ++r) {
      if ((found[r].T <= kernels::kGemvMaxTokens) != (pass == 0)) continue;
      BatchRun& run = p->runs[p->n_runs];
      run = found[r];
      run.t0 = t0;
      t0 += run.T;
      seq_run[run.seq] = static_cast<int32_t>(p->n_runs++);
    }
    if (pass == 0) {
      p->n_small_runs = p->n_runs;
      p->n_small = t0;
    }
  }
  // Tokens into place; entry_row first holds each entry's plan-order token.
  for (int64_t i = 0; i < n; ++i) {
    const BatchEntry& e = entries[static_cast<size_t>(i)];
    const BatchRun& run = p->runs[seq_run[e.seq]];
    const int64_t t = run.t0 + (e.pos - run.pos0);
    p->tok[t] = BatchToken{e.token, e.seq, e.pos, e.logits ? 0 : -1};
    p->entry_row[i] = static_cast<int32_t>(t);
  }
  for (int64_t r = 0; r < p->n_runs; ++r) seq_run[p->runs[r].seq] = -1;
  p->n_tokens = n;
  assign_out_rows(p);
  for (int64_t i = 0; i < n; ++i) p->entry_row[i] = p->tok[p->entry_row[i]].out_row;
  return Status::ok();
}

void plan_run(const int32_t* tokens, int64_t n, int32_t seq, int64_t pos, bool all, bool last, BatchPlan* p) {
  MNEMO_CHECK(n > 0);
  for (int64_t t = 0; t < n; ++t) p->tok[t] = BatchToken{tokens[t], seq, pos + t, all || (last && t == n - 1) ? 0 : -1};
  const int32_t n_out = static_cast<int32_t>(all ? n : last ? 1 : 0);
  p->runs[0] = BatchRun{seq, n_out, pos, 0, n};
  p->n_tokens = n;
  p->n_runs = 1;
  const bool small = n <= kernels::kGemvMaxTokens;
  p->n_small_runs = small ? 1 : 0;
  p->n_small = small ? n : 0;
  assign_out_rows(p);
}

}  // namespace mnemo
