// model/sampler.h: choosing the next token from logits, in llama.cpp's default chain order:
//   repetition penalty -> top-k -> top-p -> min-p -> temperature -> draw.
// temperature <= 0 is greedy (the first index of the largest logit), like llama2.c's argmax.
//
// Every buffer is sized for the vocabulary at construction; sample() allocates nothing. The
// random stream depends only on the seed and the sequence of calls, never on threads.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace mnemo {

struct SamplingParams {
  float temperature = 0.8f;
  int32_t top_k = 40;          // <= 0: whole vocabulary
  float top_p = 0.95f;         // >= 1: off
  float min_p = 0.05f;         // <= 0: off
  float repeat_penalty = 1.0f; // 1: off
  int32_t repeat_last_n = 64;  // tokens considered by the penalty
  uint64_t seed = 0;
};

class TokenSampler {
 public:
  TokenSampler(int32_t n_vocab, const SamplingParams& params);

  // Picks a token from logits (n_vocab floats; not modified).
  int32_t sample(std::span<const float> logits);
  // Records a token as part of the history the repetition penalty sees (prompt and output).
  void accept(int32_t token);
  void reset();

  const SamplingParams& params() const { return params_; }

 private:
  struct Candidate {
    int32_t id;
    float logit;
    float p;
  };
  double next_uniform();  // [0, 1)

  SamplingParams params_;
  int32_t n_vocab_;
  std::vector<Candidate> cand_;
  std::vector<int32_t> history_;   // ring buffer of the last repeat_last_n tokens
  std::vector<int32_t> counts_;    // occurrences of each token id in history_
  size_t history_pos_ = 0, history_len_ = 0;
  uint64_t state_[2];
};

}  // namespace mnemo
