#include "model/sampler.h"

#include <algorithm>
#include <cmath>

#include "base/check.h"

namespace mnemo {
namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
}  // namespace

TokenSampler::TokenSampler(int32_t n_vocab, const SamplingParams& params)
    : params_(params), n_vocab_(n_vocab) {
  MNEMO_CHECK(n_vocab > 0);
  cand_.resize(static_cast<size_t>(n_vocab));
  counts_.assign(static_cast<size_t>(n_vocab), 0);
  history_.assign(static_cast<size_t>(std::max(0, params.repeat_last_n)), 0);
  reset();
}

void TokenSampler::reset() {
  uint64_t s = params_.seed;
  state_[0] = splitmix64(s);
  state_[1] = splitmix64(s);
  std::fill(counts_.begin(), counts_.end(), 0);
  history_pos_ = history_len_ = 0;
}

double TokenSampler::next_uniform() {
  // xoroshiro128+
  const uint64_t s0 = state_[0];
  uint64_t s1 = state_[1];
  const uint64_t result = s0 + s1;
  s1 ^= s0;
  state_[0] = ((s0 << 24) | (s0 >> 40)) ^ s1 ^ (s1 << 16);
  state_[1] = (s1 << 37) | (s1 >> 27);
  return static_cast<double>(result >> 11) * 0x1.0p-53;
}

void TokenSampler::accept(int32_t token) {
  if (history_.empty() || token < 0 || token >= n_vocab_) return;
  if (history_len_ == history_.size()) {
    --counts_[static_cast<size_t>(history_[history_pos_])];
  } else {
    ++history_len_;
  }
  history_[history_pos_] = token;
  ++counts_[static_cast<size_t>(token)];
  history_pos_ = (history_pos_ + 1) % history_.size();
}

int32_t TokenSampler::sample(std::span<const float> logits) {
  MNEMO_CHECK(static_cast<int32_t>(logits.size()) == n_vocab_);
  if (params_.temperature <= 0.0f && params_.repeat_penalty == 1.0f) {
    int32_t best = 0;
    for (int32_t i = 1; i < n_vocab_; ++i) {
      if (logits[static_cast<size_t>(i)] > logits[static_cast<size_t>(best)]) best = i;
    }
    return best;
  }
  size_t n = static_cast<size_t>(n_vocab_);
  for (size_t i = 0; i < n; ++i) cand_[i] = {static_cast<int32_t>(i), logits[i], 0.0f};

  // Repetition penalty (CTRL, Keskar et al. 2019, with llama.cpp's sign fix).
  if (params_.repeat_penalty != 1.0f && history_len_ > 0) {
    for (size_t i = 0; i < n; ++i) {
      if (counts_[i] == 0) continue;
      float& l = cand_[i].logit;
      l = l <= 0.0f ? l * params_.repeat_penalty : l / params_.repeat_penalty;
    }
  }
  if (params_.temperature <= 0.0f) {
    size_t best = 0;
    for (size_t i = 1; i < n; ++i) {
      if (cand_[i].logit > cand_[best].logit) best = i;
    }
    return cand_[best].id;
  }

  auto by_logit = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  // Top-k: keep the k largest, sorted.
  size_t k = params_.top_k <= 0 ? n : std::min(n, static_cast<size_t>(params_.top_k));
  std::partial_sort(cand_.begin(), cand_.begin() + static_cast<std::ptrdiff_t>(k), cand_.begin() + static_cast<std::ptrdiff_t>(n), by_logit);
  n = k;

  auto softmax = [&] {
    const float max_l = cand_[0].logit;
    float sum = 0.0f;
    for (size_t i = 0; i < n; ++i) {
      cand_[i].p = std::exp(cand_[i].logit - max_l);
      sum += cand_[i].p;
    }
    for (size_t i = 0; i < n; ++i) cand_[i].p /= sum;
  };
  // Top-p (nucleus, Holtzman et al. 2020): the smallest prefix with mass >= p.
  if (params_.top_p < 1.0f) {
    softmax();
    float cum = 0.0f;
    for (size_t i = 0; i < n; ++i) {
      cum += cand_[i].p;
      if (cum >= params_.top_p) {
        n = i + 1;
        break;
      }
    }
  }
  // Min-p: drop tokens whose probability is below min_p times the best one's.
  if (params_.min_p > 0.0f) {
    const float min_logit = cand_[0].logit + std::log(params_.min_p);
    size_t i = 1;
    while (i < n && cand_[i].logit >= min_logit) ++i;
    n = i;
  }
  for (size_t i = 0; i < n; ++i) cand_[i].logit /= params_.temperature;
  softmax();
  const double u = next_uniform();
  double cum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    cum += cand_[i].p;
    if (u < cum) return cand_[i].id;
  }
  return cand_[n - 1].id;
}

}  // namespace mnemo
