// tools/mnemo/cmd_run.h: the options of `mnemo run`, shared by its one-prompt path (cmd_run.cc)
// and its --chat path (cmd_run_chat.cc).
#pragma once

#include <string>

#include "common_options.h"
#include "mnemo/generate.h"

namespace mnemo::cli {

struct RunOptions {
  ModelOptions model;
  EngineOptions engine;
  ContextOptions context;
  std::string prompt;
  std::string prompt_file;
  int64_t n_predict = 256;
  float temp = 0.8f;
  int top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  int64_t seed = -1;
  bool quiet = false;
  bool verbose = false;
  bool chat = false;           // --chat: an interactive conversation on stdin
  std::string chat_template;   // --chat-template FILE|NAME
  std::string system;          // --system TEXT: the conversation's system message
  std::string prompt_cache;    // --prompt-cache FILE: a saved session to reuse and update
  bool prompt_cache_all = false;  // --prompt-cache-all: also save what was generated
  bool prompt_cache_ro = false;   // --prompt-cache-ro: reuse, never write
  bool context_shift = false;  // --context-shift: at the context size keep --keep, drop half the rest
  int64_t keep = -1;           // --keep N: positions a context shift keeps (-1: the prompt's)
};

// The --chat loop: reads user turns from stdin (one per line), prints each answer as it streams.
Status run_chat(const RunOptions& o, const GenerateParams& gp);

}  // namespace mnemo::cli
