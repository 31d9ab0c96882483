// mnemo/passkey.h: passkey retrieval (Mohtashami & Jaggi, "Landmark Attention", 2023): a prompt of
// filler text with one needle line "The pass key is 71432. Remember it.
// 71432 is the pass key." at a given depth, ending with "What is the pass key? The pass key is";
// the model's greedy answer is right when its digits are the key's. Accuracy by depth and length
// tells whether (and how far back) a model, or a KV cache that evicts, still sees the needle.
//
// Prompt layout, in tokens (the lines of mnemo/longctx.h, as the long-context model was trained):
//   BOS, filler lines joined by "\n" with the needle line between two of them, "\n", question,
// then the key's tokens (" 71432", scored teacher-forced). A prompt's length counts them all: at
// length 2048 the key's last digit is predicted at position 2047, so lengths up to n_ctx fit.
// Depth 0 puts the needle first (right after BOS), depth 1 last (right before the question); in
// between, at the line boundary nearest that fraction of the filler tokens. The last filler line
// before the question (or before the needle at depth 1) is cut to make the length exact. Filler:
// the lines of a text file from a random line on, or the built-in line repeated.
// With needle = false (the control) the needle is left out and filler takes its place: a model
// that answers from the context must then fail (chance for 5 digits is 1e-5).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "mnemo/context.h"
#include "mnemo/longctx.h"
#include "mnemo/status.h"
#include "mnemo/tokenizer.h"

namespace mnemo {

struct PasskeyParams {
  std::vector<int64_t> lengths{512, 1024, 2048};    // tokens of prompt and key together (<= n_ctx)
  std::vector<double> depths{0, 0.25, 0.5, 0.75, 1};  // needle position, fraction of the filler
  int64_t trials = 5;                 // prompts per (length, depth), each with its own key and filler
  uint64_t seed = 1;
  int digits = 5;                     // key digits (no leading zero)
  bool needle = true;                 // false: the control without the needle
  std::vector<std::string> filler;    // filler lines (non-empty); empty: builtin_filler_line()
};

struct PasskeyTrial {
  int64_t length = 0;
  double depth = 0;
  int64_t index = 0;          // trial number within its cell
  int64_t needle_token = -1;  // position of the needle line's first token (-1: no needle)
  std::string key;            // what the needle said
  std::string answer;         // the digits the model gave (greedy)
  bool correct = false;
  double nll = 0;             // mean negative log-likelihood of the key's tokens (teacher forced), nats
};

struct PasskeyCell {
  int64_t length = 0;
  double depth = 0;
  int64_t trials = 0, correct = 0;
  double nll = 0;  // mean over the cell's trials
  double accuracy() const { return trials > 0 ? static_cast<double>(correct) / static_cast<double>(trials) : 0; }
};

struct PasskeyResult {
  std::vector<PasskeyCell> cells;  // lengths x depths, lengths outer
  std::vector<PasskeyTrial> trials;
  int64_t n = 0, correct = 0;
  double nll = 0;  // mean over all trials
  double accuracy() const { return n > 0 ? static_cast<double>(correct) / static_cast<double>(n) : 0; }
};

// One prompt: BOS first, ending with the question; the key's tokens as they follow the question.
struct PasskeyPrompt {
  std::vector<Token> tokens;
  std::vector<Token> answer;
  std::string key;
  int64_t needle_token = -1;
};

// Errors (kInvalidArgument, naming the option): no lengths or depths, a depth outside [0, 1], a
// length too short for the needle and the question or, with its answer, beyond n_ctx positions,
// trials < 1, digits outside 1..18, empty filler lines.
Status validate(const PasskeyParams& params, const Tokenizer& tok, int64_t n_ctx);

// The prompt of trial `index` of cell (length, depth): deterministic in (seed, length, depth, index).
Expected<PasskeyPrompt> build_passkey_prompt(const Tokenizer& tok, const PasskeyParams& params, int64_t length,
                                             double depth, int64_t index);

using PasskeyProgress = std::function<void(int64_t done, int64_t total, const PasskeyTrial& last)>;

// Runs every trial on `ctx` (its cache is overwritten from position 0 for each prompt; prompts are
// evaluated in batches of ctx.n_batch()) and gathers accuracy and NLL by cell.
Expected<PasskeyResult> evaluate_passkey(Context& ctx, const Tokenizer& tok, const PasskeyParams& params,
                                         const PasskeyProgress& progress = {});

// Non-empty, stripped lines of a text file, for PasskeyParams::filler.
Expected<std::vector<std::string>> read_filler_lines(const std::string& path);

}  // namespace mnemo
