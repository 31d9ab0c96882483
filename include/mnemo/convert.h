// mnemo/convert.h: producing model files: converting llama2.c checkpoints to GGUF, and writing
// random-weight models of real shapes for throughput work. Every output is written atomically
// (temporary file, fsync, rename): on error no partial file is left.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mnemo/status.h"

namespace mnemo {

// Progress callback: (done, total) units of work; may be empty.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

struct ConvertParams {
  std::string input;      // llama2.c checkpoint
  std::string tokenizer;  // its tokenizer.bin
  std::string output;     // GGUF path
  int64_t n_ctx = 0;      // llama.context_length to record; 0 = the checkpoint's seq_len
  std::string name;       // general.name; empty = the input's file name
};

// llama2.c checkpoint + tokenizer.bin -> GGUF (F32 tensors, llama architecture, SPM vocabulary
// with whitespace escaped as U+2581 and token types set, as llama.cpp's converter writes them).
Status convert_llama2c_to_gguf(const ConvertParams& params, const ProgressFn& progress = {});

struct GenModelParams {
  std::string shape = "tinyllama-1.1b";  // see model_shapes()
  std::string dtype = "F16";             // F32, F16, BF16, Q8_0, Q4_0 for the 2-D weights
  std::string output;
  uint64_t seed = 1;
  // Variants (override the shape): architecture ("llama" or "qwen2": NeoX RoPE and q/k/v biases),
  // key/value heads (1 = MQA), linear RoPE scaling factor, RoPE base, tied output head.
  std::string arch;
  int64_t n_head_kv = 0;
  double rope_scaling_factor = 0;
  double rope_freq_base = 0;
  int tied_output = -1;  // -1: the shape's default; 0: separate output.weight; 1: tied
};

struct ModelShape {
  std::string name;
  int64_t n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
  bool tied_output;
};
const std::vector<ModelShape>& model_shapes();

// Writes a model of `shape` with seeded random weights (each matrix ~ N(0, 1/fan_in), norms
// near 1) and a synthetic but valid SentencePiece vocabulary.
Status generate_model(const GenModelParams& params, const ProgressFn& progress = {});

}  // namespace mnemo
