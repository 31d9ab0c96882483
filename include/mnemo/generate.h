// mnemo/generate.h: text generation from a prompt (the loop of `mnemo run`, and of the server).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "mnemo/context.h"
#include "mnemo/sampler.h"
#include "mnemo/status.h"
#include "mnemo/tokenizer.h"

namespace mnemo {

struct GenerateParams {
  int64_t n_predict = 256;  // tokens to generate after the prompt; -1: until the context is full
  SamplerParams sampling;
};

struct GenerateStats {
  int64_t n_prompt = 0, n_generated = 0;
  double prompt_seconds = 0, generate_seconds = 0;
  bool hit_context = false;  // stopped because the context was full
  bool hit_eos = false;      // stopped at end of sequence
  double prompt_tokens_per_s() const { return prompt_seconds > 0 ? n_prompt / prompt_seconds : 0; }
  double generate_tokens_per_s() const { return generate_seconds > 0 ? n_generated / generate_seconds : 0; }
};

// Receives each generated piece of text; returns false to stop.
using PieceSink = std::function<bool(std::string_view piece)>;

// Evaluates `prompt` (BOS first) from position 0 of an empty context, then samples up to
// n_predict tokens, calling `sink` with the text of each before evaluating it. Stops at EOS/BOS,
// n_predict, a full context, or when the sink says so. Errors: an empty prompt, a prompt longer
// than the context, invalid sampling parameters.
Expected<GenerateStats> generate(Context& ctx, const Tokenizer& tokenizer, std::span<const Token> prompt,
                                 const GenerateParams& params, const PieceSink& sink);

// Errors for sampling parameters that would give garbage: NaN or infinite values, top-p outside
// [0, 1], min-p outside [0, 1], a negative repetition penalty.
Status validate(const SamplerParams& params);

}  // namespace mnemo
