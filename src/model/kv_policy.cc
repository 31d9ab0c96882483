#include "model/kv_policy.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

#include "base/check.h"
#include "base/strings.h"

namespace mnemo {

const char* kv_policy_name(KvPolicy p) {
  switch (p) {
    case KvPolicy::kFull: return "full";
    case KvPolicy::kWindow: return "window";
    case KvPolicy::kSinks: return "sinks";
    case KvPolicy::kH2O: return "h2o";
    case KvPolicy::kKvMerger: return "kvmerger";
  }
  return "?";
}

Expected<KvPolicy> parse_kv_policy(std::string_view text) {
  for (KvPolicy p : {KvPolicy::kFull, KvPolicy::kWindow, KvPolicy::kSinks, KvPolicy::kH2O, KvPolicy::kKvMerger}) {
    if (text == kv_policy_name(p)) return p;
  }
  return invalid_argument("--kv-policy: expected full, window, sinks, h2o or kvmerger, found '" + std::string(text) +
                          "'");
}

int64_t KvBudget::slots(int64_t n_ctx) const {
  if (tokens > 0) return tokens;
  if (fraction > 0) return std::max<int64_t>(1, static_cast<int64_t>(std::floor(fraction * static_cast<double>(n_ctx))));
  return n_ctx;
}

Expected<KvBudget> parse_kv_budget(std::string_view text) {
  const std::string s(text);
  const Status bad = invalid_argument("--kv-budget: expected a fraction of the context in (0, 1] (0.5) or a number of "
                                      "tokens (1024), found '" + s + "'");
  if (s.empty()) return bad;
  char* end = nullptr;
  errno = 0;
  if (s.find_first_of(".eE") == std::string::npos) {
    const long long v = std::strtoll(s.c_str(), &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0) return bad;
    KvBudget b;
    b.tokens = v;
    return b;
  }
  const double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || *end != '\0' || !(v > 0) || v > 1) return bad;
  KvBudget b;
  b.fraction = v;
  return b;
}

int64_t KvPolicyParams::min_budget() const {
  switch (policy) {
    case KvPolicy::kSinks: return n_sink + 1;
    case KvPolicy::kH2O:
    case KvPolicy::kKvMerger: return n_recent > 0 ? n_recent + 1 : 2;
    default: return 1;
  }
}

Status validate(const KvPolicyParams& p, int64_t n_ctx) {
  const char* name = kv_policy_name(p.policy);
  if (p.budget > n_ctx) {
    return out_of_range(str_printf("--kv-budget: expected at most the context (%lld positions), found %lld",
                                   static_cast<long long>(n_ctx), static_cast<long long>(p.budget)));
  }
  if (p.n_sink < 0 || p.n_recent < 0) return invalid_argument("KV policy: sink and recent counts must not be negative");
  if (p.policy != KvPolicy::kFull && p.budget < p.min_budget()) {
    return out_of_range(str_printf("--kv-budget: the %s policy needs at least %lld slots (%s), found %lld", name,
                                   static_cast<long long>(p.min_budget()),
                                   p.policy == KvPolicy::kSinks ? "its sinks + 1" : "its recent window + 1",
                                   static_cast<long long>(p.budget)));
  }
  return Status::ok();
}

KvCompactor::KvCompactor(int64_t capacity, int64_t head_dim)
    : capacity_(capacity),
      head_dim_(head_dim),
      groups_(static_cast<size_t>(capacity)),
      order_(static_cast<size_t>(capacity)),
      similarity_(static_cast<size_t>(capacity)),
      joined_(static_cast<size_t>(capacity)),
      weights_(static_cast<size_t>(capacity)),
      weight_off_(static_cast<size_t>(capacity)) {
  MNEMO_CHECK(capacity > 0 && capacity < (int64_t{1} << 31) && head_dim > 0);
}

std::span<const float> KvCompactor::weights(int64_t g) const {
  MNEMO_CHECK(g >= 0 && g < n_groups_);
  return {weights_.data() + weight_off_[static_cast<size_t>(g)], static_cast<size_t>(groups_[static_cast<size_t>(g)].count)};
}

void KvCompactor::keep_sorted(int64_t n_kept) {
  std::sort(order_.begin(), order_.begin() + n_kept);
  for (int64_t j = 0; j < n_kept; ++j) {
    const int32_t s = order_[static_cast<size_t>(j)];
    groups_[static_cast<size_t>(j)] = KvGroup{s, 1, s};
    weights_[static_cast<size_t>(j)] = 1.0f;
    weight_off_[static_cast<size_t>(j)] = static_cast<int32_t>(j);
  }
  n_groups_ = n_kept;
}

std::span<const KvGroup> KvCompactor::plan(const KvPolicyParams& p, int64_t n, int64_t target, const float* scores,
                                           const float* keys, int64_t key_stride) {
  MNEMO_CHECK(n <= capacity_ && target >= 1 && target < n);
  threshold_ = 0;
  switch (p.policy) {
    case KvPolicy::kFull:
    case KvPolicy::kWindow:
      for (int64_t j = 0; j < target; ++j) order_[static_cast<size_t>(j)] = static_cast<int32_t>(n - target + j);
      keep_sorted(target);
      break;
    case KvPolicy::kSinks: {
      const int64_t sinks = std::min(p.n_sink, target - 1);
      for (int64_t j = 0; j < sinks; ++j) order_[static_cast<size_t>(j)] = static_cast<int32_t>(j);
      for (int64_t j = sinks; j < target; ++j) order_[static_cast<size_t>(j)] = static_cast<int32_t>(n - target + j);
      keep_sorted(target);
      break;
    }
    case KvPolicy::kH2O:
      MNEMO_CHECK(scores != nullptr);
      plan_h2o(p, n, target, scores);
      break;
    case KvPolicy::kKvMerger:
      MNEMO_CHECK(scores != nullptr && keys != nullptr);
      plan_kvmerger(p, n, target, scores, keys, key_stride);
      break;
  }
  return {groups_.data(), static_cast<size_t>(n_groups_)};
}

// H2O: the recent window, then the heaviest of the older slots (ties: the earlier slot).
void KvCompactor::plan_h2o(const KvPolicyParams& p, int64_t n, int64_t target, const float* scores) {
  const int64_t recent = std::min(p.recent(), target - 1);
  const int64_t older = n - recent, heavy = target - recent;
  for (int64_t i = 0; i < older; ++i) order_[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  auto heavier = [scores](int32_t a, int32_t b) { return scores[a] > scores[b] || (scores[a] == scores[b] && a < b); };
  std::nth_element(order_.begin(), order_.begin() + (heavy - 1), order_.begin() + older, heavier);
  for (int64_t j = 0; j < recent; ++j) order_[static_cast<size_t>(heavy + j)] = static_cast<int32_t>(older + j);
  keep_sorted(target);
}

static float cosine(const float* a, const float* b, int64_t d) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < d; ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  return (aa > 0 && bb > 0) ? static_cast<float>(ab / std::sqrt(aa * bb)) : 0.0f;
}

// KVMerger: merge the R = n - target most similar adjacent pairs among the older slots; runs of
// merged pairs are the merging sets; each set's pivot is its member with the largest score.
void KvCompactor::plan_kvmerger(const KvPolicyParams& p, int64_t n, int64_t target, const float* scores,
                                const float* keys, int64_t key_stride) {
  const int64_t recent = std::min(p.recent(), target - 1);
  const int64_t older = n - recent;  // slots [0, older) may merge; edges i join i and i + 1
  const int64_t merges = n - target;
  MNEMO_CHECK(merges <= older - 1);
  for (int64_t i = 0; i + 1 < older; ++i) {
    similarity_[static_cast<size_t>(i)] = cosine(keys + i * key_stride, keys + (i + 1) * key_stride, head_dim_);
    order_[static_cast<size_t>(i)] = static_cast<int32_t>(i);
    joined_[static_cast<size_t>(i)] = 0;
  }
  const float* sim = similarity_.data();
  auto more_similar = [sim](int32_t a, int32_t b) { return sim[a] > sim[b] || (sim[a] == sim[b] && a < b); };
  std::nth_element(order_.begin(), order_.begin() + (merges - 1), order_.begin() + (older - 1), more_similar);
  for (int64_t r = 0; r < merges; ++r) joined_[static_cast<size_t>(order_[static_cast<size_t>(r)])] = 1;
  threshold_ = sim[order_[static_cast<size_t>(merges - 1)]];
  n_groups_ = 0;
  for (int64_t i = 0; i < n;) {
    int64_t end = i + 1;
    while (end < older && joined_[static_cast<size_t>(end - 1)]) ++end;
    int64_t pivot = i;
    for (int64_t m = i + 1; m < end; ++m) pivot = scores[m] > scores[pivot] ? m : pivot;
    groups_[static_cast<size_t>(n_groups_++)] =
        KvGroup{static_cast<int32_t>(i), static_cast<int32_t>(end - i), static_cast<int32_t>(pivot)};
    i = end;
  }
  MNEMO_CHECK(n_groups_ == target);
  gaussian_weights(keys, key_stride);
}

// w_i = exp(-||k_i - k_p||^2 / (2 sigma^2)) / sum, sigma^2 the mean squared member-pivot distance.
void KvCompactor::gaussian_weights(const float* keys, int64_t key_stride) {
  double sum_d2 = 0;
  int64_t n_members = 0, off = 0;
  for (int64_t g = 0; g < n_groups_; ++g) {
    const KvGroup& gr = groups_[static_cast<size_t>(g)];
    weight_off_[static_cast<size_t>(g)] = static_cast<int32_t>(off);
    const float* kp = keys + gr.pivot * key_stride;
    for (int32_t m = 0; m < gr.count; ++m) {
      const float* km = keys + (gr.first + m) * key_stride;
      double d2 = 0;
      for (int64_t i = 0; i < head_dim_; ++i) d2 += static_cast<double>(km[i] - kp[i]) * (km[i] - kp[i]);
      weights_[static_cast<size_t>(off + m)] = static_cast<float>(d2);  // distances first
      if (gr.count > 1 && gr.first + m != gr.pivot) {
        sum_d2 += d2;
        ++n_members;
      }
    }
    off += gr.count;
  }
  const double two_sigma2 = n_members > 0 && sum_d2 > 0 ? 2.0 * sum_d2 / static_cast<double>(n_members) : 1.0;
  for (int64_t g = 0; g < n_groups_; ++g) {
    const KvGroup& gr = groups_[static_cast<size_t>(g)];
    float* w = weights_.data() + weight_off_[static_cast<size_t>(g)];
    double total = 0;
    for (int32_t m = 0; m < gr.count; ++m) total += (w[m] = static_cast<float>(std::exp(-w[m] / two_sigma2)));
    for (int32_t m = 0; m < gr.count; ++m) w[m] = static_cast<float>(w[m] / total);
  }
}

void compact_rows(std::span<const KvGroup> groups, const KvCompactor& c, float* rows, int64_t stride, int64_t width,
                  KvRotate rotate, const void* rotate_ctx, float* tmp) {
  for (size_t j = 0; j < groups.size(); ++j) {
    const KvGroup& g = groups[j];
    MNEMO_CHECK(static_cast<int64_t>(j) <= g.first);
    const int64_t dst = static_cast<int64_t>(j);
    if (g.count == 1) {
      float* row = rows + dst * stride;
      if (g.first != dst) std::copy_n(rows + g.first * stride, width, row);
      if (rotate != nullptr && g.first != dst) rotate(row, dst - g.first, rotate_ctx);
      continue;
    }
    const std::span<const float> w = c.weights(static_cast<int64_t>(j));
    std::fill_n(tmp, width, 0.0f);
    for (int32_t m = 0; m < g.count; ++m) {
      float* src = rows + (g.first + m) * stride;
      // Rotating a source in place is safe: it is read only by this group.
      if (rotate != nullptr && g.first + m != dst) rotate(src, dst - (g.first + m), rotate_ctx);
      for (int64_t i = 0; i < width; ++i) tmp[i] += w[static_cast<size_t>(m)] * src[i];
    }
    std::copy_n(tmp, width, rows + dst * stride);
  }
}

void compact_scores(std::span<const KvGroup> groups, float* scores) {
  for (size_t j = 0; j < groups.size(); ++j) {
    float s = 0;
    for (int32_t m = 0; m < groups[j].count; ++m) s += scores[groups[j].first + m];
    scores[j] = s;
  }
}

}  // namespace mnemo
