// tokenizer/vocab.h: a vocabulary as the tokenizers use it: token texts, scores, attributes and
// a hash index from text to id.
//
// Texts are copied into one owned buffer; the index is an open-addressing hash table of ids (the
// text of an id is its key), so a lookup touches one slot and one text. A Vocab is move-only
// and immutable once finish() has run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "mnemo/status.h"
#include "mnemo/tokenizer.h"

namespace mnemo::tokenizer {

// llama.cpp's token attributes, one per token (GGUF tokenizer.ggml.token_type).
enum class TokenAttr : uint8_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// GGUF token_type value -> attribute (unknown values are kUndefined, as in llama.cpp).
TokenAttr attr_from_gguf_type(int64_t type);

// A fast hash of short strings (not keyed: a crafted vocabulary can make lookups slow, not wrong).
inline uint64_t hash_bytes(std::string_view s) {
  // 8 bytes at a time, each step a multiply-xorshift (splitmix64's finalizer).
  auto mix = [](uint64_t h) {
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    return h ^ (h >> 31);
  };
  uint64_t h = 0x9e3779b97f4a7c15ull ^ s.size();
  const char* p = s.data();
  size_t n = s.size();
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = mix(h ^ v);
    p += 8;
    n -= 8;
  }
  uint64_t v = 0;
  if (n > 0) std::memcpy(&v, p, n);
  return mix(h ^ v ^ (static_cast<uint64_t>(n) << 59));
}

// When `text` is a byte token "<0xHH>" (hex digits of either case), stores HH and returns true.
bool parse_byte_token(std::string_view text, uint8_t* byte);

class Vocab {
 public:
  Vocab() = default;
  Vocab(Vocab&&) = default;
  Vocab& operator=(Vocab&&) = default;
  Vocab(const Vocab&) = delete;
  Vocab& operator=(const Vocab&) = delete;

  void reserve(size_t n_tokens, size_t n_bytes);
  // Appends token size() (before finish()).
  void add(std::string_view text, float score, TokenAttr attr);
  // Builds the index. Empty texts are left out of it (they can never be matched). Fails with
  // kCorrupt when two tokens share a text: "<subject>: token 7: expected unique texts, found ...".
  Status finish(const std::string& subject);

  int32_t size() const { return static_cast<int32_t>(scores_.size()); }
  size_t max_text_len() const { return max_len_; }
  bool contains(Token t) const { return t >= 0 && t < size(); }
  // Accessors take an id in [0, size()).
  std::string_view text(Token t) const {
    return std::string_view(blob_.data() + offsets_[t], offsets_[t + 1] - offsets_[t]);
  }
  float score(Token t) const { return scores_[t]; }
  TokenAttr attr(Token t) const { return attrs_[t]; }
  void set_attr(Token t, TokenAttr a) { attrs_[t] = a; }

  // The id whose text is exactly `text`, or -1.
  Token find(std::string_view text) const {
    if (slots_.empty() || text.size() > max_len_) return -1;
    const uint64_t h = hash_bytes(text);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.id < 0) return -1;
      if (s.tag == static_cast<uint32_t>(h >> 32) && this->text(s.id) == text) return s.id;
    }
  }

 private:
  std::vector<char> blob_;
  std::vector<size_t> offsets_{0};  // size()+1 entries
  std::vector<float> scores_;
  std::vector<TokenAttr> attrs_;
  struct Slot {
    uint32_t tag = 0;  // the hash's high half (the low bits pick the slot)
    Token id = -1;
  };
  std::vector<Slot> slots_;  // power-of-two size, at most half full
  size_t mask_ = 0;
  size_t max_len_ = 0;  // the longest text
  bool finished_ = false;
};

}  // namespace mnemo::tokenizer
