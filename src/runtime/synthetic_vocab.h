// runtime/synthetic_vocab.h: a deterministic SentencePiece vocabulary of any size >= 300, for
// random-weight models: <unk>, <s>, </s>, the 256 byte tokens, then "▁", printable ASCII,
// "▁"+letters/digits and letter n-grams with decreasing scores (so BPE merges are well defined).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mnemo {

struct SpmVocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;  // llama.cpp token types: 1 normal, 2 unknown, 3 control, 6 byte
};

SpmVocab synthetic_spm_vocab(int64_t n_vocab);

}  // namespace mnemo
