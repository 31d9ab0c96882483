// tools/mnemo/common_options.h: options shared by several commands, declared once here.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "mnemo/mnemo.h"

namespace mnemo::cli {

struct ModelOptions {
  std::string model;
  std::string tokenizer;
  bool no_mmap = false;
  bool mlock = false;

  void add_to(CLI::App& app, bool with_tokenizer = true) {
    app.add_option("-m,--model", model, "Model file: GGUF or llama2.c checkpoint (.bin)")->required();
    if (with_tokenizer) {
      app.add_option("-z,--tokenizer", tokenizer,
                     "Tokenizer file (tokenizer.bin or GGUF); required for llama2.c checkpoints");
    }
    app.add_flag("--no-mmap", no_mmap, "Read the weights into memory instead of mapping the file");
    app.add_flag("--mlock", mlock, "Lock the weights in RAM");
  }
  ModelParams params() const {
    ModelParams p;
    p.use_mmap = !no_mmap;
    p.use_mlock = mlock;
    p.tokenizer_path = tokenizer;
    return p;
  }
};

struct ThreadOptions {
  int threads = 0;
  void add_to(CLI::App& app) {
    app.add_option("-t,--threads", threads, "Worker threads (0 = all CPUs)")->default_val(0)->check(CLI::NonNegativeNumber);
  }
};

}  // namespace mnemo::cli
