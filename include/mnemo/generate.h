// mnemo/generate.h: text generation from a prompt (the loop of `mnemo run`, and of the server).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mnemo/context.h"
#include "mnemo/sampler.h"
#include "mnemo/status.h"
#include "mnemo/tokenizer.h"

namespace mnemo {

struct GenerateParams {
  int64_t n_predict = 256;  // tokens to generate after the prompt; -1: until the context is full
  SamplerParams sampling;
  // Tokens that also end generation, besides EOS and BOS: a chat template's end-of-turn tokens
  // (ChatTemplate::stop_tokens). Like EOS, a stop token is not passed to the sink.
  std::vector<Token> stop_tokens;
  // Leading tokens of the prompt that are already in the context's cache, unchanged, from an
  // earlier call (a chat's previous turns): only prompt[n_past:] is evaluated. 0: the context is
  // emptied first. Must be below prompt.size() and at most ctx.n_past().
  int64_t n_past = 0;
  // llama.cpp's context shift: when the full cache is full, keep the first n_keep positions (-1:
  // the prompt's), drop half of the rest and go on (keys re-rotated, Context::shift_sequence).
  // Off: generation stops at the context size (GenerateStats::hit_context).
  bool context_shift = false;
  int64_t n_keep = -1;
};

struct GenerateStats {
  int64_t n_prompt = 0, n_generated = 0;
  double prompt_seconds = 0, generate_seconds = 0;
  bool hit_context = false;  // stopped because the context was full
  int64_t n_shifts = 0;      // context shifts made (GenerateParams::context_shift)
  bool hit_eos = false;      // stopped at end of sequence, or at one of GenerateParams::stop_tokens
  Token stop_token = -1;     // the token that stopped it (hit_eos), else -1
  int64_t n_reused = 0;      // prompt tokens taken from the cache (GenerateParams::n_past)
  // The sampled tokens in order, the stopping one included. All but the last are in the context's
  // cache after the call: the cache holds prompt + generated[0 .. n-2].
  std::vector<Token> generated;
  double prompt_tokens_per_s() const { return prompt_seconds > 0 ? n_prompt / prompt_seconds : 0; }
  double generate_tokens_per_s() const { return generate_seconds > 0 ? n_generated / generate_seconds : 0; }
};

// Receives each generated piece of text; returns false to stop.
using PieceSink = std::function<bool(std::string_view piece)>;

// Evaluates `prompt` (BOS first) from position 0 of an empty context (or from params.n_past of a
// context that holds its first n_past tokens), then samples up to n_predict tokens, calling `sink`
// with the text of each before evaluating it. Stops at EOS/BOS or a stop token, n_predict, a full
// context, or when the sink says so. Errors: an empty prompt, a prompt longer than the context,
// n_past out of range, invalid sampling parameters.
Expected<GenerateStats> generate(Context& ctx, const Tokenizer& tokenizer, std::span<const Token> prompt,
                                 const GenerateParams& params, const PieceSink& sink);

// Prompt caches (llama.cpp's --prompt-cache FILE). reuse_prompt_cache restores sequence 0 of ctx
// from `path` when the file exists and returns how many leading tokens of `prompt` it already
// holds, to pass as GenerateParams::n_past (at most prompt.size() - 1: the last prompt token is
// always evaluated, for its logits); the cache is cut to those tokens. 0 when the file does not
// exist. Errors: Context::load_sequence's (another model or KV type, a damaged file); the file is
// left as it was.
Expected<int64_t> reuse_prompt_cache(Context& ctx, std::span<const Token> prompt, const std::string& path);
// Saves sequence 0's first tokens.size() positions, which must hold `tokens` (the prompt, or with
// llama.cpp's --prompt-cache-all the prompt and what was generated), to `path`, atomically.
Status save_prompt_cache(Context& ctx, std::span<const Token> tokens, const std::string& path);

// Errors for sampling parameters that would give garbage: NaN or infinite values, top-p outside
// [0, 1], min-p outside [0, 1], a negative repetition penalty.
Status validate(const SamplerParams& params);

}  // namespace mnemo
