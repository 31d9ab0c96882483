// The byte-level BPE pre-tokenizer splits (GPT-2, Llama-3, Qwen2 regexes through PCRE2), checked
// against splits worked out by hand from the regexes (no Llama-3 or Qwen2 vocabulary is at hand).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/utf8.h"

namespace mnemo::tokenizer {
namespace {

using Words = std::vector<std::string>;

Words split(PreType type, const std::string& text) {
  auto pre = PreTokenizer::create(type);
  EXPECT_TRUE(pre.has_value()) << pre.status().message();
  if (!pre.has_value()) return {};
  std::vector<std::string_view> views;
  (*pre)->split(text, &views);
  Words out(views.begin(), views.end());
  std::string joined;
  for (const auto& w : out) joined += w;
  EXPECT_EQ(joined, text) << "the words must cover the text exactly";
  return out;
}

TEST(PreTokenizer, Llama3Contractions) {
  EXPECT_EQ(split(PreType::kLlama3, "I'm here, you're THERE'S"),
            (Words{"I", "'m", " here", ",", " you", "'re", " THERE", "'S"}));
  EXPECT_EQ(split(PreType::kLlama3, "we'll they'VE it'd don't"),
            (Words{"we", "'ll", " they", "'VE", " it", "'d", " don", "'t"}));
  // Not a contraction after a space: the apostrophe is punctuation with the space.
  EXPECT_EQ(split(PreType::kLlama3, "x 's"), (Words{"x", " '", "s"}));
}

TEST(PreTokenizer, Gpt2ContractionsAreCaseSensitive) {
  EXPECT_EQ(split(PreType::kGpt2, "I'm THERE'S"), (Words{"I", "'m", " THERE", "'", "S"}));
}

TEST(PreTokenizer, Llama3NumbersInRunsOfAtMostThree) {
  EXPECT_EQ(split(PreType::kLlama3, "12345 1234567"), (Words{"123", "45", " ", "123", "456", "7"}));
  EXPECT_EQ(split(PreType::kLlama3, "pi=3.14159"), (Words{"pi", "=", "3", ".", "141", "59"}));
  // \p{N} is Unicode: Arabic-Indic digits and a superscript two.
  EXPECT_EQ(split(PreType::kLlama3, "\xd9\xa3\xd9\xa4\xd9\xa5\xd9\xa6"),
            (Words{"\xd9\xa3\xd9\xa4\xd9\xa5", "\xd9\xa6"}));
  EXPECT_EQ(split(PreType::kLlama3, "x\xc2\xb2"), (Words{"x", "\xc2\xb2"}));
}

TEST(PreTokenizer, Qwen2DigitsOneByOne) {
  EXPECT_EQ(split(PreType::kQwen2, "12345 67"), (Words{"1", "2", "3", "4", "5", " ", "6", "7"}));
  EXPECT_EQ(split(PreType::kQwen2, "\xe6\x97\xa5\xe6\x9c\xac" "2024"),
            (Words{"\xe6\x97\xa5\xe6\x9c\xac", "2", "0", "2", "4"}));
  // Everything else as Llama-3.
  EXPECT_EQ(split(PreType::kQwen2, "I'M ok"), (Words{"I", "'M", " ok"}));
}

TEST(PreTokenizer, Gpt2NumbersWhole) {
  EXPECT_EQ(split(PreType::kGpt2, "12345 1234567"), (Words{"12345", " 1234567"}));
}

TEST(PreTokenizer, Llama3LettersAndMarks) {
  EXPECT_EQ(split(PreType::kLlama3, "caf\xc3\xa9 na\xc3\xafve"), (Words{"caf\xc3\xa9", " na\xc3\xafve"}));
  // A combining mark (U+0301) is neither \p{L} nor \p{N}: it ends a word, and may lead the next.
  EXPECT_EQ(split(PreType::kLlama3, "cafe\xcc\x81 x"), (Words{"cafe", "\xcc\x81", " x"}));
  EXPECT_EQ(split(PreType::kLlama3, "a\xcc\x81" "b"), (Words{"a", "\xcc\x81" "b"}));
  // One non-letter, non-digit, non-newline character may lead a word: "$", a tab, U+3000.
  EXPECT_EQ(split(PreType::kLlama3, "$hello x\tb a\xe3\x80\x80z"),
            (Words{"$hello", " x", "\tb", " a", "\xe3\x80\x80z"}));
  EXPECT_EQ(split(PreType::kGpt2, "$hello"), (Words{"$", "hello"}));
  EXPECT_EQ(split(PreType::kLlama3, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" "123"),
            (Words{"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "123"}));
}

TEST(PreTokenizer, Llama3WhitespaceBeforeNewlines) {
  EXPECT_EQ(split(PreType::kLlama3, "hello  \n\nworld   foo\n"),
            (Words{"hello", "  \n\n", "world", "  ", " foo", "\n"}));
  EXPECT_EQ(split(PreType::kLlama3, "a\r\nb"), (Words{"a", "\r\n", "b"}));
  // Trailing spaces at the end of the text are one word (\s+(?!\S) sees the end).
  EXPECT_EQ(split(PreType::kLlama3, "end   "), (Words{"end", "   "}));
  EXPECT_EQ(split(PreType::kLlama3, " "), (Words{" "}));
}

TEST(PreTokenizer, Gpt2Whitespace) {
  // "\n\nc": \s+(?!\S) takes the first newline, the second is left over (GPT-2's trailing \s+).
  EXPECT_EQ(split(PreType::kGpt2, "a  b\n\nc"), (Words{"a", " ", " b", "\n", "\n", "c"}));
  // A lone whitespace before a non-space that no alternative takes becomes a word of its own.
  EXPECT_EQ(split(PreType::kGpt2, "a\tb"), (Words{"a", "\t", "b"}));
}

TEST(PreTokenizer, Llama3PunctuationRuns) {
  EXPECT_EQ(split(PreType::kLlama3, "Wait...!!! ok?!\n\nYes"), (Words{"Wait", "...!!!", " ok", "?!\n\n", "Yes"}));
  EXPECT_EQ(split(PreType::kLlama3, "a ->b"), (Words{"a", " ->", "b"}));
  EXPECT_EQ(split(PreType::kGpt2, "Wait...!!! ok?!\n\nYes"), (Words{"Wait", "...!!!", " ok", "?!", "\n", "\n", "Yes"}));
}

TEST(PreTokenizer, DefaultChainsSeveralRegexes) {
  // [\p{P}$+<=>^~|]+ first, then the GPT-2 regex inside each piece, then \p{N}+, then 3 digits.
  EXPECT_EQ(split(PreType::kDefault, "a,b 12345"), (Words{"a", ",", "b", " ", "123", "45"}));
}

TEST(PreTokenizer, EmptyAndLongInputs) {
  EXPECT_EQ(split(PreType::kLlama3, ""), Words{});
  // Long runs must not hit a JIT stack or match limit (a failure would leave one huge word).
  const std::string letters(1 << 20, 'a');
  EXPECT_EQ(split(PreType::kLlama3, letters).size(), 1u);
  const std::string spaces = std::string(100000, ' ') + "x";
  EXPECT_EQ(split(PreType::kLlama3, spaces), (Words{std::string(99999, ' '), " x"}));
  const std::string spaces_nl = std::string(100000, ' ') + "\n";
  EXPECT_EQ(split(PreType::kLlama3, spaces_nl).size(), 1u);
  std::string digits(3000, '7');
  EXPECT_EQ(split(PreType::kLlama3, digits).size(), 1000u);
}

TEST(PreTokenizer, TypesByName) {
  PreTypeInfo info;
  ASSERT_TRUE(pre_type_from_name("llama-bpe", &info));
  EXPECT_EQ(info.type, PreType::kLlama3);
  EXPECT_TRUE(info.ignore_merges);
  EXPECT_TRUE(info.add_bos);
  ASSERT_TRUE(pre_type_from_name("qwen2", &info));
  EXPECT_EQ(info.type, PreType::kQwen2);
  ASSERT_TRUE(pre_type_from_name("gpt-2", &info));
  EXPECT_EQ(info.type, PreType::kGpt2);
  EXPECT_FALSE(pre_type_from_name("no-such-pre", &info));
}

TEST(Utf8, ValidationAndSanitizing) {
  EXPECT_TRUE(utf8_is_valid("abc \xc3\xa9 \xe2\x96\x81 \xf0\x9f\xa6\x99"));
  EXPECT_FALSE(utf8_is_valid("\xff"));
  EXPECT_FALSE(utf8_is_valid("\xc3"));          // truncated
  EXPECT_FALSE(utf8_is_valid("\xc0\xaf"));      // overlong
  EXPECT_FALSE(utf8_is_valid("\xed\xa0\x80"));  // surrogate
  EXPECT_FALSE(utf8_is_valid("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_EQ(utf8_sanitize("a\xe2\x96" "b"), "a\xef\xbf\xbd\xef\xbf\xbd" "b");
  EXPECT_EQ(utf8_seq_len_lead(0x41), 1u);
  EXPECT_EQ(utf8_seq_len_lead(0x80), 1u);
  EXPECT_EQ(utf8_seq_len_lead(0xC3), 2u);
  EXPECT_EQ(utf8_seq_len_lead(0xE2), 3u);
  EXPECT_EQ(utf8_seq_len_lead(0xF0), 4u);
}

}  // namespace
}  // namespace mnemo::tokenizer
