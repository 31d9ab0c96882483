// llama2.c tokenizer.bin -> SpmTokenizer (SpmFlavor::kLlama2c).
#include <algorithm>
#include <cmath>

#include "base/byte_reader.h"
#include "base/strings.h"
#include "tokenizer/loaders.h"
#include "tokenizer/spm.h"
#include "tokenizer/utf8.h"

namespace mnemo::tokenizer {

Expected<std::unique_ptr<Tokenizer>> load_llama2c_tokenizer(std::span<const uint8_t> bytes, const std::string& name) {
  const char* n = name.c_str();
  ByteReader r(bytes);
  int32_t max_len = 0;
  if (!r.read(&max_len)) {
    return corrupt(str_printf("%s: max_token_length: expected a 4-byte header, found %zu bytes", n, bytes.size()));
  }
  if (max_len < 1 || max_len > kMaxTokenLength) {
    return out_of_range(str_printf("%s: max_token_length: expected 1..%d, found %d", n, kMaxTokenLength, max_len));
  }

  Vocab vocab;
  vocab.reserve(static_cast<size_t>(std::min<uint64_t>(r.remaining() / 9 + 1, 1u << 20)),
                static_cast<size_t>(r.remaining()));
  int64_t id = 0;
  while (r.remaining() > 0) {
    if (id >= kMaxVocab) {
      return out_of_range(str_printf("%s: expected at most %lld tokens, found more", n, static_cast<long long>(kMaxVocab)));
    }
    const int t = static_cast<int>(id);
    float score = 0.0f;
    int32_t len = 0;
    if (r.remaining() < 8 || !r.read(&score) || !r.read(&len)) {
      return corrupt(str_printf("%s: token %d: expected a score and a length (8 bytes), found %llu bytes", n, t,
                                static_cast<unsigned long long>(r.remaining())));
    }
    if (std::isnan(score)) return corrupt(str_printf("%s: token %d: score: expected a number, found NaN", n, t));
    if (len < 0 || len > max_len) {
      return corrupt(str_printf("%s: token %d: length: expected 0..max_token_length (%d), found %d", n, t, max_len, len));
    }
    std::string_view text;
    if (!r.read_bytes(static_cast<uint64_t>(len), &text)) {
      return corrupt(str_printf("%s: token %d: expected %d bytes of text, found %llu", n, t, len,
                                static_cast<unsigned long long>(r.remaining())));
    }
    if (text.find('\0') != std::string_view::npos) {
      // llama2.c keeps texts as C strings: a NUL would silently cut the token.
      return corrupt(str_printf("%s: token %d: expected text without NUL bytes, found %s", n, t, quote_bytes(text).c_str()));
    }
    if (!utf8_is_valid(text)) {
      return corrupt(str_printf("%s: token %d: expected valid UTF-8 text, found %s", n, t, quote_bytes(text).c_str()));
    }
    // As llama.cpp's convert-llama2c-to-ggml types them.
    TokenAttr attr = TokenAttr::kNormal;
    uint8_t byte = 0;
    if (id == 0) {
      attr = TokenAttr::kUnknown;
    } else if (id == 1 || id == 2 || text.empty()) {
      attr = TokenAttr::kControl;
    } else if (parse_byte_token(text, &byte)) {
      attr = TokenAttr::kByte;
    }
    vocab.add(text, score, attr);
    ++id;
  }
  if (vocab.size() == 0) return corrupt(name + ": expected at least one token, found none");
  MNEMO_RETURN_IF_ERROR(vocab.finish(name));

  // run.c hard-codes BOS = 1 and EOS = 2, always adds the dummy prefix, and the caller asks for
  // BOS (run: yes) and EOS (run: no).
  SpecialIds ids;
  ids.unk = vocab.size() > 0 ? 0 : -1;
  ids.bos = vocab.size() > 1 ? 1 : -1;
  ids.eos = vocab.size() > 2 ? 2 : -1;
  VocabFlags flags;
  flags.add_bos = true;
  flags.add_eos = false;
  flags.add_space_prefix = true;
  return std::unique_ptr<Tokenizer>(SpmTokenizer::create(std::move(vocab), ids, flags, SpmFlavor::kLlama2c));
}

}  // namespace mnemo::tokenizer
