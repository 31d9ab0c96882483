// model/kv_policy.h: what a sequence keeps when its KV budget is full, and how it compacts.
//
// Policies (one per sequence; the budget is a number of cache slots):
//   full      keep everything (at the context limit the caller shifts: keep n_keep, drop half of
//             the rest, as llama.cpp's context shift)
//   window    the last `budget` slots
//   sinks     StreamingLLM (Xiao et al., arXiv 2309.17453): the first n_sink slots (the "attention
//             sinks") and the last budget - n_sink
//   h2o       H2O (Zhang et al., NeurIPS 2023): the last n_recent slots and, of the others, the
//             budget - n_recent with the largest accumulated attention ("heavy hitters")
//   kvmerger  KVMerger (Wang et al., arXiv 2407.08454): the last n_recent slots stay; among the others,
//             runs of consecutive slots whose adjacent keys are most similar (cosine) are merged into
//             one slot each, as a Gaussian-kernel weighted sum around the run's pivot, its member with
//             the largest accumulated attention (the paper's merging sets and Gaussian-kernel merge)
//
// Choices the papers leave open (docs/KV.md explains them):
//   - KVMerger's threshold: a compaction that must free R slots merges the R most similar adjacent
//     pairs, so the threshold is the R-th largest adjacent-key cosine similarity of that head
//     (reported as threshold()); the merges then meet the budget exactly.
//   - Its kernel width: sigma^2 is the mean squared distance ||k_i - k_p||^2 of every merged member
//     to its pivot in that compaction, so the weights exp(-||k_i - k_p||^2 / (2 sigma^2)) need no
//     per-model tuning; the pivot has weight 1 before normalisation.
//   - Plans are per (layer, KV head): each head keeps its own slots (scores are summed over the
//     query heads that share a KV head), but every head keeps the same number, so a sequence has
//     one slot count.
//
// A plan is a list of groups, one per slot of the compacted cache: slot j becomes the weighted sum
// of source slots [first, first + count). Groups are in increasing order of source and never overlap,
// and j <= first, so a cache compacts in place, front to back. KvCompactor owns its workspace, sized
// once for a capacity: planning allocates nothing.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "mnemo/status.h"

namespace mnemo {

enum class KvPolicy : uint8_t { kFull, kWindow, kSinks, kH2O, kKvMerger };

const char* kv_policy_name(KvPolicy p);
// "full", "window", "sinks", "h2o", "kvmerger".
Expected<KvPolicy> parse_kv_policy(std::string_view text);

// A per-sequence KV budget as the user gives it: a fraction of the context ("0.5") or a number of
// tokens ("1024").
struct KvBudget {
  double fraction = 0;  // in (0, 1] when given as a fraction
  int64_t tokens = 0;   // > 0 when given as tokens
  bool is_set() const { return fraction > 0 || tokens > 0; }
  // The budget in slots for a context of n_ctx positions (n_ctx when unset).
  int64_t slots(int64_t n_ctx) const;
};
Expected<KvBudget> parse_kv_budget(std::string_view text);

struct KvPolicyParams {
  KvPolicy policy = KvPolicy::kFull;
  int64_t budget = 0;    // slots a sequence keeps (after a compaction, at most this many)
  int64_t n_sink = 4;    // sinks: the first slots, never evicted (StreamingLLM's four)
  int64_t n_recent = 0;  // h2o, kvmerger: the last slots, never evicted or merged; 0: budget / 2

  // h2o and kvmerger rank slots by the attention they received: the attention kernel accumulates it.
  bool needs_scores() const { return policy == KvPolicy::kH2O || policy == KvPolicy::kKvMerger; }
  int64_t recent() const { return n_recent > 0 ? n_recent : budget / 2; }
  // The fewest slots the policy can compact to (sinks + 1, recent + 1, 1).
  int64_t min_budget() const;
};

// The one size function of a sequence's accumulated attention (KvPolicyParams::needs_scores):
// floats per sequence, [layer][KV head][slot] with `budget` slots per row (a sequence never holds
// more); 0 when the policy needs no scores.
inline int64_t kv_score_floats(const KvPolicyParams& p, int64_t n_layer, int64_t n_head_kv) {
  return p.needs_scores() ? n_layer * n_head_kv * p.budget : 0;
}
// Compaction rule for a budgeted sequence (policy other than full): tokens are evaluated in steps
// of at most kv_step(p); when a step would take the sequence past the budget it is first compacted
// to budget - kv_step(p) slots, so compaction happens once per step (not per token) and the cache
// never holds more than `budget` slots. budget / 16, at least 1, at most budget - min_budget().
inline int64_t kv_step(const KvPolicyParams& p) {
  const int64_t s = p.budget / 16;
  return s < 1 ? 1 : (s > p.budget - p.min_budget() ? p.budget - p.min_budget() : s);
}

// Errors: a budget below the policy's minimum or above n_ctx, sinks or recent window not below the
// budget.
Status validate(const KvPolicyParams& p, int64_t n_ctx);

struct KvGroup {
  int32_t first = 0;  // first source slot
  int32_t count = 1;  // source slots [first, first + count)
  int32_t pivot = 0;  // the member whose position the merged slot stands for (first when count == 1)
};

class KvCompactor {
 public:
  // Workspace for plans over up to `capacity` slots of keys `head_dim` wide.
  KvCompactor(int64_t capacity, int64_t head_dim);

  // Plans compacting n slots of one (layer, KV head) to `target` (< n, >= p.min_budget()).
  // scores: n accumulated attention values (h2o, kvmerger; may be null otherwise); keys: n rows of
  // head_dim floats, `key_stride` floats apart (kvmerger; may be null otherwise).
  std::span<const KvGroup> plan(const KvPolicyParams& p, int64_t n, int64_t target, const float* scores,
                                const float* keys, int64_t key_stride);

  // Normalised weights of the members of group g of the last plan (count values summing to 1).
  std::span<const float> weights(int64_t g) const;
  // kvmerger: the similarity threshold of the last plan (the R-th largest adjacent cosine).
  float threshold() const { return threshold_; }
  int64_t capacity() const { return capacity_; }

 private:
  void keep_sorted(int64_t n_kept);  // groups_ <- singletons of order_[0, n_kept), ascending
  void plan_h2o(const KvPolicyParams& p, int64_t n, int64_t target, const float* scores);
  void plan_kvmerger(const KvPolicyParams& p, int64_t n, int64_t target, const float* scores, const float* keys,
                     int64_t key_stride);
  void gaussian_weights(const float* keys, int64_t key_stride);

  int64_t capacity_ = 0, head_dim_ = 0;
  std::vector<KvGroup> groups_;    // the plan (capacity)
  std::vector<int32_t> order_;     // ranking scratch (capacity)
  std::vector<float> similarity_;  // adjacent cosine similarities (capacity)
  std::vector<uint8_t> joined_;    // joined_[i]: slots i and i + 1 are merged (capacity)
  std::vector<float> weights_;     // member weights, group after group (capacity)
  std::vector<int32_t> weight_off_;  // offset of group g's weights (capacity)
  int64_t n_groups_ = 0;
  float threshold_ = 0;
};

// Row operations a cache applies for a plan, on one head's slices of `width` floats, rows `stride`
// floats apart, in place. `rotate(row, delta)` re-rotates a key slice by delta positions (RoPE);
// for values pass nullptr. Member i of a group is first rotated by (j - (first + i)), its new
// position, then weighted.
using KvRotate = void (*)(float* row, int64_t delta, const void* ctx);
void compact_rows(std::span<const KvGroup> groups, const KvCompactor& c, float* rows, int64_t stride, int64_t width,
                  KvRotate rotate, const void* rotate_ctx, float* tmp);
// Scores of the compacted slots: the sum of each group's members.
void compact_scores(std::span<const KvGroup> groups, float* scores);

}  // namespace mnemo
