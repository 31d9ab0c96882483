// Tokenizers against their references on real vocabularies (label `model`, needs $MNEMO_DATA).
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <map>

#include "base/sha256.h"
#include "base/strings.h"
#include "mnemo/tokenizer.h"
#include "test_util.h"
#include "tokenizer_data_util.h"

namespace mnemo {
namespace {

using test::data_path;
using test::golden_path;
using test::ids_str;
using test::parse_ids;
using test::slurp;

std::unique_ptr<Tokenizer> must_load(const std::string& rel) {
  auto tok = Tokenizer::load(data_path(rel));
  EXPECT_TRUE(tok.has_value()) << tok.status().message();
  return tok.has_value() ? std::move(tok).value() : nullptr;
}

// llama.cpp's tests/test-tokenizer-0.cpp: inputs split at "\n__ggml_vocab_test__\n", one output
// line of ids per input, tokenized without BOS and without parse_special.
void check_ggml_vocab_test(const std::string& vocab_rel) {
  MNEMO_REQUIRE_DATA(vocab_rel);
  auto tok = must_load(vocab_rel);
  ASSERT_NE(tok, nullptr);
  const std::string raw = slurp(data_path(vocab_rel + ".inp"));
  const std::string out = slurp(data_path(vocab_rel + ".out"));
  std::vector<std::string> inputs;
  const std::string sep = "\n__ggml_vocab_test__\n";
  size_t pos = 0;
  while (pos < raw.size()) {
    const size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      inputs.push_back(raw.substr(pos));
      break;
    }
    inputs.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::vector<std::string> lines;
  std::istringstream os(out);
  for (std::string line; std::getline(os, line);) lines.push_back(line);
  ASSERT_EQ(inputs.size(), lines.size());
  ASSERT_GE(inputs.size(), 30u);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::vector<Token> want = parse_ids(lines[i]);
    const std::vector<Token> got = tok->encode(inputs[i], /*add_bos=*/false);
    EXPECT_EQ(ids_str(got), ids_str(want)) << "case " << i << ": " << quote_bytes(inputs[i], 200);
  }
}

TEST(TokenizerModel, LlamaSpmGgufMatchesLlamaCpp) { check_ggml_vocab_test("models/vocab/ggml-vocab-llama-spm.gguf"); }

TEST(TokenizerModel, Gpt2GgufMatchesLlamaCpp) { check_ggml_vocab_test("models/vocab/ggml-vocab-gpt-2.gguf"); }

// llama2.c's run.c encode() (BOS on, EOS off) on tests/data/tokenizer/llama2c_encode.tsv, and
// llama.cpp's ids for the same strings with stories260K.gguf (they differ from tok512.bin's on a
// literal U+2581 and on a lead byte followed by ASCII; the file says where).
TEST(TokenizerModel, Llama2cTokenizerBinMatchesRunC) {
  MNEMO_REQUIRE_DATA("models/tok512.bin");
  MNEMO_REQUIRE_DATA("models/tokenizer.bin");
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  auto tok512 = must_load("models/tok512.bin");
  auto llama2 = must_load("models/tokenizer.bin");
  auto gguf = must_load("models/stories260K.gguf");
  ASSERT_NE(tok512, nullptr);
  ASSERT_NE(llama2, nullptr);
  ASSERT_NE(gguf, nullptr);
  EXPECT_EQ(tok512->n_vocab(), 512);
  EXPECT_EQ(llama2->n_vocab(), 32000);
  std::istringstream in(slurp(golden_path("tokenizer/llama2c_encode.tsv")));
  int n_cases = 0;
  int n_differ = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> col;
    size_t start = 0;
    for (size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1) col.push_back(line.substr(start, tab - start));
    col.push_back(line.substr(start));
    ASSERT_EQ(col.size(), 4u) << line;
    const std::string text = test::unescape(col[0]);
    EXPECT_EQ(ids_str(tok512->encode(text, true)), col[1]) << "tok512.bin: " << col[0];
    EXPECT_EQ(ids_str(llama2->encode(text, true)), col[2]) << "tokenizer.bin: " << col[0];
    EXPECT_EQ(ids_str(gguf->encode(text, true)), col[3]) << "stories260K.gguf: " << col[0];
    n_differ += col[1] != col[3];
    ++n_cases;
  }
  EXPECT_GE(n_cases, 30);
  EXPECT_EQ(n_differ, 3);
}

std::string val_text_as_perplexity() {
  std::string text = slurp(data_path("text/tinystories_val.txt"));
  if (!text.empty() && text.back() == '\n') text.pop_back();  // llama.cpp's -f drops one
  return text;
}

std::map<std::string, std::string> read_golden_kv(const std::string& rel) {
  std::map<std::string, std::string> kv;
  std::istringstream in(slurp(golden_path(rel)));
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t sp = line.find(' ');
    if (sp != std::string::npos) kv[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return kv;
}

void check_val_ids(const Tokenizer& tok, const std::string& text, const char* what) {
  const auto golden = read_golden_kv("tokenizer/tinystories_val_stories260K.txt");
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<Token> ids = tok.encode(text, /*add_bos=*/true);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s: %zu bytes -> %zu tokens in %.1f ms\n", what, text.size(), ids.size(), ms);
  EXPECT_EQ(std::to_string(ids.size()), golden.at("n_tokens")) << what;
  EXPECT_EQ(sha256_hex(ids.data(), ids.size() * sizeof(Token)), golden.at("sha256")) << what;
}

// The whole validation text with stories260K.gguf's vocabulary, against llama.cpp's ids.
TEST(TokenizerModel, TinyStoriesValWithStories260kGguf) {
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  MNEMO_REQUIRE_DATA("text/tinystories_val.txt");
  auto tok = must_load("models/stories260K.gguf");
  ASSERT_NE(tok, nullptr);
  check_val_ids(*tok, val_text_as_perplexity(), "stories260K.gguf");
}

// tok512.bin (llama2.c rules) gives the same ids as stories260K.gguf (llama.cpp rules) on it.
TEST(TokenizerModel, TinyStoriesValWithTok512Bin) {
  MNEMO_REQUIRE_DATA("models/tok512.bin");
  MNEMO_REQUIRE_DATA("text/tinystories_val.txt");
  auto tok = must_load("models/tok512.bin");
  ASSERT_NE(tok, nullptr);
  check_val_ids(*tok, val_text_as_perplexity(), "tok512.bin");
}

// The two stories260K vocabularies agree token by token: same texts (up to "▁" / " " and the
// stored names of <s>, </s>), same scores, same pieces after any previous token.
TEST(TokenizerModel, Tok512BinAndStories260kGgufDecodeAlike) {
  MNEMO_REQUIRE_DATA("models/tok512.bin");
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  auto bin = must_load("models/tok512.bin");
  auto gguf = must_load("models/stories260K.gguf");
  ASSERT_NE(bin, nullptr);
  ASSERT_NE(gguf, nullptr);
  ASSERT_EQ(bin->n_vocab(), gguf->n_vocab());
  EXPECT_EQ(bin->bos(), gguf->bos());
  EXPECT_EQ(bin->eos(), gguf->eos());
  for (Token t = 0; t < bin->n_vocab(); ++t) {
    EXPECT_EQ(bin->token_score(t), gguf->token_score(t)) << t;
    EXPECT_EQ(bin->is_control(t), gguf->is_control(t)) << t;
    EXPECT_EQ(bin->is_byte(t), gguf->is_byte(t)) << t;
    if (bin->is_control(t)) continue;  // "\n<s>\n" vs "<s>"
    for (Token prev : {bin->bos(), Token{3}, Token{300}}) {
      EXPECT_EQ(bin->decode_piece(prev, t), gguf->decode_piece(prev, t)) << "prev " << prev << " token " << t;
    }
  }
  EXPECT_EQ(bin->decode_piece(1, 265), "the");   // " the" after BOS
  EXPECT_EQ(gguf->decode_piece(1, 265), "the");
  EXPECT_EQ(bin->decode_piece(1, 3 + 'A'), "A");  // <0x41>
}

// SentencePiece with byte fallback loses nothing: decoding the ids gives the text back.
TEST(TokenizerModel, DecodeInvertsEncodeOnValText) {
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  MNEMO_REQUIRE_DATA("models/tok512.bin");
  MNEMO_REQUIRE_DATA("text/tinystories_val.txt");
  const std::string text = slurp(data_path("text/tinystories_val.txt"));
  for (const char* rel : {"models/stories260K.gguf", "models/tok512.bin"}) {
    auto tok = must_load(rel);
    ASSERT_NE(tok, nullptr);
    const std::vector<Token> ids = tok->encode(text, true);
    EXPECT_TRUE(tok->decode(ids) == text) << rel;
  }
}

TEST(TokenizerModel, Gpt2DecodeInvertsEncode) {
  MNEMO_REQUIRE_DATA("models/vocab/ggml-vocab-gpt-2.gguf");
  MNEMO_REQUIRE_DATA("text/tinyshakespeare_input.txt");
  auto tok = must_load("models/vocab/ggml-vocab-gpt-2.gguf");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->kind(), TokenizerKind::kBpe);
  const std::string text = slurp(data_path("text/tinyshakespeare_input.txt")).substr(0, 200000);
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<Token> ids = tok->encode(text, false);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("gpt-2: %zu bytes -> %zu tokens in %.1f ms\n", text.size(), ids.size(), ms);
  EXPECT_TRUE(tok->decode(ids) == text);
  // parse_special: "<|endoftext|>" is the control token 50256 only when asked for.
  EXPECT_EQ(tok->encode("a<|endoftext|>b", false, true), (std::vector<Token>{64, 50256, 65}));
  EXPECT_NE(tok->encode("a<|endoftext|>b", false, false).size(), 3u);
}

TEST(TokenizerModel, LlamaSpmParseSpecial) {
  MNEMO_REQUIRE_DATA("models/vocab/ggml-vocab-llama-spm.gguf");
  auto tok = must_load("models/vocab/ggml-vocab-llama-spm.gguf");
  ASSERT_NE(tok, nullptr);
  // llama.cpp: BOS, then "<s>" as token 1, then " Hello" with the space prefix after a special.
  EXPECT_EQ(ids_str(tok->encode("<s>Hello", true, true)), "1 1 15043");
  EXPECT_EQ(ids_str(tok->encode("Hi</s>", false, true)), "6324 2");
  const std::vector<Token> plain = tok->encode("<s>Hello", true, false);
  EXPECT_GT(plain.size(), 3u);
  EXPECT_EQ(tok->decode(plain), "<s>Hello");
}

}  // namespace
}  // namespace mnemo
