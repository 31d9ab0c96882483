// mnemo/batch.h: a batch of tokens of several sequences, evaluated in one forward pass
// (Context::eval(std::span<const BatchEntry>)), like llama.cpp's llama_batch with one sequence id
// per token.
#pragma once

#include <cstdint>

namespace mnemo {

// A sequence of a Context: a slot in [0, ContextParams::n_seq_max) with its own KV cache.
using SeqId = int32_t;

struct BatchEntry {
  int32_t token = 0;    // a Token id
  SeqId seq = 0;        // an open sequence
  int64_t pos = 0;      // its position in the sequence
  bool logits = false;  // keep this entry's logits (Context::logits(entry index))
};

}  // namespace mnemo
