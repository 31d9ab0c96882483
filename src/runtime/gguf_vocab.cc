#include "runtime/gguf_vocab.h"

#include <string>
#include <vector>

namespace mnemo {
namespace {

// SentencePiece writes spaces as U+2581 in its vocabulary.
std::string escape_whitespace(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ' ') {
      out += "\xe2\x96\x81";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

void add_llama2c_vocab(const Tokenizer& tok, gguf::GgufWriter* w) {
  const int32_t n = tok.n_vocab();
  std::vector<std::string> tokens(static_cast<size_t>(n));
  std::vector<float> scores(static_cast<size_t>(n));
  std::vector<int32_t> types(static_cast<size_t>(n));
  for (int32_t id = 0; id < n; ++id) {
    std::string text(tok.token_text(id));
    int32_t type = 1;  // normal
    if (id == 0) {
      text = "<unk>";
      type = 2;  // unknown
    } else if (id == 1) {
      text = "<s>";
      type = 3;  // control
    } else if (id == 2) {
      text = "</s>";
      type = 3;
    } else if (text.empty()) {
      type = 3;
    } else if (tok.is_byte(id)) {
      type = 6;  // byte
    }
    tokens[static_cast<size_t>(id)] = escape_whitespace(text);
    scores[static_cast<size_t>(id)] = tok.token_score(id);
    types[static_cast<size_t>(id)] = type;
  }
  w->set("tokenizer.ggml.model", gguf::Value::string("llama"));
  w->set("tokenizer.ggml.tokens", gguf::Value::string_array(std::move(tokens)));
  w->set("tokenizer.ggml.scores", gguf::Value::f32_array(std::move(scores)));
  w->set("tokenizer.ggml.token_type", gguf::Value::i32_array(std::move(types)));
  w->set("tokenizer.ggml.unknown_token_id", gguf::Value::u32(0));
  w->set("tokenizer.ggml.bos_token_id", gguf::Value::u32(1));
  w->set("tokenizer.ggml.eos_token_id", gguf::Value::u32(2));
}

}  // namespace mnemo
