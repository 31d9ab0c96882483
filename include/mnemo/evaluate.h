// mnemo/evaluate.h: scoring models on a text, llama.cpp's perplexity method exactly.
//
// The tokens (BOS first) are cut into n_chunks = floor(n_tokens / n_ctx) chunks (or fewer); the
// first token of each chunk is replaced by BOS; positions n_ctx/2 .. n_ctx-2 of each chunk are
// scored against the next token; sums are in double. With a reference model, every scored
// position also adds KL(p_ref || p) of the model's next-token distribution from the reference's
// and whether their argmax tokens agree (top-1), as llama.cpp's --kl-divergence reports them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "mnemo/context.h"
#include "mnemo/engine.h"
#include "mnemo/status.h"
#include "mnemo/tokenizer.h"

namespace mnemo {

struct PerplexityParams {
  int64_t n_ctx = 512;     // tokens per chunk (>= 8); the contexts need n_ctx positions, batch n_ctx, logits_all
  int64_t n_chunks = -1;   // at most this many chunks (-1: all)
};

struct PerplexityResult {
  int64_t n_tokens = 0, n_chunks = 0, n_scored = 0;
  double ppl = 0, ppl_stderr = 0;
  // With a reference only:
  bool has_reference = false;
  double kl = 0, kl_stderr = 0;  // mean KL(p_ref || p), nats
  double top1 = 0;               // fraction of positions whose argmax agrees
  double ref_ppl = 0;
};

// Called after each chunk with the chunk count done and the running result of the first model.
using EvalProgress = std::function<void(int64_t chunks_done, int64_t n_chunks, const PerplexityResult& first)>;

// Scores every model in `models` on the same chunks; with `reference`, the reference is evaluated
// once per chunk and each model is compared with it. Errors: fewer than 2 x n_ctx tokens, a
// context smaller than n_ctx or without logits_all, vocabularies that differ.
Expected<std::vector<PerplexityResult>> evaluate_perplexity(std::span<const Token> tokens, Token bos,
                                                            std::span<Context* const> models, Context* reference,
                                                            const PerplexityParams& params,
                                                            const EvalProgress& progress = {});

// The tokens of a text file (BOS first), counted against the engine's budget: the text and the
// tokenizer's scratch while tokenizing, then the tokens alone, held by *lease. Errors: the file
// (missing, a directory), or a budget that cannot hold them.
Expected<std::vector<Token>> tokenize_file(const std::string& path, Engine& engine, const Tokenizer& tokenizer,
                                           std::unique_ptr<MemoryReservation>* lease);

// One model, optionally against a reference.
Expected<PerplexityResult> perplexity(std::span<const Token> tokens, Token bos, Context& model, Context* reference,
                                      const PerplexityParams& params, const EvalProgress& progress = {});

}  // namespace mnemo
