// ltm/text.h: words for retrieval: tokenising, Porter stemming, normalised forms for dedup.
//
// Tokens are maximal runs of ASCII letters and digits or of non-ASCII bytes (UTF-8 text stays
// whole), ASCII-lowercased. Stems follow Porter (1980), "An algorithm for suffix stripping", the
// published rules, applied to purely alphabetic ASCII tokens; others are kept as they are.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mnemo::ltm {

// Lowercased tokens of `text`, in order.
std::vector<std::string> tokenize(std::string_view text);

// Porter stem of a lowercase word.
std::string porter_stem(std::string_view word);

// Stems of the tokens of `text`, in order.
std::vector<std::string> stemmed_tokens(std::string_view text);

// Lowercased tokens joined by single spaces: texts differing only in case, spacing and
// punctuation have the same normal form (exact-duplicate detection).
std::string normal_form(std::string_view text);

// 64-bit FNV-1a.
uint64_t fnv1a64(std::string_view s, uint64_t seed = 0xcbf29ce484222325ull);

// Approximate LLM tokens of a text (for budgets): about 4 bytes per token.
int approx_tokens(std::string_view text);

// Whether `s` is valid UTF-8 (untrusted text is checked before it is stored).
bool valid_utf8(std::string_view s);

}  // namespace mnemo::ltm
