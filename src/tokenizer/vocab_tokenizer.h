// tokenizer/vocab_tokenizer.h: what the SPM and BPE tokenizers share: the vocabulary, special ids
// and flags, the piece cache, and the split of text around special tokens (llama.cpp's
// tokenizer_st_partition) before the algorithm proper runs on each stretch of plain text.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mnemo/tokenizer.h"
#include "tokenizer/vocab.h"

namespace mnemo::tokenizer {

struct SpecialIds {
  Token bos = -1;
  Token eos = -1;
  Token unk = -1;
  Token pad = -1;
};

struct VocabFlags {
  bool add_bos = true;
  bool add_eos = false;
  bool add_space_prefix = true;  // SPM only
};

class VocabTokenizer : public Tokenizer {
 public:
  int32_t n_vocab() const override { return vocab_.size(); }
  std::vector<Token> encode(std::string_view text, bool add_bos, bool parse_special = false) const override;
  std::string piece(Token t) const override { return std::string(piece_view(t)); }
  std::string_view token_text(Token t) const override { return vocab_.contains(t) ? vocab_.text(t) : std::string_view(); }
  float token_score(Token t) const override { return vocab_.contains(t) ? vocab_.score(t) : 0.0f; }
  bool is_control(Token t) const override { return has_attr(t, TokenAttr::kControl); }
  bool is_byte(Token t) const override { return has_attr(t, TokenAttr::kByte); }
  bool is_unknown(Token t) const override { return has_attr(t, TokenAttr::kUnknown); }
  Token bos() const override { return ids_.bos; }
  Token eos() const override { return ids_.eos; }
  Token unk() const override { return ids_.unk; }
  Token pad() const override { return ids_.pad; }
  bool add_bos_by_default() const override { return flags_.add_bos; }
  bool add_eos_by_default() const override { return flags_.add_eos; }

  const Vocab& vocab() const { return vocab_; }
  TokenAttr attr(Token t) const { return vocab_.attr(t); }  // t in range
  std::string_view piece_view(Token t) const;

 protected:
  VocabTokenizer(Vocab vocab, SpecialIds ids, VocabFlags flags)
      : vocab_(std::move(vocab)), ids_(ids), flags_(flags) {}

  // Must be called once by the factory after construction: fills the piece cache from
  // compute_piece() and the list of special tokens from special_match_text().
  void init();

  // The bytes of token t (in range), cached by init().
  virtual std::string compute_piece(Token t) const = 0;
  // The text that parse_special matches for a control/unknown/user-defined token ("" = none).
  virtual std::string special_match_text(Token t) const { return std::string(vocab_.text(t)); }
  // Appends the ids of a stretch of plain text. `after_special` is true at the start of the text
  // and right after a special token (where SPM adds its space prefix).
  virtual void encode_fragment(std::string_view text, bool after_special, std::vector<Token>* out) const = 0;

  bool has_attr(Token t, TokenAttr a) const { return vocab_.contains(t) && vocab_.attr(t) == a; }

  Vocab vocab_;
  SpecialIds ids_;
  VocabFlags flags_;

 private:
  struct Special {
    Token id;
    std::string text;
    bool always;  // user-defined: split out even without parse_special
  };
  std::vector<Special> specials_;  // longest text first (ties by id), as llama.cpp orders them
  bool has_always_special_ = false;
  std::vector<char> piece_blob_;
  std::vector<size_t> piece_offsets_;
};

}  // namespace mnemo::tokenizer
