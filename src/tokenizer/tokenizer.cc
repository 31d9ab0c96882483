// Tokenizer::load (format detection) and the decoding shared by every vocabulary.
#include "mnemo/tokenizer.h"

#include <cstring>

#include "base/file.h"
#include "formats/gguf.h"
#include "tokenizer/loaders.h"

namespace mnemo {

Expected<std::unique_ptr<Tokenizer>> Tokenizer::load(const std::string& path) {
  MNEMO_ASSIGN_OR_RETURN(FileBytes bytes, FileBytes::open(path, MapMode::kMap));
  if (bytes.size() >= 4 && std::memcmp(bytes.data(), "GGUF", 4) == 0) {
    MNEMO_ASSIGN_OR_RETURN(auto file, gguf::GgufFile::open(path, MapMode::kMap));
    return tokenizer::load_gguf_tokenizer(*file);
  }
  return tokenizer::load_llama2c_tokenizer(bytes.bytes(), path);
}

std::string Tokenizer::decode_piece(Token prev, Token t) const {
  std::string p = piece(t);
  // SentencePiece drops the space of the first piece after BOS (llama2.c run.c decode()).
  if (kind() == TokenizerKind::kSpm && prev >= 0 && prev == bos() && !is_byte(t) && !p.empty() && p[0] == ' ') {
    p.erase(0, 1);
  }
  return p;
}

std::string Tokenizer::decode(std::span<const Token> tokens) const {
  std::string out;
  Token prev = -1;
  for (Token t : tokens) {
    if (!is_control(t) && !is_unknown(t)) out += decode_piece(prev, t);
    prev = t;
  }
  return out;
}

}  // namespace mnemo
