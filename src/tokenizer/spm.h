// tokenizer/spm.h: SentencePiece-style BPE with byte fallback (merges chosen by token score).
//
// Both references merge the same way: repeatedly the adjacent pair whose concatenation is a token
// with the highest score, the leftmost on ties (a symbol list with a priority queue of bigrams,
// O(n log n)). They differ in how text becomes the first symbols:
//  - kLlama2c (run.c encode): a space token is prepended; text is cut into characters by
//    llama2.c's rule (a byte, then up to 3 continuation bytes); a character that is not a token
//    becomes its byte tokens <0xNN> before merging; a pair merges only if its score is > -1e10.
//    Token texts hold raw spaces.
//  - kLlamaCpp (llm_tokenizer_spm): a space is prepended (add_space_prefix, at the start and after
//    each special token), spaces become U+2581, characters are cut by their lead byte; a
//    character that is not a token stays a symbol and becomes byte tokens after merging.
#pragma once

#include <memory>
#include <string>

#include "tokenizer/vocab_tokenizer.h"

namespace mnemo::tokenizer {

enum class SpmFlavor { kLlama2c, kLlamaCpp };

class SpmTokenizer final : public VocabTokenizer {
 public:
  static std::unique_ptr<SpmTokenizer> create(Vocab vocab, SpecialIds ids, VocabFlags flags, SpmFlavor flavor);

  TokenizerKind kind() const override { return TokenizerKind::kSpm; }
  uint64_t encode_work_bytes(std::string_view text) const override;
  SpmFlavor flavor() const { return flavor_; }
  // The token byte b falls back to: <0xHH>, else the one-byte token, else <unk>; -1 = dropped.
  Token byte_token(uint8_t b) const { return byte_token_[b]; }

 protected:
  std::string compute_piece(Token t) const override;
  std::string special_match_text(Token t) const override;
  void encode_fragment(std::string_view text, bool after_special, std::vector<Token>* out) const override;

 private:
  SpmTokenizer(Vocab vocab, SpecialIds ids, VocabFlags flags, SpmFlavor flavor);

  SpmFlavor flavor_;
  Token byte_token_[256];
  // Text of a symbol that can never merge (no other token contains it): what a newline becomes,
  // when that holds; "" otherwise. Merging runs separately between such symbols.
  std::string barrier_text_;
};

}  // namespace mnemo::tokenizer
