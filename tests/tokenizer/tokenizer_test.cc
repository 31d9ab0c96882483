// Tokenizers on small vocabularies built in memory: the merge rules of both SentencePiece
// flavours, byte fallback, special tokens, byte-level BPE, decoding, and hostile files.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "mnemo/tokenizer.h"
#include "tokenizer/bpe.h"
#include "tokenizer/loaders.h"

namespace mnemo::tokenizer {
namespace {

using gguf::Value;

struct Tok {
  float score;
  std::string text;
};

std::vector<uint8_t> make_bin(int32_t max_len, const std::vector<Tok>& toks) {
  std::vector<uint8_t> b;
  auto put = [&](const void* p, size_t n) {
    const size_t at = b.size();
    b.resize(at + n);
    if (n > 0) std::memcpy(b.data() + at, p, n);
  };
  put(&max_len, 4);
  for (const Tok& t : toks) {
    const int32_t len = static_cast<int32_t>(t.text.size());
    put(&t.score, 4);
    put(&len, 4);
    put(t.text.data(), t.text.size());
  }
  return b;
}

std::string byte_name(int b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "<0x%02X>", b);
  return buf;
}

// <unk>, BOS, EOS, the 256 byte tokens (ids 3..258), then:
//   259 " "  260 "a"  261 "b"  262 "c"  263 "ab"  264 " a"  265 "abc"  266 "bc" (score -1e10)
// `space` is how a space is stored: " " (tokenizer.bin) or "\xe2\x96\x81" (GGUF).
std::vector<Tok> small_vocab(const std::string& space, bool llama2c_names) {
  std::vector<Tok> v = {{0, "<unk>"}, {0, llama2c_names ? "\n<s>\n" : "<s>"}, {0, llama2c_names ? "\n</s>\n" : "</s>"}};
  for (int b = 0; b < 256; ++b) v.push_back({0, byte_name(b)});
  v.push_back({-10, space});
  v.push_back({-11, "a"});
  v.push_back({-12, "b"});
  v.push_back({-13, "c"});
  v.push_back({-1, "ab"});
  v.push_back({-2, space + "a"});
  v.push_back({-0.5f, "abc"});
  v.push_back({-1e10f, "bc"});
  return v;
}

std::unique_ptr<Tokenizer> bin_tokenizer(const std::vector<Tok>& toks, int32_t max_len = 16) {
  const std::vector<uint8_t> bytes = make_bin(max_len, toks);
  auto tok = load_llama2c_tokenizer(bytes, "test.bin");
  EXPECT_TRUE(tok.has_value()) << tok.status().message();
  return tok.has_value() ? std::move(tok).value() : nullptr;
}

// A GGUF holding `kv` (no tensors), parsed back and loaded as a tokenizer.
Expected<std::unique_ptr<Tokenizer>> gguf_tokenizer(const std::vector<std::pair<std::string, Value>>& kv) {
  gguf::GgufWriter w;
  for (const auto& [k, v] : kv) w.set(k, v);
  MNEMO_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, w.to_bytes());
  MNEMO_ASSIGN_OR_RETURN(auto file, gguf::GgufFile::parse(bytes, "test.gguf"));
  return load_gguf_tokenizer(*file);  // keeps nothing of `file` or `bytes`
}

std::vector<std::pair<std::string, Value>> spm_gguf_kv(const std::vector<Tok>& toks) {
  std::vector<std::string> texts;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (size_t i = 0; i < toks.size(); ++i) {
    texts.push_back(toks[i].text);
    scores.push_back(toks[i].score);
    types.push_back(i == 0 ? 2 : i <= 2 ? 3 : i <= 258 ? 6 : 1);
  }
  return {{"tokenizer.ggml.model", Value::string("llama")},
          {"tokenizer.ggml.tokens", Value::string_array(texts)},
          {"tokenizer.ggml.scores", Value::f32_array(scores)},
          {"tokenizer.ggml.token_type", Value::i32_array(types)}};
}

std::unique_ptr<Tokenizer> must(Expected<std::unique_ptr<Tokenizer>> t) {
  EXPECT_TRUE(t.has_value()) << t.status().message();
  return t.has_value() ? std::move(t).value() : nullptr;
}

using Ids = std::vector<Token>;
constexpr Token kByte0 = 3;  // id of <0x00>

TEST(SpmLlama2c, MergesByScoreLeftmostFirst) {
  auto tok = bin_tokenizer(small_vocab(" ", true));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->kind(), TokenizerKind::kSpm);
  EXPECT_EQ(tok->n_vocab(), 267);
  EXPECT_EQ(tok->bos(), 1);
  EXPECT_EQ(tok->eos(), 2);
  EXPECT_EQ(tok->unk(), 0);
  EXPECT_TRUE(tok->add_bos_by_default());
  EXPECT_FALSE(tok->add_eos_by_default());
  // " abc": "ab" (-1) first, then "abc" (-0.5); " abc" is no token.
  EXPECT_EQ(tok->encode("abc", true), (Ids{1, 259, 265}));
  EXPECT_EQ(tok->encode("abc", false), (Ids{259, 265}));
  EXPECT_EQ(tok->encode("a", true), (Ids{1, 264}));
  // " a" (-2) and "ab" (-1) compete: "ab" wins, the space stays alone.
  EXPECT_EQ(tok->encode("ab", false), (Ids{259, 263}));
  EXPECT_EQ(tok->encode("", true), (Ids{1}));
  EXPECT_EQ(tok->encode("", false), (Ids{}));
}

TEST(SpmBothFlavours, TiesGoToTheLeftmostPair) {
  auto make = [](const std::string& space, bool llama2c) {
    std::vector<Tok> v = small_vocab(space, llama2c);
    v.resize(259);
    for (const char* t : {"x", "y", "z"}) v.push_back({-5, t});  // 259..261
    v.push_back({-1, "xy"});                                      // 262
    v.push_back({-1, "yz"});                                      // 263
    v.push_back({-9, space});                                     // 264
    return v;
  };
  auto bin = bin_tokenizer(make(" ", true));
  auto gg = must(gguf_tokenizer(spm_gguf_kv(make("\xe2\x96\x81", false))));
  ASSERT_NE(bin, nullptr);
  ASSERT_NE(gg, nullptr);
  EXPECT_EQ(bin->encode("xyz", false), (Ids{264, 262, 261}));
  EXPECT_EQ(gg->encode("xyz", false), (Ids{264, 262, 261}));
  EXPECT_EQ(bin->encode("xyzxyz", false), (Ids{264, 262, 261, 262, 261}));
}

TEST(SpmLlama2c, PairsAtOrBelowMinus1e10NeverMerge) {
  auto tok = bin_tokenizer(small_vocab(" ", true));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("bc", false), (Ids{259, 261, 262}));  // run.c never takes "bc" (-1e10)
}

TEST(SpmLlama2c, ByteFallbackBeforeMerging) {
  auto tok = bin_tokenizer(small_vocab(" ", true));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("a\xc3\xa9", false), (Ids{264, kByte0 + 0xC3, kByte0 + 0xA9}));
  // A stray lead byte is one character for run.c, so the "a" after it is still a token.
  EXPECT_EQ(tok->encode("\xc3" "a", false), (Ids{259, kByte0 + 0xC3, 260}));
  // Five continuation bytes: run.c groups at most four.
  EXPECT_EQ(tok->encode("\x80\x80\x80\x80\x80", false),
            (Ids{259, kByte0 + 0x80, kByte0 + 0x80, kByte0 + 0x80, kByte0 + 0x80, kByte0 + 0x80}));
}

TEST(SpmLlamaCpp, SameMergesWithEscapedSpaces) {
  auto tok = must(gguf_tokenizer(spm_gguf_kv(small_vocab("\xe2\x96\x81", false))));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->kind(), TokenizerKind::kSpm);
  EXPECT_EQ(tok->encode("abc", true), (Ids{1, 259, 265}));
  EXPECT_EQ(tok->encode("a\xc3\xa9", false), (Ids{264, kByte0 + 0xC3, kByte0 + 0xA9}));
  // llama.cpp keeps every score, and cuts characters by the lead byte ("\xc3a" is one).
  EXPECT_EQ(tok->encode("bc", false), (Ids{259, 266}));
  EXPECT_EQ(tok->encode("\xc3" "a", false), (Ids{259, kByte0 + 0xC3, kByte0 + 'a'}));
  EXPECT_EQ(tok->piece(264), " a");
  EXPECT_EQ(tok->piece(259), " ");
  EXPECT_EQ(tok->piece(kByte0 + 'A'), "A");
  EXPECT_EQ(tok->piece(1), "<s>");
  EXPECT_EQ(tok->piece(9999), "");
}

// Merging runs separately between newlines only when no token can contain one.
TEST(SpmLlamaCpp, NewlineInATokenStillMerges) {
  std::vector<Tok> toks = small_vocab("\xe2\x96\x81", false);
  auto plain = must(gguf_tokenizer(spm_gguf_kv(toks)));
  toks.push_back({-0.1f, "a\n"});  // id 267
  auto with_nl = must(gguf_tokenizer(spm_gguf_kv(toks)));
  ASSERT_NE(plain, nullptr);
  ASSERT_NE(with_nl, nullptr);
  EXPECT_EQ(plain->encode("a\nb", false), (Ids{264, kByte0 + '\n', 261}));
  EXPECT_EQ(with_nl->encode("a\nb", false), (Ids{259, 267, 261}));
  EXPECT_EQ(with_nl->encode("x\na\nb\n", false), (Ids{259, kByte0 + 'x', kByte0 + '\n', 267, 261, kByte0 + '\n'}));
}

TEST(SpmLlama2c, ByteTokenTextsMergeAsRunCDoes) {
  // run.c concatenates token texts, so "<0x0A>" + "b" can merge into a token "<0x0A>b".
  std::vector<Tok> toks = small_vocab(" ", true);
  toks.push_back({-0.1f, "<0x0A>b"});  // id 267
  auto tok = bin_tokenizer(toks);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("\nb", false), (Ids{259, 267}));
  EXPECT_EQ(tok->encode("a\nb\nc", false), (Ids{264, 267, kByte0 + '\n', 262}));
}

TEST(SpmLlamaCpp, AddSpacePrefixKey) {
  auto kv = spm_gguf_kv(small_vocab("\xe2\x96\x81", false));
  kv.push_back({"tokenizer.ggml.add_space_prefix", Value::boolean(false)});
  kv.push_back({"tokenizer.ggml.add_bos_token", Value::boolean(false)});
  kv.push_back({"tokenizer.ggml.add_eos_token", Value::boolean(true)});
  auto tok = must(gguf_tokenizer(kv));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("abc", false), (Ids{265}));
  EXPECT_FALSE(tok->add_bos_by_default());
  EXPECT_TRUE(tok->add_eos_by_default());
}

TEST(SpmSpecial, ParseSpecialSplitsControlTokens) {
  auto bin = bin_tokenizer(small_vocab(" ", true));
  auto gg = must(gguf_tokenizer(spm_gguf_kv(small_vocab("\xe2\x96\x81", false))));
  ASSERT_NE(bin, nullptr);
  ASSERT_NE(gg, nullptr);
  for (const Tokenizer* tok : {bin.get(), gg.get()}) {
    // tokenizer.bin stores "\n<s>\n"; its control tokens still match "<s>" and "</s>".
    EXPECT_EQ(tok->encode("<s>ab</s>", false, true), (Ids{1, 259, 263, 2}));
    EXPECT_EQ(tok->encode("a<unk>", false, true), (Ids{264, 0}));
    // A space prefix follows every special token (llama.cpp's is_prev_special).
    EXPECT_EQ(tok->encode("<s>a<s>a", false, true), (Ids{1, 264, 1, 264}));
    // Without parse_special the text is text.
    const Ids plain = tok->encode("<s>", true, false);
    EXPECT_EQ(plain.size(), 5u);  // BOS, " ", then "<" "s" ">" as bytes
    EXPECT_EQ(tok->decode(plain), "<s>");
  }
}

TEST(SpmDecode, PiecesAsLlama2cPrintsThem) {
  auto tok = bin_tokenizer(small_vocab(" ", true));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->piece(264), " a");
  EXPECT_EQ(tok->decode_piece(1, 264), "a");       // leading space dropped after BOS
  EXPECT_EQ(tok->decode_piece(260, 264), " a");
  EXPECT_EQ(tok->decode_piece(1, kByte0 + ' '), " ");  // a byte token keeps its space
  EXPECT_EQ(tok->decode_piece(5, kByte0 + 0xff), "\xff");
  EXPECT_EQ(tok->piece(1), "\n<s>\n");  // control tokens as stored
  EXPECT_TRUE(tok->is_control(1));
  EXPECT_TRUE(tok->is_unknown(0));
  EXPECT_TRUE(tok->is_byte(kByte0 + 7));
  EXPECT_FALSE(tok->is_byte(260));
  EXPECT_EQ(tok->token_text(259), " ");
  EXPECT_EQ(tok->token_score(263), -1.0f);
  EXPECT_EQ(tok->token_text(-1), "");
  const Ids ids = tok->encode("ab abc\xc3\xa9\n", true);
  EXPECT_EQ(tok->decode(ids), "ab abc\xc3\xa9\n");
  EXPECT_EQ(tok->decode(Ids{1, 264, 0, 2}), "a");  // <unk> and EOS give nothing
}

TEST(SpmLlama2c, MissingByteTokensFallBackToUnk) {
  const std::vector<Tok> toks = {{0, "<unk>"}, {0, "\n<s>\n"}, {0, "\n</s>\n"}, {0, " "}, {-1, "a"}};
  auto tok = bin_tokenizer(toks);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("a\xc3\xa9", true), (Ids{1, 3, 4, 0, 0}));
  // A vocabulary of one token: no BOS, no EOS, bytes fall back to <unk>.
  auto tiny = bin_tokenizer({{0, "<unk>"}});
  ASSERT_NE(tiny, nullptr);
  EXPECT_EQ(tiny->bos(), -1);
  EXPECT_EQ(tiny->eos(), -1);
  EXPECT_EQ(tiny->encode("hi", true), (Ids{0, 0, 0}));
  // Empty <unk> text: unknown bytes are dropped.
  auto none = bin_tokenizer({{0, ""}, {0, "x"}});
  ASSERT_NE(none, nullptr);
  EXPECT_EQ(none->encode("xy", false), (Ids{1}));
}

// ---- hostile tokenizer.bin ------------------------------------------------------------------

Status load_bin_status(const std::vector<uint8_t>& bytes) { return load_llama2c_tokenizer(bytes, "bad.bin").status(); }

void expect_error(const Status& s, StatusCode code, const std::string& part) {
  EXPECT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), code) << s.message();
  EXPECT_NE(s.message().find(part), std::string::npos) << s.message();
  EXPECT_EQ(s.message().rfind("bad.", 0), 0u) << "messages start with the file: " << s.message();
}

TEST(Llama2cLoader, RejectsHostileFiles) {
  expect_error(load_bin_status({}), StatusCode::kCorrupt, "max_token_length: expected a 4-byte header");
  expect_error(load_bin_status(make_bin(0, {{0, "a"}})), StatusCode::kOutOfRange, "max_token_length: expected 1..");
  expect_error(load_bin_status(make_bin(-5, {{0, "a"}})), StatusCode::kOutOfRange, "found -5");
  expect_error(load_bin_status(make_bin(1 << 30, {{0, "a"}})), StatusCode::kOutOfRange, "max_token_length");
  expect_error(load_bin_status(make_bin(4, {})), StatusCode::kCorrupt, "expected at least one token");
  expect_error(load_bin_status(make_bin(2, {{0, "a"}, {0, "abc"}})), StatusCode::kCorrupt,
               "token 1: length: expected 0..max_token_length (2), found 3");
  expect_error(load_bin_status(make_bin(4, {{0, "a"}, {std::nanf(""), "b"}})), StatusCode::kCorrupt,
               "token 1: score: expected a number, found NaN");
  expect_error(load_bin_status(make_bin(4, {{0, "a"}, {0, "\xff"}})), StatusCode::kCorrupt,
               "token 1: expected valid UTF-8 text, found \"\\xff\"");
  expect_error(load_bin_status(make_bin(4, {{0, std::string("a\0b", 3)}})), StatusCode::kCorrupt, "NUL");
  expect_error(load_bin_status(make_bin(4, {{0, "a"}, {0, "b"}, {0, "a"}})), StatusCode::kCorrupt,
               "token 2: expected unique token texts, found the text \"a\" of token 0 again");

  std::vector<uint8_t> b = make_bin(4, {{0, "ab"}});
  b.pop_back();  // text cut short
  expect_error(load_bin_status(b), StatusCode::kCorrupt, "token 0: expected 2 bytes of text, found 1");
  b = make_bin(4, {{0, "ab"}});
  b.resize(4 + 5);  // score and half a length
  expect_error(load_bin_status(b), StatusCode::kCorrupt, "token 0: expected a score and a length (8 bytes), found 5");
  b = make_bin(4, {{0, "ab"}});
  const int32_t neg = -1;
  std::memcpy(b.data() + 8, &neg, 4);
  expect_error(load_bin_status(b), StatusCode::kCorrupt, "token 0: length: expected 0..max_token_length (4), found -1");
}

TEST(Llama2cLoader, EmptyTokensAreAllowed) {
  // Several empty texts are no duplicate: they are never looked up.
  auto tok = bin_tokenizer({{0, "<unk>"}, {0, ""}, {0, ""}, {0, "a"}});
  ASSERT_NE(tok, nullptr);
  EXPECT_TRUE(tok->is_control(1));
  EXPECT_EQ(tok->piece(2), "");
}

TEST(TokenizerLoad, ReportsMissingFiles) {
  auto t = Tokenizer::load("/nonexistent/tokenizer.bin");
  ASSERT_FALSE(t.has_value());
  EXPECT_NE(t.status().message().find("/nonexistent/tokenizer.bin"), std::string::npos);
}

// ---- hostile GGUF vocabularies --------------------------------------------------------------

TEST(GgufLoader, RejectsHostileVocabularies) {
  auto base = spm_gguf_kv(small_vocab("\xe2\x96\x81", false));
  auto with = [&](const std::string& key, Value v) {
    auto kv = base;
    bool replaced = false;
    for (auto& [k, val] : kv) {
      if (k == key) {
        val = v;
        replaced = true;
      }
    }
    if (!replaced) kv.push_back({key, v});
    return gguf_tokenizer(kv).status();
  };
  auto expect = [](const Status& s, StatusCode code, const std::string& part) {
    EXPECT_EQ(s.code(), code) << s.message();
    EXPECT_NE(s.message().find(part), std::string::npos) << s.message();
    EXPECT_EQ(s.message().rfind("test.gguf: ", 0), 0u) << s.message();
  };

  expect(gguf_tokenizer({{"general.name", Value::string("x")}}).status(), StatusCode::kNotFound,
         "tokenizer.ggml.model: expected a tokenizer model");
  expect(with("tokenizer.ggml.model", Value::string("bert")), StatusCode::kUnsupported,
         "tokenizer.ggml.model: expected \"llama\" or \"gpt2\", found \"bert\"");
  expect(with("tokenizer.ggml.model", Value::u32(3)), StatusCode::kCorrupt, "expected a string, found a uint32");
  expect(with("tokenizer.ggml.tokens", Value::string("a")), StatusCode::kCorrupt,
         "tokenizer.ggml.tokens: expected an array of strings, found a string");
  expect(with("tokenizer.ggml.tokens", Value::string_array({})), StatusCode::kOutOfRange, "expected 1..");
  expect(with("tokenizer.ggml.scores", Value::f32_array({1, 2})), StatusCode::kCorrupt,
         "tokenizer.ggml.scores: expected 267 elements (one per token), found 2");
  expect(with("tokenizer.ggml.scores", Value::string_array(std::vector<std::string>(267, "x"))), StatusCode::kCorrupt,
         "expected an array of numbers");
  expect(with("tokenizer.ggml.token_type", Value::f32_array(std::vector<float>(267, 1))), StatusCode::kCorrupt,
         "tokenizer.ggml.token_type: expected an array of integers, found an array of float32");
  std::vector<float> nan_scores(267, 0);
  nan_scores[100] = std::numeric_limits<float>::quiet_NaN();
  expect(with("tokenizer.ggml.scores", Value::f32_array(nan_scores)), StatusCode::kCorrupt, "token 100: expected a number");
  std::vector<int32_t> types(267, 1);
  types[260] = 6;  // "a" typed as a byte token
  expect(with("tokenizer.ggml.token_type", Value::i32_array(types)), StatusCode::kCorrupt,
         "token 260: a byte token must read \"<0xHH>\", found \"a\"");
  expect(with("tokenizer.ggml.add_bos_token", Value::string("yes")), StatusCode::kCorrupt,
         "tokenizer.ggml.add_bos_token: expected a bool, found a string");

  std::vector<std::string> texts;
  for (const Tok& t : small_vocab("\xe2\x96\x81", false)) texts.push_back(t.text);
  std::vector<std::string> dup = texts;
  dup[266] = "ab";
  expect(with("tokenizer.ggml.tokens", Value::string_array(dup)), StatusCode::kCorrupt,
         "token 266: expected unique token texts");
  std::vector<std::string> bad_utf8 = texts;
  bad_utf8[266] = "b\xc3";
  expect(with("tokenizer.ggml.tokens", Value::string_array(bad_utf8)), StatusCode::kCorrupt,
         "token 266: expected valid UTF-8 text");
}

TEST(GgufLoader, SpecialIdsOutOfRangeTakeDefaults) {
  auto kv = spm_gguf_kv(small_vocab("\xe2\x96\x81", false));
  kv.push_back({"tokenizer.ggml.bos_token_id", Value::u32(99999)});
  kv.push_back({"tokenizer.ggml.eos_token_id", Value::u32(0xFFFFFFFFu)});
  kv.push_back({"tokenizer.ggml.unknown_token_id", Value::u32(260)});
  kv.push_back({"tokenizer.ggml.padding_token_id", Value::i32(-1)});
  auto tok = must(gguf_tokenizer(kv));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->bos(), 1);
  EXPECT_EQ(tok->eos(), 2);
  EXPECT_EQ(tok->unk(), 260);
  EXPECT_EQ(tok->pad(), -1);
  kv.back().second = Value::u32(5);
  auto padded = must(gguf_tokenizer(kv));
  ASSERT_NE(padded, nullptr);
  EXPECT_EQ(padded->pad(), 5);
}

TEST(GgufLoader, EmptyTokensAreRenamedAsLlamaCppDoes) {
  auto kv = spm_gguf_kv(small_vocab("\xe2\x96\x81", false));
  std::vector<std::string> texts;
  for (const Tok& t : small_vocab("\xe2\x96\x81", false)) texts.push_back(t.text);
  texts[262] = "";
  texts[261] = "";
  kv[1].second = Value::string_array(texts);
  auto tok = must(gguf_tokenizer(kv));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->token_text(262), "[EMPTY_262]");
}

// ---- byte-level BPE -------------------------------------------------------------------------

// The 256 byte characters (id = byte), then merged tokens; merges in rank order.
std::vector<std::pair<std::string, Value>> bpe_kv(const std::string& pre, const std::vector<std::string>& extra,
                                                  const std::vector<std::string>& merges,
                                                  const std::vector<int32_t>& extra_types = {}) {
  std::vector<std::string> texts;
  std::vector<int32_t> types;
  for (int b = 0; b < 256; ++b) {
    texts.emplace_back(bpe_byte_to_utf8(static_cast<uint8_t>(b)));
    types.push_back(1);
  }
  for (size_t i = 0; i < extra.size(); ++i) {
    texts.push_back(extra[i]);
    types.push_back(i < extra_types.size() ? extra_types[i] : 1);
  }
  std::vector<std::pair<std::string, Value>> kv = {{"tokenizer.ggml.model", Value::string("gpt2")},
                                                   {"tokenizer.ggml.tokens", Value::string_array(texts)},
                                                   {"tokenizer.ggml.token_type", Value::i32_array(types)},
                                                   {"tokenizer.ggml.merges", Value::string_array(merges)}};
  if (!pre.empty()) kv.push_back({"tokenizer.ggml.pre", Value::string(pre)});
  return kv;
}

TEST(Bpe, ByteMapIsGpt2s) {
  EXPECT_EQ(bpe_byte_to_utf8(' '), "\xc4\xa0");   // Ġ = U+0120
  EXPECT_EQ(bpe_byte_to_utf8('\n'), "\xc4\x8a");  // Ċ = U+010A
  EXPECT_EQ(bpe_byte_to_utf8('a'), "a");
  EXPECT_EQ(bpe_byte_to_utf8(0xAD), "\xc5\x83");  // the soft hyphen is not printable: U+0143
  uint8_t b = 0;
  ASSERT_TRUE(bpe_codepoint_to_byte(0x120, &b));
  EXPECT_EQ(b, ' ');
  EXPECT_FALSE(bpe_codepoint_to_byte(0x1000, &b));
}

TEST(Bpe, MergesByRank) {
  // 256 "he"  257 "ll"  258 "hell"  259 "hello"  260 "Ġw"  261 "Ġworld"  262 "<|endoftext|>"
  auto kv = bpe_kv("gpt-2", {"he", "ll", "hell", "hello", "\xc4\xa0w", "\xc4\xa0world", "<|endoftext|>"},
                   {"h e", "l l", "he ll", "hell o", "\xc4\xa0 w"}, {1, 1, 1, 1, 1, 1, 3});
  kv.push_back({"tokenizer.ggml.eos_token_id", Value::u32(262)});
  auto tok = must(gguf_tokenizer(kv));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->kind(), TokenizerKind::kBpe);
  EXPECT_FALSE(tok->add_bos_by_default());
  EXPECT_EQ(tok->eos(), 262);
  EXPECT_EQ(tok->bos(), 11);  // llama.cpp's gpt2 default when the key is absent
  EXPECT_EQ(tok->encode("hello world", false), (Ids{259, 260, 'o', 'r', 'l', 'd'}));
  EXPECT_EQ(tok->encode("hello<|endoftext|>", false, true), (Ids{259, 262}));
  EXPECT_EQ(tok->piece(259), "hello");
  EXPECT_EQ(tok->piece(260), " w");
  EXPECT_EQ(tok->piece(262), "<|endoftext|>");
  EXPECT_EQ(tok->decode(tok->encode("hello world\n\xc3\xa9", false)), "hello world\n\xc3\xa9");
  // Invalid UTF-8 becomes U+FFFD (llama.cpp does the same).
  EXPECT_EQ(tok->decode(tok->encode("a\xff", false)), "a\xef\xbf\xbd");
}

TEST(Bpe, EqualRanksGoLeftmostFirst) {
  auto tok = must(gguf_tokenizer(bpe_kv("gpt-2", {"aa"}, {"a a"})));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("aaa", false), (Ids{256, 'a'}));
  EXPECT_EQ(tok->encode("aaaaa", false), (Ids{256, 256, 'a'}));
}

TEST(Bpe, Llama3IgnoresMergesForWholeTokens) {
  const std::vector<std::string> extra = {"he", "ll", "hell", "hello", "\xc4\xa0w", "\xc4\xa0world"};
  const std::vector<std::string> merges = {"h e", "l l", "he ll", "hell o", "\xc4\xa0 w"};
  auto llama3 = must(gguf_tokenizer(bpe_kv("llama-bpe", extra, merges)));
  auto gpt2 = must(gguf_tokenizer(bpe_kv("gpt-2", extra, merges)));
  ASSERT_NE(llama3, nullptr);
  ASSERT_NE(gpt2, nullptr);
  EXPECT_EQ(llama3->encode(" world", false), (Ids{261}));
  EXPECT_EQ(gpt2->encode(" world", false), (Ids{260, 'o', 'r', 'l', 'd'}));
  EXPECT_TRUE(llama3->add_bos_by_default());
  // Qwen2 digits: one token each.
  auto qwen = must(gguf_tokenizer(bpe_kv("qwen2", {"12"}, {"1 2"})));
  ASSERT_NE(qwen, nullptr);
  EXPECT_EQ(qwen->encode("12", false), (Ids{'1', '2'}));
  EXPECT_EQ(gpt2->encode("12", false), (Ids{'1', '2'}));  // "1 2" is no merge of gpt2's vocabulary here
}

TEST(Bpe, UserDefinedTokensSplitWithoutParseSpecial) {
  auto tok = must(gguf_tokenizer(bpe_kv("gpt-2", {"<tool>", "<|ctl|>"}, {}, {4, 3})));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("a<tool>b", false), (Ids{'a', 256, 'b'}));
  EXPECT_EQ(tok->encode("a<|ctl|>", false).size(), 8u);
  EXPECT_EQ(tok->encode("a<|ctl|>", false, true), (Ids{'a', 257}));
}

TEST(Bpe, RejectsBadMergesAndPreTokenizers) {
  auto s = gguf_tokenizer(bpe_kv("gpt-2", {}, {"h e", "he"})).status();
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_NE(s.message().find("test.gguf: tokenizer.ggml.merges: entry 1: expected \"<left> <right>\", found \"he\""),
            std::string::npos)
      << s.message();
  s = gguf_tokenizer(bpe_kv("tekken", {}, {})).status();
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("tokenizer.ggml.pre"), std::string::npos) << s.message();
  auto kv = bpe_kv("gpt-2", {}, {});
  kv.pop_back();
  kv.erase(kv.begin() + 3);  // no merges
  s = gguf_tokenizer(kv).status();
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("tokenizer.ggml.merges"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace mnemo::tokenizer
