// mnemo/sampler.h: picking the next token from logits.
//
// The chain is llama.cpp's default order: repetition penalty, top-k, top-p, min-p, temperature,
// then a seeded draw. temperature <= 0 is greedy. The same seed gives the same tokens whatever
// the thread count, since logits themselves do not depend on it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "mnemo/tokenizer.h"

namespace mnemo {

struct SamplerParams {
  float temperature = 0.8f;
  int32_t top_k = 40;           // <= 0: off
  float top_p = 0.95f;          // 1: off
  float min_p = 0.05f;          // 0: off
  float repeat_penalty = 1.0f;  // 1: off
  int32_t repeat_last_n = 64;
  uint64_t seed = 0;
};

class Sampler {
 public:
  Sampler(int32_t n_vocab, const SamplerParams& params);
  ~Sampler();
  Token sample(std::span<const float> logits);
  void accept(Token t);  // prompt and generated tokens, for the repetition penalty
  void reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mnemo
