// tokenizer/utf8.h: the UTF-8 rules the tokenizers split text by.
//
// Three notions of "one character" are in use, because the references differ on invalid input:
//  - utf8_seq_len_lead: llama.cpp's rule (length from the lead byte alone, continuation bytes and
//    invalid leads count 1), used by the GGUF SPM and BPE symbol splits;
//  - llama2.c's rule (a byte that is not a continuation byte, then up to 3 continuation bytes),
//    implemented where it is used (spm.cc);
//  - strict RFC 3629 validation (no overlongs, surrogates or code points above U+10FFFF), used to
//    check vocabularies and to sanitize text before PCRE2 sees it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mnemo::tokenizer {

inline constexpr std::string_view kSpmSpace = "\xe2\x96\x81";  // U+2581 "▁", SentencePiece's space

// Length of the character that starts with byte `c` by its lead bits alone: 1 for ASCII and for
// bytes that cannot start a character (continuations, 0xF8..0xFF), else 2, 3 or 4.
inline size_t utf8_seq_len_lead(unsigned char c) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[c >> 4];
}

// Length of the valid UTF-8 sequence at s[i], or 0 when the bytes there are not one.
size_t utf8_valid_len(std::string_view s, size_t i);

// True when all of `s` is valid UTF-8.
bool utf8_is_valid(std::string_view s);

// Copies `s`, replacing every byte that is not part of a valid sequence by U+FFFD (one
// replacement per byte, as llama.cpp's unicode_cpts_from_utf8 does).
std::string utf8_sanitize(std::string_view s);

// Appends the UTF-8 encoding of code point `cp` (cp <= 0x10FFFF).
void utf8_append(std::string* out, uint32_t cp);

// Decodes the valid sequence of length n at s[i] (n from utf8_valid_len).
uint32_t utf8_decode(std::string_view s, size_t i, size_t n);

}  // namespace mnemo::tokenizer
