// libFuzzer target: the tokenizers, on hostile vocabularies and hostile text.
//
// Each input is used three ways:
//  1. as a llama2.c tokenizer.bin (or, when it starts with "GGUF", as a GGUF vocabulary): when it
//     loads, a few fixed strings and the input itself are encoded (with and without BOS and
//     parse_special) and decoded, every piece is built, and every id must be in range; when it does
//     not, the message must name the file;
//  2. as text for fixed small SentencePiece vocabularies (llama2.c and llama.cpp flavours), where
//     decoding must give the text back (from the GGUF one: only for valid UTF-8, and a literal
//     U+2581 comes back as a space);
//  3. as text for a fixed byte-level BPE vocabulary under the GPT-2, Llama-3 and Qwen2
//     pre-tokenizers, where decoding must give back the text with invalid UTF-8 replaced by U+FFFD.
// Any crash, sanitizer report or failed check is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "formats/gguf.h"
#include "mnemo/tokenizer.h"
#include "tokenizer/bpe.h"
#include "tokenizer/loaders.h"
#include "tokenizer/utf8.h"
#include "fuzz_check.h"

namespace {

using mnemo::Token;
using mnemo::Tokenizer;
using mnemo::gguf::Value;

constexpr size_t kMaxText = 1024;  // bytes of the input used as text (instrumented code is slow)
volatile uint64_t g_sink = 0;
uint64_t g_acc = 0;  // summed here, stored to g_sink once per input

// Encodes with add_bos and parse_special as `mode` says, checks the ids, decodes; returns the ids.
std::vector<Token> exercise(const Tokenizer& tok, std::string_view text, unsigned mode) {
  const int32_t n = tok.n_vocab();
  FUZZ_CHECK(n > 0);
  const std::vector<Token> ids = tok.encode(text, (mode & 1) != 0, (mode & 2) != 0);
  Token prev = -1;
  for (Token t : ids) {
    FUZZ_CHECK(t >= 0 && t < n);
    g_acc += tok.decode_piece(prev, t).size();
    prev = t;
  }
  g_acc += tok.decode(ids).size();
  return ids;
}

void exercise_vocab(const Tokenizer& tok, std::string_view input, unsigned mode) {
  static const char* kTexts[] = {"",  "Hello world", " a  b\n\n\tc", "<s>x</s><unk>", "\xe2\x96\x81 x",
                                 "h\xc3\xa9llo \xf0\x9f\x98\x80", "\xc3\x61\xff", "12345 it's"};
  for (const char* t : kTexts) exercise(tok, t, mode++);
  exercise(tok, input.substr(0, kMaxText), mode);
  const int32_t n = tok.n_vocab();
  for (Token t = 0; t < n && t < 70000; ++t) {
    g_acc += tok.piece(t).size() + tok.token_text(t).size();
    g_acc += tok.is_control(t) + tok.is_byte(t) + tok.is_unknown(t);
  }
  g_acc += tok.piece(-1).size() + tok.piece(n).size() + tok.decode_piece(tok.bos(), n).size();
}

// ---- fixed vocabularies ------------------------------------------------------------------------

// <unk>, BOS, EOS, the byte tokens, then a few merges; `space` is " " (tokenizer.bin) or U+2581.
std::vector<std::pair<float, std::string>> spm_tokens(const std::string& space) {
  std::vector<std::pair<float, std::string>> v;
  v.push_back({0, "<unk>"});
  v.push_back({0, space == " " ? "\n<s>\n" : "<s>"});
  v.push_back({0, space == " " ? "\n</s>\n" : "</s>"});
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    v.push_back({0, name});
  }
  const char* merges[] = {"t", "h", "e", "a", "n", "d", "he", "the", "an", "and", "in", "\xc3\xa9"};
  float score = -1;
  for (const char* m : merges) v.push_back({score--, m});
  if (space == " ") v.push_back({score--, "\xe2\x96\x81"});  // a literal U+2581 token
  v.push_back({score--, space});
  v.push_back({score--, space + "t"});
  v.push_back({score--, space + "the"});
  v.push_back({score--, space + "a"});
  v.push_back({score--, space + space});
  v.push_back({-1e10f, "nd"});
  return v;
}

std::unique_ptr<Tokenizer> fixed_spm_llama2c() {
  std::vector<uint8_t> b(4);
  const int32_t max_len = 16;
  std::memcpy(b.data(), &max_len, 4);
  for (const auto& [score, text] : spm_tokens(" ")) {
    const int32_t len = static_cast<int32_t>(text.size());
    const size_t at = b.size();
    b.resize(at + 8 + text.size());
    std::memcpy(b.data() + at, &score, 4);
    std::memcpy(b.data() + at + 4, &len, 4);
    std::memcpy(b.data() + at + 8, text.data(), text.size());
  }
  auto tok = mnemo::tokenizer::load_llama2c_tokenizer(b, "fixed.bin");
  FUZZ_CHECK(tok.has_value());
  return std::move(tok).value();
}

std::unique_ptr<Tokenizer> from_gguf(const std::vector<std::pair<std::string, Value>>& kv) {
  mnemo::gguf::GgufWriter w;
  for (const auto& [k, v] : kv) w.set(k, v);
  auto bytes = w.to_bytes();
  FUZZ_CHECK(bytes.has_value());
  auto file = mnemo::gguf::GgufFile::parse(*bytes, "fixed.gguf");
  FUZZ_CHECK(file.has_value());
  auto tok = mnemo::tokenizer::load_gguf_tokenizer(**file);
  FUZZ_CHECK(tok.has_value());
  return std::move(tok).value();
}

std::unique_ptr<Tokenizer> fixed_spm_gguf() {
  std::vector<std::string> texts;
  std::vector<float> scores;
  std::vector<int32_t> types;
  const auto toks = spm_tokens("\xe2\x96\x81");
  for (size_t i = 0; i < toks.size(); ++i) {
    texts.push_back(toks[i].second);
    scores.push_back(toks[i].first);
    types.push_back(i == 0 ? 2 : i <= 2 ? 3 : i <= 258 ? 6 : 1);
  }
  return from_gguf({{"tokenizer.ggml.model", Value::string("llama")},
                    {"tokenizer.ggml.tokens", Value::string_array(texts)},
                    {"tokenizer.ggml.scores", Value::f32_array(scores)},
                    {"tokenizer.ggml.token_type", Value::i32_array(types)}});
}

std::unique_ptr<Tokenizer> fixed_bpe(const char* pre) {
  std::vector<std::string> texts;
  std::vector<int32_t> types;
  for (int b = 0; b < 256; ++b) {
    texts.emplace_back(mnemo::tokenizer::bpe_byte_to_utf8(static_cast<uint8_t>(b)));
    types.push_back(1);
  }
  const std::vector<std::string> merged = {"\xc4\xa0t", "he", "\xc4\xa0the", "in", "er", "12", "\xc4\xa0\xc4\xa0"};
  const std::vector<std::string> merges = {"\xc4\xa0 t", "h e", "\xc4\xa0t he", "i n", "e r", "1 2", "\xc4\xa0 \xc4\xa0"};
  for (const auto& m : merged) {
    texts.push_back(m);
    types.push_back(1);
  }
  texts.push_back("<|endoftext|>");
  types.push_back(3);
  texts.push_back("<tool>");
  types.push_back(4);
  return from_gguf({{"tokenizer.ggml.model", Value::string("gpt2")},
                    {"tokenizer.ggml.pre", Value::string(pre)},
                    {"tokenizer.ggml.tokens", Value::string_array(texts)},
                    {"tokenizer.ggml.token_type", Value::i32_array(types)},
                    {"tokenizer.ggml.merges", Value::string_array(merges)}});
}

struct Fixed {
  std::unique_ptr<Tokenizer> spm_llama2c = fixed_spm_llama2c();
  std::unique_ptr<Tokenizer> spm_gguf = fixed_spm_gguf();
  std::unique_ptr<Tokenizer> bpe[3] = {fixed_bpe("gpt-2"), fixed_bpe("llama3"), fixed_bpe("qwen2")};
};

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) s.replace(pos, from.size(), to);
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Fixed fixed;
  const std::span<const uint8_t> bytes(data, size);
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const unsigned mode = size > 0 ? data[size - 1] : 0;  // add_bos, parse_special bits

  // 1. The input as a vocabulary.
  if (size >= 4 && std::memcmp(data, "GGUF", 4) == 0) {
    auto file = mnemo::gguf::GgufFile::parse(bytes, "fuzz.gguf");
    if (file.has_value()) {
      auto tok = mnemo::tokenizer::load_gguf_tokenizer(**file);
      if (tok.has_value()) {
        exercise_vocab(**tok, input, mode);
      } else {
        FUZZ_CHECK(tok.status().message().rfind("fuzz.gguf: ", 0) == 0);
      }
    }
  } else {
    auto tok = mnemo::tokenizer::load_llama2c_tokenizer(bytes, "fuzz.bin");
    if (tok.has_value()) {
      exercise_vocab(**tok, input, mode);
    } else {
      FUZZ_CHECK(tok.status().message().rfind("fuzz.bin: ", 0) == 0);
    }
  }

  // 2, 3. The input as text for fixed vocabularies: nothing is lost.
  const std::string_view text = input.substr(0, kMaxText);
  {
    const Tokenizer& t = *fixed.spm_llama2c;
    FUZZ_CHECK(t.decode(exercise(t, text, 1)) == text);
    exercise(t, text, mode);
  }
  {
    const Tokenizer& t = *fixed.spm_gguf;
    const std::vector<Token> ids = exercise(t, text, 1);
    // llama.cpp escapes spaces before cutting characters, so with invalid UTF-8 a stray lead byte
    // can swallow part of an escaped space: the round trip holds for valid UTF-8 only.
    if (mnemo::tokenizer::utf8_is_valid(text)) {
      FUZZ_CHECK(t.decode(ids) == replace_all(std::string(text), "\xe2\x96\x81", " "));
    }
    exercise(t, text, mode);
  }
  const std::string clean = mnemo::tokenizer::utf8_sanitize(text);
  for (const auto& t : fixed.bpe) {
    FUZZ_CHECK(t->decode(exercise(*t, text, 0)) == clean);
    exercise(*t, text, mode);
  }
  g_sink = g_acc;
  return 0;
}
