// tokenizer/bpe.h: byte-level BPE (GPT-2 family; GGUF tokenizer.ggml.model = "gpt2").
//
// Text is split by the pre-tokenizer regexes; each word's bytes are mapped to GPT-2's printable
// code points (bytes_to_unicode); the word's characters are then merged by rank (the index of
// "left right" in tokenizer.ggml.merges, lowest first, leftmost on ties), as llama.cpp's
// llm_tokenizer_bpe does. A final symbol that is not a token gives the tokens of its single bytes
// where those exist (llama.cpp does the same). Invalid UTF-8 in the text becomes U+FFFD first.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/vocab_tokenizer.h"

namespace mnemo::tokenizer {

// GPT-2's byte -> code point map, as UTF-8 (e.g. ' ' -> "Ġ").
std::string_view bpe_byte_to_utf8(uint8_t b);
// The inverse; false when `cp` is not one of the 256 code points.
bool bpe_codepoint_to_byte(uint32_t cp, uint8_t* byte);

class BpeTokenizer final : public VocabTokenizer {
 public:
  // `merges` are the strings of tokenizer.ggml.merges ("left right"); they are copied. Fails with
  // kCorrupt when one has no separating space: "<subject>: entry 7: expected ..., found ...".
  static Expected<std::unique_ptr<BpeTokenizer>> create(Vocab vocab, SpecialIds ids, VocabFlags flags,
                                                        const std::vector<std::string_view>& merges,
                                                        const PreTypeInfo& pre, const std::string& subject);

  TokenizerKind kind() const override { return TokenizerKind::kBpe; }
  // Words are merged one at a time in a small scratch; the result and the pre-tokenizer's splits
  // dominate. Measured: 8-13 B/byte on English text; bounded here by 32 B/byte.
  uint64_t encode_work_bytes(std::string_view text) const override { return (text.size() + 1024) * 32; }
  const PreTokenizer& pre_tokenizer() const { return *pre_; }
  // Rank of merging `left` and `right`, or -1.
  int32_t rank(std::string_view left, std::string_view right) const;

 protected:
  std::string compute_piece(Token t) const override;
  void encode_fragment(std::string_view text, bool after_special, std::vector<Token>* out) const override;

 private:
  BpeTokenizer(Vocab vocab, SpecialIds ids, VocabFlags flags) : VocabTokenizer(std::move(vocab), ids, flags) {}
  struct Scratch;
  void encode_word(std::string_view word, Scratch* scratch, std::vector<Token>* out) const;
  // Rank of the pair of symbols with these texts and ids (-1 = the text is no token).
  int32_t pair_rank(std::string_view left, Token left_id, std::string_view right, Token right_id) const;

  struct PairKey {
    std::string_view left;
    std::string_view right;
    bool operator==(const PairKey& o) const { return left == o.left && right == o.right; }
  };
  struct PairHash {
    size_t operator()(const PairKey& k) const;
  };

  std::unique_ptr<PreTokenizer> pre_;
  bool ignore_merges_ = false;
  Token byte_char_token_[256];  // the token of each byte's character, or -1
  // Merges between two tokens, by id: an open-addressing table of (left << 32 | right) -> rank.
  struct IdSlot {
    uint64_t key = ~0ull;
    int32_t rank = -1;
  };
  std::vector<IdSlot> id_ranks_;
  size_t id_mask_ = 0;
  // Merges with a side that is no token (rare), by text.
  std::vector<char> merge_blob_;  // their strings; ranks_ holds views into it
  std::unordered_map<PairKey, int32_t, PairHash> ranks_;
};

}  // namespace mnemo::tokenizer
