// runtime/gguf_vocab.h: a llama2.c tokenizer.bin vocabulary as GGUF tokenizer.ggml.* keys, the way
// llama.cpp's convert-llama2c-to-ggml writes it (shared by `mnemo convert` and the trainer's
// GGUF export).
#pragma once

#include "formats/gguf.h"
#include "mnemo/tokenizer.h"

namespace mnemo {

// Sets tokenizer.ggml.model = "llama", tokens (ids 0..2 renamed <unk>, <s>, </s>; spaces escaped
// as U+2581), scores, token_type (unknown 2, control 3, byte 6, normal 1) and the unk/bos/eos ids
// 0, 1, 2 on w.
void add_llama2c_vocab(const Tokenizer& tok, gguf::GgufWriter* w);

}  // namespace mnemo
