// tokenizer/loaders.h: building a Tokenizer from the two vocabulary formats.
//
// Tokenizer::load (include/mnemo/tokenizer.h) picks one by the file's magic; these entry points
// serve callers that already hold the bytes or an open GGUF (the runtime, fuzzers, tests).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "mnemo/status.h"
#include "mnemo/tokenizer.h"

namespace mnemo::gguf {
class GgufFile;
}

namespace mnemo::tokenizer {

// Limits on what a vocabulary file may declare (hostile files are rejected against them).
inline constexpr int32_t kMaxTokenLength = 1 << 16;  // bytes in one token's text
inline constexpr int64_t kMaxVocab = 1 << 24;        // tokens

// llama2.c tokenizer.bin: int32 max_token_length, then until the end of the file, per token:
// float32 score, int32 length, `length` bytes of text. `name` is used in messages. Ids 0, 1, 2
// are <unk>, BOS and EOS; "<0xHH>" texts are byte tokens. Errors: "tok.bin: token 7: length:
// expected 0..max_token_length (7), found 9".
Expected<std::unique_ptr<Tokenizer>> load_llama2c_tokenizer(std::span<const uint8_t> bytes, const std::string& name);

// The tokenizer.ggml.* keys of a GGUF (model or vocab-only). Nothing of `file` is kept.
Expected<std::unique_ptr<Tokenizer>> load_gguf_tokenizer(const gguf::GgufFile& file);

}  // namespace mnemo::tokenizer
