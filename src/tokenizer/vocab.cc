#include "tokenizer/vocab.h"

#include <algorithm>
#include <cstring>

#include "base/check.h"
#include "base/strings.h"

namespace mnemo::tokenizer {

TokenAttr attr_from_gguf_type(int64_t type) {
  switch (type) {
    case 1: return TokenAttr::kNormal;
    case 2: return TokenAttr::kUnknown;
    case 3: return TokenAttr::kControl;
    case 4: return TokenAttr::kUserDefined;
    case 5: return TokenAttr::kUnused;
    case 6: return TokenAttr::kByte;
    default: return TokenAttr::kUndefined;
  }
}

bool parse_byte_token(std::string_view text, uint8_t* byte) {
  if (text.size() != 6 || text[0] != '<' || text[1] != '0' || text[2] != 'x' || text[5] != '>') return false;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(text[3]);
  const int lo = hex(text[4]);
  if (hi < 0 || lo < 0) return false;
  *byte = static_cast<uint8_t>(hi * 16 + lo);
  return true;
}

void Vocab::reserve(size_t n_tokens, size_t n_bytes) {
  blob_.reserve(n_bytes);
  offsets_.reserve(n_tokens + 1);
  scores_.reserve(n_tokens);
  attrs_.reserve(n_tokens);
}

void Vocab::add(std::string_view text, float score, TokenAttr attr) {
  MNEMO_CHECK(!finished_);
  blob_.insert(blob_.end(), text.begin(), text.end());
  offsets_.push_back(blob_.size());
  scores_.push_back(score);
  attrs_.push_back(attr);
}

Status Vocab::finish(const std::string& subject) {
  MNEMO_CHECK(!finished_);
  finished_ = true;
  size_t cap = 16;
  while (cap < 2 * static_cast<size_t>(size())) cap *= 2;
  slots_.assign(cap, Slot());
  mask_ = cap - 1;
  for (Token t = 0; t < size(); ++t) {
    const std::string_view s = text(t);
    if (s.empty()) continue;
    max_len_ = std::max(max_len_, s.size());
    const uint64_t h = hash_bytes(s);
    size_t i = h & mask_;
    for (; slots_[i].id >= 0; i = (i + 1) & mask_) {
      if (slots_[i].tag == static_cast<uint32_t>(h >> 32) && text(slots_[i].id) == s) {
        return corrupt(str_printf("%s: token %d: expected unique token texts, found the text %s of token %d again",
                                  subject.c_str(), t, quote_bytes(s).c_str(), slots_[i].id));
      }
    }
    slots_[i] = Slot{static_cast<uint32_t>(h >> 32), t};
  }
  return Status::ok();
}

}  // namespace mnemo::tokenizer
